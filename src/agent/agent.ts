import { join } from "node:path";
import { Gauge, type Registry } from "prom-client";
import type { Execution } from "../api/execution.ts";
import type { Runtime } from "../api/runtime.ts";
import type { KubeClient } from "../k8s/client.ts";
import { errText } from "../k8s/errors.ts";
import { Operator } from "../k8s/operator.ts";
import { ExecutionResource, NodeResource, RuntimeResource } from "../k8s/resources.ts";
import type { Logger } from "../logging.ts";
import type { AgentConfig } from "./config.ts";
import { DrainWatch } from "./drain-watch.ts";
import { agentView } from "./execution-view.ts";
import { ExecutionWorker } from "./execution-worker.ts";
import { Heartbeat } from "./heartbeat.ts";
import type { ExecutionOutcome, ExecutionRunner, RuntimeInstaller } from "./ports.ts";
import type { ProblemResolver } from "./problem/problem-run.ts";
import { RuntimeSync } from "./runtime-sync.ts";
import { SpecStore } from "./spec-store.ts";
import { StartedJournal } from "./started-journal.ts";
import { WorkerReporter } from "./worker-reporter.ts";

export interface AgentDeps {
  config: AgentConfig;
  client: KubeClient;
  logger: Logger;
  registry: Registry;
  installer: RuntimeInstaller;
  runner: ExecutionRunner;
  /** Versions and cgroup mode reported in the Worker. */
  facts: {
    agentVersion: string;
    isolateVersion?: string;
    nixVersion?: string;
    cgroupMode?: "v1" | "v2" | "none";
    sandboxProtections?: string[];
  };
  onInstallResult?: (result: "success" | "failure", seconds: number, reason?: string) => void;
  onExecutionFinished?: (ex: Execution, outcome: ExecutionOutcome | undefined) => void;
  /** Reads Problems and holds their test data for Executions that name one. */
  problems?: ProblemResolver;
}

type AgentInformers = ReturnType<Agent["createInformers"]>;

/**
 * The node agent: reports its node (Worker + heartbeat Lease), installs the
 * Runtimes meant for it, and runs the Executions assigned to it. Two
 * level-triggered loops on shared informers: installs keyed by Runtime name
 * (a few at a time), executions keyed by namespace/name (one per slot).
 */
export class Agent {
  private readonly d: AgentDeps;
  readonly operator: Operator;
  readonly reporter: WorkerReporter;
  readonly heartbeat: Heartbeat;
  readonly runtimes: RuntimeSync;
  readonly executions: ExecutionWorker;
  readonly drain: DrainWatch;
  private readonly abort = new AbortController();
  private heartbeatLoop: Promise<void> | undefined;

  constructor(deps: AgentDeps) {
    this.d = deps;
    const { config: c, client, logger } = deps;
    this.operator = new Operator({
      client,
      logger,
      registry: deps.registry,
      metricsPort: c.metricsPort,
      metricsHost: c.metricsHost,
    });
    const informers = this.createInformers();
    this.reporter = new WorkerReporter({ client, nodeName: c.nodeName, logger });
    this.heartbeat = new Heartbeat({
      client,
      namespace: c.namespace,
      nodeName: c.nodeName,
      durationSeconds: c.leaseDurationSeconds,
      logger,
    });
    this.runtimes = this.createRuntimeSync(informers);
    this.executions = this.createExecutionWorker(informers);
    this.drain = this.watchDrain(informers);
    this.recoverKeys = this.startInstallLoop(informers);
    this.startExecutionLoop(informers);
    this.registerSlotMetrics();
    this.registerHealthChecks();
  }

  private createInformers() {
    const c = this.d.config;
    return {
      runtime: this.operator.informer(RuntimeResource),
      node: this.operator.informer(NodeResource, { fieldSelector: `metadata.name=${c.nodeName}` }),
      // This node's Executions only; finished ones shrink to name and phase.
      execution: this.operator.informer(ExecutionResource, {
        fieldSelector: `status.nodeName=${c.nodeName}`,
        transform: agentView,
      }),
    };
  }

  private createRuntimeSync(inf: AgentInformers): RuntimeSync {
    const { config: c, logger } = this.d;
    return new RuntimeSync({
      nodeName: c.nodeName,
      packageSets: c.packageSets,
      installer: this.d.installer,
      runner: this.d.runner,
      reporter: this.reporter,
      specs: new SpecStore(c.stateDir),
      logger: logger.child({ loop: "install" }),
      getRuntime: (name) => inf.runtime.get(name) as Runtime | undefined,
      nodeLabels: () => inf.node.get(c.nodeName)?.metadata.labels,
      onInstallResult: this.d.onInstallResult,
    });
  }

  private createExecutionWorker(inf: AgentInformers): ExecutionWorker {
    const d = this.d;
    return new ExecutionWorker({
      client: d.client,
      nodeName: d.config.nodeName,
      runner: d.runner,
      runtimes: this.runtimes,
      logger: d.logger.child({ loop: "execute" }),
      getExecution: (key) => inf.execution.get(key) as Execution | undefined,
      onFinished: d.onExecutionFinished,
      draining: () => this.drain?.why(),
      runningDelayMs: d.config.runningDelayMs,
      slots: d.config.slots,
      journal: new StartedJournal(join(d.config.stateDir, "started-attempts")),
      ...(d.problems ? { problems: d.problems } : {}),
    });
  }

  /** A cordon of this node (kubectl drain) stops new work and hands back what has not started. */
  private watchDrain(inf: AgentInformers): DrainWatch {
    const { config: c, logger } = this.d;
    const drain = new DrainWatch({
      nodeName: c.nodeName,
      reporter: this.reporter,
      logger,
      onCordon: () => {
        void this.executions.handBackUnstarted(inf.execution.list() as Execution[]).then((n) => {
          if (n > 0) logger.info({ handedBack: n }, "drain: handed back Executions not started");
        });
      },
    });
    inf.node.on((ev) => {
      if (ev.type === "add" || ev.type === "update") drain.observe(ev.object);
    });
    return drain;
  }

  /** Returns how start() enqueues the Runtimes recovered from disk. */
  private startInstallLoop(inf: AgentInformers): (keys: string[]) => void {
    const installs = this.operator.controller({
      name: "runtime-install",
      concurrency: this.d.config.installConcurrency,
      resyncPeriodMs: 60_000,
      reconcile: (name) => this.runtimes.reconcile(name),
    });
    installs.watchPrimary(inf.runtime);
    // A label change of this node can add or remove every Runtime.
    installs.watch(inf.node, () => inf.runtime.keys());
    inf.runtime.on((ev) => {
      if (ev.type !== "invalid") this.runtimes.runtimeChanged(ev.key);
    });
    return (keys) => {
      for (const k of keys) installs.enqueue(k);
    };
  }

  private startExecutionLoop(inf: AgentInformers): void {
    const runs = this.operator.controller({
      name: "execution-run",
      // Twice the slots: the controller may place some ahead of a free slot (its nodePrefetch);
      // they wait in the worker's SlotGate, which holds the runs to the slots.
      concurrency: this.d.config.slots * 2,
      resyncPeriodMs: 30_000,
      reconcile: (key) => this.executions.process(key),
    });
    runs.watch(inf.execution, (ev) => {
      if (ev.type === "invalid" || ev.type === "delete") return [];
      const ex = ev.object as Execution;
      if (!this.executions.wants(ex)) return [];
      // Draining: one assigned now goes back at once, not once a slot frees (the queue retries it).
      if (this.drain.why() !== undefined) void this.executions.handBackUnstarted([ex]);
      return [ev.key];
    });
  }

  private registerSlotMetrics(): void {
    const { config: c, registry } = this.d;
    const busy = new Gauge({
      name: "envicutor_agent_slots_busy",
      help: "Sandbox slots running an Execution",
      registers: [registry],
    });
    new Gauge({
      name: "envicutor_agent_slots",
      help: "Sandbox slots of this agent",
      registers: [registry],
    }).set(c.slots);
    busy.set(0);
    const tick = setInterval(() => busy.set(this.executions.busy), 1000);
    tick.unref();
  }

  private registerHealthChecks(): void {
    const c = this.d.config;
    this.operator.health.addLiveCheck("heartbeat", () => {
      const age = Date.now() - this.heartbeat.lastRenewed;
      return (
        this.heartbeat.lastRenewed === 0 ||
        age < c.leaseDurationSeconds * 3000 ||
        `heartbeat not renewed for ${Math.round(age / 1000)}s`
      );
    });
    this.operator.health.addReadyCheck(
      "heartbeat",
      () => this.heartbeat.lastRenewed > 0 || "no heartbeat yet",
    );
  }

  private recoverKeys: (keys: string[]) => void;

  async start(): Promise<void> {
    const { config: c, logger } = this.d;
    await this.reporter.ensure({ slots: c.slots, ...this.d.facts });
    await this.heartbeat
      .renew()
      .catch((err: unknown) => logger.warn({ err: errText(err) }, "first heartbeat failed"));
    this.heartbeatLoop = this.heartbeat.run(this.abort.signal);
    const names = await this.runtimes.recover();
    await this.operator.start();
    this.recoverKeys(names);
    logger.info({ node: c.nodeName, slots: c.slots, ...this.d.facts }, "agent started");
  }

  /** Graceful stop: no new work, runs aborted, Worker status flushed, heartbeat released. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.executions.abortAll();
    await this.heartbeatLoop;
    await this.reporter.close();
    await this.heartbeat.release();
    await this.operator.stop();
    await this.runtimes
      .flushGc()
      .catch((err: unknown) => this.d.logger.warn({ err: errText(err) }, "final garbage collection failed"));
  }
}
