import { availableParallelism } from "node:os";
import { z } from "zod";
import { type BoxNetworkConfig, checkNetworkConfig, DEFAULT_BOX_CIDR } from "./network/network-config.ts";
import { type PackageSets, parsePackageSets } from "./nix/package-sets.ts";

/**
 * Agent configuration from ENVICUTOR_* environment variables (the Helm chart
 * sets them; see charts/envicutor/README.md). Invalid values stop the agent at
 * start with a message naming the variable.
 */
const intFromEnv = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const list = z
  .string()
  .default("")
  .transform((s) => s.split(/[\s,]+/).filter(Boolean));

export const agentConfigSchema = z.object({
  ENVICUTOR_NODE_NAME: z
    .string()
    .min(1, "ENVICUTOR_NODE_NAME must name this node (downward API spec.nodeName)"),
  ENVICUTOR_NAMESPACE: z.string().min(1).optional(),
  ENVICUTOR_KUBECONFIG: z.string().optional(),
  ENVICUTOR_STATE_DIR: z.string().default("/var/lib/envicutor"),
  ENVICUTOR_SLOTS: intFromEnv(availableParallelism(), 1),
  ENVICUTOR_BOX_ID_BASE: intFromEnv(0),
  /** Location of the package set named "default" (older configurations; see ENVICUTOR_PACKAGE_SETS). */
  ENVICUTOR_PACKAGE_SET: z.string().optional(),
  /** The package sets Runtimes may name, as JSON: {"default":"<nixpkgs>","other":"/path/or/url"}. */
  ENVICUTOR_PACKAGE_SETS: z.string().optional(),
  ENVICUTOR_NIX_SUBSTITUTERS: list,
  ENVICUTOR_NIX_TRUSTED_PUBLIC_KEYS: list,
  ENVICUTOR_INSTALL_TIMEOUT_SECONDS: intFromEnv(900, 1),
  ENVICUTOR_INSTALL_CONCURRENCY: intFromEnv(2, 1),
  ENVICUTOR_ISOLATE_BIN: z.string().default("isolate"),
  ENVICUTOR_ISOLATE_CONFIG: z.string().default("/usr/local/etc/isolate"),
  ENVICUTOR_ISOLATE_BOX_ROOT: z.string().default("/var/local/lib/isolate"),
  /** Directories mounted read-only into every box besides /nix/store (tests add host dirs). */
  ENVICUTOR_SANDBOX_EXTRA_DIRS: list,
  ENVICUTOR_OUTPUT_CAP_BYTES: intFromEnv(64 * 1024, 1),
  /** Bytes of compiled programs the node keeps (compile cache, LRU); 0 turns the cache off. */
  ENVICUTOR_COMPILE_CACHE_BYTES: intFromEnv(1024 * 1024 * 1024),
  /** Bytes of Problems' test data the node keeps (extracted archives, LRU); at least one set's size. */
  ENVICUTOR_TEST_DATA_CACHE_BYTES: intFromEnv(8 * 1024 * 1024 * 1024, 1),
  /** Make each slot's next box right after the last is cleaned (WarmBoxes): off unless "true". */
  ENVICUTOR_WARM_BOXES: z.enum(["true", "false"]).default("false"),
  /** Keep each slot's box, emptied in place, for its next run instead of cleaning it up: on unless "false". */
  ENVICUTOR_KEEP_BOXES: z.enum(["true", "false"]).default("true"),
  /** Mount a Runtime's closure as one prepared view of hard links (ClosureViews): on unless "false". */
  ENVICUTOR_CLOSURE_VIEWS: z.enum(["true", "false"]).default("true"),
  /** A run is marked Running after this many ms (shorter runs only get their result written); 0 = first. */
  ENVICUTOR_RUNNING_DELAY_MS: intFromEnv(1000),
  ENVICUTOR_LEASE_DURATION_SECONDS: intFromEnv(20, 2),
  ENVICUTOR_METRICS_PORT: intFromEnv(8081),
  ENVICUTOR_METRICS_HOST: z.string().default("0.0.0.0"),
  /** Networked Runtimes (allowNetwork): off unless "true". */
  ENVICUTOR_NETWORK_ENABLED: z.enum(["true", "false"]).default("false"),
  ENVICUTOR_NETWORK_BOX_CIDR: z.string().default(DEFAULT_BOX_CIDR),
  /** Where networked boxes may connect (IPv4 CIDRs; the built-in blocked ranges are always excluded). */
  ENVICUTOR_NETWORK_EGRESS_CIDRS: list,
  /** More ranges never reachable: the cluster's pod and service CIDRs. */
  ENVICUTOR_NETWORK_BLOCKED_CIDRS: list,
  /** The only DNS server a networked box may ask (IPv4). */
  ENVICUTOR_NETWORK_RESOLVER: z.string().optional(),
});

export type AgentConfigEnv = z.infer<typeof agentConfigSchema>;

export interface AgentConfig {
  nodeName: string;
  namespace: string;
  kubeconfig?: string;
  stateDir: string;
  slots: number;
  boxIdBase: number;
  /** Name → location; a Runtime's spec.packageSet can only name one of these. */
  packageSets: PackageSets;
  substituters: string[];
  trustedPublicKeys: string[];
  installTimeoutMs: number;
  installConcurrency: number;
  isolateBin: string;
  isolateConfigPath: string;
  isolateBoxRoot: string;
  sandboxExtraDirs: string[];
  outputCapBytes: number;
  compileCacheBytes: number;
  /** Bytes of extracted test data the node keeps (LRU). */
  testDataCacheBytes: number;
  /** A box made ready ahead of each run (isolate --init and its tmpfs right after the last clean-up). */
  warmBoxes: boolean;
  /** A box is kept for its slot's next run, emptied in place with a new cgroup, not cleaned up and made again. */
  keepBoxes: boolean;
  /** A box mounts its Runtime's closure as one prepared view, not path by path. */
  closureViews: boolean;
  /** How long a run goes before it is marked Running (0: Running is written before every run). */
  runningDelayMs: number;
  leaseDurationSeconds: number;
  metricsPort: number;
  metricsHost: string;
  network: BoxNetworkConfig;
}

export function loadAgentConfig(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const parsed = agentConfigSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid agent configuration: ${problems}`);
  }
  const e = parsed.data;
  let packageSets: PackageSets;
  try {
    packageSets = parsePackageSets(e.ENVICUTOR_PACKAGE_SETS, e.ENVICUTOR_PACKAGE_SET);
  } catch (err) {
    throw new Error(
      `invalid agent configuration: ENVICUTOR_PACKAGE_SETS / ENVICUTOR_PACKAGE_SET: ${(err as Error).message}`,
    );
  }
  const network: BoxNetworkConfig = {
    enabled: e.ENVICUTOR_NETWORK_ENABLED === "true",
    boxCidr: e.ENVICUTOR_NETWORK_BOX_CIDR,
    egressCidrs: e.ENVICUTOR_NETWORK_EGRESS_CIDRS,
    blockedCidrs: e.ENVICUTOR_NETWORK_BLOCKED_CIDRS,
    ...(e.ENVICUTOR_NETWORK_RESOLVER ? { resolver: e.ENVICUTOR_NETWORK_RESOLVER } : {}),
  };
  try {
    checkNetworkConfig(network);
  } catch (err) {
    throw new Error(`invalid agent configuration: ENVICUTOR_NETWORK_*: ${(err as Error).message}`);
  }
  return {
    network,
    nodeName: e.ENVICUTOR_NODE_NAME,
    namespace: e.ENVICUTOR_NAMESPACE ?? env.POD_NAMESPACE ?? "envicutor-system",
    ...(e.ENVICUTOR_KUBECONFIG || env.KUBECONFIG
      ? { kubeconfig: e.ENVICUTOR_KUBECONFIG || env.KUBECONFIG }
      : {}),
    stateDir: e.ENVICUTOR_STATE_DIR,
    slots: e.ENVICUTOR_SLOTS,
    boxIdBase: e.ENVICUTOR_BOX_ID_BASE,
    packageSets,
    substituters: e.ENVICUTOR_NIX_SUBSTITUTERS,
    trustedPublicKeys: e.ENVICUTOR_NIX_TRUSTED_PUBLIC_KEYS,
    installTimeoutMs: e.ENVICUTOR_INSTALL_TIMEOUT_SECONDS * 1000,
    installConcurrency: e.ENVICUTOR_INSTALL_CONCURRENCY,
    isolateBin: e.ENVICUTOR_ISOLATE_BIN,
    isolateConfigPath: e.ENVICUTOR_ISOLATE_CONFIG,
    isolateBoxRoot: e.ENVICUTOR_ISOLATE_BOX_ROOT,
    sandboxExtraDirs: e.ENVICUTOR_SANDBOX_EXTRA_DIRS,
    outputCapBytes: e.ENVICUTOR_OUTPUT_CAP_BYTES,
    compileCacheBytes: e.ENVICUTOR_COMPILE_CACHE_BYTES,
    testDataCacheBytes: e.ENVICUTOR_TEST_DATA_CACHE_BYTES,
    warmBoxes: e.ENVICUTOR_WARM_BOXES === "true",
    keepBoxes: e.ENVICUTOR_KEEP_BOXES === "true",
    closureViews: e.ENVICUTOR_CLOSURE_VIEWS === "true",
    runningDelayMs: e.ENVICUTOR_RUNNING_DELAY_MS,
    leaseDurationSeconds: e.ENVICUTOR_LEASE_DURATION_SECONDS,
    metricsPort: e.ENVICUTOR_METRICS_PORT,
    metricsHost: e.ENVICUTOR_METRICS_HOST,
  };
}
