import {
  type Condition,
  type Runtime,
  RuntimeConditions,
  type RuntimeInstall,
  type RuntimeStatus,
  runtimeEligibleOn,
  type Worker,
} from "../api/index.ts";
import { type ConditionInput, setConditions } from "../k8s/conditions.ts";

/** What the controller knows about one node, from the Worker, Node and Lease caches. */
export interface NodeView {
  name: string;
  worker: Worker;
  labels: Record<string, string> | undefined;
  /** Agent Lease live and Node object present. */
  live: boolean;
}

export const RuntimeReasons = {
  AllNodesInstalled: "AllNodesInstalled",
  /** Active generation usable; some eligible nodes are still installing (a new generation, or new nodes). */
  RolloutInProgress: "RolloutInProgress",
  Installing: "Installing",
  InstallFailed: "InstallFailed",
  ClosureMismatch: "ClosureMismatch",
  NoEligibleNodes: "NoEligibleNodes",
  ClosuresEqual: "ClosuresEqual",
  Deleting: "Deleting",
} as const;

/** The install entry of a Runtime generation on a worker; entries of a deleted namesake (other uid) do not count. */
export function installEntry(
  worker: Worker,
  runtime: Pick<Runtime, "metadata">,
  generation: number,
): RuntimeInstall | undefined {
  const uid = runtime.metadata.uid;
  return worker.status?.runtimes?.find(
    (e) =>
      e.name === runtime.metadata.name && e.generation === generation && (!e.uid || !uid || e.uid === uid),
  );
}

/** Nodes that should have the Runtime: live agent, Node present, labels match spec.nodeSelector. */
export function eligibleNodes(runtime: Pick<Runtime, "spec">, nodes: readonly NodeView[]): NodeView[] {
  return nodes.filter((n) => n.live && runtimeEligibleOn(runtime.spec, n.labels));
}

/**
 * Whether a node may run Executions of the Runtime now: eligible, and has the
 * active generation Installed with the active closure (a node still catching
 * up, or one that built a different closure, takes no work).
 */
export function nodeServesRuntime(runtime: Runtime, node: NodeView): boolean {
  const active = runtime.status?.activeGeneration;
  if (active === undefined || !node.live || !runtimeEligibleOn(runtime.spec, node.labels)) return false;
  const e = installEntry(node.worker, runtime, active);
  if (e?.phase !== "Installed") return false;
  const hash = runtime.status?.activeClosureHash;
  return hash === undefined || e.closureHash === hash;
}

export interface RuntimeAssessment {
  status: RuntimeStatus;
  /** Whether status differs from the input's. */
  changed: boolean;
  ready: boolean;
  /** Set when this computation switched activeGeneration. */
  activated?: { generation: number; closureHash?: string };
  /** Nodes whose install of the current generation failed. */
  failedNodes: string[];
  mismatchNodes: string[];
}

/**
 * Computes a Runtime's status from the nodes (level-triggered: only the
 * current world matters, not the events that led to it).
 *
 * Rules:
 * - eligible: live agent Lease, Node exists, labels match spec.nodeSelector.
 * - installed / failed: eligible nodes whose entry for metadata.generation is
 *   Installed / Failed.
 * - activeGeneration switches to metadata.generation only when every eligible
 *   node (at least one) has it Installed with one and the same closure hash;
 *   until then the previous active generation stays active.
 * - Ready means "Executions can be scheduled with activeGeneration": an active
 *   generation exists and at least one eligible node has it Installed with the
 *   active closure. So a Ready Runtime stays Ready while a new node joins and
 *   catches up, or while a new generation rolls out; it becomes Ready the
 *   first time only when all eligible nodes have it (the seeds' rule).
 * - ClosureMismatch is True when eligible nodes report different closure
 *   hashes for the current generation, or a node's hash of the active
 *   generation differs from activeClosureHash; those nodes are named.
 */
export function assessRuntime(
  runtime: Runtime,
  nodes: readonly NodeView[],
  now: Date = new Date(),
): RuntimeAssessment {
  const generation = runtime.metadata.generation ?? 1;
  const prev = runtime.status ?? {};
  const eligible = eligibleNodes(runtime, nodes).sort((a, b) => a.name.localeCompare(b.name));
  const installed: { node: string; hash: string | undefined }[] = [];
  const failures: { node: string; reason: string; message: string }[] = [];
  for (const n of eligible) {
    const e = installEntry(n.worker, runtime, generation);
    if (e?.phase === "Installed") installed.push({ node: n.name, hash: e.closureHash });
    else if (e?.phase === "Failed")
      failures.push({
        node: n.name,
        reason: e.reason || "InstallFailed",
        message: (e.message ?? "install failed").slice(0, 2048),
      });
  }

  // Closure agreement of the current generation: the most common hash is the reference.
  const counts = new Map<string | undefined, number>();
  for (const i of installed) counts.set(i.hash, (counts.get(i.hash) ?? 0) + 1);
  // The reference is the active closure when this generation is active, else the most common one.
  const majority =
    prev.activeGeneration === generation &&
    prev.activeClosureHash !== undefined &&
    counts.has(prev.activeClosureHash)
      ? prev.activeClosureHash
      : [...counts.entries()].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])))[0]?.[0];
  const currentMismatch =
    counts.size > 1 ? installed.filter((i) => i.hash !== majority).map((i) => i.node) : [];

  let activeGeneration = prev.activeGeneration;
  let activeClosureHash = prev.activeClosureHash;
  let activated: RuntimeAssessment["activated"];
  const fullyInstalled = eligible.length > 0 && installed.length === eligible.length && counts.size === 1;
  if (fullyInstalled && (activeGeneration !== generation || activeClosureHash !== majority)) {
    activeGeneration = generation;
    activeClosureHash = majority;
    activated = { generation, ...(majority !== undefined ? { closureHash: majority } : {}) };
  }

  // Nodes serving the active generation, and nodes whose active-generation closure differs.
  const view: Runtime = { ...runtime, status: { ...prev, activeGeneration, activeClosureHash } };
  const serving = eligible.filter((n) => nodeServesRuntime(view, n));
  const activeMismatch =
    activeGeneration === undefined
      ? []
      : eligible
          .filter((n) => {
            const e = installEntry(n.worker, runtime, activeGeneration);
            return (
              e?.phase === "Installed" &&
              activeClosureHash !== undefined &&
              e.closureHash !== activeClosureHash
            );
          })
          .map((n) => n.name);
  const mismatchNodes = [...new Set([...currentMismatch, ...activeMismatch])].sort();
  const ready = activeGeneration !== undefined && serving.length > 0;

  const g = { observedGeneration: generation };
  const conds: ConditionInput[] = [];
  if (ready) {
    const all = activeGeneration === generation && installed.length === eligible.length;
    conds.push({
      type: RuntimeConditions.Ready,
      status: "True",
      reason: all ? RuntimeReasons.AllNodesInstalled : RuntimeReasons.RolloutInProgress,
      message: all
        ? `generation ${generation} is installed on all ${eligible.length} eligible node(s)`
        : `generation ${activeGeneration} is active on ${serving.length}/${eligible.length} eligible node(s); generation ${generation} installed on ${installed.length}/${eligible.length}${failures.length ? `, failed on ${failures.length}` : ""}`,
      ...g,
    });
  } else if (eligible.length === 0) {
    conds.push({
      type: RuntimeConditions.Ready,
      status: "False",
      reason: RuntimeReasons.NoEligibleNodes,
      message: runtime.spec.nodeSelector
        ? `no live node with an agent matches nodeSelector ${JSON.stringify(runtime.spec.nodeSelector)}`
        : "no live node with an agent",
      ...g,
    });
  } else if (currentMismatch.length > 0 && installed.length === eligible.length) {
    conds.push({
      type: RuntimeConditions.Ready,
      status: "False",
      reason: RuntimeReasons.ClosureMismatch,
      message: `nodes built different closures for generation ${generation}: ${listNodes(currentMismatch)} differ from ${majority ?? "(none)"}`,
      ...g,
    });
  } else if (failures.length > 0) {
    conds.push({
      type: RuntimeConditions.Ready,
      status: "False",
      reason: RuntimeReasons.InstallFailed,
      message: `install failed on ${failures.length}/${eligible.length} node(s): ${failures
        .slice(0, 3)
        .map((f) => `${f.node}: ${f.message.slice(0, 200)}`)
        .join("; ")}`,
      ...g,
    });
  } else {
    conds.push({
      type: RuntimeConditions.Ready,
      status: "False",
      reason: RuntimeReasons.Installing,
      message: `installed on ${installed.length}/${eligible.length} eligible node(s)`,
      ...g,
    });
  }
  conds.push(
    mismatchNodes.length > 0
      ? {
          type: RuntimeConditions.ClosureMismatch,
          status: "True",
          reason: RuntimeReasons.ClosureMismatch,
          message: `nodes with a different Nix closure (they take no work): ${listNodes(mismatchNodes)}`,
          ...g,
        }
      : {
          type: RuntimeConditions.ClosureMismatch,
          status: "False",
          reason: RuntimeReasons.ClosuresEqual,
          message: "every node that installed it built the same closure",
          ...g,
        },
  );

  const { conditions } = setConditions(prev.conditions, conds, now);
  const status: RuntimeStatus = {
    ...prev,
    observedGeneration: generation,
    eligibleNodes: eligible.length,
    installedNodes: installed.length,
    failedNodes: failures.length,
    conditions,
  };
  if (activeGeneration !== undefined) status.activeGeneration = activeGeneration;
  if (activeClosureHash !== undefined) status.activeClosureHash = activeClosureHash;
  else delete status.activeClosureHash;
  if (failures.length) status.failures = failures.slice(0, 10);
  else delete status.failures;
  return {
    status,
    changed: !statusEqual(prev, status),
    ready,
    ...(activated ? { activated } : {}),
    failedNodes: failures.map((f) => f.node),
    mismatchNodes,
  };
}

function listNodes(nodes: string[]): string {
  return nodes.length <= 10
    ? nodes.join(", ")
    : `${nodes.slice(0, 10).join(", ")} and ${nodes.length - 10} more`;
}

/** Structural equality of two statuses (key order independent). */
export function statusEqual(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val) =>
    val && typeof val === "object" && !Array.isArray(val)
      ? Object.fromEntries(
          Object.entries(val as Record<string, unknown>)
            .filter(([, x]) => x !== undefined)
            .sort(([x], [y]) => x.localeCompare(y)),
        )
      : val,
  );
}

export type { Condition };
