import { countedAttempts, fail, schedule, wait } from "../api/execution-lifecycle.ts";
import { type Execution, isFinished, type Runtime, type Worker } from "../api/index.ts";
import type { KubeClient } from "../k8s/client.ts";
import type { Controller } from "../k8s/controller.ts";
import { errText, isConflict, isNotFound, isTooLarge } from "../k8s/errors.ts";
import type { EventRecorder } from "../k8s/events.ts";
import type { Informer, InformerEvent } from "../k8s/informer.ts";
import type { Operator } from "../k8s/operator.ts";
import { ExecutionResource, type Node, objectKey, parseTime, RuntimeResource } from "../k8s/resources.ts";
import type { ProcessResult } from "../k8s/work-queue.ts";
import type { Logger } from "../logging.ts";
import { FairShare, type FairShareSettings } from "./fair-share.ts";
import type { ControllerMetrics } from "./metrics.ts";
import type { NodeLiveness } from "./node-liveness.ts";
import { type PendingEntry, PendingQueue } from "./pending-queue.ts";
import type { NodeView } from "./runtime-status.ts";
import { checkExecution, chooseNode, WAIT_REASONS, whyNoNode } from "./scheduling.ts";
import { SlotBook } from "./slot-book.ts";
import { TokenBucket } from "./token-bucket.ts";
import { WritePool } from "./write-pool.ts";

export interface SchedulerDeps {
  client: KubeClient;
  executions: Informer<Execution>;
  runtimes: Informer<Runtime>;
  workers: Informer<Worker>;
  nodes: Informer<Node>;
  liveness: NodeLiveness;
  events: EventRecorder;
  metrics: ControllerMetrics;
  logger: Logger;
}

export interface SchedulerSettings extends FairShareSettings {
  /** Assignments per Execution before it fails (NodeLost, TooManyAttempts); default 3. */
  maxAttempts?: number;
  /** Status writes in flight at once; default 48 (the client keeps 64 sockets, a few for watches). */
  writeConcurrency?: number;
  /** With Executions waiting, the loop runs again after this long even without events; default 30 s. */
  retryPeriodMs?: number;
  /** Scheduled=False writes (why it waits) per second; informational, so rationed (the apiserver's writes go to placements first); default 10. */
  waitingWritesPerSecond?: number;
  /**
   * Executions placed on a node beyond its slots (issue 17): when every node serving a Runtime
   * is full, the next one goes to the node now, so that it starts there the moment a slot
   * frees instead of a round trip later (result seen here, placement written, watch); the
   * agent holds it unstarted until then (SlotGate). Default 0 here; the controller's is 1.
   */
  nodePrefetch?: number;
}

/** The one key of the placement loop's queue: "there may be something to place". */
export const PLACEMENT = "placement";

/** One cycle's view: live nodes and their slot use, Runtimes that cannot take more this cycle. */
interface Snapshot {
  now: Date;
  nodes: NodeView[];
  used: Map<string, number>;
  blocked: Map<string, { reason: string; message: string }>;
  waiting: boolean;
}

type Decision =
  | { kind: "place"; node: string; generation: number }
  | { kind: "fail"; reason: string; message: string }
  | { kind: "wait"; reason: string; message: string; node?: undefined }
  | { kind: "gone" };

/**
 * Places pending Executions on nodes (kube-scheduler / kueue style). Informer
 * events keep an index: the pending queue (per namespace, per Runtime heaps,
 * priority then age) and the slot book (slots held per node and namespace).
 * The placement loop, run by the leader only, reads heads only, in phases:
 * 1. snapshot: live nodes and slot use; 2. nominate: the next head by fair
 * share; 3. assume: count its slot at once; 4. write: a conditional status PUT
 * (resourceVersion), in the background, so a conflict never places it twice.
 * No event causes a pass over every Execution.
 */
export class ExecutionScheduler {
  readonly queue = new PendingQueue();
  readonly book = new SlotBook();
  private readonly client: SchedulerDeps["client"];
  private readonly events: SchedulerDeps["events"];
  private readonly executions: SchedulerDeps["executions"];
  private readonly liveness: SchedulerDeps["liveness"];
  private readonly metrics: SchedulerDeps["metrics"];
  private readonly runtimes: SchedulerDeps["runtimes"];
  private readonly log: Logger;
  private readonly fair: FairShare;
  private readonly maxAttempts: number;
  private readonly retryPeriodMs: number;
  private readonly nodePrefetch: number;
  private readonly writes: WritePool;
  private readonly waitingWrites: TokenBucket;
  /** Keys with a write of ours in flight: events for them wait until it settles. */
  private readonly inFlight = new Set<string>();
  /**
   * Our written copies the informer has not caught up with, keyed by Execution, with the
   * resourceVersion the informer holds meanwhile: placing from the informer's older copy would only be refused
   * as a conflict (a wasted PUT, and a slot held for nothing until the answer).
   */
  private readonly newer = new Map<string, { object: Execution; staleRv: string }>();
  /** uids of Executions whose status writes are refused as too large: never queued again. */
  private readonly tooLarge = new Set<string>();
  private controller: Controller | undefined;

  constructor(deps: SchedulerDeps, settings: SchedulerSettings = {}) {
    this.client = deps.client;
    this.events = deps.events;
    this.executions = deps.executions;
    this.liveness = deps.liveness;
    this.metrics = deps.metrics;
    this.runtimes = deps.runtimes;
    this.log = deps.logger.child({ controller: "execution-scheduler" });
    this.fair = new FairShare(this.book, settings);
    this.maxAttempts = settings.maxAttempts ?? 3;
    this.retryPeriodMs = settings.retryPeriodMs ?? 30_000;
    this.nodePrefetch = settings.nodePrefetch ?? 0;
    this.writes = new WritePool(settings.writeConcurrency ?? 48);
    const perSecond = settings.waitingWritesPerSecond ?? 10;
    this.waitingWrites = new TokenBucket(perSecond, perSecond * 2);
  }

  /** Wiring: the leader-only placement loop, woken by the events that can let something be placed. */
  static setUp(op: Operator, deps: SchedulerDeps, settings: SchedulerSettings = {}): ExecutionScheduler {
    const s = new ExecutionScheduler(deps, settings);
    const wake = () => [PLACEMENT];
    s.controller = op
      .controller({ name: "scheduler", reconcile: () => s.cycle(), concurrency: 1 })
      .watch(deps.executions, (ev) => s.onExecution(ev))
      .watch(deps.runtimes, wake)
      .watch(deps.workers, wake)
      .watch(deps.nodes, wake);
    // Liveness is read from the Lease cache too: the loop starts once it is synced.
    for (const inf of deps.liveness.sources()) s.controller.watch(inf, () => []);
    // Leases renew constantly; only liveness flips matter (NodeLiveness turns those, and silent expiry, into calls).
    deps.liveness.onChange(() => s.wake());
    return s;
  }

  wake(afterMs = 0): void {
    if (afterMs > 0) this.controller?.enqueueAfter(PLACEMENT, afterMs);
    else this.controller?.enqueue(PLACEMENT);
  }

  /** Informer event → index update; wakes the loop only when something may now be placed. */
  onExecution(ev: InformerEvent<Execution>): string[] {
    if (ev.type === "update" && !isFinished(ev.old.status) && isFinished(ev.object.status))
      this.observeCompletion(ev.object);
    // Any event moves the informer past the copy one of our writes replaced: forget our copy,
    // so the map holds only writes whose watch event is still on its way.
    this.newer.delete(ev.key);
    if (this.inFlight.has(ev.key)) return []; // settled when our write returns
    const obj = ev.type === "add" || ev.type === "update" ? ev.object : undefined;
    const heldBefore = this.book.size;
    this.book.observe(ev.key, obj);
    const wasQueued = this.queue.has(ev.key);
    this.observeQueue(ev.key, obj);
    const freed = this.book.size < heldBefore;
    return freed || (!wasQueued && this.queue.has(ev.key)) ? [PLACEMENT] : [];
  }

  private observeQueue(key: string, e: Execution | undefined): void {
    if (e && this.tooLarge.has(e.metadata.uid ?? "")) this.queue.remove(key);
    else this.queue.observe(key, e);
  }

  private observeCompletion(e: Execution): void {
    const created = parseTime(e.metadata.creationTimestamp);
    const done = parseTime(e.status?.completionTime) ?? Date.now();
    if (created !== undefined)
      this.metrics.timeToComplete.observe(
        { phase: e.status?.phase ?? "" },
        Math.max(0, (done - created) / 1000),
      );
  }

  /** One placement cycle: snapshot, then nominate → decide → assume → write until nothing fits. */
  async cycle(): Promise<ProcessResult> {
    const snap = this.snapshot();
    this.fair.begin();
    // Bounded work per cycle: when the writes back up, their answers wake the next one.
    while (this.writes.pending < this.writes.limit * 4) {
      const entry = this.fair.nominate(this.queue, (rt) => snap.blocked.has(rt));
      if (!entry) break;
      const exec = this.latest(entry.key);
      const decision = exec ? await this.decide(entry, exec, snap) : { kind: "gone" as const };
      if (decision.kind === "gone") this.queue.remove(entry.key);
      else if (decision.kind === "fail") this.failIt(exec!, decision.reason, decision.message, snap.now);
      else if (decision.kind === "wait") this.block(entry, decision, snap);
      else this.place(exec!, decision.node, decision.generation, snap);
    }
    this.metrics.pendingExecutions.set(this.queue.size);
    if (this.fair.capped) snap.waiting = true;
    return snap.waiting ? { requeueAfterMs: this.retryPeriodMs } : {};
  }

  /** 1. snapshot */
  private snapshot(): Snapshot {
    const nodes = this.liveness.views().filter((n) => n.live);
    return { now: new Date(), nodes, used: this.book.nodeUsage(), blocked: new Map(), waiting: false };
  }

  /** 2. nominate (the fair-share pick) is FairShare's; this decides what to do with the pick. */
  private async decide(entry: PendingEntry, exec: Execution, snap: Snapshot): Promise<Decision> {
    const attempts = countedAttempts(exec.status);
    // Every assignment counts (a drain's is excused, a bounded number of times); one handed back
    // after the last one fails here, so a hand-back cannot loop.
    if (attempts >= this.maxAttempts) {
      const why = exec.status?.message ?? "handed back by its node";
      return {
        kind: "fail",
        reason: "TooManyAttempts",
        message: `not run after ${attempts} attempt(s): ${why}`,
      };
    }
    const rtName = entry.runtime;
    const verdict = checkExecution(
      exec,
      this.runtimes.get(rtName),
      this.runtimes.invalid(rtName)?.error.message,
    );
    if (verdict.kind === "fail" && verdict.reason === "RuntimeNotFound") {
      // The cache may lag behind a just-created Runtime: ask the apiserver before failing.
      const live = await this.client.tryGet(RuntimeResource, rtName).catch(() => "error" as const);
      if (live !== undefined)
        return { kind: "wait", reason: "RuntimeNotReady", message: `Runtime ${rtName} is not Ready yet` };
    }
    if (verdict.kind !== "schedulable") return verdict;
    const node = chooseNode(verdict.runtime, snap.nodes, snap.used, this.nodePrefetch);
    if (!node) return { kind: "wait", ...whyNoNode(verdict.runtime, snap.nodes) };
    return { kind: "place", node: node.name, generation: verdict.runtime.status!.activeGeneration! };
  }

  /** 3. assume, 4. write */
  private place(exec: Execution, node: string, generation: number, snap: Snapshot): void {
    const key = objectKey(exec);
    snap.used.set(node, (snap.used.get(node) ?? 0) + 1);
    this.book.hold(key, node, exec.metadata.namespace ?? "");
    this.queue.remove(key);
    this.fair.served(exec.metadata.namespace ?? "");
    const status = schedule(exec, node, generation, snap.now);
    this.write(exec, status, "place", () => {
      const created = parseTime(exec.metadata.creationTimestamp);
      if (created !== undefined && status.attempts === 1)
        this.metrics.timeToSchedule.observe(Math.max(0, (snap.now.getTime() - created) / 1000));
    });
  }

  private failIt(exec: Execution, reason: string, message: string, now: Date): void {
    this.queue.remove(objectKey(exec));
    this.log.info({ execution: objectKey(exec), reason, message }, "execution rejected");
    this.write(exec, fail(exec, reason, message, now), "fail", () => {
      this.metrics.failed.inc({ reason });
      this.events.warning(exec, reason, "Schedule", message);
    });
  }

  /** The Runtime cannot take more this cycle; a few of its waiting Executions are told why. */
  private block(entry: PendingEntry, why: { reason: string; message: string }, snap: Snapshot): void {
    snap.blocked.set(entry.runtime, why);
    snap.waiting = true;
    for (const ns of [...this.queue.namespaces()]) {
      const n = this.waitingWrites.available();
      for (const w of this.queue.untold(ns, entry.runtime, n, { reason: why.reason, retold: WAIT_REASONS })) {
        const exec = this.latest(w.key);
        if (!exec || this.inFlight.has(w.key) || !this.waitingWrites.take()) continue;
        const { status, changed } = wait(exec, why.reason, why.message, snap.now);
        if (!changed) {
          this.queue.upsert({ ...w, waitReason: why.reason });
          continue;
        }
        // Out of the queue while the write is in flight: a slot freed meanwhile must not place it
        // from the copy this write is replacing. The write's answer queues it again (settle).
        this.queue.remove(w.key);
        this.write(exec, status, "wait");
      }
    }
  }

  /** A conditional write in the background; the index settles from its answer, then the loop wakes. */
  private write(
    exec: Execution,
    status: Execution["status"],
    kind: "place" | "wait" | "fail",
    onWritten?: () => void,
  ): void {
    const key = objectKey(exec);
    const baseRv = exec.metadata.resourceVersion;
    this.inFlight.add(key);
    this.writes.run(async () => {
      let written: Execution | undefined;
      let retryMs = 0;
      try {
        written = await this.client.replaceStatus(ExecutionResource, { ...exec, status });
        this.metrics.schedulerWrites.inc({ kind, result: "ok" });
        onWritten?.();
      } catch (err) {
        this.metrics.schedulerWrites.inc({ kind, result: isConflict(err) ? "conflict" : "error" });
        retryMs = this.writeFailed(exec, err);
      } finally {
        this.inFlight.delete(key);
        this.settle(key, baseRv, written);
        this.wake(retryMs);
      }
    });
  }

  /** Why a write failed decides the retry: conflicts at once (the newer copy is coming), errors later. */
  private writeFailed(exec: Execution, err: unknown): number {
    if (isConflict(err) || isNotFound(err)) return 0;
    if (isTooLarge(err)) {
      // Created so close to etcd's limit that no status fits: no write can change it.
      if (this.tooLarge.size >= 10_000) this.tooLarge.clear();
      this.tooLarge.add(exec.metadata.uid ?? "");
      this.log.warn(
        { execution: objectKey(exec), err: errText(err) },
        "execution too large for any status write; skipping it",
      );
      return 0;
    }
    this.log.warn({ execution: objectKey(exec), err: errText(err) }, "status write failed; will retry");
    return 1000;
  }

  /** The index settles from the newest copy known: our write's answer while the informer is behind it. */
  private settle(key: string, baseRv: string | undefined, written: Execution | undefined): void {
    const cachedRv = this.executions.get(key)?.metadata.resourceVersion;
    const prev = this.newer.get(key);
    // Behind: the informer still holds the copy this write replaced (or one our last write replaced).
    const behind = cachedRv !== undefined && (cachedRv === baseRv || cachedRv === prev?.staleRv);
    if (written && behind) this.newer.set(key, { object: written, staleRv: cachedRv });
    else this.newer.delete(key);
    const latest = this.latest(key);
    this.book.observe(key, latest);
    this.observeQueue(key, latest);
  }

  /** The newest copy of an Execution: the informer's, unless it still holds one our writes replaced. */
  private latest(key: string): Execution | undefined {
    const cached = this.executions.get(key);
    const ours = this.newer.get(key);
    if (!ours) return cached;
    if (cached && cached.metadata.resourceVersion === ours.staleRv) return ours.object;
    this.newer.delete(key); // the informer has our write (or something newer), or the object is gone
    return cached;
  }
}
