import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Execution } from "../api/index.ts";
import type { KubeClient } from "../k8s/client.ts";
import type { Informer } from "../k8s/informer.ts";
import { WorkQueue } from "../k8s/work-queue.ts";
import type { ControllerMetrics } from "./metrics.ts";
import { ex } from "./test-fixtures.ts";
import { TtlReconciler } from "./ttl-reconciler.ts";

const DAY = 24 * 3600 * 1000;

describe("TtlReconciler", () => {
  beforeEach(() => vi.useFakeTimers({ now: new Date("2025-06-01T00:00:00Z") }));
  afterEach(() => vi.useRealTimers());

  it("a 30-day TTL (the CRD's maximum) waits 30 days: no early reconcile, one delete at the end", async () => {
    const finished = ex("long-ttl", {
      status: { phase: "Succeeded", verdict: "Accepted", completionTime: new Date().toISOString() },
    });
    finished.spec.ttlSecondsAfterFinished = 30 * 24 * 3600;
    let reconciles = 0;
    const deletes: number[] = [];
    const start = Date.now();
    const ttl = new TtlReconciler({
      client: {
        delete: async () => {
          deletes.push(Date.now() - start);
          return true;
        },
      } as unknown as KubeClient,
      executions: { get: () => finished } as unknown as Informer<Execution>,
      defaultTtlSeconds: 3600,
      metrics: { deletedByTtl: { inc: () => undefined } } as unknown as ControllerMetrics,
      logger: pino({ level: "silent" }),
    });
    const q = new WorkQueue();
    const run = q.run(async (key) => {
      reconciles++;
      return ttl.reconcile(key);
    });
    q.add("ns/long-ttl");
    await vi.advanceTimersByTimeAsync(DAY);
    expect(reconciles).toBe(1); // a timer that overflowed would have re-run it at once, again and again
    await vi.advanceTimersByTimeAsync(29 * DAY - 1);
    expect(deletes).toEqual([]);
    await vi.advanceTimersByTimeAsync(20);
    console.log(
      `TTL 2592000 s: ${reconciles} reconciles, deleted at ${deletes.map((t) => `${(t / DAY).toFixed(6)} d`)}`,
    );
    expect(deletes).toHaveLength(1);
    expect(deletes[0]).toBeGreaterThanOrEqual(30 * DAY);
    expect(reconciles).toBe(2);
    await q.shutdown();
    await run;
  });
});
