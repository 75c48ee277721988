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
import { controllerMetrics } from "./metrics.ts";
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

  constructor(opts: {
    client: KubeClient;
    config: ManagerConfig;
    logger: Logger;
    registry?: Registry;
    onLostLeadership?: () => void;
  }) {
    const { client, config: cfg, logger } = opts;
    this.log = logger;
    this.operator = new Operator({
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
    const op = this.operator;
    const runtimes = op.informer(RuntimeResource);
    // Only what scheduling and TTLs read is cached: not files, stdin, test data or results.
    const executions = op.informer(ExecutionResource, { transform: schedulingView });
    const workers = op.informer(WorkerResource);
    const nodes = op.informer(NodeResource);
    const leases = op.informer(LeaseResource, { namespace: cfg.namespace });
    this.liveness = new NodeLiveness({ leases, nodes, workers, client, namespace: cfg.namespace });
    const metrics = controllerMetrics(op.registry, () => runtimes.list());
    const events = op.eventRecorder({ controller: "envicutor.io/controller", instance: cfg.identity });

    const rtr = new RuntimeReconciler({ client, runtimes, workers, liveness: this.liveness, events, logger });
    const runtimeController = op
      .controller({
        name: "runtime",
        reconcile: (k) => rtr.reconcile(k),
        concurrency: cfg.runtimeConcurrency,
        resyncPeriodMs: cfg.resyncPeriodMs,
      })
      .watchPrimary(runtimes)
      .watch(workers, rtr.mapWorker)
      .watch(nodes, rtr.mapNode)
      // Leases renew constantly; only liveness flips matter (NodeLiveness turns those, and silent expiry, into calls).
      .watch(leases, () => []);
    this.liveness.onChange(() => {
      for (const k of rtr.allKeys()) runtimeController.enqueue(k);
    });

    const execDeps = { client, executions, events, metrics, logger };
    this.scheduler = ExecutionScheduler.setUp(
      op,
      { ...execDeps, runtimes, workers, nodes, liveness: this.liveness },
      {
        maxAttempts: cfg.maxAttempts,
        maxRunningPerNamespace: cfg.maxRunningPerNamespace,
        namespaceCaps: cfg.namespaceCaps,
      },
    );
    NodeLossReconciler.setUp(op, { ...execDeps, liveness: this.liveness }, cfg.maxAttempts);
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
