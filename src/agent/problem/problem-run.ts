import type { Execution, ExecutionSpec, ExecutionStatus } from "../../api/execution.ts";
import { errText } from "../../k8s/errors.ts";
import { type ExecutionOutcome, ReasonedError } from "../ports.ts";
import type { ResolvedProblem } from "./resolve-problem.ts";

/** Reads an Execution's Problem and holds its test data (resolveProblem with the agent's client and cache). */
export type ProblemResolver = (ex: Execution, signal?: AbortSignal) => Promise<ResolvedProblem>;

/** The resolved Problem, or the reason and message the Execution fails with. */
export async function resolveFor(
  resolver: ProblemResolver | undefined,
  ex: Execution,
  signal?: AbortSignal,
): Promise<ResolvedProblem | { reason: string; message: string }> {
  if (!resolver) return { reason: "ProblemUnsupported", message: "this agent does not judge Problems" };
  try {
    return await resolver(ex, signal);
  } catch (err) {
    return {
      reason: err instanceof ReasonedError ? err.reason : "ProblemUnavailable",
      message: errText(err),
    };
  }
}

/**
 * A Problem's results carry no output of the submission's tests (it would
 * show hidden inputs), and, unless the Problem says showJudgeMessages,
 * nothing a checker or interactor said: testlib's checkers print the expected
 * answer ("expected 5, found 6"). The sandbox's own messages (limits, signals) stay.
 */
export function hideTestOutput(o: ExecutionOutcome, showJudgeMessages = false): ExecutionOutcome {
  return { ...o, tests: o.tests.map((t) => hideTest(t, showJudgeMessages)) };
}

function hideTest(
  test: ExecutionOutcome["tests"][number],
  showJudge: boolean,
): ExecutionOutcome["tests"][number] {
  const { stdout: _o, stderr: _e, stdoutTruncated: _ot, stderrTruncated: _et, ...t } = test;
  if (!t.judge || showJudge) return t;
  const { judge: _j, ...rest } = t;
  if (rest.verdict !== "Accepted" && rest.verdict !== "WrongAnswer") return rest; // the sandbox's or a judge error's
  const said = rest.verdict === "Accepted" ? "accepted" : "wrong answer";
  return { ...rest, message: `${said} (the judge's message is hidden)` };
}

/**
 * What a finished run adds to the status: what it was judged with, and how
 * many tests of how many ran (the Done and Tests columns): a Problem's plan
 * with its score, or the Execution's own testCases (its single stdin is one test).
 */
export function runResult(
  problem: ResolvedProblem | undefined,
  spec: ExecutionSpec,
  outcome: ExecutionOutcome,
  closureHash: string | undefined,
): Partial<ExecutionStatus> {
  const judgedWith = {
    ...problem?.judgedWith,
    ...(closureHash !== undefined ? { closureHash } : {}),
  };
  const seen = Object.keys(judgedWith).length > 0 ? { judgedWith } : {};
  if (!problem) {
    const total = spec.testCases?.length ?? 1;
    return { ...seen, progress: { completed: Math.min(outcome.tests.length, total), total } };
  }
  const total = problem.plan.tests.length;
  return { ...seen, score: problem.plan.score(), progress: { completed: total, total } };
}
