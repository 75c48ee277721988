import type { StageLimits } from "../../api/common.ts";
import type { StageVerdict } from "../sandbox/verdict.ts";
import { judgeRun } from "../sandbox/verdict.ts";
import type { InteractionRuns } from "./interaction.ts";
import { readTestlibRun, type TestlibOutcome } from "./testlib-verdict.ts";

/** One interactive test's verdict; points when the interactor gave some. */
export interface InteractionVerdict extends StageVerdict {
  points?: number;
  /** The interactor's own reading of the run (its message, or why it failed). */
  interactor: TestlibOutcome;
}

/**
 * The verdict of an interactive test. The submission's own failures come
 * first (time, memory, output, a crash or non-zero exit), except what only
 * followed the interactor's end: a submission ended by the agent after the
 * grace time, or one that died writing to (SIGPIPE) or reading from a closed
 * pipe. A deadlock, seen as the interactor running out of wall time while the
 * submission waited, is the submission's TimeLimitExceeded. Otherwise the
 * interactor decides (testlib's convention); when it failed itself, it is a
 * judge error (InternalError).
 */
export function interactionVerdict(
  runs: InteractionRuns,
  limits: { submission: StageLimits; interactor: StageLimits },
): InteractionVerdict {
  const interactor = readTestlibRun(runs.interactor, limits.interactor);
  const own = judgeRun(runs.submission, limits.submission);
  const consequence =
    runs.submission.ended === true || (runs.interactorFirst && own.verdict === "RuntimeError");
  if (own.verdict !== "Accepted" && !consequence) return { ...own, interactor };
  const im = runs.interactor.meta;
  if (im.status === "TO" && /wall/i.test(im.message ?? "") && runs.submission.ended === true)
    return {
      verdict: "TimeLimitExceeded",
      message: `the interaction stalled: no progress until the interactor's wall time limit of ${limits.interactor.wallTimeMillis} ms`,
      interactor,
    };
  if (!interactor.judged)
    return {
      verdict: "InternalError",
      message: `judge error: the interactor ${interactor.message}`,
      interactor,
    };
  return {
    verdict: interactor.verdict,
    message: interactor.message || (interactor.verdict === "Accepted" ? "OK" : "wrong answer"),
    ...(interactor.points !== undefined ? { points: interactor.points } : {}),
    interactor,
  };
}
