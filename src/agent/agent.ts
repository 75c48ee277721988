import { Gauge, type Registry } from "prom-client";
import type { Execution } from "../api/execution.ts";
import type { Runtime } from "../api/runtime.ts";
import type { KubeClient } from "../k8s/client.ts";
import { errText } from "../k8s/errors.ts";
import { Operator } from "../k8s/operator.ts";
import { ExecutionResource, NodeResource, RuntimeResource } from "../k8s/resources.ts";
import type { Logger } from "../logging.ts";
import type { AgentConfig } from "./config.ts";
import { agentView } from "./execution-view.ts";
import { ExecutionWorker } from "./execution-worker.ts";
import { Heartbeat } from "./heartbeat.ts";
import type { ExecutionOutcome, ExecutionRunner, RuntimeInstaller } from "./ports.ts";
import type { ProblemResolver } from "./problem/problem-run.ts";
import { RuntimeSync } from "./runtime-sync.ts";
import { SpecStore } from "./spec-store.ts";
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
    const runtimeInformer = this.operator.informer(RuntimeResource);
    const nodeInformer = this.operator.informer(NodeResource, {
      fieldSelector: `metadata.name=${c.nodeName}`,
    });
    // This node's Executions only; finished ones shrink to name and phase.
    const executionInformer = this.operator.informer(ExecutionResource, {
      fieldSelector: `status.nodeName=${c.nodeName}`,
      transform: agentView,
    });

    this.reporter = new WorkerReporter({ client, nodeName: c.nodeName, logger });
    this.heartbeat = new Heartbeat({
      client,
      namespace: c.namespace,
      nodeName: c.nodeName,
      durationSeconds: c.leaseDurationSeconds,
      logger,
    });
    this.runtimes = new RuntimeSync({
      nodeName: c.nodeName,
      packageSets: c.packageSets,
      installer: deps.installer,
      runner: deps.runner,
      reporter: this.reporter,
      specs: new SpecStore(c.stateDir),
      logger: logger.child({ loop: "install" }),
      getRuntime: (name) => runtimeInformer.get(name) as Runtime | undefined,
      nodeLabels: () => nodeInformer.get(c.nodeName)?.metadata.labels,
      onInstallResult: deps.onInstallResult,
    });
    this.executions = new ExecutionWorker({
      client,
      nodeName: c.nodeName,
      runner: deps.runner,
      runtimes: this.runtimes,
      logger: logger.child({ loop: "execute" }),
      getExecution: (key) => executionInformer.get(key) as Execution | undefined,
      onFinished: deps.onExecutionFinished,
      ...(deps.problems ? { problems: deps.problems } : {}),
    });

    const installs = this.operator.controller({
      name: "runtime-install",
      concurrency: c.installConcurrency,
      resyncPeriodMs: 60_000,
      reconcile: (name) => this.runtimes.reconcile(name),
    });
    installs.watchPrimary(runtimeInformer);
    // A label change of this node can add or remove every Runtime.
    installs.watch(nodeInformer, () => runtimeInformer.keys());
    runtimeInformer.on((ev) => {
      if (ev.type !== "invalid") this.runtimes.runtimeChanged(ev.key);
    });

    const runs = this.operator.controller({
      name: "execution-run",
      concurrency: c.slots,
      resyncPeriodMs: 30_000,
      reconcile: (key) => this.executions.process(key),
    });
    runs.watch(executionInformer, (ev) =>
      ev.type !== "invalid" && ev.type !== "delete" && this.executions.wants(ev.object as Execution)
        ? [ev.key]
        : [],
    );
    this.recoverKeys = (keys) => {
      for (const k of keys) installs.enqueue(k);
    };

    const busy = new Gauge({
      name: "envicutor_agent_slots_busy",
      help: "Sandbox slots running an Execution",
      registers: [deps.registry],
    });
    new Gauge({
      name: "envicutor_agent_slots",
      help: "Sandbox slots of this agent",
      registers: [deps.registry],
    }).set(c.slots);
    busy.set(0);
    const tick = setInterval(() => busy.set(this.executions.busy), 1000);
    tick.unref();

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
