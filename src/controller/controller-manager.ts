import type { Registry } from "prom-client";
import type { KubeClient } from "../k8s/client.ts";
import { Operator } from "../k8s/operator.ts";
import {
  ExecutionResource,
  LeaseResource,
  NodeResource,
  RuntimeResource,
  WorkerResource,
} from "../k8s/resources.ts";
import type { Logger } from "../logging.ts";
import type { ControllerConfig } from "./config.ts";
import { ExecutionScheduler } from "./execution-scheduler.ts";
import { schedulingView } from "./execution-view.ts";
import { HandBackReconciler } from "./hand-back-reconciler.ts";
import { InvalidExecutionReconciler } from "./invalid-execution-reconciler.ts";
import { type ControllerMetrics, controllerMetrics } from "./metrics.ts";
import { NodeLiveness } from "./node-liveness.ts";
import { NodeLossReconciler } from "./node-loss-reconciler.ts";
import { RuntimeReconciler } from "./runtime-reconciler.ts";
import { TtlReconciler } from "./ttl-reconciler.ts";

export type ManagerConfig = Omit<ControllerConfig, "kubeconfig">;

/**
 * The Envicutor controller: informers on Runtimes, Executions, Workers, Nodes
 * and agent Leases (warm on every replica), and three controllers run only by
 * the leader: Runtime readiness, Execution scheduling, Execution TTL.
 */
export class ControllerManager {
  readonly operator: Operator;
  readonly liveness: NodeLiveness;
  readonly scheduler: ExecutionScheduler;
  private readonly log: Logger;

  constructor(opts: ManagerOptions) {
    const { client, config: cfg, logger } = opts;
    this.log = logger;
    this.operator = createOperator(opts);
    const op = this.operator;
    const inf = createInformers(op, cfg);
    const { leases, nodes, workers } = inf;
    this.liveness = new NodeLiveness({ leases, nodes, workers, client, namespace: cfg.namespace });
    const shared: Shared = {
      client,
      logger,
      cfg,
      liveness: this.liveness,
      metrics: controllerMetrics(op.registry, () => inf.runtimes.list()),
      events: op.eventRecorder({ controller: "envicutor.io/controller", instance: cfg.identity }),
    };
    setUpRuntimeController(op, inf, shared);
    this.scheduler = setUpExecutionControllers(op, inf, shared);
  }

  isLeader(): boolean {
    return this.operator.isLeader();
  }

  async start(): Promise<void> {
    await this.operator.start();
    this.log.info("controller manager started");
  }

  async stop(): Promise<void> {
    await this.operator.stop();
    this.liveness.stop();
  }
}

interface ManagerOptions {
  client: KubeClient;
  config: ManagerConfig;
  logger: Logger;
  registry?: Registry;
  onLostLeadership?: () => void;
}

type Informers = ReturnType<typeof createInformers>;

/** What every reconciler of the manager shares. */
interface Shared {
  client: KubeClient;
  logger: Logger;
  cfg: ManagerConfig;
  liveness: NodeLiveness;
  metrics: ControllerMetrics;
  events: ReturnType<Operator["eventRecorder"]>;
}

function createOperator(opts: ManagerOptions): Operator {
  const { client, config: cfg, logger } = opts;
  return new Operator({
    client,
    logger,
    registry: opts.registry,
    metricsPort: cfg.metricsPort,
    ...(cfg.leaderElect
      ? {
          leaderElection: {
            namespace: cfg.namespace,
            name: cfg.leaseName,
            identity: cfg.identity,
            leaseDurationMs: cfg.leaseDurationMs,
            renewDeadlineMs: cfg.renewDeadlineMs,
            retryPeriodMs: cfg.retryPeriodMs,
          },
        }
      : {}),
    onLostLeadership: opts.onLostLeadership,
  });
}

function createInformers(op: Operator, cfg: ManagerConfig) {
  return {
    runtimes: op.informer(RuntimeResource),
    // Only what scheduling and TTLs read is cached: not files, stdin, test data or results.
    executions: op.informer(ExecutionResource, { transform: schedulingView, transformIdempotent: true }),
    workers: op.informer(WorkerResource),
    nodes: op.informer(NodeResource),
    leases: op.informer(LeaseResource, { namespace: cfg.namespace }),
  };
}

function setUpRuntimeController(op: Operator, inf: Informers, s: Shared): void {
  const { runtimes, workers, nodes, leases } = inf;
  const rtr = new RuntimeReconciler({
    client: s.client,
    runtimes,
    workers,
    liveness: s.liveness,
    events: s.events,
    logger: s.logger,
  });
  const runtimeController = op
    .controller({
      name: "runtime",
      reconcile: (k) => rtr.reconcile(k),
      concurrency: s.cfg.runtimeConcurrency,
      resyncPeriodMs: s.cfg.resyncPeriodMs,
    })
    .watchPrimary(runtimes)
    .watch(workers, rtr.mapWorker)
    .watch(nodes, rtr.mapNode)
    // Leases renew constantly; only liveness flips matter (NodeLiveness turns those, and silent expiry, into calls).
    .watch(leases, () => []);
  s.liveness.onChange(() => {
    for (const k of rtr.allKeys()) runtimeController.enqueue(k);
  });
}

/** Scheduling, node loss, hand-back, invalid specs and TTLs; returns the scheduler. */
function setUpExecutionControllers(op: Operator, inf: Informers, s: Shared): ExecutionScheduler {
  const { client, logger, cfg, metrics, events, liveness } = s;
  const { executions, runtimes, workers, nodes } = inf;
  const execDeps = { client, executions, events, metrics, logger };
  const scheduler = ExecutionScheduler.setUp(
    op,
    { ...execDeps, runtimes, workers, nodes, liveness },
    {
      maxAttempts: cfg.maxAttempts,
      maxRunningPerNamespace: cfg.maxRunningPerNamespace,
      namespaceCaps: cfg.namespaceCaps,
      nodePrefetch: cfg.nodePrefetch,
    },
  );
  NodeLossReconciler.setUp(op, { ...execDeps, liveness }, cfg.maxAttempts);
  HandBackReconciler.setUp(op, execDeps, cfg.maxAttempts);
  InvalidExecutionReconciler.setUp(op, execDeps);

  const ttl = new TtlReconciler({
    client,
    executions,
    defaultTtlSeconds: cfg.defaultTtlSeconds,
    metrics,
    logger,
  });
  op.controller({ name: "ttl", reconcile: (k) => ttl.reconcile(k), concurrency: 2 }).watch(
    executions,
    ttl.map,
  );
  return scheduler;
}
