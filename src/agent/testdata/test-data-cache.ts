import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { getOrCreate } from "../../k8s/metrics.ts";
import { extractTestFiles, TEST_FILE_PATTERN } from "./tar-extract.ts";

export interface TestDataCacheMetrics {
  lookups: Counter<"result">;
  evictions: Counter;
  bytes: Gauge;
  fetchSeconds: Histogram;
}

export function testDataCacheMetrics(registry: Registry): TestDataCacheMetrics {
  const registers = [registry];
  const m = <M>(name: string, create: (name: string) => M) => getOrCreate(registry, name, () => create(name));
  return {
    lookups: m(
      "envicutor_agent_test_data_cache_lookups_total",
      (name) =>
        new Counter({
          name,
          help: "Test data lookups, by result (hit or miss).",
          labelNames: ["result"],
          registers,
        }),
    ),
    evictions: m(
      "envicutor_agent_test_data_cache_evictions_total",
      (name) => new Counter({ name, help: "Test sets dropped to stay within the cache's size.", registers }),
    ),
    bytes: m(
      "envicutor_agent_test_data_cache_bytes",
      (name) => new Gauge({ name, help: "Bytes of extracted test data on this node.", registers }),
    ),
    fetchSeconds: m(
      "envicutor_agent_test_data_fetch_seconds",
      (name) =>
        new Histogram({
          name,
          help: "Time to fetch, hash and extract one test set.",
          buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
          registers,
        }),
    ),
  };
}

/** One test of a set on disk: its input and, when the set has one, its answer. */
export interface TestFiles {
  name: string;
  input: string;
  answer?: string;
}

/** A test set held for one Execution; release() lets the cache evict it again. */
export interface HeldTestSet {
  sha256: string;
  tests: TestFiles[];
  release: () => void;
}

/** Writes a set's test files into `tests` (scratch space in `tmp`). */
type Fill = (tmp: string, tests: string) => Promise<void>;

interface Entry {
  bytes: number;
  holds: number;
}

const byName = new Intl.Collator("en", { numeric: true }).compare;

/** A download that sends nothing for this long, or takes longer in all, fails (a slow server must not hold slots). */
export const FETCH_IDLE_MS = 60_000;
export const FETCH_TOTAL_MS = 15 * 60_000;
/** An archive may exceed the set it holds by its tar headers and padding, not more. */
const ARCHIVE_OVERHEAD = 16 * 1024 * 1024;
export interface FetchTimeouts {
  idleMs: number;
  totalMs: number;
}
/** A set that failed to fetch is not fetched again for this long (each Execution of a bad Problem would). */
const FAILURE_MEMORY_MS = 60_000;

/** How a set is named in errors: its hash, never its URL (which may carry credentials and is hidden data). */
const setName = (sha: string) => `test data sha256:${sha.slice(0, 12)}`;

/**
 * The node's test data: each archive fetched once, its sha256 checked, its
 * tests extracted to `<dir>/<sha256>/` (a rename makes a set appear whole or
 * not at all), bounded by bytes with least-recently-used eviction. A set held
 * by a running Execution is never evicted. Sets found on disk at start are
 * kept (oldest first in the LRU order).
 */
export class TestDataCache {
  private readonly entries = new Map<string, Entry>(); // insertion order = LRU order
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Recent failures by sha256: when, and what (already free of URLs). */
  private readonly failed = new Map<string, { at: number; error: Error }>();
  private total = 0;
  private ready?: Promise<void>;

  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly metrics: TestDataCacheMetrics | undefined;

  private readonly timeouts: FetchTimeouts;

  constructor(
    dir: string,
    maxBytes: number,
    metrics?: TestDataCacheMetrics,
    timeouts: FetchTimeouts = { idleMs: FETCH_IDLE_MS, totalMs: FETCH_TOTAL_MS },
  ) {
    this.dir = dir;
    this.maxBytes = maxBytes;
    this.metrics = metrics;
    this.timeouts = timeouts;
  }

  /** An archive's tests, fetched first if this node does not have them. */
  acquire(ref: { url: string; sha256: string }, signal?: AbortSignal): Promise<HeldTestSet> {
    return this.hold(ref.sha256, (tmp, tests) => this.fillFromArchive(ref, tmp, tests, signal));
  }

  /** A small set's tests (a ConfigMap's), keyed by the sha256 of their names and contents. */
  acquireFiles(files: { name: string; data: Buffer }[]): Promise<HeldTestSet> {
    const bad = files.find((f) => !TEST_FILE_PATTERN.test(f.name));
    if (bad)
      return Promise.reject(new Error(`${JSON.stringify(bad.name)} is not a test file (NN.in or NN.ans)`));
    const hash = createHash("sha256").update("envicutor-test-files-v1\n");
    for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : 1)))
      hash.update(`${f.name}\n${f.data.length}\n`).update(f.data);
    return this.hold(hash.digest("hex"), async (_tmp, tests) => {
      for (const f of files) await writeFile(join(tests, f.name), f.data, { flag: "wx", mode: 0o600 });
    });
  }

  private async hold(sha: string, fill: Fill): Promise<HeldTestSet> {
    this.ready ??= this.load().catch((err) => {
      this.ready = undefined; // the next Execution tries again
      throw err;
    });
    await this.ready;
    let entry = this.entries.get(sha);
    this.metrics?.lookups.inc({ result: entry ? "hit" : "miss" });
    if (!entry) {
      const recent = this.failed.get(sha);
      if (recent && Date.now() - recent.at < FAILURE_MEMORY_MS) throw recent.error;
      let fetching = this.inFlight.get(sha);
      if (!fetching) {
        fetching = this.fetch(sha, fill)
          .catch((err: Error) => {
            this.failed.set(sha, { at: Date.now(), error: err });
            throw err;
          })
          .finally(() => this.inFlight.delete(sha));
        this.inFlight.set(sha, fetching);
      }
      await fetching;
      entry = this.entries.get(sha);
      if (!entry) throw new Error(`test data ${sha} was evicted while being fetched`);
    }
    this.entries.delete(sha); // most recently used last
    this.entries.set(sha, entry);
    entry.holds++;
    let released = false;
    const tests = await listTests(join(this.dir, sha));
    return {
      sha256: sha,
      tests,
      release: () => {
        if (released) return;
        released = true;
        entry.holds--;
        this.evict();
      },
    };
  }

  private async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.dir)) {
      const path = join(this.dir, name);
      if (!/^[0-9a-f]{64}$/.test(name)) {
        await rm(path, { recursive: true, force: true }); // an interrupted fetch
        continue;
      }
      let bytes = 0;
      for (const f of await readdir(path)) bytes += (await stat(join(path, f))).size;
      this.entries.set(name, { bytes, holds: 0 });
      this.total += bytes;
    }
    this.evict();
  }

  private async fillFromArchive(
    ref: { url: string; sha256: string },
    tmp: string,
    tests: string,
    signal?: AbortSignal,
  ): Promise<void> {
    const archive = join(tmp, "archive.tar");
    const name = setName(ref.sha256);
    // The archive (tar headers and padding besides the tests) is deleted once extracted.
    const limits = { maxBytes: this.maxBytes + ARCHIVE_OVERHEAD, ...this.timeouts };
    const sha = await download(ref.url, archive, limits, name, signal);
    if (sha !== ref.sha256)
      throw new Error(`${name}: the archive's sha256 is ${sha.slice(0, 12)}…, not the one named`);
    await extractTestFiles(archive, tests).catch((err: Error) => {
      throw new Error(`${name}: ${err.message}`);
    });
  }

  private async fetch(sha: string, fill: Fill): Promise<void> {
    const t0 = performance.now();
    const tmp = join(this.dir, `.tmp-${randomBytes(6).toString("hex")}`);
    const tests = join(tmp, "tests");
    await mkdir(tests, { recursive: true, mode: 0o700 });
    try {
      await fill(tmp, tests);
      let bytes = 0;
      for (const f of await readdir(tests)) bytes += (await stat(join(tests, f))).size;
      if (bytes > this.maxBytes)
        throw new Error(`test data of ${bytes} bytes exceeds the cache's ${this.maxBytes}`);
      await rename(tests, join(this.dir, sha));
      this.entries.set(sha, { bytes, holds: 0 });
      this.total += bytes;
      this.evict(sha);
      this.metrics?.fetchSeconds.observe((performance.now() - t0) / 1000);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Drops the least recently used sets nobody holds until the cache fits (never `keep`). */
  private evict(keep?: string): void {
    for (const [sha, e] of this.entries) {
      if (this.total <= this.maxBytes) break;
      if (e.holds > 0 || sha === keep) continue;
      this.entries.delete(sha);
      this.total -= e.bytes;
      this.metrics?.evictions.inc();
      void rm(join(this.dir, sha), { recursive: true, force: true });
    }
    this.metrics?.bytes.set(this.total);
  }
}

/**
 * Streams the body to `to`, hashing as it goes; refuses more than maxBytes,
 * a server silent for idleMs and a download longer than totalMs. Errors name
 * the set (`name`), never the URL.
 */
async function download(
  url: string,
  to: string,
  limits: FetchTimeouts & { maxBytes: number },
  name: string,
  signal?: AbortSignal,
): Promise<string> {
  const { maxBytes, idleMs, totalMs } = limits;
  const idle = new AbortController();
  const signals = [idle.signal, AbortSignal.timeout(totalMs), ...(signal ? [signal] : [])];
  let timer = setTimeout(() => idle.abort(), idleMs);
  const out = await open(to, "wx", 0o600);
  try {
    const res = await fetch(url, { signal: AbortSignal.any(signals) });
    if (!res.ok || !res.body) throw new Error(`${name}: the server answered HTTP ${res.status}`);
    const hash = createHash("sha256");
    let n = 0;
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(), idleMs);
      n += chunk.byteLength;
      if (n > maxBytes) throw new Error(`${name}: the archive exceeds ${maxBytes} bytes`);
      hash.update(chunk);
      await out.write(chunk);
    }
    return hash.digest("hex");
  } catch (err) {
    if (signal?.aborted) throw err;
    if ((err as Error).message.startsWith(name)) throw err;
    throw new Error(`${name}: the download failed or stalled (${(err as Error).name})`);
  } finally {
    clearTimeout(timer);
    await out.close();
  }
}

async function listTests(dir: string): Promise<TestFiles[]> {
  const names = new Set(await readdir(dir));
  const tests: TestFiles[] = [];
  for (const f of [...names].sort(byName)) {
    const m = TEST_FILE_PATTERN.exec(f);
    if (m?.[2] !== "in") continue;
    const ans = `${m[1]}.ans`;
    tests.push({ name: m[1]!, input: join(dir, f), ...(names.has(ans) ? { answer: join(dir, ans) } : {}) });
  }
  return tests;
}
