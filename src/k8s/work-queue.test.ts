import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WorkQueue } from "./work-queue.ts";

const tick = () => vi.advanceTimersByTimeAsync(0);

describe("WorkQueue", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("deduplicates keys waiting in the queue and keeps FIFO order", async () => {
    const q = new WorkQueue();
    q.add("a");
    q.add("b");
    q.add("a");
    expect(q.length).toBe(2);
    expect(await q.get()).toBe("a");
    expect(await q.get()).toBe("b");
    expect(q.length).toBe(0);
  });

  it("never hands out a key that is being processed; re-adds it after done", async () => {
    const q = new WorkQueue();
    q.add("a");
    const k = await q.get();
    q.add("a"); // while processing: marked dirty, not queued
    expect(q.length).toBe(0);
    q.add("a");
    q.done(k!);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe("a");
    q.done("a");
    expect(q.length).toBe(0);
  });

  it("runs N workers concurrently but one key at a time", async () => {
    const q = new WorkQueue();
    const active = new Set<string>();
    let maxParallel = 0;
    let overlaps = 0;
    const seen: string[] = [];
    const run = q.run(async (key) => {
      if (active.has(key)) overlaps++;
      active.add(key);
      maxParallel = Math.max(maxParallel, active.size);
      seen.push(key);
      await new Promise((r) => setTimeout(r, 10));
      active.delete(key);
      return undefined;
    }, 3);
    for (const k of ["a", "b", "c", "d"]) q.add(k);
    await tick();
    q.add("a"); // in flight: processed again afterwards, not in parallel
    await vi.advanceTimersByTimeAsync(100);
    expect(maxParallel).toBe(3);
    expect(overlaps).toBe(0);
    expect(seen.filter((k) => k === "a")).toHaveLength(2);
    await q.shutdown();
    await run;
  });

  it("backs off exponentially per key on failure and forgets on success", async () => {
    const q = new WorkQueue({ backoff: { baseMs: 100, maxMs: 1000 } });
    const times: number[] = [];
    let failures = 4;
    const start = Date.now();
    const run = q.run(async () => {
      times.push(Date.now() - start);
      if (failures-- > 0) throw new Error("boom");
      return undefined;
    });
    q.add("x");
    await vi.advanceTimersByTimeAsync(5000);
    // 0, then +100, +200, +400, +800
    expect(times).toEqual([0, 100, 300, 700, 1500]);
    expect(q.numRequeues("x")).toBe(0);
    await q.shutdown();
    await run;
  });

  it("caps the backoff at max", async () => {
    const q = new WorkQueue({ backoff: { baseMs: 100, maxMs: 250 } });
    const times: number[] = [];
    const start = Date.now();
    const run = q.run(async () => {
      times.push(Date.now() - start);
      if (times.length < 5) throw new Error("boom");
      return undefined;
    });
    q.add("x");
    await vi.advanceTimersByTimeAsync(2000);
    expect(times).toEqual([0, 100, 300, 550, 800]);
    await q.shutdown();
    await run;
  });

  it("addAfter delays, keeps the earliest pending time, and add wins immediately", async () => {
    const q = new WorkQueue();
    q.addAfter("a", 1000);
    q.addAfter("a", 500);
    q.addAfter("a", 2000); // later: ignored
    expect(q.length).toBe(0);
    expect(q.has("a")).toBe(true);
    await vi.advanceTimersByTimeAsync(499);
    expect(q.length).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.length).toBe(1);
    await vi.advanceTimersByTimeAsync(2000);
    expect(q.length).toBe(1); // the cancelled timers did not add it twice
    q.addAfter("b", 0);
    expect(q.length).toBe(2);
  });

  it("a 30-day requeueAfterMs waits 30 days: the handler runs once more, at the end", async () => {
    const DAY = 24 * 3600 * 1000;
    const q = new WorkQueue();
    const runs: number[] = [];
    const start = Date.now();
    const run = q.run(async () => {
      runs.push(Date.now() - start);
      return runs.length === 1 ? { requeueAfterMs: 30 * DAY } : undefined;
    });
    q.add("ttl");
    await vi.advanceTimersByTimeAsync(30 * DAY - 1);
    expect(runs).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toEqual([0, 30 * DAY]);
    await vi.advanceTimersByTimeAsync(60 * DAY);
    console.log(`30-day requeue: handler ran at ${runs.map((t) => `${t / DAY} d`).join(", ")}`);
    expect(runs).toHaveLength(2);
    await q.shutdown();
    await run;
  });

  it("requeueAfterMs re-adds the key after a success", async () => {
    const q = new WorkQueue();
    const times: number[] = [];
    const start = Date.now();
    const run = q.run(async () => {
      times.push(Date.now() - start);
      return times.length < 3 ? { requeueAfterMs: 1000 } : undefined;
    });
    q.add("a");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(times).toEqual([0, 1000, 2000]);
    await q.shutdown();
    await run;
  });

  it("shutdown drains queued keys, waits for in-flight ones and refuses new adds", async () => {
    const q = new WorkQueue();
    const done: string[] = [];
    const run = q.run(async (key) => {
      await new Promise((r) => setTimeout(r, 50));
      done.push(key);
      return undefined;
    }, 1);
    q.add("a");
    q.add("b");
    q.add("c");
    q.addAfter("later", 10);
    await tick();
    let finished = false;
    const stopped = q.shutdown().then(() => (finished = true));
    q.add("d");
    await vi.advanceTimersByTimeAsync(49);
    expect(finished).toBe(false);
    await vi.advanceTimersByTimeAsync(200);
    await stopped;
    await run;
    expect(done).toEqual(["a", "b", "c"]);
  });

  it("shutdown without drain finishes in-flight keys only", async () => {
    const q = new WorkQueue();
    const done: string[] = [];
    const run = q.run(async (key) => {
      await new Promise((r) => setTimeout(r, 50));
      done.push(key);
      return undefined;
    }, 1);
    q.add("a");
    q.add("b");
    await tick();
    const stopped = q.shutdown({ drain: false });
    await vi.advanceTimersByTimeAsync(200);
    await stopped;
    await run;
    expect(done).toEqual(["a"]);
  });

  it("reports metrics hooks", async () => {
    const depths: number[] = [];
    const processed: [string, unknown][] = [];
    const q = new WorkQueue({
      hooks: { onDepth: (d) => depths.push(d), onProcessed: (k, _q, _w, err) => processed.push([k, err]) },
    });
    const run = q.run(async (key) => {
      if (key === "bad") throw new Error("x");
      return undefined;
    });
    q.add("ok");
    q.add("bad");
    await tick();
    expect(processed.map((p) => p[0])).toEqual(["ok", "bad"]);
    expect(processed[1]![1]).toBeInstanceOf(Error);
    await q.shutdown({ drain: false });
    await run;
  });
});
