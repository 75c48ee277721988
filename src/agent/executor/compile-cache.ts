import { createHash } from "node:crypto";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Counter, Gauge, type Registry } from "prom-client";
import type { StageLimits } from "../../api/common.ts";
import type { StageResult } from "../../api/execution.ts";
import { getOrCreate } from "../../k8s/metrics.ts";
import type { BoxFile } from "../sandbox/isolate-box.ts";

/** Everything a compile's result depends on; two equal keys compile to the same files. */
export interface CompileKeyParts {
  /** Nix closure hash of the Runtime generation: the compiler and everything it links. */
  closureHash: string;
  files: BoxFile[];
  command: string[];
  env: Record<string, string>;
  limits: StageLimits;
}

/** sha256 over a canonical encoding of the parts (files sorted by path, their contents hashed). */
export function compileKey(p: CompileKeyParts): string {
  const files = [...p.files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => [f.path, f.executable === true, createHash("sha256").update(f.data).digest("hex")]);
  const env = Object.entries(p.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const limits = Object.entries(p.limits).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const canonical = JSON.stringify({ v: 1, closure: p.closureHash, files, command: p.command, env, limits });
  return createHash("sha256").update(canonical).digest("hex");
}

export interface CompileCacheMetrics {
  lookups: Counter<"result">;
  evictions: Counter;
  bytes: Gauge;
  entries: Gauge;
}

export function compileCacheMetrics(registry: Registry): CompileCacheMetrics {
  const registers = [registry];
  const metric = <M>(name: string, create: () => M) => getOrCreate(registry, name, create);
  return {
    lookups: metric(
      "envicutor_agent_compile_cache_lookups_total",
      () =>
        new Counter({
          name: "envicutor_agent_compile_cache_lookups_total",
          help: "Compile cache lookups, by result (hit or miss).",
          labelNames: ["result"],
          registers,
        }),
    ),
    evictions: metric(
      "envicutor_agent_compile_cache_evictions_total",
      () =>
        new Counter({
          name: "envicutor_agent_compile_cache_evictions_total",
          help: "Compiled programs dropped from the compile cache to stay within its size.",
          registers,
        }),
    ),
    bytes: metric(
      "envicutor_agent_compile_cache_bytes",
      () =>
        new Gauge({
          name: "envicutor_agent_compile_cache_bytes",
          help: "Bytes in the compile cache.",
          registers,
        }),
    ),
    entries: metric(
      "envicutor_agent_compile_cache_entries",
      () =>
        new Gauge({
          name: "envicutor_agent_compile_cache_entries",
          help: "Compiled programs in the compile cache.",
          registers,
        }),
    ),
  };
}

interface Entry {
  bytes: number;
  result: StageResult;
  /** Runs seeding boxes from this entry now; it is never evicted while pinned. */
  pins: number;
}

/** A hit: the compiled files (read-only for the caller) and the compile's result, until release(). */
export interface CacheHit {
  dir: string;
  result: StageResult;
  release: () => void;
}

/**
 * The node's compiled programs, keyed by compileKey, bounded in bytes with
 * least-recently-used eviction. Entries live under `dir` (in the agent's
 * private work directory, emptied at start-up, so the index is in memory
 * only); a compile's saved tree is moved in by rename, never copied, and boxes
 * are seeded straight from it while the run pins it.
 */
export class CompileCache {
  private readonly entries = new Map<string, Entry>(); // insertion order = least recently used first
  /** Keys being moved in or removed: a second put of the same key then keeps its own files (two identical submissions at once). */
  private readonly busy = new Set<string>();
  /** The eviction in progress, so evictions run one at a time and a caller can wait for them (idle()). */
  private evicting: Promise<void> = Promise.resolve();
  private bytes = 0;
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly metrics: CompileCacheMetrics | undefined;

  constructor(opts: { dir: string; maxBytes: number; metrics?: CompileCacheMetrics }) {
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    this.metrics = opts.metrics;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  private path(key: string): string {
    return join(this.dir, key);
  }

  /** The entry for key, pinned until release(); undefined on a miss. */
  get(key: string): CacheHit | undefined {
    const e = this.entries.get(key);
    this.metrics?.lookups.inc({ result: e ? "hit" : "miss" });
    if (!e) return undefined;
    this.entries.delete(key);
    this.entries.set(key, e); // most recently used
    return { dir: this.path(key), result: e.result, release: this.pinOnce(e) };
  }

  private pinOnce(e: Entry): () => void {
    e.pins++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      e.pins--;
      void this.evict();
    };
  }

  /** Resolves once every eviction started so far has removed its files. */
  idle(): Promise<void> {
    return this.evicting;
  }

  /**
   * Moves a compile's saved tree `from` into the cache (it is gone from there
   * afterwards) and returns it pinned, as a hit would; undefined when it does
   * not fit the cache at all or is there already (then `from` is left alone).
   */
  async put(key: string, from: string, result: StageResult): Promise<CacheHit | undefined> {
    // Reserved before the first await: a concurrent put of the same key would
    // count the bytes twice and remove the directory the first one pinned.
    if (this.entries.has(key) || this.busy.has(key)) return undefined;
    this.busy.add(key);
    try {
      const bytes = await treeBytes(from);
      if (bytes > this.maxBytes) return undefined;
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await rename(from, this.path(key));
      const e: Entry = { bytes, result, pins: 0 };
      this.entries.set(key, e);
      this.bytes += bytes;
      const release = this.pinOnce(e);
      await this.evict();
      return { dir: this.path(key), result, release };
    } finally {
      this.busy.delete(key);
    }
  }

  /**
   * Drops least recently used entries not in use until the cache fits its
   * bound: at once from the index, then their files, one removal at a time.
   */
  private evict(): Promise<void> {
    const gone: string[] = [];
    for (const [key, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      if (e.pins > 0) continue;
      this.entries.delete(key);
      this.bytes -= e.bytes;
      this.metrics?.evictions.inc();
      this.busy.add(key); // not put again until its files are gone
      gone.push(key);
    }
    this.metrics?.bytes.set(this.bytes);
    this.metrics?.entries.set(this.entries.size);
    this.evicting = this.evicting.then(() => this.remove(gone));
    return this.evicting;
  }

  private async remove(keys: string[]): Promise<void> {
    for (const key of keys) {
      await rm(this.path(key), { recursive: true, force: true }).catch(() => undefined); // emptied at start-up anyway
      this.busy.delete(key);
    }
  }
}

/** Sum of the sizes of the regular files under dir (a tree saved by IsolateBox.saveTo: no links). */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) total += await treeBytes(p);
    else if (entry.isFile()) total += (await stat(p)).size;
  }
  return total;
}
