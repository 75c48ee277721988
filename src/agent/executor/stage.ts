import type { StageLimits } from "../../api/common.ts";
import type { StageResult } from "../../api/execution.ts";
import { DEFAULT_LIMITS } from "../../api/runtime.ts";
import type { BoxRunLimits } from "../network/nft-ruleset.ts";
import type { StorageLimits } from "../sandbox/box-storage.ts";
import type { RunResult } from "../sandbox/isolate-box.ts";
import { truncateUtf8 } from "../sandbox/output-capture.ts";

/** A stage's box storage: its limits, or the built-in defaults for what a caller left out. */
export function storageOf(l: StageLimits, stage: "compile" | "run"): StorageLimits {
  return {
    storageKiB: l.storageKiB ?? DEFAULT_LIMITS[stage].storageKiB ?? 64 * 1024,
    storageFiles: l.storageFiles ?? DEFAULT_LIMITS[stage].storageFiles ?? 1_000,
  };
}

/** A stage's network limits (used only by networked Runtimes), defaults for what a caller left out. */
export function networkOf(l: StageLimits, stage: "compile" | "run"): BoxRunLimits {
  const d = DEFAULT_LIMITS[stage];
  return {
    connections: l.networkConnections ?? d.networkConnections ?? 16,
    bytes: (l.networkKiB ?? d.networkKiB ?? 64 * 1024) * 1024,
    bytesPerSecond: (l.networkKiBPerSecond ?? d.networkKiBPerSecond ?? 1024) * 1024,
  };
}

/** What isolate measured of a run, without its output. */
export function usageOf(r: RunResult): Omit<StageResult, "stdout" | "stderr"> {
  const m = r.meta;
  const memory = m.cgMem ?? m.maxRss;
  return {
    ...(m.exitcode !== undefined
      ? { exitCode: m.exitcode }
      : m.status === undefined && !r.isolateError
        ? { exitCode: 0 }
        : {}),
    ...(m.exitsig !== undefined ? { signal: m.exitsig } : {}),
    ...(m.time !== undefined ? { cpuTimeMillis: Math.round(m.time * 1000) } : {}),
    ...(m.timeWall !== undefined ? { wallTimeMillis: Math.round(m.timeWall * 1000) } : {}),
    ...(memory !== undefined ? { memoryKiB: memory } : {}),
  };
}

/** A run as the status shows it: usage, and output cut to `cap` bytes (once JSON-encoded). */
export function stageResult(r: RunResult, cap: number): StageResult {
  const out = truncateUtf8(r.stdout, cap);
  const err = truncateUtf8(r.stderr, cap);
  return {
    ...usageOf(r),
    stdout: out.text,
    stderr: err.text,
    ...(out.truncated ? { stdoutTruncated: true } : {}),
    ...(err.truncated ? { stderrTruncated: true } : {}),
  };
}

/** A stage result whose output is cut again to a (smaller) cap: a compile result kept in the cache. */
export function recapped(r: StageResult, cap: number): StageResult {
  const out = truncateUtf8(Buffer.from(r.stdout ?? "", "utf8"), cap);
  const err = truncateUtf8(Buffer.from(r.stderr ?? "", "utf8"), cap);
  return {
    ...r,
    stdout: out.text,
    stderr: err.text,
    ...(out.truncated || r.stdoutTruncated ? { stdoutTruncated: true } : {}),
    ...(err.truncated || r.stderrTruncated ? { stderrTruncated: true } : {}),
  };
}
