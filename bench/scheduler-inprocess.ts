// The scheduler measured in process: the controller's real Informer (with its
// transform), Controller, work queue, pending index and placement loop, fed by
// an in-memory apiserver (src/k8s/fake-kube.ts) instead of kube-apiserver,
// because creating 100,000 Executions in the real one takes longer than the
// bench's budget. What it leaves out: HTTP, JSON and etcd.
import { isFinished } from "../src/api/index.ts";
import { TestCluster, until } from "../src/controller/test-cluster.ts";
import { round, summarize } from "./stats.ts";

const gc = () => (globalThis as { gc?: () => void }).gc?.();
const heapMiB = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

/** Nodes × slots all busy with held Executions, then `queued` more waiting behind them. */
async function fullCluster(queued: number): Promise<{ c: TestCluster; running: string[] }> {
  const c = new TestCluster({ nodes: 10, slotsPerNode: 10, settings: { waitingWritesPerSecond: 0 } });
  await c.start();
  const running = Array.from({ length: 100 }, () => c.create("bench", { ageMs: 3_600_000 }));
  await until(() => c.scheduler.book.size === 100, 30_000, "100 running");
  for (let i = 0; i < queued; i++) c.create("bench", { ageMs: 60_000 });
  await until(() => c.scheduler.queue.size === queued, 120_000, `${queued} queued`);
  return { c, running };
}

/**
 * Time to place one new Execution (microseconds) with `queued` waiting: it is created with the highest
 * priority, then a running one completes; measured from the completion to the placement
 * write at the apiserver (event → index → placement cycle → conditional write).
 */
export async function placementCost(queued: number, samples = 30): Promise<Record<string, unknown>> {
  const { c, running } = await fullCluster(queued);
  const ms: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const key = c.create("bench", { priority: 1000, name: `urgent-${i}` });
      await until(() => c.scheduler.queue.has(key), 5000, "queued");
      const placed = new Promise<number>((resolve) => {
        c.kube.afterWrite = (o) => {
          if (o.metadata.name === `urgent-${i}`) resolve(performance.now());
        };
      });
      const t = performance.now();
      c.complete(running.shift()!);
      ms.push(((await placed) - t) * 1000);
      running.push(key);
    }
  } finally {
    await c.stop();
  }
  return { queued, samples, placeMicros: summarize(ms) };
}

/** Controller-side heap per queued Execution: the informer's view plus the index, without the fake apiserver's copies. */
export async function memoryPerQueued(queued: number): Promise<Record<string, unknown>> {
  const c = new TestCluster({ nodes: 10, slotsPerNode: 10, settings: { waitingWritesPerSecond: 0 } });
  for (let i = 0; i < 100; i++) c.create("bench", { ageMs: 3_600_000 });
  for (let i = 0; i < queued; i++) c.create(`bench-${i % 10}`, { ageMs: 60_000 });
  const before = heapMiB();
  await c.start();
  await until(() => c.scheduler.queue.size === queued, 300_000, `${queued} queued`);
  const after = heapMiB();
  const rss = process.memoryUsage().rss;
  await c.stop();
  return {
    queued,
    controllerHeapMiB: round((after - before) / 2 ** 20, 1),
    bytesPerQueued: Math.round((after - before) / queued),
    processRssMiB: round(rss / 2 ** 20, 1),
    note: "heap after GC with the informer synced and the index built, minus the heap holding only the fake apiserver's objects",
  };
}

/** Drain rate in process: `n` queued, agents that complete each placed Execution at once. */
export async function drainInProcess(n: number): Promise<Record<string, unknown>> {
  const c = new TestCluster({ nodes: 20, slotsPerNode: 8 });
  for (let i = 0; i < n; i++) c.create("bench", { ageMs: 60_000 });
  const finished = new Set<string>();
  c.executions.on((ev) => {
    // A simulated agent: every assignment is finished as soon as it is seen.
    if (ev.type !== "add" && ev.type !== "update") return;
    const st = ev.object.status;
    if (isFinished(st)) finished.add(ev.key);
    else if (st?.nodeName) queueMicrotask(() => c.complete(ev.key));
  });
  const t = performance.now();
  await c.start();
  await until(() => finished.size === n, 300_000, "drained");
  const seconds = (performance.now() - t) / 1000;
  await c.stop();
  return {
    executions: n,
    seconds: round(seconds, 2),
    perSecond: round(n / seconds, 0),
    statusWrites: c.kube.writes,
  };
}
