import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { StageLimits } from "../../api/common.ts";
import {
  CompileCache,
  type CompileKeyParts,
  compileCacheMetrics,
  compileKey,
  treeBytes,
} from "./compile-cache.ts";

const LIMITS: StageLimits = {
  cpuTimeMillis: 10_000,
  wallTimeMillis: 20_000,
  memoryKiB: 524288,
  processes: 64,
  openFiles: 256,
  fileSizeKiB: 65536,
  outputBytes: 1048576,
};

const parts = (over: Partial<CompileKeyParts> = {}): CompileKeyParts => ({
  closureHash: "sha256-aaaa",
  files: [
    { path: "main.c", data: Buffer.from("int main(){}") },
    { path: "util.h", data: Buffer.from("#pragma once") },
  ],
  command: ["gcc", "-O2", "-o", "main", "main.c"],
  env: { PATH: "/nix/store/x/bin" },
  limits: LIMITS,
  ...over,
});

describe("compileKey", () => {
  const base = compileKey(parts());
  it.each([
    ["another closure hash (a new Runtime generation)", parts({ closureHash: "sha256-bbbb" })],
    ["another source", parts({ files: [{ path: "main.c", data: Buffer.from("int main(){return 1;}") }] })],
    [
      "a renamed file",
      parts({
        files: [
          { path: "prog.c", data: Buffer.from("int main(){}") },
          { path: "util.h", data: Buffer.from("#pragma once") },
        ],
      }),
    ],
    ["another compile command", parts({ command: ["gcc", "-O0", "-o", "main", "main.c"] })],
    ["another environment", parts({ env: { PATH: "/nix/store/y/bin" } })],
    ["other compile limits", parts({ limits: { ...LIMITS, memoryKiB: 1024 } })],
  ])("changes with %s", (_name, p) => {
    expect(compileKey(p)).not.toBe(base);
  });

  it("does not change with the order files are given in", () => {
    expect(compileKey(parts({ files: [...parts().files].reverse() }))).toBe(base);
  });

  it("is a sha256 in hex", () => {
    expect(base).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe("CompileCache", () => {
  let tmp: string;
  let n = 0;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), "compile-cache-"));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  /** A saved compile tree of `bytes` bytes (one file, one in a subdirectory). */
  const tree = (bytes: number): string => {
    const d = join(tmp, `compiled-${n++}`);
    mkdirSync(join(d, "sub"), { recursive: true });
    writeFileSync(join(d, "main"), Buffer.alloc(bytes - 1, 1));
    writeFileSync(join(d, "sub", "x"), "y");
    return d;
  };
  const cache = (maxBytes: number, registry?: Registry) =>
    new CompileCache({
      dir: join(tmp, "cache"),
      maxBytes,
      ...(registry ? { metrics: compileCacheMetrics(registry) } : {}),
    });

  it("a put tree is moved in and found again with its result", async () => {
    const c = cache(1000);
    const from = tree(100);
    const put = await c.put("k1", from, { verdict: "Accepted", stderr: "warning" });
    expect(existsSync(from)).toBe(false);
    put!.release();
    expect(c.get("k2")).toBeUndefined();
    const hit = c.get("k1")!;
    expect(hit.result).toEqual({ verdict: "Accepted", stderr: "warning" });
    expect(readFileSync(join(hit.dir, "sub", "x"), "utf8")).toBe("y");
    expect(await treeBytes(hit.dir)).toBe(100);
    expect(c.size).toEqual({ entries: 1, bytes: 100 });
    hit.release();
  });

  it("evicts the least recently used entries to stay within its bytes", async () => {
    const c = cache(250);
    for (const k of ["a", "b"]) (await c.put(k, tree(100), {}))!.release();
    c.get("a")!.release(); // a is now the most recently used
    (await c.put("c", tree(100), {}))!.release();
    await c.idle();
    expect(c.get("b")).toBeUndefined();
    expect(c.get("a")).toBeDefined();
    expect(c.get("c")).toBeDefined();
    expect(c.size.bytes).toBe(200);
    expect(existsSync(join(tmp, "cache", "b"))).toBe(false);
  });

  it("never evicts an entry a run is seeding boxes from, and evicts it once released", async () => {
    const c = cache(150);
    const a = (await c.put("a", tree(100), {}))!;
    (await c.put("b", tree(100), {}))!.release();
    expect(existsSync(join(a.dir, "main"))).toBe(true);
    expect(c.get("b")).toBeUndefined(); // b went instead, a was pinned
    a.release();
    a.release(); // twice is harmless
    (await c.put("c", tree(100), {}))!.release();
    await c.idle();
    expect(c.size).toEqual({ entries: 1, bytes: 100 });
  });

  it("does not keep a tree larger than the whole cache, and leaves it where it was", async () => {
    const c = cache(50);
    const from = tree(100);
    expect(await c.put("big", from, {})).toBeUndefined();
    expect(existsSync(from)).toBe(true);
    expect(c.size.entries).toBe(0);
  });

  it("keeps one of two compiles of one key put at the same time, counted once, and leaves the other's files alone", async () => {
    const c = cache(1000);
    const [x, y] = [tree(100), tree(100)];
    const [first, second] = await Promise.all([
      c.put("k", x, { stdout: "x" }),
      c.put("k", y, { stdout: "y" }),
    ]);
    expect([first, second].filter(Boolean)).toHaveLength(1);
    expect(c.size).toEqual({ entries: 1, bytes: 100 });
    const kept = (first ?? second)!;
    expect(existsSync(join(kept.dir, "main"))).toBe(true);
    expect(existsSync(first ? y : x)).toBe(true); // the caller still has its own compiled files
    kept.release();
  });

  it("keeps the first of two compiles of one key", async () => {
    const c = cache(1000);
    (await c.put("k", tree(10), { stdout: "first" }))!.release();
    const second = tree(10);
    expect(await c.put("k", second, { stdout: "second" })).toBeUndefined();
    expect(c.get("k")!.result.stdout).toBe("first");
  });

  it("counts hits, misses and evictions, and reports its size", async () => {
    const registry = new Registry();
    const c = cache(150, registry);
    c.get("nothing");
    (await c.put("a", tree(100), {}))!.release();
    c.get("a")!.release();
    (await c.put("b", tree(100), {}))!.release();
    await c.idle();
    const text = await registry.metrics();
    expect(text).toContain('envicutor_agent_compile_cache_lookups_total{result="hit"} 1');
    expect(text).toContain('envicutor_agent_compile_cache_lookups_total{result="miss"} 1');
    expect(text).toContain("envicutor_agent_compile_cache_evictions_total 1");
    expect(text).toContain("envicutor_agent_compile_cache_bytes 100");
    expect(text).toContain("envicutor_agent_compile_cache_entries 1");
  });
});
