import { parseArgs } from "node:util";

export interface GatewayConfig {
  /** Namespace of the token Secrets (the gateway's own). */
  namespace: string;
  kubeconfig: string | undefined;
  /** Port of the Piston and Judge0 APIs (2358 is Judge0's). */
  port: number;
  host: string;
  /** /healthz, /readyz, /metrics; undefined = no server. */
  metricsPort: number | undefined;
  metricsHost: string;
  /** Largest request body; more is 413. */
  maxBodyBytes: number;
  /** Per-token rate limit (requests per second, 0 = none) and burst, unless the token's Secret sets its own. */
  ratePerSecond: number;
  burst: number;
  /** Unfinished Executions per token at once; more is 503 (Judge0's MAX_QUEUE_SIZE). */
  queueMax: number;
  /** Requests held waiting for a result at once, over all tokens; more is 503. */
  maxWaiting: number;
  /** How long a waiting request is held before it is answered with what is known. */
  waitTimeoutSeconds: number;
  /** ttlSecondsAfterFinished of the Executions it creates: how long GET /submissions/:token works. */
  ttlSecondsAfterFinished: number;
  /** Judge0 submissions per batch (Judge0's MAX_SUBMISSION_BATCH_SIZE). */
  maxBatchSize: number;
  callbacks: {
    enabled: boolean;
    attempts: number;
    baseDelayMs: number;
    maxDelayMs: number;
    timeoutMs: number;
    maxPending: number;
  };
}

/**
 * Configuration from flags, then ENVICUTOR_GATEWAY_* environment, then
 * defaults: --namespace, --kubeconfig, --port, --host, --metrics-port (0 = any,
 * -1 = off), --max-body-bytes, --rate-per-second, --burst, --queue-max,
 * --max-waiting, --wait-timeout-seconds, --ttl-seconds, --max-batch-size,
 * --callbacks=false, --callback-attempts, --callback-base-delay-ms,
 * --callback-timeout-ms.
 */
export function loadGatewayConfig(
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): GatewayConfig {
  const { pick, num } = flagReader(argv, env);
  const metricsPort = num("metrics-port", 8082, -1);
  return {
    namespace: pick("namespace") ?? env.POD_NAMESPACE ?? "envicutor-system",
    kubeconfig: pick("kubeconfig") || env.KUBECONFIG || undefined,
    port: num("port", 2358),
    host: pick("host") ?? "0.0.0.0",
    metricsPort: metricsPort < 0 ? undefined : metricsPort,
    metricsHost: pick("metrics-host") ?? "0.0.0.0",
    maxBodyBytes: num("max-body-bytes", 2 * 1024 * 1024, 1024),
    ratePerSecond: num("rate-per-second", 20),
    burst: num("burst", 100, 1),
    queueMax: num("queue-max", 100, 1),
    maxWaiting: num("max-waiting", 5000, 1),
    waitTimeoutSeconds: num("wait-timeout-seconds", 300, 1),
    ttlSecondsAfterFinished: num("ttl-seconds", 3600),
    maxBatchSize: num("max-batch-size", 20, 1),
    callbacks: {
      enabled: (pick("callbacks") ?? "true") !== "false",
      attempts: num("callback-attempts", 5, 1),
      baseDelayMs: num("callback-base-delay-ms", 1000, 1),
      maxDelayMs: num("callback-max-delay-ms", 60_000, 1),
      timeoutMs: num("callback-timeout-ms", 5000, 1),
      maxPending: num("callback-max-pending", 10_000, 1),
    },
  };
}

const FLAGS = [
  "namespace",
  "kubeconfig",
  "port",
  "host",
  "metrics-port",
  "metrics-host",
  "max-body-bytes",
  "rate-per-second",
  "burst",
  "queue-max",
  "max-waiting",
  "wait-timeout-seconds",
  "ttl-seconds",
  "max-batch-size",
  "callbacks",
  "callback-attempts",
  "callback-base-delay-ms",
  "callback-max-delay-ms",
  "callback-timeout-ms",
  "callback-max-pending",
] as const;

type Flag = (typeof FLAGS)[number];

const envName = (flag: string) => `ENVICUTOR_GATEWAY_${flag.toUpperCase().replace(/-/g, "_")}`;

/** A flag wins over its ENVICUTOR_GATEWAY_* variable; numbers are checked against a minimum. */
function flagReader(
  argv: string[],
  env: NodeJS.ProcessEnv,
): { pick: (flag: Flag) => string | undefined; num: (flag: Flag, dflt: number, min?: number) => number } {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(FLAGS.map((n) => [n, { type: "string" as const }])),
    allowPositionals: false,
  });
  const pick = (flag: Flag): string | undefined =>
    (values[flag] as string | undefined) ?? env[envName(flag)] ?? undefined;
  const num = (flag: Flag, dflt: number, min = 0): number => {
    const v = pick(flag);
    if (v === undefined || v === "") return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min)
      throw new Error(`--${flag} / ${envName(flag)}: expected a number >= ${min}, got ${v}`);
    return n;
  };
  return { pick, num };
}
