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
import { ExecutionScheduler, SCHEDULE_PASS } from "./execution-scheduler.ts";
import { controllerMetrics } from "./metrics.ts";
import { leaseNode, NodeLiveness } from "./node-liveness.ts";
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
    const executions = op.informer(ExecutionResource);
    const workers = op.informer(WorkerResource);
    const nodes = op.informer(NodeResource);
    const leases = op.informer(LeaseResource, { namespace: cfg.namespace });
    this.liveness = new NodeLiveness({ leases, nodes, workers });
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

    this.scheduler = new ExecutionScheduler({
      client,
      executions,
      runtimes,
      liveness: this.liveness,
      events,
      metrics,
      logger,
      maxAttempts: cfg.maxAttempts,
    });
    const scheduler = this.scheduler;
    const schedulerController = op
      .controller({ name: "scheduler", reconcile: () => scheduler.pass(), concurrency: 1 })
      .watch(executions, (ev) => scheduler.onExecutionEvent(ev))
      .watch(runtimes, () => [SCHEDULE_PASS])
      .watch(workers, () => [SCHEDULE_PASS])
      .watch(nodes, () => [SCHEDULE_PASS])
      .watch(leases, (ev) =>
        ev.type !== "update" && ev.type !== "invalid" && leaseNode(ev.object) ? [SCHEDULE_PASS] : [],
      );
    this.liveness.onChange(() => schedulerController.enqueue(SCHEDULE_PASS));

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
    this.scheduler.stop();
  }
}
