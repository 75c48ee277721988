/** The API group and version of every Envicutor resource. */
export const GROUP = "envicutor.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Names used in URLs, RBAC and kubectl for each kind. */
export const RESOURCES = {
  Runtime: {
    kind: "Runtime",
    plural: "runtimes",
    singular: "runtime",
    shortNames: ["rt"],
    namespaced: false,
  },
  Execution: {
    kind: "Execution",
    plural: "executions",
    singular: "execution",
    shortNames: ["exec"],
    namespaced: true,
  },
  Problem: {
    kind: "Problem",
    plural: "problems",
    singular: "problem",
    shortNames: ["prob"],
    namespaced: true,
  },
  Worker: { kind: "Worker", plural: "workers", singular: "worker", shortNames: ["wk"], namespaced: false },
} as const;

export type Kind = keyof typeof RESOURCES;

/** Finalizer that holds a Runtime until every agent has removed its GC roots. */
export const RUNTIME_CLEANUP_FINALIZER = `${GROUP}/runtime-cleanup`;
/** Label on Worker objects and Leases naming the node. */
export const NODE_LABEL = `${GROUP}/node`;
/** Namespace-independent name prefix of the per-node agent heartbeat Lease. */
export const AGENT_LEASE_PREFIX = "envicutor-agent-";
