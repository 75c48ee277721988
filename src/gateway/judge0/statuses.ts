import type { Execution, StageResult } from "../../api/execution.ts";
import { isFinished } from "../../api/execution.ts";

/** Judge0 CE's statuses, ids and descriptions exactly as GET /statuses lists them. */
export const JUDGE0_STATUSES = [
  { id: 1, description: "In Queue" },
  { id: 2, description: "Processing" },
  { id: 3, description: "Accepted" },
  { id: 4, description: "Wrong Answer" },
  { id: 5, description: "Time Limit Exceeded" },
  { id: 6, description: "Compilation Error" },
  { id: 7, description: "Runtime Error (SIGSEGV)" },
  { id: 8, description: "Runtime Error (SIGXFSZ)" },
  { id: 9, description: "Runtime Error (SIGFPE)" },
  { id: 10, description: "Runtime Error (SIGABRT)" },
  { id: 11, description: "Runtime Error (NZEC)" },
  { id: 12, description: "Runtime Error (Other)" },
  { id: 13, description: "Internal Error" },
  { id: 14, description: "Exec Format Error" },
] as const;

export type Judge0Status = (typeof JUDGE0_STATUSES)[number];

const byId = (id: number): Judge0Status => JUDGE0_STATUSES[id - 1]!;

/** Signals with a status of their own (Linux numbers). */
const SIGNAL_STATUS: Record<number, number> = { 11: 7, 25: 8, 8: 9, 6: 10 };

/** The result Judge0 reports for a single-run Execution: its one test case. */
export function runResult(ex: Execution): StageResult | undefined {
  return ex.status?.tests?.[0];
}

/**
 * An Execution's state as a Judge0 status. Not finished: In Queue until an
 * agent runs it, then Processing. Finished: the verdict, with runtime errors
 * split by signal as Judge0 does; memory and output floods become what
 * Judge0's isolate reports for them (a kill, SIGXFSZ); an Execution that could
 * not be judged is Internal Error.
 */
export function judge0Status(ex: Execution): Judge0Status {
  const s = ex.status;
  if (!isFinished(s)) return byId(s?.phase === "Running" ? 2 : 1);
  if (s?.phase === "Failed") return byId(13);
  const run = runResult(ex);
  switch (s?.verdict) {
    case "Accepted":
      return byId(3);
    case "WrongAnswer":
      return byId(4);
    case "TimeLimitExceeded":
      return byId(5);
    case "CompilationError":
      return byId(6);
    case "OutputLimitExceeded":
      return byId(8);
    case "MemoryLimitExceeded":
      return byId(12);
    case "RuntimeError": {
      if (/exec format error/i.test(run?.message ?? "")) return byId(14);
      if (run?.signal !== undefined) return byId(SIGNAL_STATUS[run.signal] ?? 12);
      return byId(11);
    }
    default:
      return byId(13);
  }
}
