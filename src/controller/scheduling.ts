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
 * The named checks a node must pass to take an Execution of a Runtime now,
 * in order; the first it fails says why it takes none. kube-scheduler's
 * NodeUnschedulable plugin is the model for the cordon: `kubectl cordon` /
 * `drain` sets spec.unschedulable and the node gets no new work (its agent
 * hands back what it has not started; see agent/drain-watch.ts).
 */
export const PLACEMENT_CHECKS = [
  { name: "NodeCordoned", passes: (_r: Runtime, n: NodeView) => !n.cordoned },
  { name: "RuntimeNotServed", passes: (r: Runtime, n: NodeView) => nodeServesRuntime(r, n) },
  {
    name: "NoFreeSlot",
    passes: (_r: Runtime, n: NodeView, used: ReadonlyMap<string, number>, prefetch = 0) =>
      capacity(n, prefetch) - (used.get(n.name) ?? 0) > 0,
  },
] as const;

/** What a node takes: its slots, and `prefetch` more (to start the moment a slot frees) when it has any slot. */
const capacity = (n: NodeView, prefetch: number): number => {
  const slots = n.worker.status?.slots ?? 0;
  return slots > 0 ? slots + prefetch : 0;
};

export type PlacementCheck = (typeof PLACEMENT_CHECKS)[number]["name"];

/**
 * The reasons the scheduler itself gives a waiting Execution: when the reason changes (a node
 * cordoned, a slot freed elsewhere) it says so again. A hand-back's reason is not among them:
 * it tells why the Execution came back, and stays until it is placed.
 */
export const WAIT_REASONS: ReadonlySet<string> = new Set([
  "RuntimeNotReady",
  ...PLACEMENT_CHECKS.map((c) => c.name),
]);

/**
 * The first placement check the node fails, or undefined when it can take one
 * more Execution (`prefetch`: placements it takes beyond its slots).
 */
export function failedCheck(
  runtime: Runtime,
  node: NodeView,
  used: ReadonlyMap<string, number>,
  prefetch = 0,
): PlacementCheck | undefined {
  return PLACEMENT_CHECKS.find((c) => !c.passes(runtime, node, used, prefetch))?.name;
}

/**
 * The node for an Execution of `runtime`: one that passes every placement
 * check (not cordoned, serving the Runtime's active generation, a free
 * slot or, with `prefetch`, room ahead of one), least loaded (used/slots, so
 * a node with a free slot comes before any node's prefetch), ties by most
 * free slots, then name.
 */
export function chooseNode(
  runtime: Runtime,
  nodes: readonly NodeView[],
  used: ReadonlyMap<string, number>,
  prefetch = 0,
): NodeView | undefined {
  let best: NodeView | undefined;
  let bestLoad = Number.POSITIVE_INFINITY;
  let bestFree = Number.NEGATIVE_INFINITY;
  for (const n of nodes) {
    if (failedCheck(runtime, n, used, prefetch) !== undefined) continue;
    const slots = n.worker.status?.slots ?? 0;
    const u = used.get(n.name) ?? 0;
    const free = slots - u;
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

/**
 * Why no node takes an Execution of `runtime` (chooseNode found none):
 * NodeCordoned when every node that would serve it is cordoned, else NoFreeSlot.
 */
export function whyNoNode(
  runtime: Runtime,
  nodes: readonly NodeView[],
): { reason: "NodeCordoned" | "NoFreeSlot"; message: string } {
  const name = runtime.metadata.name;
  const gen = runtime.status?.activeGeneration;
  const serving = nodes.filter((n) => nodeServesRuntime(runtime, n));
  const cordoned = serving.filter((n) => n.cordoned).map((n) => n.name);
  if (cordoned.length > 0 && cordoned.length === serving.length)
    return {
      reason: "NodeCordoned",
      message: `every node serving Runtime ${name} is cordoned (${cordoned.sort().join(", ")}); it waits for one to be uncordoned`,
    };
  return {
    reason: "NoFreeSlot",
    message: `no live node serving Runtime ${name} generation ${gen} has a free slot`,
  };
}
