import { constants } from "node:os";
import type { Execution, StageResult } from "../../api/execution.ts";

/** One stage as Piston returns it (run or compile). */
export interface PistonStage {
  stdout: string;
  stderr: string;
  output: string;
  code: number | null;
  signal: string | null;
  status: string | null;
  message: string | null;
  cpu_time: number | null;
  wall_time: number | null;
  memory: number | null;
}

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name]));

/** Piston's status codes: RE exit code, SG signal, TO timeout, OL output too long, XX internal. */
function pistonStatus(r: StageResult): string | null {
  switch (r.verdict) {
    case "TimeLimitExceeded":
      return "TO";
    case "OutputLimitExceeded":
      return "OL";
    case "MemoryLimitExceeded":
      return "SG";
    case "InternalError":
      return "XX";
    case "RuntimeError":
    case "CompilationError":
      return r.signal !== undefined ? "SG" : "RE";
    default:
      return null;
  }
}

/** A stage result in Piston's shape; output is stdout then stderr (Piston interleaves them in time). */
export function pistonStage(r: StageResult): PistonStage {
  const killed = r.verdict === "MemoryLimitExceeded" && r.signal === undefined ? "SIGKILL" : undefined;
  const signal = r.signal !== undefined ? (SIGNAL_NAMES.get(r.signal) ?? String(r.signal)) : (killed ?? null);
  const status = pistonStatus(r);
  return {
    stdout: r.stdout ?? "",
    stderr: r.stderr ?? "",
    output: `${r.stdout ?? ""}${r.stderr ?? ""}`,
    code: signal ? null : (r.exitCode ?? (status === null ? 0 : null)),
    signal,
    status,
    message: status ? (r.message ?? null) : null,
    cpu_time: r.cpuTimeMillis ?? null,
    wall_time: r.wallTimeMillis ?? null,
    memory: r.memoryKiB !== undefined ? r.memoryKiB * 1024 : null,
  };
}

/**
 * The answer to POST /api/v2/execute. A compiled Runtime has `compile`; when
 * compiling failed there is no `run`, as in Piston. An Execution that could not
 * be judged comes back as a run with status XX and the reason as its message.
 */
export function pistonResponse(
  ex: Execution,
  language: string,
  version: string,
  compiled: boolean,
): Record<string, unknown> {
  const s = ex.status;
  const out: Record<string, unknown> = { language, version };
  if (s?.phase === "Failed") {
    const message = s.message ?? "the Execution could not be judged";
    out.run = { ...pistonStage({ verdict: "InternalError", message }), stderr: message, output: message };
    return out;
  }
  if (compiled && s?.compile) out.compile = pistonStage(s.compile);
  const run = s?.tests?.[0];
  if (run && s?.verdict !== "CompilationError") out.run = pistonStage(run);
  return out;
}
