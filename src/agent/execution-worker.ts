import { type Execution, ExecutionConditions, type ExecutionStatus, isFinished } from "../api/execution.ts";
import { resolveExecutionLimits } from "../api/limits.ts";
import { backoffDelay, sleep } from "../k8s/backoff.ts";
import type { KubeClient } from "../k8s/client.ts";
import { rfc3339, setConditions } from "../k8s/conditions.ts";
import { ApiError, errText, isConflict, isNotFound, isTooLarge } from "../k8s/errors.ts";
import { ExecutionResource, splitKey } from "../k8s/resources.ts";
import type { ProcessResult } from "../k8s/work-queue.ts";
import type { Logger } from "../logging.ts";
import type { ExecutionOutcome, ExecutionRunner } from "./ports.ts";
import {
  fitOutputs,
  OBJECT_BUDGET_BYTES,
  outputBytes,
  outputRoom,
  STAGE_OVERHEAD_BYTES,
} from "./result-fit.ts";
import type { RuntimeSync } from "./runtime-sync.ts";

/** Tries per Execution (assignments and agent restarts mid-run); the controller's default too. */
export const DEFAULT_MAX_ATTEMPTS = 3;
/** Status writes per call of finish() (conflicts, transient errors, smaller rewrites). */
const MAX_RESULT_WRITES = 12;
/** Later calls of finish() for a result no write took (every RESULT_RETRY_MS); then it is given up. */
const MAX_RESULT_DEFERRALS = 10;
const RESULT_RETRY_MS = 30_000;
/** Results kept for a later write; past this the oldest is given up (its Execution is never re-run here). */
const MAX_KEPT_RESULTS = 64;

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
  /** Wait before retry n (0-based) of a status write that failed transiently. */
  retryDelayMs?: (n: number) => number;
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
}

/**
 * Runs the Executions the controller assigned to this node. The controller
 * owns scheduling (phase Scheduled, nodeName, attempts); this node writes
 * Running and then the result, each a conditional write of the whole status
 * read just before, so a reassignment by the controller (node presumed lost)
 * wins and this node's late result is dropped — never run twice to completion.
 *
 * Once the program has run, only the write is retried: the result is kept
 * (in memory, bounded) and written again, smaller each time the apiserver
 * says it is too large, down to no output and then a bare Failed.
 */
export class ExecutionWorker {
  private readonly o: ExecutionWorkerOptions;
  private readonly running = new Map<string, AbortController>();
  /** Executions this process marked Running (a write the client may have seen fail): not a restart. */
  private readonly startedHere = new Set<string>();
  /** Executions whose program this process ran: never run again, even once its result was given up. */
  private readonly ranHere = new Set<string>();
  /** uid → result of a program this process ran whose result is not written yet. */
  private readonly results = new Map<string, Result>();
  private readonly maxAttempts: number;

  constructor(opts: ExecutionWorkerOptions) {
    this.o = opts;
    this.maxAttempts = opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  }

  get busy(): number {
    return this.running.size;
  }

  /** Whether an informer event should enqueue this Execution. */
  wants(ex: Execution): boolean {
    const uid = ex.metadata.uid ?? "";
    return (
      ex.status?.nodeName === this.o.nodeName &&
      !isFinished(ex.status) &&
      !this.running.has(uid) &&
      !this.results.get(uid)?.abandoned
    );
  }

  /** Aborts every run in progress (shutdown). */
  abortAll(): void {
    for (const a of this.running.values()) a.abort();
  }

  async process(key: string): Promise<ProcessResult | undefined> {
    const cached = this.o.getExecution(key);
    if (!cached || !this.wants(cached)) return undefined;
    const uid = cached.metadata.uid ?? key;
    const abort = new AbortController();
    this.running.set(uid, abort);
    try {
      // A program that already ran here is never run again: only its result is written.
      const kept = this.results.get(uid);
      if (kept) return await this.finish(key, uid, kept);
      return await this.runOne(key, uid, abort.signal);
    } finally {
      this.running.delete(uid);
    }
  }

  private async fresh(key: string): Promise<Execution | undefined> {
    const { namespace, name } = splitKey(key);
    return this.o.client.tryGet(ExecutionResource, name, namespace);
  }

  private async runOne(key: string, uid: string, signal: AbortSignal): Promise<ProcessResult | undefined> {
    const log = this.o.logger.child({ execution: key });
    let ex = await this.fresh(key);
    if (!ex || ex.status?.nodeName !== this.o.nodeName || isFinished(ex.status)) return undefined;
    const status = ex.status;
    const attempts = status.attempts ?? 1;
    const generation = status.runtimeGeneration ?? 0;
    const runtime = await this.o.runtimes.runtimeFor(ex.spec.runtime, generation);
    if (!runtime) return this.handBack(ex, key, uid, attempts, generation);
    const { limits, violations } = resolveExecutionLimits(runtime.spec, ex.spec);
    if (violations.length > 0)
      return this.fail(key, uid, "LimitOutOfBounds", violations.map((v) => v.message).join("; "));

    // Running already, and not by this process: this agent restarted mid-run. That is one more
    // try, counted here because only this agent knows it. attempts is the controller's field, so
    // the bump rides on the conditional write of Running: it is lost only with that write.
    if (this.ranHere.has(uid)) {
      log.error("its program already ran here and its result could not be written; not running it again");
      return undefined;
    }
    const restarted = status.phase === "Running" && !this.startedHere.has(uid);
    const tries = restarted ? attempts + 1 : attempts;
    if (tries > this.maxAttempts) {
      const msg = `the agent on node ${this.o.nodeName} restarted during the run; giving up after ${attempts} attempt(s)`;
      log.warn({ attempts }, "execution found running after a restart too often; failing it");
      return this.fail(key, uid, "TooManyAttempts", msg);
    }
    // Bounded: only a retry soon after needs them.
    if (this.startedHere.size > 10_000) this.startedHere.clear();
    if (this.ranHere.size > 10_000) this.ranHere.clear();
    this.startedHere.add(uid);
    try {
      ex = await this.writeStatus(ex, {
        ...status,
        phase: "Running",
        attempts: tries,
        startTime: new Date().toISOString(),
        ...conditionsWith(status, [
          {
            type: ExecutionConditions.Running,
            status: "True",
            reason: restarted ? "Restarted" : "Running",
            message: `running on ${this.o.nodeName}${restarted ? ` (attempt ${tries} of ${this.maxAttempts}, after an agent restart)` : ""}`,
          },
        ]),
      });
    } catch (err) {
      if (isConflict(err)) return { requeueAfterMs: 0 }; // re-read and decide again
      if (isNotFound(err)) return undefined;
      if (isTooLarge(err))
        return this.fail(key, uid, "ResultTooLarge", `cannot mark it Running: ${errText(err)}`);
      // Nothing ran yet: the queue retries with its backoff, which is safe.
      throw err;
    }

    const started = Date.now();
    this.ranHere.add(uid);
    let outcome: ExecutionOutcome;
    try {
      outcome = await this.o.runner.run(
        ex.spec,
        { ...runtime, limits, outputCapBytes: this.outputCapFor(ex, Boolean(runtime.spec.compileCommand)) },
        signal,
      );
    } catch (err) {
      if (signal.aborted) return undefined; // shutting down: the controller reschedules after the lease expires
      log.error({ err: errText(err) }, "execution failed inside the agent");
      return this.fail(key, uid, "AgentError", errText(err));
    }
    log.info({ verdict: outcome.verdict, seconds: (Date.now() - started) / 1000 }, "execution finished");
    return this.finish(key, uid, this.keep(uid, { outcome, deferrals: 0 }));
  }

  /**
   * The generation left this node (e.g. a newer one took over): back to the scheduler, which
   * counts the next assignment as an attempt. Past the last attempt it fails here instead,
   * so a node that keeps handing back never loops.
   */
  private async handBack(
    ex: Execution,
    key: string,
    uid: string,
    attempts: number,
    generation: number,
  ): Promise<ProcessResult | undefined> {
    const why = `runtime ${ex.spec.runtime} generation ${generation} is not installed on node ${this.o.nodeName}`;
    const log = this.o.logger.child({ execution: key });
    if (attempts >= this.maxAttempts) {
      log.warn(
        { runtime: ex.spec.runtime, generation, attempts },
        "runtime generation not installed here; failing",
      );
      return this.fail(key, uid, "RuntimeUnavailable", `${why}; giving up after ${attempts} attempt(s)`);
    }
    log.warn(
      { runtime: ex.spec.runtime, generation, attempts },
      "runtime generation not installed here; returning execution to the queue",
    );
    const status = ex.status ?? {};
    await this.writeStatus(ex, {
      ...status,
      phase: "Pending",
      nodeName: undefined,
      message: `${why}; handed back (attempt ${attempts} of ${this.maxAttempts} used)`,
    }).catch((err: unknown) => {
      if (!isConflict(err) && !isNotFound(err)) throw err; // nothing ran: the queue retries
    });
    return undefined;
  }

  /** Per-stream output cap for the executor: the object budget left by the spec, shared by every stream. */
  private outputCapFor(ex: Execution, compiles: boolean): number {
    const stages = Math.max(ex.spec.testCases?.length ?? 1, 1) + (compiles ? 1 : 0);
    const room = outputRoom(ex, ex.status ?? {}, this.budget) - stages * STAGE_OVERHEAD_BYTES;
    return Math.max(0, Math.floor(room / (2 * stages)));
  }

  private get budget(): number {
    return this.o.objectBudgetBytes ?? OBJECT_BUDGET_BYTES;
  }

  private fail(key: string, uid: string, failReason: string, failMessage: string) {
    return this.finish(key, uid, this.keep(uid, { failReason, failMessage, deferrals: 0 }));
  }

  private keep(uid: string, result: Result): Result {
    this.results.set(uid, result);
    if (this.results.size > MAX_KEPT_RESULTS) {
      const oldest = this.results.keys().next().value!;
      this.o.logger.error({ uid: oldest }, "too many unwritten results; giving one up");
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
    const log = this.o.logger.child({ execution: key });
    const plan = new ShrinkPlan();
    let transient = 0;
    let lastError = "";
    for (let n = 0; n < MAX_RESULT_WRITES; n++) {
      let ex: Execution | undefined;
      try {
        ex = await this.fresh(key);
      } catch (err) {
        lastError = errText(err);
        await sleep(this.retryDelay(transient++));
        continue;
      }
      if (!ex || ex.status?.nodeName !== this.o.nodeName || isFinished(ex.status)) {
        log.warn("execution was reassigned or finished elsewhere; dropping this result");
        this.results.delete(uid);
        return undefined;
      }
      const status = plan.status(ex, result, this.budget);
      try {
        const written = await this.writeStatus(ex, status);
        this.results.delete(uid);
        if (plan.step > 0) log.warn({ step: plan.describe() }, "result written smaller to fit");
        this.o.onFinished?.(written, plan.bare ? undefined : result.outcome);
        return undefined;
      } catch (err) {
        lastError = errText(err);
        if (isNotFound(err)) {
          this.results.delete(uid);
          return undefined;
        }
        if (isConflict(err)) continue;
        if (isTooLarge(err) || isInvalid(err)) {
          const bytes = Buffer.byteLength(JSON.stringify({ ...ex, status }));
          log.warn(
            {
              err: lastError,
              bytes,
              outputBytes: outputBytes(status),
              message: status.message,
              step: plan.describe(),
            },
            "result refused; writing it smaller",
          );
          if (plan.shrink(status, err, result.outcome !== undefined)) continue;
          log.error({ err: lastError }, "even a bare Failed status is refused; giving the result up");
          result.abandoned = true;
          return undefined;
        }
        log.warn({ err: lastError }, "writing the result failed; retrying");
        await sleep(this.retryDelay(transient++));
      }
    }
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

  private retryDelay(n: number): number {
    return this.o.retryDelayMs?.(n) ?? backoffDelay(n, { baseMs: 200, maxMs: 5_000, jitter: 0.2 });
  }

  private writeStatus(ex: Execution, status: ExecutionStatus): Promise<Execution> {
    return this.o.client.replaceStatus(ExecutionResource, { ...ex, status });
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
  private minimal = 0;
  private cap = Number.POSITIVE_INFINITY;
  private bareReason = "";
  private bareMessage = "";
  private verdictNote = "";

  status(ex: Execution, result: Result, budget: number): ExecutionStatus {
    const current = ex.status ?? {};
    if (this.minimal)
      return minimalFailed(this.minimal, this.bareReason || "ResultTooLarge", this.bareMessage);
    if (this.bare || !result.outcome) {
      const reason = this.bare ? this.bareReason : (result.failReason ?? "Failed");
      const message = this.bare ? this.bareMessage : (result.failMessage ?? "the execution failed");
      return finalStatus(current, undefined, reason, message);
    }
    const full = finalStatus(current, result.outcome);
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

function conditionsWith(
  status: ExecutionStatus,
  inputs: Parameters<typeof setConditions>[1],
): { conditions: ExecutionStatus["conditions"] } {
  return { conditions: setConditions(status.conditions, inputs).conditions };
}

/** The status of a finished Execution: Succeeded when judged (any verdict but InternalError), else Failed. */
export function finalStatus(
  status: ExecutionStatus,
  outcome: ExecutionOutcome | undefined,
  failReason?: string,
  failMessage?: string,
): ExecutionStatus {
  const judged = outcome !== undefined && outcome.verdict !== "InternalError";
  const reason = outcome ? outcome.verdict : (failReason ?? "Failed");
  const message = (
    outcome
      ? (outcome.message ??
        `${outcome.verdict}${outcome.tests.length > 1 ? ` (${outcome.tests.filter((t) => t.verdict === "Accepted").length}/${outcome.tests.length} tests accepted)` : ""}`)
      : (failMessage ?? "the execution failed")
  ).slice(0, 4096);
  const next: ExecutionStatus = {
    ...status,
    phase: judged ? "Succeeded" : "Failed",
    ...(outcome ? { verdict: outcome.verdict, tests: outcome.tests } : { verdict: "InternalError" as const }),
    ...(outcome?.compile ? { compile: outcome.compile } : {}),
    message,
    completionTime: new Date().toISOString(),
    ...conditionsWith(status, [
      { type: ExecutionConditions.Running, status: "False", reason: "Finished", message: "finished" },
      { type: ExecutionConditions.Complete, status: "True", reason, message },
      judged
        ? {
            type: ExecutionConditions.Failed,
            status: "False",
            reason: "Judged",
            message: "the submission was judged",
          }
        : { type: ExecutionConditions.Failed, status: "True", reason, message },
    ]),
  };
  // A bare Failed carries no partial results (e.g. of an attempt that was refused as too large).
  if (!outcome) {
    delete next.tests;
    delete next.compile;
  }
  return next;
}
