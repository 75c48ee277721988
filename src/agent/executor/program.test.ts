import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { StageLimits } from "../../api/common.ts";
import type { RuntimeSpec } from "../../api/runtime.ts";
import type { IsolateBox, RunRequest, RunResult } from "../sandbox/isolate-box.ts";
import { parseMeta } from "../sandbox/meta.ts";
import { CompileCache } from "./compile-cache.ts";
import { type Program, prepareProgram } from "./program.ts";

const LIMITS: StageLimits = {
  cpuTimeMillis: 1000,
  wallTimeMillis: 2000,
  memoryKiB: 65536,
  processes: 4,
  openFiles: 64,
  fileSizeKiB: 1024,
  outputBytes: 65536,
};

/** A box that "compiles" by writing a file named main into its directory, and records what it was asked. */
class FakeBox {
  readonly id = 730;
  runs: RunRequest[] = [];
  inits = 0;
  exitCode = 0;
  private readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }
  async init(): Promise<void> {
    this.inits++;
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
  }
  async writeFiles(): Promise<void> {}
  async run(req: RunRequest): Promise<RunResult> {
    this.runs.push(req);
    writeFileSync(join(this.dir, "main"), `compiled ${this.runs.length}`);
    const meta = this.exitCode === 0 ? "exitcode:0\n" : `exitcode:${this.exitCode}\nstatus:RE\n`;
    return {
      meta: parseMeta(meta),
      stdout: Buffer.alloc(0),
      stderr: Buffer.from("warning: x"),
      outputExceeded: false,
    };
  }
  async saveTo(dest: string): Promise<void> {
    mkdirSync(dest);
    writeFileSync(join(dest, "main"), readFileSync(join(this.dir, "main")));
  }
}

describe("prepareProgram", () => {
  let tmp: string;
  let box: FakeBox;
  let cache: CompileCache;
  let compiled: number;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), "program-"));
    box = new FakeBox(join(tmp, "box"));
    cache = new CompileCache({ dir: join(tmp, "cache"), maxBytes: 1 << 20 });
    compiled = 0;
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  const program = (spec: Partial<RuntimeSpec> = {}, closureHash: string | null = "h1"): Program => ({
    role: "submission",
    rt: {
      spec: {
        runCommand: ["./main"],
        compileCommand: ["cc", "main.c"],
        sourceFile: "main.c",
        ...spec,
      } as RuntimeSpec,
      limits: { compile: LIMITS, run: LIMITS },
      env: { PATH: "/bin" },
      ...(closureHash ? { closureHash } : {}),
    },
    files: [{ path: "main.c", data: Buffer.from("int main(){}") }],
    args: [],
  });
  const prepare = (p: Program, withCache = true) =>
    prepareProgram(box as unknown as IsolateBox, p, {
      workDir: tmp,
      cap: 1024,
      compiled: () => compiled++,
      ...(withCache ? { cache } : {}),
    });

  it("an interpreted program needs no box and seeds from its sources", async () => {
    const r = await prepare(program({ compileCommand: undefined }));
    expect(r).toMatchObject({ ok: true });
    expect(r.ok && r.seed).toBeUndefined();
    expect(box.inits).toBe(0);
  });

  it("a second compile of the same program takes the cache's files and runs no compiler", async () => {
    const first = await prepare(program());
    if (!first.ok) throw new Error("compile failed");
    expect(first.compile?.cacheHit).toBeUndefined();
    await first.release();
    const second = await prepare(program());
    if (!second.ok) throw new Error("compile failed");
    expect(compiled).toBe(1);
    expect(box.inits).toBe(1);
    expect(second.compile).toMatchObject({ cacheHit: true, stderr: "warning: x", exitCode: 0 });
    expect(readFileSync(join(second.seed!, "main"), "utf8")).toBe("compiled 1");
    await second.release();
  });

  it.each([
    ["without a closure hash", program({}, null), true],
    ["for a networked Runtime", program({ allowNetwork: true }), true],
    ["without a cache", program(), false],
  ])("compiles every time %s", async (_name, p, withCache) => {
    for (let i = 0; i < 2; i++) {
      const r = await prepare(p, withCache);
      if (!r.ok) throw new Error("compile failed");
      expect(r.compile?.cacheHit).toBeUndefined();
      await r.release();
    }
    expect(compiled).toBe(2);
    expect(cache.size.entries).toBe(0);
  });

  it("a failed compile is a CompilationError and is not kept", async () => {
    box.exitCode = 1;
    const r = await prepare(program());
    expect(r).toMatchObject({ ok: false, verdict: "CompilationError" });
    expect(cache.size.entries).toBe(0);
  });
});
