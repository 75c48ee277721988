import { type ConditionInput, rfc3339, setConditions } from "../k8s/conditions.ts";
import {
  type Execution,
  ExecutionConditions,
  type ExecutionStatus,
  isFinished,
  type StageResult,
  type TestResult,
  type Verdict,
} from "./index.ts";

/**
 * Every transition of an Execution's status, in one place (kueue's
 * pkg/workload). Each is pure: the status it returns starts from the object's
 * current status, and the caller writes it conditionally on the object's
 * resourceVersion, so a transition computed from a stale copy is refused.
 *
 * Who writes what (one writer per field):
 * - controller: placement (nodeName, runtimeGeneration, scheduledTime),
 *   attempts, the Scheduled condition, and phase Pending/Scheduled;
 * - agent: startTime, the Running condition, phase Running, the results
 *   (verdict, compile, tests) and handBack;
 * - whoever ends it, once (a finished Execution is never written again):
 *   phase Succeeded/Failed, completionTime, message, Complete and Failed.
 *   The controller ends only Executions that never ran or whose node is gone.
 * The one exception is loseNode: the node's agent is gone, so the controller
 * marks its Running condition False (kube's node lifecycle controller does
 * the same to the Ready condition of a lost node's Pods).
 *
 * Timestamps are metav1.Time: RFC 3339 in seconds (rfc3339).
 */

/** What a run produced (the agent's ExecutionOutcome). */
export interface RunOutcome {
  verdict: Verdict;
  compile?: StageResult;
  tests: TestResult[];
  message?: string;
  /** A checker or interactor failed (crash, limits, no compile): reason JudgeError, not the sandbox's InternalError. */
  judgeError?: boolean;
}

const MESSAGE_MAX = 4096;
const text = (s: string) => s.slice(0, MESSAGE_MAX);

function withConditions(
  exec: Execution,
  inputs: ConditionInput[],
  now: Date,
): { conditions: ExecutionStatus["conditions"]; changed: boolean } {
  const g = exec.metadata.generation;
  const list = inputs.map((c) => (g !== undefined ? { ...c, observedGeneration: g } : c));
  return setConditions(exec.status?.conditions, list, now);
}

function observed(exec: Execution): { observedGeneration?: number } {
  const g = exec.metadata.generation;
  return g !== undefined ? { observedGeneration: g } : {};
}

/** Waiting for a node: not finished and not assigned. */
export function isPending(e: Execution): boolean {
  return !isFinished(e.status) && !e.status?.nodeName;
}

/** Holding a slot on a node: assigned and not finished (a handed-back one too, until requeued). */
export function holdsSlot(e: Execution): boolean {
  return !isFinished(e.status) && Boolean(e.status?.nodeName);
}

/** The node gave the current attempt back (a hand-back of an earlier attempt is history). */
export function isHandedBack(e: Execution): boolean {
  const s = e.status;
  return holdsSlot(e) && s?.handBack !== undefined && s.handBack.attempt === (s.attempts ?? 0);
}

/** The hand-back reason of an agent whose node is cordoned (kubectl cordon / drain). */
export const NODE_DRAINING = "NodeDraining";
/**
 * Drain hand-backs excused per Execution: a drain is not the Execution's
 * fault, so its attempt does not count, but an agent that kept claiming one
 * could otherwise bounce an Execution for ever.
 */
export const MAX_EXCUSED_ATTEMPTS = 10;

/** Attempts that count against maxAttempts: every assignment but the excused ones. */
export function countedAttempts(s: ExecutionStatus | undefined): number {
  return Math.max(0, (s?.attempts ?? 0) - (s?.excusedAttempts ?? 0));
}

/** Controller: placed on a node; one more attempt. */
export function schedule(
  exec: Execution,
  node: string,
  runtimeGeneration: number,
  now: Date,
): ExecutionStatus {
  const prev = exec.status ?? {};
  const attempts = (prev.attempts ?? 0) + 1;
  const { conditions } = withConditions(
    exec,
    [
      {
        type: ExecutionConditions.Scheduled,
        status: "True",
        reason: "Scheduled",
        message: `assigned to node ${node} (attempt ${attempts})`,
      },
    ],
    now,
  );
  return {
    ...prev,
    ...observed(exec),
    phase: "Scheduled",
    nodeName: node,
    runtimeGeneration,
    attempts,
    scheduledTime: rfc3339(now),
    conditions,
  };
}

/** Controller: still Pending, and why (Scheduled=False); `changed` is false when it already says so. */
export function wait(
  exec: Execution,
  reason: string,
  message: string,
  now: Date,
): { status: ExecutionStatus; changed: boolean } {
  const prev = exec.status ?? {};
  const { conditions, changed } = withConditions(
    exec,
    [{ type: ExecutionConditions.Scheduled, status: "False", reason, message }],
    now,
  );
  return { status: { ...prev, phase: "Pending", conditions }, changed: changed || prev.phase !== "Pending" };
}

/**
 * Controller: back to the queue (placement cleared, attempts kept, so the next
 * schedule counts one more). `runningToo` marks the agent's Running condition
 * False: only for loseNode, whose agent cannot.
 */
export function requeue(
  exec: Execution,
  reason: string,
  message: string,
  now: Date,
  runningToo = false,
): ExecutionStatus {
  const hadRunning = exec.status?.conditions?.some((c) => c.type === ExecutionConditions.Running);
  const { conditions } = withConditions(
    exec,
    [
      { type: ExecutionConditions.Scheduled, status: "False", reason, message },
      ...(runningToo && hadRunning
        ? [{ type: ExecutionConditions.Running, status: "False" as const, reason, message }]
        : []),
    ],
    now,
  );
  const next: ExecutionStatus = { ...exec.status, phase: "Pending", message: text(message), conditions };
  delete next.nodeName;
  delete next.runtimeGeneration;
  delete next.scheduledTime;
  if (runningToo) {
    // Partial results of the lost attempt would be misleading.
    delete next.startTime;
    delete next.compile;
    delete next.tests;
  }
  return next;
}

/** Controller: the node holding it is gone: requeued, or Failed NodeLost once attempts are spent. */
export function loseNode(exec: Execution, why: string, maxAttempts: number, now: Date): ExecutionStatus {
  const attempts = Math.max(1, countedAttempts(exec.status));
  if (attempts >= maxAttempts)
    return fail(exec, "NodeLost", `${why}; giving up after ${attempts} attempt(s)`, now, true);
  const msg = `${why}; rescheduling (attempt ${attempts} of ${maxAttempts} used)`;
  return requeue(exec, "NodeLost", msg, now, true);
}

/**
 * Controller: acts on a hand-back: requeued, or Failed TooManyAttempts once
 * attempts are spent. A drain hand-back (NODE_DRAINING) is requeued without
 * counting, up to MAX_EXCUSED_ATTEMPTS of them.
 */
export function takeBack(exec: Execution, maxAttempts: number, now: Date): ExecutionStatus {
  const s = exec.status ?? {};
  const why = s.handBack?.message ?? `handed back by node ${s.nodeName} (${s.handBack?.reason})`;
  const excused = s.excusedAttempts ?? 0;
  if (s.handBack?.reason === NODE_DRAINING && excused < MAX_EXCUSED_ATTEMPTS) {
    const msg = `${why}; requeued, not counted against maxAttempts (${excused + 1} drain hand-back(s))`;
    return { ...requeue(exec, NODE_DRAINING, msg, now), excusedAttempts: excused + 1 };
  }
  const attempts = Math.max(1, countedAttempts(s));
  if (attempts >= maxAttempts)
    return fail(exec, "TooManyAttempts", `not run after ${attempts} attempt(s): ${why}`, now);
  return requeue(exec, "HandedBack", `${why}; handed back (attempt ${attempts} of ${maxAttempts} used)`, now);
}

/**
 * Ended without a verdict (before running, or instead of it): Complete and
 * Failed True with the reason. `runningToo` also ends the Running condition
 * (a lost node); the agent passes true for its own failures.
 */
export function fail(
  exec: Execution,
  reason: string,
  message: string,
  now: Date,
  runningToo = false,
): ExecutionStatus {
  const prev = exec.status ?? {};
  const hadRunning = prev.conditions?.some((c) => c.type === ExecutionConditions.Running);
  const { conditions } = withConditions(
    exec,
    [
      ...(runningToo && hadRunning
        ? [{ type: ExecutionConditions.Running, status: "False" as const, reason, message }]
        : []),
      { type: ExecutionConditions.Complete, status: "True", reason, message },
      { type: ExecutionConditions.Failed, status: "True", reason, message },
    ],
    now,
  );
  const next: ExecutionStatus = {
    ...prev,
    ...observed(exec),
    phase: "Failed",
    message: text(message),
    completionTime: rfc3339(now),
    conditions,
  };
  delete next.verdict;
  delete next.tests;
  delete next.compile;
  return next;
}

/** Agent: it runs now. */
export function start(exec: Execution, node: string, now: Date): ExecutionStatus {
  const { conditions } = withConditions(
    exec,
    [{ type: ExecutionConditions.Running, status: "True", reason: "Running", message: `running on ${node}` }],
    now,
  );
  return { ...exec.status, phase: "Running", startTime: rfc3339(now), conditions };
}

/** Agent: gives this attempt back without running it (placement stays the controller's to clear). */
export function handBack(exec: Execution, reason: string, message: string, now: Date): ExecutionStatus {
  const s = exec.status ?? {};
  return {
    ...s,
    phase: "Pending",
    handBack: { attempt: s.attempts ?? 0, reason, message: text(message), time: rfc3339(now) },
  };
}

/**
 * Agent: the result. Succeeded when judged (any verdict but InternalError),
 * else Failed; without an outcome, a bare Failed (verdict InternalError, no
 * results) with the reason.
 */
export function finish(
  exec: Execution,
  outcome: RunOutcome | undefined,
  now: Date,
  failReason?: string,
  failMessage?: string,
): ExecutionStatus {
  const judged = outcome !== undefined && outcome.verdict !== "InternalError";
  const reason = outcome ? (outcome.judgeError ? "JudgeError" : outcome.verdict) : (failReason ?? "Failed");
  const message = text(outcome ? outcomeMessage(outcome) : (failMessage ?? "the execution failed"));
  const { conditions } = withConditions(
    exec,
    [
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
    ],
    now,
  );
  const next: ExecutionStatus = {
    ...exec.status,
    phase: judged ? "Succeeded" : "Failed",
    verdict: outcome?.verdict ?? "InternalError",
    message,
    completionTime: rfc3339(now),
    conditions,
  };
  delete next.tests;
  delete next.compile;
  if (outcome) next.tests = outcome.tests;
  if (outcome?.compile) next.compile = outcome.compile;
  return next;
}

function outcomeMessage(o: RunOutcome): string {
  if (o.message !== undefined) return o.message;
  const n = o.tests.length;
  if (n <= 1) return o.verdict;
  return `${o.verdict} (${o.tests.filter((t) => t.verdict === "Accepted").length}/${n} tests accepted)`;
}
