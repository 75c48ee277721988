import { pino } from "pino";
import { Registry } from "prom-client";
import { finish } from "../api/execution-lifecycle.ts";
import {
  AGENT_LEASE_PREFIX,
  API_VERSION,
  type Execution,
  NODE_LABEL,
  type Runtime,
  type Worker,
} from "../api/index.ts";
import { validCompiledRuntime, validExecution } from "../api/test-fixtures.ts";
import type { EventRecorder } from "../k8s/events.ts";
import { FakeKube } from "../k8s/fake-kube.ts";
import type { Informer } from "../k8s/informer.ts";
import { Operator } from "../k8s/operator.ts";
import {
  ExecutionResource,
  type Lease,
  LeaseResource,
  microTime,
  NodeResource,
  RuntimeResource,
  WorkerResource,
} from "../k8s/resources.ts";
import { ExecutionScheduler, type SchedulerSettings } from "./execution-scheduler.ts";
import { schedulingView } from "./execution-view.ts";
import { HandBackReconciler } from "./hand-back-reconciler.ts";
import { controllerMetrics } from "./metrics.ts";
import { NodeLiveness } from "./node-liveness.ts";
import { NodeLossReconciler } from "./node-loss-reconciler.ts";

export const LEASE_NS = "envicutor-system";
export const RUNTIME = "c-gcc";

export interface TestClusterOptions {
  nodes?: number;
  slotsPerNode?: number;
  settings?: SchedulerSettings;
}

/**
 * The controller's Execution loops (scheduler, node loss, hand-back) wired as
 * in the ControllerManager, on the real Operator, Informer, Controller and
 * work queue, over an in-memory apiserver (FakeKube) with a Ready Runtime and
 * live nodes. For unit tests and the in-process scheduler bench.
 */
export class TestCluster {
  readonly kube = new FakeKube();
  readonly op: Operator;
  readonly executions: Informer<Execution>;
  readonly liveness: NodeLiveness;
  readonly scheduler: ExecutionScheduler;
  readonly nodes: string[];
  private seq = 0;

  constructor(opts: TestClusterOptions = {}) {
    const client = this.kube.client();
    (client as { close?: () => void }).close = () => undefined;
    const logger = pino({ level: "silent" });
    this.op = new Operator({ client, logger });
    const op = this.op;
    this.executions = op.informer(ExecutionResource, { transform: schedulingView });
    const runtimes = op.informer(RuntimeResource);
    const workers = op.informer(WorkerResource);
    const nodes = op.informer(NodeResource);
    const leases = op.informer(LeaseResource, { namespace: LEASE_NS });
    this.liveness = new NodeLiveness({ leases, nodes, workers, client, namespace: LEASE_NS, lossBurst: 100 });
    const events = { warning: () => undefined, normal: () => undefined } as unknown as EventRecorder;
    const metrics = controllerMetrics(new Registry(), () => []);
    const deps = { client, executions: this.executions, events, metrics, logger };
    const maxAttempts = opts.settings?.maxAttempts ?? 3;
    this.scheduler = ExecutionScheduler.setUp(
      op,
      { ...deps, runtimes, workers, nodes, liveness: this.liveness },
      opts.settings,
    );
    NodeLossReconciler.setUp(op, { ...deps, liveness: this.liveness }, maxAttempts);
    HandBackReconciler.setUp(op, deps, maxAttempts);
    this.nodes = Array.from({ length: opts.nodes ?? 2 }, (_, i) => `node-${i}`);
    this.seedWorld(opts.slotsPerNode ?? 2);
  }

  private seedWorld(slots: number): void {
    const rt = validCompiledRuntime(RUNTIME) as unknown as Runtime;
    rt.spec.nodeSelector = { "kubernetes.io/os": "linux" };
    rt.status = {
      activeGeneration: 1,
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "AllNodesInstalled",
          message: "",
          lastTransitionTime: "2025-01-01T00:00:00Z",
        },
      ],
    } as Runtime["status"];
    this.kube.put(RuntimeResource, rt);
    for (const name of this.nodes) this.addNode(name, slots);
  }

  addNode(name: string, slots: number): void {
    this.kube.put(NodeResource, { metadata: { name, labels: { "kubernetes.io/os": "linux" } } });
    const worker: Worker = {
      apiVersion: API_VERSION,
      kind: "Worker",
      metadata: { name, labels: { [NODE_LABEL]: name } },
      spec: { nodeName: name },
      status: { slots, runtimes: [{ name: RUNTIME, generation: 1, phase: "Installed" }] },
    } as Worker;
    this.kube.put(WorkerResource, worker);
    this.renew(name);
  }

  /** kubectl cordon / uncordon: the Node's spec.unschedulable. */
  cordon(name: string, cordoned = true): void {
    this.kube.put(NodeResource, {
      metadata: { name, labels: { "kubernetes.io/os": "linux" } },
      spec: { unschedulable: cordoned },
    });
  }

  /** Renews (or writes) the node's agent Lease on the apiserver. */
  renew(node: string, durationSeconds = 3600, at = new Date()): void {
    const lease = {
      metadata: { name: `${AGENT_LEASE_PREFIX}${node}`, namespace: LEASE_NS, labels: { [NODE_LABEL]: node } },
      spec: { holderIdentity: node, leaseDurationSeconds: durationSeconds, renewTime: microTime(at) },
    } as Lease;
    this.kube.put(LeaseResource, lease);
  }

  /** A new Execution (created `ageMs` ago). */
  create(
    ns: string,
    opts: { priority?: number; ageMs?: number; name?: string; status?: Execution["status"] } = {},
  ): string {
    const name = opts.name ?? `e-${String(this.seq++).padStart(6, "0")}`;
    const e = validExecution(name, ns) as unknown as Execution;
    e.spec.runtime = RUNTIME;
    e.spec.priority = opts.priority ?? 0;
    e.metadata.creationTimestamp = new Date(Date.now() - (opts.ageMs ?? 0)).toISOString();
    if (opts.status) e.status = opts.status;
    this.kube.put(ExecutionResource, e);
    return `${ns}/${name}`;
  }

  get(key: string): Execution {
    return this.kube.get(ExecutionResource, key)!;
  }

  all(): Execution[] {
    return this.kube.list(ExecutionResource);
  }

  /** What an agent writes when the program was judged. */
  complete(key: string): void {
    const e = this.get(key);
    const status = finish(
      e,
      { verdict: "Accepted", tests: [{ name: "1", verdict: "Accepted" }] },
      new Date(),
    );
    this.kube.put(ExecutionResource, { ...e, status });
  }

  async start(): Promise<void> {
    await this.op.start();
    await this.op.waitForSync();
  }

  stop(): Promise<void> {
    this.liveness.stop();
    return this.op.stop();
  }
}

/** Resolves when `fn` holds (polling); throws after `timeoutMs`. */
export async function until(fn: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
