// The baseline: the same programs run through isolate directly, with the
// arguments the agent's IsolateBox passes (--cg, limits, the Runtime's closure
// mounted path by path, host /bin /lib /usr hidden, the Runtime's environment:
// both from the agent's install record), but without Kubernetes, the
// controller or the agent.
import { execFile, spawn } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { resolveCommand } from "../src/agent/sandbox/isolate-box.ts";
import type { StageLimits } from "../src/api/common.ts";

const run = promisify(execFile);

export interface BareOptions {
  bin: string;
  useCg: boolean;
  /** Scratch directory for meta files. */
  workDir: string;
  /** Run isolate on this CPU only (taskset -c), as the node's slots are pinned in bench/node.ts. */
  cpu?: number;
}

/** The isolate command line, behind taskset when the bench pins it to a CPU. */
function command(o: BareOptions, args: string[]): [string, string[]] {
  return o.cpu === undefined ? [o.bin, args] : ["taskset", ["-c", String(o.cpu), o.bin, ...args]];
}

export interface BareFile {
  name: string;
  data: Buffer | string;
  mode?: number;
}

export interface BareRunRequest {
  /** Store paths to mount, as the agent does (the Runtime's closure); default the whole /nix/store. */
  mounts?: string[];
  argv: string[];
  env: Record<string, string>;
  limits: StageLimits;
  stdin?: string;
}

export interface BareRunResult {
  stdout: string;
  /** isolate's meta file (status, exitcode, time, ...). */
  meta: Record<string, string>;
}

/** One isolate box driven by hand: init, files in, run, files out, cleanup. */
export class BareBox {
  private readonly o: BareOptions;
  readonly id: number;
  private dir = "";

  constructor(o: BareOptions, id: number) {
    this.o = o;
    this.id = id;
  }

  private base(): string[] {
    return [...(this.o.useCg ? ["--cg"] : []), `--box-id=${this.id}`];
  }

  async init(): Promise<void> {
    const { stdout } = await run(...command(this.o, [...this.base(), "--init"]));
    this.dir = join(stdout.trim(), "box");
  }

  async cleanup(): Promise<void> {
    await run(...command(this.o, [...this.base(), "--cleanup"]));
  }

  async put(files: BareFile[]): Promise<void> {
    for (const f of files) await writeFile(join(this.dir, f.name), f.data, { mode: f.mode ?? 0o644 });
  }

  async get(name: string): Promise<Buffer> {
    return readFile(join(this.dir, name));
  }

  async run(req: BareRunRequest): Promise<BareRunResult> {
    const l = req.limits;
    const metaFile = join(this.o.workDir, `meta-${this.id}-${process.hrtime.bigint()}`);
    const env: Record<string, string> = { HOME: "/tmp", TMPDIR: "/tmp", LANG: "C.UTF-8", ...req.env };
    const args = [
      ...this.base(),
      "--silent",
      `--meta=${metaFile}`,
      `--time=${l.cpuTimeMillis / 1000}`,
      `--wall-time=${l.wallTimeMillis / 1000}`,
      `--extra-time=${Math.min(1, l.cpuTimeMillis / 2000)}`,
      this.o.useCg ? `--cg-mem=${l.memoryKiB}` : `--mem=${l.memoryKiB}`,
      `--processes=${l.processes}`,
      `--open-files=${l.openFiles}`,
      `--fsize=${l.fileSizeKiB}`,
      "--dir=bin=",
      "--dir=lib=",
      "--dir=lib64=",
      "--dir=usr=",
      ...(req.mounts ?? ["/nix/store"]).map((d) => `--dir=${d.replace(/^\/+/, "")}=${d}:maybe`),
      ...Object.entries(env).map(([k, v]) => `--env=${k}=${v}`),
      "--run",
      "--",
      resolveCommand(req.argv[0]!, env.PATH),
      ...req.argv.slice(1),
    ];
    const child = spawn(...command(this.o, args), { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.resume();
    child.stdin.on("error", () => undefined);
    child.stdin.end(req.stdin ?? "");
    await new Promise<void>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", () => resolve());
    });
    const meta: Record<string, string> = {};
    const text = await readFile(metaFile, "utf8").catch(() => "");
    await rm(metaFile, { force: true });
    for (const line of text.split("\n")) {
      const i = line.indexOf(":");
      if (i > 0) meta[line.slice(0, i)] = line.slice(i + 1);
    }
    return { stdout, meta };
  }
}

/** init → source in → run → cleanup, as the agent does for an interpreted program; returns ms and stdout. */
export async function bareInterpreted(
  box: BareBox,
  files: BareFile[],
  req: BareRunRequest,
): Promise<{ ms: number; stdout: string }> {
  const t = performance.now();
  await box.init();
  try {
    await box.put(files);
    const r = await box.run(req);
    if (r.meta.status) throw new Error(`bare run failed: ${JSON.stringify(r.meta)}`);
    return { ms: performance.now() - t, stdout: r.stdout };
  } finally {
    await box.cleanup();
  }
}

/** Compiles in one box and returns the named output, as the agent's compile stage does. */
export async function bareCompile(
  box: BareBox,
  files: BareFile[],
  req: BareRunRequest,
  output: string,
): Promise<Buffer> {
  await box.init();
  try {
    await box.put(files);
    const r = await box.run(req);
    if (r.meta.status) throw new Error(`bare compile failed: ${JSON.stringify(r.meta)}`);
    return await box.get(output);
  } finally {
    await box.cleanup();
  }
}
