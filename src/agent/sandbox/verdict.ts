import type { StageLimits, Verdict } from "../../api/common.ts";
import type { RunResult } from "./isolate-box.ts";

export interface StageVerdict {
  verdict: Verdict;
  message: string;
}

/**
 * What a run's outcome means, before any output comparison. Order matters:
 * isolate's own failure first, then output flood (we closed the pipes, so
 * whatever isolate saw next is a consequence), full box storage, memory (the cgroup's OOM kill,
 * or a kill at the limit), time, then signals and exit codes.
 */
export function judgeRun(r: RunResult, limits: StageLimits): StageVerdict {
  const v = judgeOutcome(r, limits);
  // What a networked run hit does not decide the verdict (the program saw refusals and drops), but it is said.
  return r.networkExceeded ? { ...v, message: `${v.message}; ${r.networkExceeded}` } : v;
}

function judgeOutcome(r: RunResult, limits: StageLimits): StageVerdict {
  const m = r.meta;
  if (r.isolateError) return { verdict: "InternalError", message: r.isolateError };
  if (r.outputExceeded)
    return { verdict: "OutputLimitExceeded", message: `output exceeded ${limits.outputBytes} bytes` };
  // A write was refused because the box's storage was full: judged like an output flood.
  if (r.storageExceeded) return { verdict: "OutputLimitExceeded", message: r.storageExceeded };
  const oom = m.cgOomKilled === true || (m.status === "SG" && (m.cgMem ?? m.maxRss ?? 0) >= limits.memoryKiB);
  if (oom)
    return { verdict: "MemoryLimitExceeded", message: `memory limit of ${limits.memoryKiB} KiB exceeded` };
  if (m.status === "TO") {
    const wall = /wall/i.test(m.message ?? "");
    return {
      verdict: "TimeLimitExceeded",
      message: wall
        ? `wall time limit of ${limits.wallTimeMillis} ms exceeded`
        : `CPU time limit of ${limits.cpuTimeMillis} ms exceeded`,
    };
  }
  if (m.status === "SG") {
    return { verdict: "RuntimeError", message: m.message ?? `killed by signal ${m.exitsig ?? "?"}` };
  }
  if (m.status === "RE" || (m.exitcode !== undefined && m.exitcode !== 0)) {
    return { verdict: "RuntimeError", message: m.message ?? `exited with code ${m.exitcode ?? "?"}` };
  }
  if (m.status && m.status !== "OK")
    return { verdict: "InternalError", message: `unknown isolate status ${m.status}` };
  return { verdict: "Accepted", message: "OK" };
}
