import { Registry } from "prom-client";
import type { Logger } from "../logging.ts";
import type { KubeClient } from "./client.ts";
import { Controller, type ControllerOptions } from "./controller.ts";
import { errText } from "./errors.ts";
import { EventRecorder, type EventRecorderOptions } from "./events.ts";
import { HealthServer } from "./http-server.ts";
import { Informer, type InformerOptions } from "./informer.ts";
import { LeaderElector } from "./leader-election.ts";
import { workQueueMetrics } from "./metrics.ts";
import type { KubeObject, ResourceType } from "./resources.ts";

export interface OperatorOptions {
  client: KubeClient;
  logger: Logger;
  registry?: Registry;
  /** Port of /healthz, /readyz and /metrics; undefined = no server, 0 = any free port. */
  metricsPort?: number;
  metricsHost?: string;
  /** Only the holder of this Lease runs controllers; informers warm up regardless. */
  leaderElection?: {
    namespace: string;
    name: string;
    identity: string;
    leaseDurationMs?: number;
    renewDeadlineMs?: number;
    retryPeriodMs?: number;
  };
  /** Called when leadership is lost while not stopping (controller-runtime exits the process here). */
  onLostLeadership?: () => void;
}

/**
 * The operator: shared informers, controllers, leader election, events and the
 * health/metrics server, started and stopped together.
 */
export class Operator {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly registry: Registry;
  readonly health: HealthServer;
  private readonly o: OperatorOptions;
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly controllers: Controller[] = [];
  private elector: LeaderElector | undefined;
  private campaign: Promise<void> | undefined;
  private abort = new AbortController();
  private controllersRunning = false;
  private stopping = false;
  port: number | undefined;

  constructor(opts: OperatorOptions) {
    this.o = opts;
    this.client = opts.client;
    this.log = opts.logger;
    this.registry = opts.registry ?? new Registry();
    this.health = new HealthServer({
      registry: this.registry,
      ready: {
        informers: () => {
          const pending = [...this.informers.entries()].filter(([, i]) => !i.hasSynced()).map(([k]) => k);
          return pending.length === 0 || `not synced: ${pending.join(", ")}`;
        },
      },
    });
  }

  /** A shared informer per (resource, namespace, selectors); created once, started with the operator. */
  informer<T extends KubeObject>(resource: ResourceType<T>, opts: InformerOptions<T> = {}): Informer<T> {
    const id = [
      resource.apiVersion,
      resource.kind,
      opts.namespace ?? "",
      opts.labelSelector ?? "",
      opts.fieldSelector ?? "",
    ].join("|");
    let inf = this.informers.get(id);
    if (!inf) {
      inf = new Informer(this.client, resource as unknown as ResourceType<KubeObject>, {
        logger: this.log,
        ...(opts as unknown as InformerOptions),
      });
      this.informers.set(id, inf);
    }
    return inf as unknown as Informer<T>;
  }

  controller(opts: Omit<ControllerOptions, "logger" | "metrics">): Controller {
    const c = new Controller({ ...opts, logger: this.log, metrics: workQueueMetrics(this.registry) });
    this.controllers.push(c);
    return c;
  }

  eventRecorder(opts: Omit<EventRecorderOptions, "logger">): EventRecorder {
    return new EventRecorder(this.client, { ...opts, logger: this.log });
  }

  isLeader(): boolean {
    return this.elector ? this.elector.isLeader() : this.controllersRunning;
  }

  /** Starts informers and the health server, then campaigns (or runs controllers at once without election). */
  async start(): Promise<void> {
    for (const inf of this.informers.values()) inf.start();
    if (this.o.metricsPort !== undefined) {
      this.port = await this.health.listen(this.o.metricsPort, this.o.metricsHost);
      this.log.info({ port: this.port }, "serving /healthz, /readyz, /metrics");
    }
    const le = this.o.leaderElection;
    if (!le) {
      this.startControllers(this.abort.signal);
      return;
    }
    this.elector = new LeaderElector({
      client: this.client,
      ...le,
      logger: this.log,
      onStartedLeading: (signal) => this.startControllers(signal),
      onStoppedLeading: async () => {
        await this.stopControllers();
        if (!this.stopping) {
          // Stopped controllers cannot restart (their queues are shut down): stop campaigning,
          // and let the owner exit and come back as a fresh candidate, as controller-runtime does.
          this.abort.abort();
          this.log.error("lost leadership");
          this.o.onLostLeadership?.();
        }
      },
      onNewLeader: (id) => this.log.info({ leader: id }, "leader observed"),
    });
    this.campaign = this.elector
      .run(this.abort.signal)
      .catch((err) => this.log.error({ err: errText(err) }, "leader election crashed"));
  }

  /** Resolves once every informer listed once. */
  async waitForSync(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync(this.abort.signal)));
  }

  /** Graceful stop: controllers finish in-flight work, the lease is released, informers and server stop. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    await this.campaign;
    await this.stopControllers();
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
    await this.health.close();
    this.client.close();
  }

  private startControllers(signal: AbortSignal): void {
    if (this.controllersRunning) return;
    this.controllersRunning = true;
    for (const c of this.controllers) {
      c.start(signal).catch((err) =>
        this.log.error({ err: errText(err), controller: c.name }, "controller failed to start"),
      );
    }
  }

  private async stopControllers(): Promise<void> {
    if (!this.controllersRunning) return;
    this.controllersRunning = false;
    await Promise.all(this.controllers.map((c) => c.stop()));
  }
}
