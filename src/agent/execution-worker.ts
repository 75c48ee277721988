import { type Execution, ExecutionConditions, type ExecutionStatus, isFinished } from "../api/execution.ts";
import {
  countedAttempts,
  finish,
  handBack,
  isHandedBack,
  NODE_DRAINING,
  start,
} from "../api/execution-lifecycle.ts";
import { resolveExecutionLimits } from "../api/limits.ts";
import { backoffDelay, sleep } from "../k8s/backoff.ts";
import type { KubeClient } from "../k8s/client.ts";
import { rfc3339 } from "../k8s/conditions.ts";
import { ApiError, errText, isConflict, isNotFound, isTooLarge } from "../k8s/errors.ts";
import { ExecutionResource, splitKey } from "../k8s/resources.ts";
import type { ProcessResult } from "../k8s/work-queue.ts";
import type { Logger } from "../logging.ts";
import { type ExecutionOutcome, type ExecutionRunner, type RunTimings, stamp } from "./ports.ts";
import { hideTestOutput, type ProblemResolver, resolveFor, runResult } from "./problem/problem-run.ts";
import type { ResolvedProblem } from "./problem/resolve-problem.ts";
import {
  fitOutputs,
  OBJECT_BUDGET_BYTES,
  outputBytes,
  outputRoom,
  STAGE_OVERHEAD_BYTES,
} from "./result-fit.ts";
import type { RuntimeSync } from "./runtime-sync.ts";
import { SlotGate } from "./slot-gate.ts";
import { StartedJournal } from "./started-journal.ts";

/** Tries per Execution (assignments and agent restarts mid-run); the controller's default too. */
export const DEFAULT_MAX_ATTEMPTS = 3;
/** Status writes per call of finish() (conflicts, transient errors, smaller rewrites). */
const MAX_RESULT_WRITES = 12;
/** Later calls of finish() for a result no write took (every RESULT_RETRY_MS); then it is given up. */
const MAX_RESULT_DEFERRALS = 10;
const RESULT_RETRY_MS = 30_000;
const NEWER_WAIT_MS = 5_000;
/** Results kept for a later write; past this the oldest is given up (its Execution is never re-run here). */
const MAX_KEPT_RESULTS = 64;
/** How long a run goes before it is marked Running in the apiserver (shorter ones never are). */
export const DEFAULT_RUNNING_DELAY_MS = 1000;

export interface ExecutionWorkerOptions {
  client: KubeClient;
  nodeName: string;
  runner: ExecutionRunner;
  runtimes: RuntimeSync;
  logger: Logger;
  getExecution: (key: string) => Execution | undefined;
  onFinished?: (ex: Execution, outcome: ExecutionOutcome | undefined) => void;
  /** Tries per Execution before it fails (assignments, hand-backs, restarts mid-run); default 3. */
  maxAttempts?: number;
  /** Most the encoded Execution may weigh with its result; default OBJECT_BUDGET_BYTES. */
  objectBudgetBytes?: number;
  /** After a conflict, how long to wait for the informer's newer copy before a GET; default 5 s. */
  newerWaitMs?: number;
  /** Wait before retry n (0-based) of a status write that failed transiently. */
  retryDelayMs?: (n: number) => number;
  /** Reads an Execution's Problem and holds its test data; Executions naming a Problem fail without it. */
  problems?: ProblemResolver;
  /** Why this node starts nothing new (its Node is cordoned), or undefined; see drain-watch.ts. */
  draining?: () => string | undefined;
  /**
   * Mark a run Running only once it has lasted this long (0: before it starts). Short runs
   * then cost one status write (the result) instead of two; `journal` keeps the starts.
   */
  runningDelayMs?: number;
  /** The starts of this node, kept across agent restarts (see StartedJournal); in memory when unset. */
  journal?: StartedJournal;
  /**
   * Runs at once (the node's slots): more may be assigned (the controller's nodePrefetch), and
   * those wait for a slot, unstarted (SlotGate). Unset: as many as the caller's queue hands over.
   */
  slots?: number;
}

/** What the program's run produced, kept until a status write takes it. */
interface Result {
  outcome?: ExecutionOutcome;
  failReason?: string;
  failMessage?: string;
  /** Calls of finish() that ended without a write. */
  deferrals: number;
  /** No write will be tried any more; the Execution is never run again by this agent. */
  abandoned?: boolean;
  /** Status fields besides finish()'s: score, progress, what it was judged with. */
  extra?: Partial<ExecutionStatus>;
  /** When each step of the run ended (epoch ms), logged once the result is written. */
  hops?: Hops;
  /** When its program started; the result carries it (and the Running transition) if Running was not written. */
  startedAt?: Date;
}

/** An Execution's steps on this node (epoch ms): from its watch event to the result written. */
interface Hops extends RunTimings {
  seenAt?: number;
  dequeuedAt?: number;
  /** Only when Running was written before the run (runningDelayMs 0, or the journal failed). */
  runningWrittenAt?: number;
  /** The run began: after the Running write, or at once. */
  startedAt?: number;
}

/**
 * Runs the Executions the controller assigned to this node. The controller
 * owns scheduling (placement, attempts, Scheduled); this node writes Running
 * (only for runs that last runningDelayMs, see runOne), the result or a
 * hand-back (transitions in api/execution-lifecycle.ts). Each is one
 * conditional write from the cached copy and its resourceVersion, with no read
 * first, so a reassignment by the controller (node presumed lost) wins and
 * this node's late result is dropped: one result per Execution, never two.
 *
 * Once the program has run, only the write is retried: the result is kept
 * (in memory, bounded) and written again, smaller each time the apiserver
 * says it is too large, down to no output and then a bare Failed.
 */
export class ExecutionWorker {
  private client: KubeClient;
  private getExecution: (key: string) => Execution | undefined;
  private readonly nodeName: string;
  private readonly runner: ExecutionRunner;
  private readonly runtimes: RuntimeSync;
  private readonly logger: Logger;
  private readonly onFinished: ExecutionWorkerOptions["onFinished"];
  private readonly budget: number;
  private readonly newerWaitMs: number;
  private readonly retryDelayMs: ExecutionWorkerOptions["retryDelayMs"];
  private readonly running = new Map<string, AbortController>();
  /** Executions this process marked Running (a write the client may have seen fail): not a restart. */
  private readonly startedHere = new Set<string>();
  /**
   * uid → the attempt whose program this process ran: never run again in that
   * attempt, even once its result was given up. A later attempt (the
   * controller requeued it, e.g. after this node's Lease lapsed mid-run, and
   * placed it here again) runs afresh.
   */
  private readonly ranHere = new Map<string, number>();
  /** uid → result of a program this process ran whose result is not written yet. */
  private readonly results = new Map<string, Result>();
  private readonly maxAttempts: number;
  /** key → the object our last write returned and the version it replaced (see latest()). */
  private readonly written = new Map<string, { obj: Execution; baseRv: string | undefined }>();
  /** uid → when an informer event first showed it assigned here (bounded; for the hop log). */
  private readonly seenAt = new Map<string, number>();
  private readonly problems: ProblemResolver | undefined;
  /** uid → the Problem (and test data) held while its Execution runs here. */
  private readonly held = new Map<string, ResolvedProblem>();
  private readonly draining: () => string | undefined;
  private readonly runningDelayMs: number;
  private readonly journal: StartedJournal;
  /** uid → the pending Running write of a run still going (see markRunningLater). */
  private readonly runningTimers = new Map<string, NodeJS.Timeout>();
  /** The last of each run's Running and progress writes (inTurn), by uid. */
  private readonly runWrites = new Map<string, Promise<void>>();
  private readonly gate: SlotGate | undefined;
  /** Executions waiting for a slot, by uid: a cordon ends their wait (they go back unstarted). */
  private readonly waitingForSlot = new Map<string, AbortController>();

  constructor(opts: ExecutionWorkerOptions) {
    this.client = opts.client;
    this.getExecution = opts.getExecution;
    this.nodeName = opts.nodeName;
    this.runner = opts.runner;
    this.runtimes = opts.runtimes;
    this.logger = opts.logger;
    this.onFinished = opts.onFinished;
    this.budget = opts.objectBudgetBytes ?? OBJECT_BUDGET_BYTES;
    this.newerWaitMs = opts.newerWaitMs ?? NEWER_WAIT_MS;
    this.retryDelayMs = opts.retryDelayMs;
    this.maxAttempts = opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    this.problems = opts.problems;
    this.draining = opts.draining ?? (() => undefined);
    this.runningDelayMs = opts.runningDelayMs ?? DEFAULT_RUNNING_DELAY_MS;
    this.journal = opts.journal ?? new StartedJournal();
    this.gate = opts.slots ? new SlotGate(opts.slots) : undefined;
  }

  /** Executions running in a slot now (without slots: every one being processed). */
  get busy(): number {
    return this.gate?.busy ?? this.running.size;
  }

  /** Whether an informer event should enqueue this Execution. */
  wants(ex: Execution): boolean {
    const uid = ex.metadata.uid ?? "";
    const wanted =
      ex.status?.nodeName === this.nodeName &&
      !isFinished(ex.status) &&
      !isHandedBack(ex) &&
      !this.running.has(uid) &&
      !this.results.get(uid)?.abandoned;
    if (wanted && !this.seenAt.has(uid)) {
      if (this.seenAt.size > 10_000) this.seenAt.clear();
      this.seenAt.set(uid, Date.now());
    }
    return wanted;
  }

  /**
   * The node was cordoned: every Execution assigned here that has not started
   * (and is not in a slot now) is handed back at once, not when a slot frees.
   * Returns how many were handed back.
   */
  async handBackUnstarted(assigned: readonly Execution[]): Promise<number> {
    const why = this.draining();
    if (why === undefined) return 0;
    // Those waiting for a slot go back from their own wait (notStarted).
    for (const wait of this.waitingForSlot.values()) wait.abort();
    const todo = assigned.filter((ex) => this.wants(ex) && !this.startedElsewhere(ex));
    let n = 0;
    await Promise.all(
      todo.map(async (ex) => {
        const uid = ex.metadata.uid ?? "";
        if (this.running.has(uid) || this.results.has(uid)) return;
        this.running.set(uid, new AbortController()); // the queue leaves it alone meanwhile
        try {
          if (await this.drainBack(ex, `${ex.metadata.namespace}/${ex.metadata.name}`, why)) n++;
        } catch (err) {
          this.logger.warn({ execution: ex.metadata.name, err: errText(err) }, "drain hand-back failed");
        } finally {
          this.running.delete(uid);
        }
      }),
    );
    return n;
  }

  /** Aborts every run in progress (shutdown). */
  abortAll(): void {
    for (const a of this.running.values()) a.abort();
  }

  /**
   * Started, and not by this process: this agent restarted during its run (it
   * was marked Running, or an earlier process recorded its start).
   */
  private startedElsewhere(ex: Execution): boolean {
    const uid = ex.metadata.uid ?? "";
    if (this.startedHere.has(uid)) return false;
    return ex.status?.phase === "Running" || this.journal.startedBefore(uid, ex.status?.attempts ?? 0);
  }

  async process(key: string): Promise<ProcessResult | undefined> {
    const cached = this.getExecution(key);
    if (!cached || !this.wants(cached)) return undefined;
    const uid = cached.metadata.uid ?? key;
    const abort = new AbortController();
    this.running.set(uid, abort);
    try {
      // A program that already ran here is never run again: only its result is written.
      const kept = this.results.get(uid);
      if (kept) return await this.finish(key, uid, kept);
      return await this.runOne(cached, key, uid, abort.signal);
    } finally {
      this.running.delete(uid);
      this.held.get(uid)?.release();
      this.held.delete(uid);
    }
  }

  /**
   * Starts the Execution from the cached copy, with no GET. Its start is recorded on
   * the node (StartedJournal) and Running is written only if the run lasts (runningDelayMs):
   * the result's write is conditional on the copy's resourceVersion, so a run started
   * from a stale copy (reassigned meanwhile) has its result dropped. Without the journal,
   * or with runningDelayMs 0, Running is written first; a stale copy is then refused
   * (conflict) before anything runs, and the newer one arrives as an informer event.
   */
  private async runOne(
    ex: Execution,
    key: string,
    uid: string,
    signal: AbortSignal,
  ): Promise<ProcessResult | undefined> {
    const hops: Hops = { seenAt: this.seenAt.get(uid) };
    const generation = ex.status?.runtimeGeneration ?? 0;
    const runtime = await this.runtimes.runtimeFor(ex.spec.runtime, generation);
    if (!runtime) return this.giveBack(ex, key, uid, "RuntimeUnavailable", this.missingWhy(ex, generation));
    const problem = ex.spec.problem ? await resolveFor(this.problems, ex, signal) : undefined;
    if (problem && "reason" in problem) return this.fail(key, uid, problem.reason, problem.message);
    if (problem) this.held.set(uid, problem);
    const { limits, violations } = resolveExecutionLimits(runtime.spec, problem?.spec ?? ex.spec);
    if (violations.length > 0)
      return this.fail(key, uid, "LimitOutOfBounds", violations.map((v) => v.message).join("; "));
    const release = await this.slotFor(uid, signal);
    if (this.gate && !release) return this.notStarted(key, signal);
    try {
      let current = ex;
      if (release) {
        // Waited for a slot: only the copy as it is now is started, if it is still this node's.
        const now = this.latest(key);
        if (!this.stillMine(now) || isHandedBack(now)) return undefined;
        if (now.status?.runtimeGeneration !== generation) return { requeueAfterMs: 0 };
        current = now;
      }
      stamp(hops, "dequeuedAt");
      return await this.startRun(current, { key, uid, runtime, limits, hops, release, signal });
    } finally {
      release?.();
    }
  }

  /**
   * A slot for the run (undefined without slots); undefined too when the wait ends without
   * one: the agent stopping, or the node cordoned (handBackUnstarted ends the wait).
   */
  private async slotFor(uid: string, signal: AbortSignal): Promise<(() => void) | undefined> {
    if (!this.gate || this.draining() !== undefined) return undefined;
    const wait = new AbortController();
    this.waitingForSlot.set(uid, wait);
    try {
      return await this.gate.acquire(AbortSignal.any([signal, wait.signal]));
    } catch {
      return undefined;
    } finally {
      this.waitingForSlot.delete(uid);
    }
  }

  /** It waited for a slot and got none: stopping, it stays assigned; cordoned, it goes back unstarted. */
  private async notStarted(key: string, signal: AbortSignal): Promise<undefined> {
    const cordon = this.draining();
    const ex = this.latest(key);
    if (!signal.aborted && cordon !== undefined && this.stillMine(ex) && !isHandedBack(ex))
      await this.drainBack(ex, key, cordon);
    return undefined;
  }

  /** In a slot (or without slots): the checks before the start, the start, and the run. */
  private async startRun(
    ex: Execution,
    o: {
      key: string;
      uid: string;
      runtime: NonNullable<Awaited<ReturnType<RuntimeSync["runtimeFor"]>>>;
      limits: ReturnType<typeof resolveExecutionLimits>["limits"];
      hops: Hops;
      release: (() => void) | undefined;
      signal: AbortSignal;
    },
  ): Promise<ProcessResult | undefined> {
    const { key, uid, hops } = o;
    const log = this.logger.child({ execution: key });
    const status = ex.status ?? {};
    const problem = this.held.get(uid);
    if (this.ranHere.get(uid) === (status.attempts ?? 0)) {
      log.error(
        "its program already ran here in this attempt and its result could not be written; not running it again",
      );
      return undefined;
    }
    // Started already, and not by this process: this agent restarted mid-run. The controller
    // counts attempts, so the attempt is given back; it requeues it (or fails it past the last).
    if (this.startedElsewhere(ex))
      return this.giveBack(
        ex,
        key,
        uid,
        "AgentRestarted",
        `the agent on node ${this.nodeName} restarted during the run`,
      );
    // Cordoned: it goes back unstarted. Checked with no await before the start, so nothing
    // starts once the agent has seen a cordon (one Running already is a restart, above).
    const cordon = this.draining();
    if (cordon !== undefined) return this.drainBack(ex, key, cordon).then(() => undefined);
    // Bounded: only a retry soon after needs them.
    if (this.startedHere.size > 10_000) this.startedHere.clear();
    if (this.ranHere.size > 10_000) this.ranHere.clear();
    this.startedHere.add(uid);
    const startedAt = new Date();
    const progress = problem ? { progress: { completed: 0, total: problem.plan.tests.length } } : {};
    let started = ex;
    if (this.runningDelayMs > 0 && this.journal.record(uid, status.attempts ?? 0)) {
      this.markRunningLater(key, uid, startedAt, progress);
    } else {
      try {
        started = await this.writeStatus(ex, { ...start(ex, this.nodeName, startedAt), ...progress });
        stamp(hops, "runningWrittenAt");
      } catch (err) {
        if (isConflict(err)) return { requeueAfterMs: 1000 }; // the newer copy comes as an event
        if (isNotFound(err)) return undefined;
        if (isTooLarge(err))
          return this.fail(key, uid, "ResultTooLarge", `cannot mark it Running: ${errText(err)}`);
        // Nothing ran yet: the queue retries with its backoff, which is safe.
        throw err;
      }
    }
    stamp(hops, "startedAt");
    return this.execute(started, o.runtime, o.limits, key, uid, o.signal, {
      hops,
      startedAt,
      release: o.release,
    });
  }

  /**
   * Marks the run Running once it has gone on for runningDelayMs, so kubectl and the
   * HTTP API show it running; one that ends sooner is never marked, and its result
   * carries its start (asStarted). A failed write is only logged: nothing depends on it.
   */
  private markRunningLater(key: string, uid: string, startedAt: Date, extra: Partial<ExecutionStatus>): void {
    const timer = setTimeout(() => {
      this.runningTimers.delete(uid);
      void this.inTurn(uid, async () => {
        const ex = this.latest(key);
        if (!this.stillMine(ex) || ex.status?.phase === "Running") return;
        await this.writeStatus(ex, { ...this.asStarted(ex, startedAt).status, ...extra }).catch(
          (err: unknown) => this.logger.debug({ execution: key, err: errText(err) }, "Running not written"),
        );
      });
    }, this.runningDelayMs);
    timer.unref();
    this.runningTimers.set(uid, timer);
  }

  /**
   * A run's writes besides its result (Running, progress), one at a time: two at once
   * would be conditional on the same resourceVersion, and the second refused.
   */
  private inTurn(uid: string, write: () => Promise<void>): Promise<void> {
    const turn = (this.runWrites.get(uid) ?? Promise.resolve()).then(write).catch(() => undefined);
    this.runWrites.set(uid, turn);
    void turn.then(() => {
      if (this.runWrites.get(uid) === turn) this.runWrites.delete(uid);
    });
    return turn;
  }

  private cancelRunningWrite(uid: string): void {
    clearTimeout(this.runningTimers.get(uid));
    this.runningTimers.delete(uid);
  }

  /**
   * The copy as if Running had been written (the run started at `startedAt`): the base of
   * any later write of a run that may not have been marked Running yet.
   */
  private asStarted(ex: Execution, startedAt: Date | undefined): Execution {
    if (!startedAt || ex.status?.phase === "Running") return ex;
    return { ...ex, status: start(ex, this.nodeName, startedAt) };
  }

  /** Still assigned to this node and not finished: a copy this node may write. */
  private stillMine(ex: Execution | undefined): ex is Execution {
    return ex !== undefined && ex.status?.nodeName === this.nodeName && !isFinished(ex.status);
  }

  private async execute(
    ex: Execution,
    runtime: NonNullable<Awaited<ReturnType<RuntimeSync["runtimeFor"]>>>,
    limits: ReturnType<typeof resolveExecutionLimits>["limits"],
    key: string,
    uid: string,
    signal: AbortSignal,
    { hops, startedAt, release }: { hops: Hops; startedAt: Date; release: (() => void) | undefined },
  ): Promise<ProcessResult | undefined> {
    const log = this.logger.child({ execution: key });
    const t0 = Date.now();
    this.ranHere.set(uid, ex.status?.attempts ?? 0);
    let outcome: ExecutionOutcome;
    const problem = this.held.get(uid);
    if (problem) problem.plan.onProgress = this.progressWriter(key, uid, startedAt);
    // A Problem's tests keep no output (it would show the hidden inputs and
    // answers); its compile's output is the submitter's own and is kept.
    const compiles = Boolean(runtime.spec.compileCommand);
    const caps = problem
      ? { outputCapBytes: 0, compileOutputCapBytes: this.outputCapFor(ex, compiles) }
      : { outputCapBytes: this.outputCapFor(ex, compiles) };
    try {
      outcome = await this.runner.run(
        problem?.spec ?? ex.spec,
        { ...runtime, limits, ...caps },
        signal,
        hops,
        problem?.plan,
      );
    } catch (err) {
      if (signal.aborted) return undefined; // shutting down: the controller reschedules after the lease expires
      log.error({ err: errText(err) }, "execution failed inside the agent");
      return this.fail(key, uid, "AgentError", errText(err));
    } finally {
      this.cancelRunningWrite(uid);
      release?.(); // the box is emptied in the background: the next run may start while this result is written
    }
    log.info({ verdict: outcome.verdict, seconds: (Date.now() - t0) / 1000 }, "execution finished");
    const extra = runResult(problem, ex.spec, outcome, runtime.closureHash);
    if (problem) outcome = hideTestOutput(outcome, problem.showJudgeMessages);
    return this.finish(key, uid, this.keep(uid, { outcome, deferrals: 0, hops, extra, startedAt }));
  }

  private missingWhy(ex: Execution, generation: number): string {
    return `runtime ${ex.spec.runtime} generation ${generation} is not installed on node ${this.nodeName}`;
  }

  /**
   * Gives the attempt back to the controller (handBack; placement stays the controller's),
   * which requeues it and counts it against maxAttempts. On the last attempt a hand-back
   * could only end in failure, so it fails here with the precise reason instead.
   */
  private async giveBack(
    ex: Execution,
    key: string,
    uid: string,
    reason: string,
    why: string,
  ): Promise<ProcessResult | undefined> {
    const attempts = Math.max(1, countedAttempts(ex.status));
    const log = this.logger.child({ execution: key });
    if (attempts >= this.maxAttempts) {
      log.warn({ reason, attempts }, "cannot run it and no attempt is left; failing");
      const failReason = reason === "AgentRestarted" ? "TooManyAttempts" : reason;
      return this.fail(key, uid, failReason, `${why}; giving up after ${attempts} attempt(s)`);
    }
    log.warn({ reason, attempts }, "cannot run it here; handing it back to the controller");
    const msg = `${why}; handed back (attempt ${attempts} of ${this.maxAttempts} used)`;
    await this.writeStatus(ex, handBack(ex, reason, msg, new Date())).catch((err: unknown) => {
      if (!isConflict(err) && !isNotFound(err)) throw err; // nothing ran: the queue retries
    });
    return undefined;
  }

  /**
   * The node is cordoned: the attempt goes back unstarted, on any attempt (the
   * controller does not count a drain's; api/execution-lifecycle takeBack).
   * True when written; a conflict means a newer copy is coming as an event.
   */
  private async drainBack(ex: Execution, key: string, why: string): Promise<boolean> {
    this.logger.info({ execution: key }, "node cordoned; handing back an Execution not started");
    const msg = `${why}; handed back before it started`;
    try {
      await this.writeStatus(ex, handBack(ex, NODE_DRAINING, msg, new Date()));
      return true;
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) return false;
      throw err; // nothing ran: the queue retries
    }
  }

  /** Per-stream output cap for the executor: the object budget left by the spec, shared by every stream. */
  private outputCapFor(ex: Execution, compiles: boolean): number {
    const stages = Math.max(ex.spec.testCases?.length ?? 1, 1) + (compiles ? 1 : 0);
    const room = outputRoom(ex, ex.status ?? {}, this.budget) - stages * STAGE_OVERHEAD_BYTES;
    return Math.max(0, Math.floor(room / (2 * stages)));
  }

  private fail(key: string, uid: string, failReason: string, failMessage: string) {
    return this.finish(key, uid, this.keep(uid, { failReason, failMessage, deferrals: 0 }));
  }

  private keep(uid: string, result: Result): Result {
    this.results.set(uid, result);
    if (this.results.size > MAX_KEPT_RESULTS) {
      const oldest = this.results.keys().next().value!;
      this.logger.error({ uid: oldest }, "too many unwritten results; giving one up");
      this.results.delete(oldest);
    }
    return result;
  }

  /**
   * Writes the final result; the program is never run again, whatever happens.
   * Conflicts re-read, transient errors back off, "too large" rewrites with
   * half the output, then none, then a bare Failed. When no write takes, the
   * result is kept and tried again later, a bounded number of times.
   */
  private async finish(key: string, uid: string, result: Result): Promise<ProcessResult | undefined> {
    const log = this.logger.child({ execution: key });
    const plan = new ShrinkPlan();
    let transient = 0;
    let lastError = "";
    let ex = this.latest(key);
    for (let n = 0; n < MAX_RESULT_WRITES; n++) {
      if (!this.stillMine(ex)) {
        log.warn("execution was reassigned or finished elsewhere; dropping this result");
        this.drop(key, uid);
        return undefined;
      }
      // The minimal steps are next to nothing (smaller than the Scheduled status): no score or progress.
      const extra = result.outcome && !plan.minimal ? result.extra : {};
      const status = { ...plan.status(this.asStarted(ex, result.startedAt), result, this.budget), ...extra };
      try {
        const written = await this.writeStatus(ex, status);
        this.drop(key, uid);
        if (plan.step > 0) log.warn({ step: plan.describe() }, "result written smaller to fit");
        if (result.hops) {
          const hops = { ...result.hops, resultWrittenAt: 0 };
          stamp(hops, "resultWrittenAt");
          log.info({ hops }, "result written");
        }
        this.onFinished?.(written, plan.bare ? undefined : result.outcome);
        return undefined;
      } catch (err) {
        lastError = errText(err);
        if (isNotFound(err)) {
          this.drop(key, uid);
          return undefined;
        }
        if (isConflict(err)) {
          ex = await this.newer(key, ex.metadata.resourceVersion).catch(() => ex);
          continue;
        }
        if (isTooLarge(err) || isInvalid(err)) {
          this.logRefused(log, ex, status, lastError, plan);
          if (plan.shrink(status, err, result.outcome !== undefined)) continue;
          log.error({ err: lastError }, "even a bare Failed status is refused; giving the result up");
          result.abandoned = true;
          return undefined;
        }
        log.warn({ err: lastError }, "writing the result failed; retrying");
        await sleep(this.retryDelay(transient++));
        ex = this.latest(key);
      }
    }
    return this.defer(log, result, lastError);
  }

  private logRefused(
    log: Logger,
    ex: Execution,
    status: ExecutionStatus,
    err: string,
    plan: ShrinkPlan,
  ): void {
    const bytes = Buffer.byteLength(JSON.stringify({ ...ex, status }));
    log.warn(
      { err, bytes, outputBytes: outputBytes(status), message: status.message, step: plan.describe() },
      "result refused; writing it smaller",
    );
  }

  /** No write took: the result is kept for a later try, a bounded number of times. */
  private defer(log: Logger, result: Result, lastError: string): ProcessResult | undefined {
    result.deferrals++;
    if (result.deferrals >= MAX_RESULT_DEFERRALS) {
      log.error(
        { err: lastError },
        "the result could not be written; giving it up (the program is not re-run)",
      );
      result.abandoned = true;
      return undefined;
    }
    log.warn(
      { err: lastError, deferrals: result.deferrals },
      "the result could not be written yet; keeping it",
    );
    return { requeueAfterMs: RESULT_RETRY_MS };
  }

  /**
   * The newest copy known without asking: the informer's, or the object our own last
   * write returned while the informer has not caught up with it yet.
   */
  private latest(key: string): Execution | undefined {
    const cached = this.getExecution(key);
    const mine = this.written.get(key);
    if (mine && cached?.metadata.resourceVersion === mine.baseRv) return mine.obj;
    return cached;
  }

  /**
   * After a conflict: waits for the informer to bring a copy newer than `rv` (or say it is
   * gone); a GET only when the watch seems stalled, so a refused write is never retried blind.
   */
  private async newer(key: string, rv: string | undefined): Promise<Execution | undefined> {
    const deadline = Date.now() + this.newerWaitMs;
    for (;;) {
      const ex = this.latest(key);
      if (!ex || ex.metadata.resourceVersion !== rv) return ex;
      if (Date.now() >= deadline) break;
      await sleep(Math.min(50, this.retryDelay(0)));
    }
    const { namespace, name } = splitKey(key);
    return this.client.tryGet(ExecutionResource, name, namespace);
  }

  private drop(key: string, uid: string): void {
    this.results.delete(uid);
    this.seenAt.delete(uid);
    this.written.delete(key);
  }

  private retryDelay(n: number): number {
    return this.retryDelayMs?.(n) ?? backoffDelay(n, { baseMs: 200, maxMs: 5_000, jitter: 0.2 });
  }

  /**
   * Writes status.progress at most once a second while a Problem's tests run, the first a
   * second after the start (marking it Running too if it is not yet); a failed write is skipped.
   */
  private progressWriter(
    key: string,
    uid: string,
    startedAt: Date,
  ): (completed: number, total: number) => Promise<void> {
    let last = startedAt.getTime();
    return async (completed, total) => {
      if (completed >= total || Date.now() - last < 1000) return; // the result says the rest
      last = Date.now();
      // After the Running write if that is due now too (the same second): both land.
      await this.inTurn(uid, async () => {
        const ex = this.latest(key);
        if (!this.stillMine(ex)) return;
        const base = this.asStarted(ex, startedAt).status;
        await this.writeStatus(ex, { ...base, progress: { completed, total } }).catch((err: unknown) =>
          this.logger.debug({ execution: key, err: errText(err) }, "progress not written"),
        );
      });
    };
  }

  /** A conditional write (the copy's resourceVersion); remembers what it wrote for latest(). */
  private async writeStatus(ex: Execution, status: ExecutionStatus): Promise<Execution> {
    const written = await this.client.replaceStatus(ExecutionResource, { ...ex, status });
    const key = `${ex.metadata.namespace}/${ex.metadata.name}`;
    if (this.written.size > 10_000) this.written.clear();
    this.written.set(key, { obj: written, baseRv: ex.metadata.resourceVersion });
    return written;
  }
}

/** A 422 that is not about size: the status breaks the schema. A bare Failed can still be written. */
function isInvalid(err: unknown): err is ApiError {
  return err instanceof ApiError && err.status === 422;
}

/**
 * The steps a refused result goes through: as budgeted, half the output, a
 * quarter, none (each saying so in the message), then Failed without results.
 */
class ShrinkPlan {
  step = 0;
  bare = false;
  /** Last steps (1, 2): a status smaller than the one the controller wrote (which fit). */
  minimal = 0;
  private cap = Number.POSITIVE_INFINITY;
  private bareReason = "";
  private bareMessage = "";
  private verdictNote = "";

  status(ex: Execution, result: Result, budget: number): ExecutionStatus {
    if (this.minimal)
      return minimalFailed(this.minimal, this.bareReason || "ResultTooLarge", this.bareMessage);
    if (this.bare || !result.outcome) {
      const reason = this.bare ? this.bareReason : (result.failReason ?? "Failed");
      const message = this.bare ? this.bareMessage : (result.failMessage ?? "the execution failed");
      return finish(ex, undefined, new Date(), reason, message);
    }
    const full = finish(ex, result.outcome, new Date());
    const room = Math.min(this.cap, outputRoom(ex, full, budget));
    const { status, cut } = fitOutputs(full, room);
    // No room at all (the spec takes it): the executor kept nothing either; say so.
    const dropped =
      room === 0 &&
      [status.compile, ...(status.tests ?? [])].some((t) => t?.stdoutTruncated || t?.stderrTruncated);
    if (!cut && !dropped) return status;
    const kept = outputBytes(status);
    const note =
      kept === 0
        ? "output dropped to fit the Execution's size limit"
        : `output cut to ${kept} bytes to fit the Execution's size limit`;
    return { ...status, message: `${status.message}; ${note}`.slice(0, 4096) };
  }

  /** Next smaller step after `refused` was refused; false when nothing smaller is left. */
  shrink(refused: ExecutionStatus, err: unknown, hasResults: boolean): boolean {
    if (this.minimal >= 2) return false;
    this.step++;
    const kept = outputBytes(refused);
    const tooLarge = isTooLarge(err);
    if (hasResults && refused.verdict) this.verdictNote ||= `verdict ${refused.verdict}; `;
    const verdict = this.verdictNote;
    if (this.bare || !hasResults) {
      this.minimal++;
      this.bare = true;
      this.bareReason ||= tooLarge ? "ResultTooLarge" : "ResultInvalid";
      this.bareMessage = `${verdict}result ${tooLarge ? "too large" : "invalid"} to store`;
    } else if (tooLarge && kept > 0 && this.step <= 2) this.cap = Math.floor(kept / 2);
    else if (tooLarge && kept > 0) this.cap = 0;
    else {
      this.bare = true;
      this.bareReason = tooLarge ? "ResultTooLarge" : "ResultInvalid";
      this.bareMessage = `${verdict}the result could not be stored: ${errText(err)}`.slice(0, 4096);
    }
    return true;
  }

  describe(): string {
    if (this.minimal) return `minimal(${this.minimal}) ${this.bareReason}`;
    if (this.bare) return `bare ${this.bareReason}`;
    return this.cap === Number.POSITIVE_INFINITY ? "as budgeted" : `output cap ${this.cap} B`;
  }
}

/**
 * Failed and next to nothing else (no node, no times, no results): smaller than the
 * Scheduled status the controller managed to write, so it fits when nothing else does.
 * Level 1 keeps a short message and the Complete and Failed conditions; level 2 only the phase.
 */
function minimalFailed(level: number, reason: string, message: string): ExecutionStatus {
  if (level > 1) return { phase: "Failed" };
  const cond = (type: string) => ({
    type,
    status: "True" as const,
    reason,
    message: "",
    lastTransitionTime: rfc3339(),
  });
  return {
    phase: "Failed",
    message,
    conditions: [cond(ExecutionConditions.Complete), cond(ExecutionConditions.Failed)],
  };
}
