import {
  fail as failedStatus,
  holdsSlot,
  isHandedBack,
  isPending,
  loseNode,
  schedule as scheduledStatus,
  takeBack,
  wait as waitingStatus,
} from "../api/execution-lifecycle.ts";
import {
  type Condition,
  type Execution,
  ExecutionConditions,
  type ExecutionStatus,
  isFinished,
  type Runtime,
} from "../api/index.ts";
import type { KubeClient } from "../k8s/client.ts";
import { rfc3339, setConditions } from "../k8s/conditions.ts";
import { errText, isConflict, isNotFound, isTooLarge } from "../k8s/errors.ts";
import type { EventRecorder } from "../k8s/events.ts";
import type { Informer } from "../k8s/informer.ts";
import {
  ExecutionResource,
  type KubeObject,
  objectKey,
  parseTime,
  RuntimeResource,
  resourcePath,
} from "../k8s/resources.ts";
import type { ProcessResult } from "../k8s/work-queue.ts";
import type { Logger } from "../logging.ts";
import { AssumedCache } from "./assumed-cache.ts";
import type { ControllerMetrics } from "./metrics.ts";
import type { NodeLiveness } from "./node-liveness.ts";
import { checkExecution, chooseNode, compareForScheduling, slotUsage } from "./scheduling.ts";

export interface SchedulerOptions {
  client: KubeClient;
  executions: Informer<Execution>;
  runtimes: Informer<Runtime>;
  liveness: NodeLiveness;
  events: EventRecorder;
  metrics: ControllerMetrics;
  logger: Logger;
  /** Assignments per Execution before a lost node fails it (NodeLost); default 3. */
  maxAttempts?: number;
  /** Status writes in flight at once during a pass; default 16. */
  writeConcurrency?: number;
  /** A pass with waiting Executions runs again after this long even without events; default 30 s. */
  retryPeriodMs?: number;
}

type InvalidExecution = KubeObject & { status?: { phase?: string; conditions?: Condition[] } };

/** The one key of the scheduler's queue: every event asks for a scheduling pass. */
export const SCHEDULE_PASS = "schedule";

/**
 * Assigns Pending Executions to nodes. Works in passes over the whole queue
 * (priority, then age): each pass first returns Executions of lost nodes to
 * the queue (or fails them after maxAttempts), then places Pending ones on
 * live nodes serving the Runtime's active generation with a free slot. Every
 * write is a PUT of /status carrying the resourceVersion it was computed from,
 * so an Execution is never assigned twice: a conflict just means another pass.
 */
export class ExecutionScheduler {
  private readonly o: SchedulerOptions;
  private readonly log: Logger;
  private readonly assumed: AssumedCache<Execution>;
  private readonly maxAttempts: number;
  /** uids of Executions whose status writes are refused as too large (see refusedAsTooLarge). */
  private readonly tooLarge = new Set<string>();

  constructor(opts: SchedulerOptions) {
    this.o = opts;
    this.log = opts.logger.child({ controller: "execution-scheduler" });
    this.assumed = new AssumedCache(opts.executions);
    this.maxAttempts = opts.maxAttempts ?? 3;
  }

  /** Informer events → a pass. Also records completion latency on the transition to finished. */
  onExecutionEvent(ev: { type: string; object?: Execution; old?: Execution }): string[] {
    if (
      ev.type === "update" &&
      ev.object &&
      ev.old &&
      !isFinished(ev.old.status) &&
      isFinished(ev.object.status)
    ) {
      const created = parseTime(ev.object.metadata.creationTimestamp);
      const done = parseTime(ev.object.status?.completionTime) ?? Date.now();
      if (created !== undefined)
        this.o.metrics.timeToComplete.observe(
          { phase: ev.object.status?.phase ?? "" },
          Math.max(0, (done - created) / 1000),
        );
    }
    return [SCHEDULE_PASS];
  }

  stop(): void {
    this.assumed.stop();
  }

  async pass(): Promise<ProcessResult> {
    const now = new Date();
    const { liveness } = this.o;
    const nodes = liveness.views();
    const executions = this.assumed.list();
    const used = slotUsage(executions);
    const writes = new WritePool(this.o.writeConcurrency ?? 16);
    let conflicts = 0;
    let waiting = 0;
    const write = (exec: Execution, status: ExecutionStatus, after?: (ok: boolean) => void) =>
      writes.run(async () => {
        try {
          const written = await this.o.client.replaceStatus(ExecutionResource, { ...exec, status });
          this.assumed.assume(objectKey(exec), written, exec.metadata.resourceVersion);
          after?.(true);
        } catch (err) {
          after?.(false);
          if (isConflict(err) || isNotFound(err)) conflicts++;
          else if (isTooLarge(err)) this.refusedAsTooLarge(exec, err);
          else throw err;
        }
      });

    // 1. Executions on lost nodes go back to the queue, or fail after maxAttempts.
    for (const e of executions) {
      if (!holdsSlot(e)) continue;
      const node = e.status!.nodeName!;
      if (liveness.isLive(node)) {
        if (isHandedBack(e)) write(e, takeBack(e, this.maxAttempts, now));
        continue;
      }
      const why = liveness.whyNotLive(node);
      const attempts = e.status?.attempts ?? 1;
      used.set(node, (used.get(node) ?? 1) - 1);
      if (attempts >= this.maxAttempts) {
        const msg = `${why}; giving up after ${attempts} attempt(s)`;
        this.log.warn({ execution: objectKey(e), node, attempts }, "node lost; failing execution");
        write(e, loseNode(e, why, this.maxAttempts, now), (ok) => {
          if (!ok) return;
          this.o.metrics.failed.inc({ reason: "NodeLost" });
          this.o.events.warning(e, "NodeLost", "Fail", msg);
        });
      } else {
        const msg = `${why}; rescheduling (attempt ${attempts} of ${this.maxAttempts} used)`;
        this.log.info({ execution: objectKey(e), node, attempts }, "node lost; rescheduling execution");
        write(e, loseNode(e, why, this.maxAttempts, now), (ok) => {
          if (!ok) return;
          this.o.metrics.rescheduled.inc();
          this.o.events.warning(e, "NodeLost", "Reschedule", msg);
        });
      }
    }

    // 1b. Objects the apiserver accepted but our schema rejects: Failed, InvalidSpec.
    for (const key of this.o.executions.invalidKeys()) {
      const bad = this.o.executions.invalid(key)!;
      writes.run(() => this.failInvalid(bad.raw as InvalidExecution, bad.error.issues, now));
    }

    // 2. Pending Executions in order; once one of a Runtime cannot be placed, later ones of it wait too.
    const pending = executions.filter(isPending).sort(compareForScheduling);
    this.o.metrics.pendingExecutions.set(pending.length);
    const blocked = new Map<string, { reason: string; message: string }>();
    // Waiting conditions are informational: a pass writes at most this many, front of the queue
    // first, so a long queue never holds free slots empty while thousands of them are written.
    let waitingWrites = MAX_WAITING_WRITES_PER_PASS;
    const markWaiting = (e: Execution, reason: string, message: string) => {
      const { status, changed } = waitingStatus(e, reason, message, now);
      if (changed && waitingWrites-- > 0) write(e, status);
    };
    for (const e of pending) {
      if (this.tooLarge.has(e.metadata.uid ?? "")) continue;
      const rtName = e.spec.runtime;
      // Every assignment counts; an Execution handed back by its node after the last one fails
      // here (an agent hands back a Runtime generation it lacks), so a hand-back cannot loop.
      const attempts = e.status?.attempts ?? 0;
      if (attempts >= this.maxAttempts) {
        const msg = `not run after ${attempts} attempt(s): ${e.status?.message ?? "handed back by its node"}`;
        write(e, failedStatus(e, "TooManyAttempts", msg, now), (ok) => {
          if (!ok) return;
          this.o.metrics.failed.inc({ reason: "TooManyAttempts" });
          this.o.events.warning(e, "TooManyAttempts", "Schedule", msg);
        });
        continue;
      }
      const block = blocked.get(rtName);
      if (block) {
        waiting++;
        markWaiting(e, block.reason, block.message);
        continue;
      }
      let verdict = checkExecution(
        e,
        this.o.runtimes.get(rtName),
        this.o.runtimes.invalid(rtName)?.error.message,
      );
      if (verdict.kind === "fail" && verdict.reason === "RuntimeNotFound") {
        // The cache may lag behind a just-created Runtime: ask the apiserver before failing.
        const live = await this.o.client.tryGet(RuntimeResource, rtName).catch(() => "error" as const);
        if (live !== undefined)
          verdict = {
            kind: "wait",
            reason: "RuntimeNotReady",
            message: `Runtime ${rtName} is not Ready yet`,
          };
      }
      if (verdict.kind === "fail") {
        const v = verdict;
        this.log.info(
          { execution: objectKey(e), reason: v.reason, message: v.message },
          "execution rejected",
        );
        write(e, failedStatus(e, v.reason, v.message, now), (ok) => {
          if (!ok) return;
          this.o.metrics.failed.inc({ reason: v.reason });
          this.o.events.warning(e, v.reason, "Schedule", v.message);
        });
        continue;
      }
      if (verdict.kind === "wait") {
        waiting++;
        blocked.set(rtName, verdict);
        markWaiting(e, verdict.reason, verdict.message);
        continue;
      }
      const runtime = verdict.runtime;
      const node = chooseNode(runtime, nodes, used);
      if (!node) {
        waiting++;
        const b = {
          reason: "NoFreeSlot",
          message: `no live node serving Runtime ${rtName} generation ${runtime.status?.activeGeneration} has a free slot`,
        };
        blocked.set(rtName, b);
        markWaiting(e, b.reason, b.message);
        continue;
      }
      used.set(node.name, (used.get(node.name) ?? 0) + 1);
      const status = scheduledStatus(e, node.name, runtime.status!.activeGeneration!, now);
      write(e, status, (ok) => {
        if (!ok) {
          used.set(node.name, (used.get(node.name) ?? 1) - 1);
          return;
        }
        const created = parseTime(e.metadata.creationTimestamp);
        if (created !== undefined && status.attempts === 1)
          this.o.metrics.timeToSchedule.observe(Math.max(0, (now.getTime() - created) / 1000));
        this.log.debug({ execution: objectKey(e), node: node.name }, "scheduled");
      });
    }
    await writes.drain();
    if (conflicts > 0) return { requeueAfterMs: 200 };
    return waiting > 0 ? { requeueAfterMs: this.o.retryPeriodMs ?? 30_000 } : {};
  }

  /**
   * An Execution created so close to etcd's limit that no status fits: no write can
   * change it, so later passes skip it instead of failing on it again and again.
   */
  private refusedAsTooLarge(exec: Execution, err: unknown): void {
    if (this.tooLarge.size >= 10_000) this.tooLarge.clear();
    this.tooLarge.add(exec.metadata.uid ?? "");
    this.log.warn(
      { execution: objectKey(exec), err: errText(err) },
      "execution too large for any status write; skipping it",
    );
  }

  private async failInvalid(raw: InvalidExecution, issues: string[], now: Date): Promise<void> {
    const st = raw.status && typeof raw.status === "object" ? raw.status : {};
    if (st.phase === "Succeeded" || st.phase === "Failed") return;
    const message = `the Execution does not pass validation: ${issues.slice(0, 5).join("; ")}`.slice(0, 4096);
    const prev = Array.isArray(st.conditions) ? st.conditions : [];
    const { conditions } = setConditions(
      prev,
      [
        { type: ExecutionConditions.Complete, status: "True", reason: "InvalidSpec", message },
        { type: ExecutionConditions.Failed, status: "True", reason: "InvalidSpec", message },
      ],
      now,
    );
    try {
      await this.o.client.rest.request(
        "PATCH",
        resourcePath(ExecutionResource, raw.metadata.namespace, raw.metadata.name, "status"),
        {
          body: {
            metadata: { resourceVersion: raw.metadata.resourceVersion },
            status: { phase: "Failed", message, completionTime: rfc3339(now), conditions },
          },
          contentType: "application/merge-patch+json",
        },
      );
      this.o.metrics.failed.inc({ reason: "InvalidSpec" });
      this.o.events.warning(raw, "InvalidSpec", "Validate", message);
    } catch (err) {
      if (!isConflict(err) && !isNotFound(err)) throw err;
    }
  }
}

/** Waiting-condition writes per scheduling pass (see the pass). */
const MAX_WAITING_WRITES_PER_PASS = 100;

/** Runs async tasks with bounded concurrency; drain() waits and rethrows the first error. */
class WritePool {
  private readonly limit: number;
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly all: Promise<void>[] = [];
  private error: unknown;

  constructor(limit: number) {
    this.limit = limit;
  }

  run(task: () => Promise<void>): void {
    const p = (async () => {
      if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
      this.active++;
      try {
        await task();
      } catch (err) {
        this.error ??= err;
      } finally {
        this.active--;
        this.waiting.shift()?.();
      }
    })();
    this.all.push(p);
  }

  async drain(): Promise<void> {
    await Promise.all(this.all);
    if (this.error) throw new Error(`status write failed: ${errText(this.error)}`);
  }
}
