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
  /** The Node's spec.unschedulable (kubectl cordon / drain): it takes no new Executions. */
  cordoned?: boolean;
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
  const { installed, failures } = tallyInstalls(runtime, eligible, generation);
  const closure = closureAgreement(prev, generation, installed);
  const { activeGeneration, activeClosureHash, activated } = activation(
    prev,
    generation,
    eligible.length > 0 && installed.length === eligible.length && closure.distinct === 1,
    closure.majority,
  );
  const view: Runtime = { ...runtime, status: { ...prev, activeGeneration, activeClosureHash } };
  const facts: RuntimeFacts = {
    runtime,
    generation,
    eligible,
    installed,
    failures,
    ...closure,
    activeGeneration,
    serving: eligible.filter((n) => nodeServesRuntime(view, n)),
  };
  const activeMismatch = activeMismatchNodes(runtime, eligible, activeGeneration, activeClosureHash);
  const mismatchNodes = [...new Set([...closure.currentMismatch, ...activeMismatch])].sort();
  const ready = activeGeneration !== undefined && facts.serving.length > 0;
  const g = { observedGeneration: generation };
  const conds: ConditionInput[] = [
    { type: RuntimeConditions.Ready, ...readyCondition(facts), ...g },
    { type: RuntimeConditions.ClosureMismatch, ...closureMismatchCondition(mismatchNodes), ...g },
  ];
  const { conditions } = setConditions(prev.conditions, conds, now);
  const status = nextStatus(prev, facts, activeClosureHash, conditions);
  return {
    status,
    changed: !statusEqual(prev, status),
    ready,
    ...(activated ? { activated } : {}),
    failedNodes: failures.map((f) => f.node),
    mismatchNodes,
  };
}

interface InstalledNode {
  node: string;
  hash: string | undefined;
}

interface InstallFailure {
  node: string;
  reason: string;
  message: string;
}

/** Everything the Ready checks look at, computed once. */
interface RuntimeFacts {
  runtime: Runtime;
  generation: number;
  eligible: NodeView[];
  installed: InstalledNode[];
  failures: InstallFailure[];
  majority: string | undefined;
  currentMismatch: string[];
  activeGeneration: number | undefined;
  serving: NodeView[];
}

type ConditionBody = Omit<ConditionInput, "type" | "observedGeneration">;

function tallyInstalls(
  runtime: Runtime,
  eligible: readonly NodeView[],
  generation: number,
): { installed: InstalledNode[]; failures: InstallFailure[] } {
  const installed: InstalledNode[] = [];
  const failures: InstallFailure[] = [];
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
  return { installed, failures };
}

/** Closure agreement of the current generation: which hash is the reference, and who differs from it. */
function closureAgreement(
  prev: RuntimeStatus,
  generation: number,
  installed: readonly InstalledNode[],
): { majority: string | undefined; currentMismatch: string[]; distinct: number } {
  const counts = new Map<string | undefined, number>();
  for (const i of installed) counts.set(i.hash, (counts.get(i.hash) ?? 0) + 1);
  // The active closure stays the reference while this generation is active, so
  // a later node with another hash is the one flagged, not the active ones.
  const majority =
    prev.activeGeneration === generation &&
    prev.activeClosureHash !== undefined &&
    counts.has(prev.activeClosureHash)
      ? prev.activeClosureHash
      : [...counts.entries()].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])))[0]?.[0];
  const currentMismatch =
    counts.size > 1 ? installed.filter((i) => i.hash !== majority).map((i) => i.node) : [];
  return { majority, currentMismatch, distinct: counts.size };
}

/** Switches the active generation only once every eligible node agrees on one closure. */
function activation(
  prev: RuntimeStatus,
  generation: number,
  fullyInstalled: boolean,
  majority: string | undefined,
): Pick<RuntimeStatus, "activeGeneration" | "activeClosureHash"> & Pick<RuntimeAssessment, "activated"> {
  if (fullyInstalled && (prev.activeGeneration !== generation || prev.activeClosureHash !== majority)) {
    return {
      activeGeneration: generation,
      activeClosureHash: majority,
      activated: { generation, ...(majority !== undefined ? { closureHash: majority } : {}) },
    };
  }
  return { activeGeneration: prev.activeGeneration, activeClosureHash: prev.activeClosureHash };
}

/** Nodes whose closure of the active generation differs from activeClosureHash. */
function activeMismatchNodes(
  runtime: Runtime,
  eligible: readonly NodeView[],
  activeGeneration: number | undefined,
  activeClosureHash: string | undefined,
): string[] {
  if (activeGeneration === undefined) return [];
  return eligible
    .filter((n) => {
      const e = installEntry(n.worker, runtime, activeGeneration);
      return (
        e?.phase === "Installed" && activeClosureHash !== undefined && e.closureHash !== activeClosureHash
      );
    })
    .map((n) => n.name);
}

/**
 * Ready as a chain of named checks: the first that applies wins, so the order
 * is the precedence (serving beats everything; Installing is the fallback).
 */
const readyChecks: ((f: RuntimeFacts) => ConditionBody | undefined)[] = [
  servingActiveGeneration,
  noEligibleNodes,
  closuresDisagree,
  installFailed,
];

function readyCondition(f: RuntimeFacts): ConditionBody {
  for (const check of readyChecks) {
    const c = check(f);
    if (c) return c;
  }
  return installing(f);
}

function servingActiveGeneration(f: RuntimeFacts): ConditionBody | undefined {
  if (f.activeGeneration === undefined || f.serving.length === 0) return undefined;
  const n = f.eligible.length;
  const all = f.activeGeneration === f.generation && f.installed.length === n;
  const failed = f.failures.length ? `, failed on ${f.failures.length}` : "";
  return {
    status: "True",
    reason: all ? RuntimeReasons.AllNodesInstalled : RuntimeReasons.RolloutInProgress,
    message: all
      ? `generation ${f.generation} is installed on all ${n} eligible node(s)`
      : `generation ${f.activeGeneration} is active on ${f.serving.length}/${n} eligible node(s); generation ${f.generation} installed on ${f.installed.length}/${n}${failed}`,
  };
}

function noEligibleNodes(f: RuntimeFacts): ConditionBody | undefined {
  if (f.eligible.length > 0) return undefined;
  const selector = f.runtime.spec.nodeSelector;
  return {
    status: "False",
    reason: RuntimeReasons.NoEligibleNodes,
    message: selector
      ? `no live node with an agent matches nodeSelector ${JSON.stringify(selector)}`
      : "no live node with an agent",
  };
}

/** Only once every node has reported: a mismatch among some is not yet a verdict. */
function closuresDisagree(f: RuntimeFacts): ConditionBody | undefined {
  if (f.currentMismatch.length === 0 || f.installed.length !== f.eligible.length) return undefined;
  return {
    status: "False",
    reason: RuntimeReasons.ClosureMismatch,
    message: `nodes built different closures for generation ${f.generation}: ${listNodes(f.currentMismatch)} differ from ${f.majority ?? "(none)"}`,
  };
}

function installFailed(f: RuntimeFacts): ConditionBody | undefined {
  if (f.failures.length === 0) return undefined;
  const sample = f.failures
    .slice(0, 3)
    .map((x) => `${x.node}: ${x.message.slice(0, 200)}`)
    .join("; ");
  return {
    status: "False",
    reason: RuntimeReasons.InstallFailed,
    message: `install failed on ${f.failures.length}/${f.eligible.length} node(s): ${sample}`,
  };
}

function installing(f: RuntimeFacts): ConditionBody {
  return {
    status: "False",
    reason: RuntimeReasons.Installing,
    message: `installed on ${f.installed.length}/${f.eligible.length} eligible node(s)`,
  };
}

function closureMismatchCondition(mismatchNodes: string[]): ConditionBody {
  return mismatchNodes.length > 0
    ? {
        status: "True",
        reason: RuntimeReasons.ClosureMismatch,
        message: `nodes with a different Nix closure (they take no work): ${listNodes(mismatchNodes)}`,
      }
    : {
        status: "False",
        reason: RuntimeReasons.ClosuresEqual,
        message: "every node that installed it built the same closure",
      };
}

function nextStatus(
  prev: RuntimeStatus,
  f: RuntimeFacts,
  activeClosureHash: string | undefined,
  conditions: Condition[],
): RuntimeStatus {
  const status: RuntimeStatus = {
    ...prev,
    observedGeneration: f.generation,
    eligibleNodes: f.eligible.length,
    installedNodes: f.installed.length,
    failedNodes: f.failures.length,
    conditions,
  };
  if (f.activeGeneration !== undefined) status.activeGeneration = f.activeGeneration;
  if (activeClosureHash !== undefined) status.activeClosureHash = activeClosureHash;
  else delete status.activeClosureHash;
  if (f.failures.length) status.failures = f.failures.slice(0, 10);
  else delete status.failures;
  return status;
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
