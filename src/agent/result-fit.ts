import type { Execution, ExecutionStatus, StageResult } from "../api/execution.ts";
import { encodedLength, encodedSize, truncateEncoded } from "./encoded-size.ts";

/**
 * What an Execution may weigh once encoded when this agent writes its result.
 * etcd refuses a request above 1.5 MiB by default and the apiserver stores a
 * custom resource as JSON, so the whole object (spec included) stays well below.
 */
export const OBJECT_BUDGET_BYTES = 1024 * 1024;
/** Most stored stdout/stderr of one Execution, all stages together, however small the spec. */
export const OUTPUT_BUDGET_BYTES = 512 * 1024;
/** Room kept per stage for what a result adds besides output (times, verdict, message, name). */
export const STAGE_OVERHEAD_BYTES = 6 * 1024;

type Stream = "stdout" | "stderr";
const STREAMS: Stream[] = ["stdout", "stderr"];

/** Encoded bytes the status may spend on output, given the Execution it goes into. */
export function outputRoom(
  ex: Execution,
  status: ExecutionStatus,
  objectBudget = OBJECT_BUDGET_BYTES,
): number {
  const bare = { ...ex, status: withOutputs(status, () => "") };
  return Math.max(0, Math.min(OUTPUT_BUDGET_BYTES, objectBudget - encodedSize(bare)));
}

/** Encoded bytes of the stored output of a status. */
export function outputBytes(status: ExecutionStatus): number {
  let n = 0;
  for (const stage of stagesOf(status)) for (const s of STREAMS) n += encodedLength(stage[s] ?? "");
  return n;
}

/**
 * Cuts the stored output to at most `room` encoded bytes in all. Small
 * streams are kept whole and the rest share what is left equally, so one
 * flood of output does not crowd out another stage's error message.
 */
export function fitOutputs(status: ExecutionStatus, room: number): { status: ExecutionStatus; cut: boolean } {
  const sizes: { key: string; size: number }[] = [];
  stagesOf(status).forEach((stage, i) => {
    for (const s of STREAMS) sizes.push({ key: `${i}.${s}`, size: encodedLength(stage[s] ?? "") });
  });
  const total = sizes.reduce((n, x) => n + x.size, 0);
  if (total <= room) return { status, cut: false };
  const share = new Map<string, number>();
  let left = Math.max(0, room);
  sizes.sort((a, b) => a.size - b.size);
  sizes.forEach((x, i) => {
    const give = Math.min(x.size, Math.floor(left / (sizes.length - i)));
    share.set(x.key, give);
    left -= give;
  });
  const fitted = withOutputs(status, (text, key) => truncateEncoded(text, share.get(key) ?? 0).text);
  return { status: fitted, cut: true };
}

/** The compile stage and the tests, in a fixed order (the index is part of each stream's key). */
function stagesOf(status: ExecutionStatus): StageResult[] {
  return [...(status.compile ? [status.compile] : []), ...(status.tests ?? [])];
}

/** A copy of the status with every stdout/stderr replaced; a shortened stream is marked truncated. */
function withOutputs(
  status: ExecutionStatus,
  replace: (text: string, key: string) => string,
): ExecutionStatus {
  let i = 0;
  const stage = <T extends StageResult>(r: T): T => {
    const next = { ...r };
    const idx = i++;
    for (const s of STREAMS) {
      const text = r[s];
      if (text === undefined) continue;
      const out = replace(text, `${idx}.${s}`);
      next[s] = out;
      if (out.length < text.length) next[`${s}Truncated`] = true;
    }
    return next;
  };
  return {
    ...status,
    ...(status.compile ? { compile: stage(status.compile) } : {}),
    ...(status.tests ? { tests: status.tests.map(stage) } : {}),
  };
}
