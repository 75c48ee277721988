import { parseArgs } from "node:util";

export interface ControllerConfig {
  /** Namespace of the leader-election Lease and of agent heartbeat Leases. */
  namespace: string;
  leaseName: string;
  /** Leader-election identity; hostname + pid by default. */
  identity: string;
  kubeconfig: string | undefined;
  /** /healthz, /readyz, /metrics; undefined = no server. */
  metricsPort: number | undefined;
  defaultTtlSeconds: number;
  maxAttempts: number;
  leaderElect: boolean;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  resyncPeriodMs: number;
  /** Parallel Runtime reconciles. */
  runtimeConcurrency: number;
  /** Most Executions holding a slot at once in any one namespace; undefined = no cap. */
  maxRunningPerNamespace: number | undefined;
  /** Caps of particular namespaces, over maxRunningPerNamespace. */
  namespaceCaps: Record<string, number>;
  /** Executions placed on a node beyond its slots, to start there the moment a slot frees; 0 = none. */
  nodePrefetch: number;
}

export const DEFAULTS: Omit<ControllerConfig, "identity" | "kubeconfig"> = {
  namespace: "envicutor-system",
  leaseName: "envicutor-controller",
  metricsPort: 8080,
  defaultTtlSeconds: 3600,
  maxAttempts: 3,
  leaderElect: true,
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
  resyncPeriodMs: 5 * 60_000,
  runtimeConcurrency: 4,
  maxRunningPerNamespace: undefined,
  namespaceCaps: {},
  nodePrefetch: 1,
};

const FLAGS = {
  namespace: { type: "string" },
  "lease-name": { type: "string" },
  identity: { type: "string" },
  kubeconfig: { type: "string" },
  "metrics-port": { type: "string" },
  "default-ttl-seconds": { type: "string" },
  "max-attempts": { type: "string" },
  "leader-elect": { type: "string" },
  "lease-duration-seconds": { type: "string" },
  "renew-deadline-seconds": { type: "string" },
  "retry-period-seconds": { type: "string" },
  "resync-period-seconds": { type: "string" },
  "max-running-per-namespace": { type: "string" },
  "namespace-caps": { type: "string" },
  "node-prefetch": { type: "string" },
} as const;

/**
 * Configuration from flags, then environment (ENVICUTOR_*), then defaults:
 * --namespace, --lease-name, --identity, --kubeconfig, --metrics-port (0 = any,
 * -1 = off), --default-ttl-seconds, --max-attempts, --leader-elect=false,
 * --lease-duration-seconds, --renew-deadline-seconds, --retry-period-seconds,
 * --max-running-per-namespace (0 = no cap), --namespace-caps (ns=n,ns2=m),
 * --node-prefetch (Executions placed on a node beyond its slots; 0 = none).
 */
export function loadConfig(
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): ControllerConfig {
  const { values } = parseArgs({ args: argv, options: FLAGS, allowPositionals: false });
  const pick = (flag: keyof typeof values, envName: string): string | undefined =>
    (values[flag] as string | undefined) ?? env[envName] ?? undefined;
  const int = (flag: keyof typeof values, envName: string, dflt: number, min = 0): number => {
    const v = pick(flag, envName);
    if (v === undefined || v === "") return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${flag} / ${envName}: expected an integer >= ${min}, got ${v}`);
    return n;
  };
  const port = int("metrics-port", "ENVICUTOR_METRICS_PORT", DEFAULTS.metricsPort!, -1);
  const host = env.HOSTNAME ?? "controller";
  const cfg: ControllerConfig = {
    namespace: pick("namespace", "ENVICUTOR_NAMESPACE") ?? env.POD_NAMESPACE ?? DEFAULTS.namespace,
    leaseName: pick("lease-name", "ENVICUTOR_LEASE_NAME") ?? DEFAULTS.leaseName,
    identity: pick("identity", "ENVICUTOR_IDENTITY") ?? `${host}_${process.pid}`,
    kubeconfig: pick("kubeconfig", "KUBECONFIG") || undefined,
    metricsPort: port < 0 ? undefined : port,
    defaultTtlSeconds: int(
      "default-ttl-seconds",
      "ENVICUTOR_DEFAULT_TTL_SECONDS",
      DEFAULTS.defaultTtlSeconds,
    ),
    maxAttempts: int("max-attempts", "ENVICUTOR_MAX_ATTEMPTS", DEFAULTS.maxAttempts, 1),
    leaderElect: (pick("leader-elect", "ENVICUTOR_LEADER_ELECT") ?? "true") !== "false",
    leaseDurationMs:
      int("lease-duration-seconds", "ENVICUTOR_LEASE_DURATION_SECONDS", DEFAULTS.leaseDurationMs / 1000, 1) *
      1000,
    renewDeadlineMs:
      int("renew-deadline-seconds", "ENVICUTOR_RENEW_DEADLINE_SECONDS", DEFAULTS.renewDeadlineMs / 1000, 1) *
      1000,
    retryPeriodMs:
      int("retry-period-seconds", "ENVICUTOR_RETRY_PERIOD_SECONDS", DEFAULTS.retryPeriodMs / 1000, 1) * 1000,
    resyncPeriodMs:
      int("resync-period-seconds", "ENVICUTOR_RESYNC_PERIOD_SECONDS", DEFAULTS.resyncPeriodMs / 1000) * 1000,
    runtimeConcurrency: DEFAULTS.runtimeConcurrency,
    maxRunningPerNamespace:
      int("max-running-per-namespace", "ENVICUTOR_MAX_RUNNING_PER_NAMESPACE", 0) || undefined,
    namespaceCaps: parseCaps(pick("namespace-caps", "ENVICUTOR_NAMESPACE_CAPS")),
    nodePrefetch: int("node-prefetch", "ENVICUTOR_NODE_PREFETCH", DEFAULTS.nodePrefetch, 0),
  };
  if (cfg.renewDeadlineMs >= cfg.leaseDurationMs)
    throw new Error("renew deadline must be shorter than the lease duration");
  return cfg;
}

/** "team-a=10,team-b=50" → { "team-a": 10, "team-b": 50 }. */
export function parseCaps(v: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (v ?? "").split(",").map((p) => p.trim())) {
    if (!part) continue;
    const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)=(\d+)$/.exec(part);
    if (!m) throw new Error(`--namespace-caps / ENVICUTOR_NAMESPACE_CAPS: expected ns=count, got ${part}`);
    out[m[1]!] = Number(m[3]);
  }
  return out;
}
