import {
  type Execution,
  type LimitViolation,
  type Runtime,
  RuntimeConditions,
  resolveExecutionLimits,
} from "../api/index.ts";
import { isConditionTrue } from "../k8s/conditions.ts";
import { type NodeView, nodeServesRuntime } from "./runtime-status.ts";

export type Verdict =
  | { kind: "schedulable"; runtime: Runtime }
  | { kind: "wait"; reason: string; message: string }
  | { kind: "fail"; reason: string; message: string };

/**
 * Whether an Execution can be scheduled now against its Runtime (undefined =
 * not found). Limit overrides are checked against the Runtime's current spec.
 */
export function checkExecution(
  exec: Execution,
  runtime: Runtime | undefined,
  runtimeInvalid?: string,
): Verdict {
  const name = exec.spec.runtime;
  if (runtimeInvalid !== undefined)
    return {
      kind: "wait",
      reason: "RuntimeInvalid",
      message: `Runtime ${name} is invalid: ${runtimeInvalid}`,
    };
  if (!runtime) return { kind: "fail", reason: "RuntimeNotFound", message: `Runtime ${name} does not exist` };
  if (runtime.metadata.deletionTimestamp)
    return { kind: "fail", reason: "RuntimeDeleting", message: `Runtime ${name} is being deleted` };
  const violations: LimitViolation[] = resolveExecutionLimits(runtime.spec, exec.spec).violations;
  if (violations.length > 0)
    return { kind: "fail", reason: "LimitOutOfBounds", message: violations.map((v) => v.message).join("; ") };
  if (
    !isConditionTrue(runtime.status?.conditions, RuntimeConditions.Ready) ||
    runtime.status?.activeGeneration === undefined
  )
    return { kind: "wait", reason: "RuntimeNotReady", message: `Runtime ${name} is not Ready yet` };
  return { kind: "schedulable", runtime };
}

/**
 * The node for an Execution of `runtime`: a live node serving the Runtime's
 * active generation with a free slot, least loaded (used/slots), ties by most
 * free slots, then name.
 */
export function chooseNode(
  runtime: Runtime,
  nodes: readonly NodeView[],
  used: ReadonlyMap<string, number>,
): NodeView | undefined {
  let best: NodeView | undefined;
  let bestLoad = Number.POSITIVE_INFINITY;
  let bestFree = -1;
  for (const n of nodes) {
    const slots = n.worker.status?.slots ?? 0;
    const u = used.get(n.name) ?? 0;
    const free = slots - u;
    if (free <= 0 || !nodeServesRuntime(runtime, n)) continue;
    const load = u / slots;
    if (
      load < bestLoad ||
      (load === bestLoad && free > bestFree) ||
      (load === bestLoad && free === bestFree && best && n.name < best.name)
    ) {
      best = n;
      bestLoad = load;
      bestFree = free;
    }
  }
  return best;
}
