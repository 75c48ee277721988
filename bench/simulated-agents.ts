// Simulated agents for the controller-scaling scenario: Node, Worker (status
// with slots and one Installed Runtime) and a heartbeat Lease per fake node,
// renewed by this process; and one "agent" loop that marks every Execution
// assigned to a fake node Succeeded (the status an agent writes), at once.

import { type Execution, isFinished } from "../src/api/execution.ts";
import { finish } from "../src/api/execution-lifecycle.ts";
import { AGENT_LEASE_PREFIX, API_VERSION, NODE_LABEL } from "../src/api/group.ts";
import type { Runtime } from "../src/api/runtime.ts";
import type { Worker } from "../src/api/worker.ts";
import type { KubeClient } from "../src/k8s/client.ts";
import { isConflict, isNotFound } from "../src/k8s/errors.ts";
import { Informer } from "../src/k8s/informer.ts";
import {
  ExecutionResource,
  type Lease,
  LeaseResource,
  microTime,
  NodeResource,
  objectKey,
  splitKey,
  WorkerResource,
} from "../src/k8s/resources.ts";

export const SIM_LABEL = "envicutor.io/bench-sim";

export interface SimulatedAgentsOptions {
  client: KubeClient;
  /** Namespace of the agent Leases (the controller's namespace). */
  leaseNamespace: string;
  /** Namespace of the Executions to complete. */
  executionNamespace: string;
  nodes: string[];
  slotsPerNode: number;
  /** Status writes in flight at once. */
  concurrency: number;
}

export class SimulatedAgents {
  private readonly o: SimulatedAgentsOptions;
  private heartbeat: NodeJS.Timeout | undefined;
  private informer: Informer<Execution> | undefined;
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private active = 0;
  completed = 0;
  conflicts = 0;

  constructor(o: SimulatedAgentsOptions) {
    this.o = o;
  }

  /** Nodes, Workers with the Runtime Installed (same closure everywhere), Leases; heartbeats start. */
  async setUp(runtime: Runtime): Promise<void> {
    const { client } = this.o;
    for (const name of this.o.nodes) {
      const node = await client.create(NodeResource, {
        metadata: { name, labels: { "kubernetes.io/hostname": name, [SIM_LABEL]: "true" } },
      });
      const worker: Worker = {
        apiVersion: API_VERSION,
        kind: "Worker",
        metadata: {
          name,
          labels: { [NODE_LABEL]: name },
          ownerReferences: [{ apiVersion: "v1", kind: "Node", name, uid: node.metadata.uid }],
        },
        spec: { nodeName: name },
      };
      await client.create(WorkerResource, worker);
      await client.patchStatus(WorkerResource, name, {
        status: {
          slots: this.o.slotsPerNode,
          agentVersion: "simulated",
          cgroupMode: "none",
          runtimes: [
            {
              name: runtime.metadata.name,
              generation: runtime.metadata.generation ?? 1,
              uid: runtime.metadata.uid,
              phase: "Installed",
              closureHash: "simulated-closure",
              storePaths: ["/nix/store/00000000000000000000000000000000-simulated"],
              lastTransitionTime: new Date().toISOString(),
            },
          ],
        },
      });
      await client.create(
        LeaseResource,
        {
          metadata: {
            name: `${AGENT_LEASE_PREFIX}${name}`,
            namespace: this.o.leaseNamespace,
            labels: { [NODE_LABEL]: name },
          },
          spec: {
            holderIdentity: name,
            leaseDurationSeconds: 40,
            renewTime: microTime(),
            acquireTime: microTime(),
          },
        } as Lease,
        this.o.leaseNamespace,
      );
    }
    this.heartbeat = setInterval(() => void this.renew(), 10_000);
  }

  private async renew(): Promise<void> {
    await Promise.all(
      this.o.nodes.map((name) =>
        this.o.client
          .patch(
            LeaseResource,
            `${AGENT_LEASE_PREFIX}${name}`,
            { spec: { renewTime: microTime() } },
            { namespace: this.o.leaseNamespace },
          )
          .catch(() => undefined),
      ),
    );
  }

  /** Starts completing assigned Executions. */
  async start(): Promise<void> {
    const nodes = new Set(this.o.nodes);
    this.informer = new Informer(this.o.client, ExecutionResource, {
      namespace: this.o.executionNamespace,
    });
    this.informer.on((ev) => {
      if (ev.type !== "add" && ev.type !== "update") return;
      const st = ev.object.status;
      if (st?.nodeName && nodes.has(st.nodeName) && !isFinished(st)) this.enqueue(ev.key);
    });
    this.informer.start();
    await this.informer.waitForSync();
  }

  private enqueue(key: string): void {
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  private pump(): void {
    while (this.active < this.o.concurrency && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.active++;
      void this.complete(key).finally(() => {
        this.active--;
        this.queued.delete(key);
        this.pump();
      });
    }
  }

  private async complete(key: string): Promise<void> {
    let ex = this.informer?.get(key);
    for (let i = 0; i < 5 && ex; i++) {
      if (!ex.status?.nodeName || isFinished(ex.status)) return;
      const status = finish(
        ex,
        {
          verdict: "Accepted",
          tests: [
            { name: "1", verdict: "Accepted", exitCode: 0, cpuTimeMillis: 1, wallTimeMillis: 1, stdout: "" },
          ],
        },
        new Date(),
      );
      try {
        await this.o.client.replaceStatus(ExecutionResource, { ...ex, status });
        this.completed++;
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isConflict(err)) throw err;
        this.conflicts++;
        const { name, namespace } = splitKey(key);
        ex = await this.o.client.tryGet(ExecutionResource, name, namespace);
      }
    }
  }

  /** Executions of the namespace known to this simulator's cache. */
  executions(): Execution[] {
    return this.informer?.list() ?? [];
  }

  keyOf(ex: Execution): string {
    return objectKey(ex);
  }

  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.informer?.stop();
  }
}
