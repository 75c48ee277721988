// The controller against a real kube-apiserver, in process, with fake agents:
// the test creates Nodes and Workers, renews agent Leases and writes install
// states and results the way agents do. Covers leader handover, Runtime
// readiness and generation switch, the cleanup finalizer, scheduling at volume
// (nobody twice, spread across nodes), node loss, validation and TTL deletion.
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AGENT_LEASE_PREFIX,
  API_VERSION,
  type Execution,
  NODE_LABEL,
  RUNTIME_CLEANUP_FINALIZER,
  type Runtime,
  type RuntimeInstall,
  type Worker,
} from "../src/api/index.ts";
import { validExecution, validRuntime } from "../src/api/test-fixtures.ts";
import { DEFAULTS } from "../src/controller/config.ts";
import { ControllerManager, type ManagerConfig } from "../src/controller/controller-manager.ts";
import {
  ExecutionResource,
  getCondition,
  Informer,
  isConflict,
  KubeClient,
  LeaseResource,
  microTime,
  RuntimeResource,
  removeFinalizer,
  sleep,
  WorkerResource,
} from "../src/k8s/index.ts";
import { createLogger } from "../src/logging.ts";
import {
  createNode,
  deleteNode,
  ensureNamespace,
  kubeConfig,
  uniqueName,
  waitFor,
} from "./support/cluster.ts";

const log = createLogger("e2e-controller");
log.level = process.env.LOG_LEVEL ?? "warn";
let client: KubeClient;
let ns: string; // controller namespace: leader Lease and agent Leases
let execNs: string;
const managers: ControllerManager[] = [];
const fakeNodes: FakeNode[] = [];
const runtimesCreated: string[] = [];
let leaseName: string;

function config(identity: string): ManagerConfig {
  return {
    ...DEFAULTS,
    namespace: ns,
    leaseName,
    identity,
    metricsPort: 0,
    maxAttempts: 2,
    leaseDurationMs: 4000,
    renewDeadlineMs: 3000,
    retryPeriodMs: 500,
    resyncPeriodMs: 30_000,
  };
}

async function startManager(identity: string): Promise<ControllerManager> {
  const m = new ControllerManager({
    client: new KubeClient(kubeConfig(), { fieldManager: "envicutor-controller" }),
    config: config(identity),
    logger: log.child({ identity }),
    registry: new Registry(),
  });
  managers.push(m);
  await m.start();
  return m;
}

/** A node with a fake agent: Node + Worker + heartbeat Lease, install states and (optionally) running Executions. */
class FakeNode {
  readonly name: string;
  readonly ran = new Map<string, number>(); // execution uid → times this node ran it
  private readonly installs = new Map<string, RuntimeInstall>();
  private heartbeat: NodeJS.Timeout | undefined;
  private informer: Informer<Execution> | undefined;
  runExecutions = true;

  constructor(prefix: string) {
    this.name = uniqueName(prefix);
    fakeNodes.push(this);
  }

  async start(labels: Record<string, string>, slots: number): Promise<this> {
    await createNode(this.name, labels);
    await client.create(WorkerResource, {
      apiVersion: API_VERSION,
      kind: "Worker",
      metadata: { name: this.name, labels: { [NODE_LABEL]: this.name } },
      spec: { nodeName: this.name },
    } as Worker);
    await client.patchStatus(WorkerResource, this.name, { status: { slots, runtimes: [] } });
    await this.renew();
    this.heartbeat = setInterval(() => void this.renew().catch(() => undefined), 1000);
    // Like the agent: watch only the Executions assigned to this node (CRD selectable field).
    this.informer = new Informer(client, ExecutionResource, {
      fieldSelector: `status.nodeName=${this.name}`,
      logger: log,
    });
    this.informer.on((ev) => {
      if (
        (ev.type === "add" || ev.type === "update") &&
        ev.object.status?.phase === "Scheduled" &&
        this.runExecutions
      )
        void this.run(ev.object);
    });
    this.informer.start();
    await this.informer.waitForSync();
    return this;
  }

  private leaseName(): string {
    return `${AGENT_LEASE_PREFIX}${this.name}`;
  }

  async renew(): Promise<void> {
    const spec = { holderIdentity: this.name, leaseDurationSeconds: 3, renewTime: microTime() };
    try {
      await client.patch(LeaseResource, this.leaseName(), { spec }, { namespace: ns });
    } catch {
      await client.create(LeaseResource, {
        metadata: { name: this.leaseName(), namespace: ns, labels: { [NODE_LABEL]: this.name } },
        spec,
      });
    }
  }

  /** Stops heartbeats (the agent died); the Lease expires on its own. */
  kill(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.runExecutions = false;
  }

  async install(
    rt: Runtime,
    generation: number,
    phase: RuntimeInstall["phase"],
    closureHash?: string,
    message?: string,
  ) {
    const name = rt.metadata.name!;
    this.installs.set(`${name}/${generation}`, {
      name,
      generation,
      uid: rt.metadata.uid,
      phase,
      ...(closureHash ? { closureHash } : {}),
      ...(message ? { message } : {}),
    });
    await this.writeInstalls();
  }

  async remove(runtimeName: string): Promise<void> {
    for (const k of [...this.installs.keys()]) if (k.startsWith(`${runtimeName}/`)) this.installs.delete(k);
    await this.writeInstalls();
  }

  private async writeInstalls(): Promise<void> {
    await client.patchStatus(WorkerResource, this.name, {
      status: { runtimes: [...this.installs.values()] },
    });
  }

  private async run(e: Execution): Promise<void> {
    const uid = e.metadata.uid!;
    this.ran.set(uid, (this.ran.get(uid) ?? 0) + 1);
    await sleep(20 + Math.random() * 80);
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    try {
      await client.replaceStatus(ExecutionResource, {
        ...e,
        status: {
          ...e.status,
          phase: "Succeeded" as const,
          verdict: "Accepted" as const,
          startTime: now,
          completionTime: now,
          conditions: [
            ...(e.status?.conditions ?? []),
            {
              type: "Complete",
              status: "True" as const,
              reason: "Accepted",
              message: "ok",
              lastTransitionTime: now,
            },
          ],
        },
      });
    } catch (err) {
      if (!isConflict(err)) throw err;
      this.ran.set(uid, this.ran.get(uid)! - 1); // someone else changed it first; the next event retries
    }
  }

  async stop(): Promise<void> {
    this.kill();
    await this.informer?.stop();
  }
}

async function createRuntime(selector: Record<string, string>): Promise<Runtime> {
  const name = uniqueName("rt");
  const body = validRuntime(name) as unknown as Runtime;
  body.spec.nodeSelector = selector;
  runtimesCreated.push(name);
  return client.create(RuntimeResource, body);
}

async function createExecution(
  runtime: string,
  mutate: (e: Execution) => void = () => {},
): Promise<Execution> {
  const e = validExecution(uniqueName("ex"), execNs) as unknown as Execution;
  e.spec.runtime = runtime;
  delete e.spec.ttlSecondsAfterFinished;
  mutate(e);
  return client.create(ExecutionResource, e);
}

const getRt = (name: string) => client.get(RuntimeResource, name);
const ready = (r: Runtime) => getCondition(r.status?.conditions, "Ready");

/** Nodes with fake agents sharing a unique pool label, and a Runtime selecting them that all installed. */
async function readyPool(n: number, slots: number): Promise<{ nodes: FakeNode[]; rt: Runtime }> {
  const pool = uniqueName("pool");
  const nodes = await Promise.all(Array.from({ length: n }, () => new FakeNode("n").start({ pool }, slots)));
  const rt = await createRuntime({ pool });
  for (const node of nodes) await node.install(rt, 1, "Installed", "hash-1");
  await waitFor(async () => ready(await getRt(rt.metadata.name!))?.status === "True", {
    what: "pool Runtime Ready",
  });
  return { nodes, rt: await getRt(rt.metadata.name!) };
}

beforeAll(async () => {
  client = new KubeClient(kubeConfig(), { fieldManager: "e2e-fake-agent" });
  ns = uniqueName("ctl");
  execNs = uniqueName("ctl-ex");
  leaseName = uniqueName("envicutor-controller");
  await ensureNamespace(ns);
  await ensureNamespace(execNs);
});

afterAll(async () => {
  for (const m of managers) await m.stop().catch(() => undefined);
  for (const n of fakeNodes) {
    await n.stop().catch(() => undefined);
    await client.delete(WorkerResource, n.name).catch(() => undefined);
    await deleteNode(n.name);
  }
  for (const name of runtimesCreated) {
    const rt = await client.tryGet(RuntimeResource, name).catch(() => undefined);
    if (rt)
      await removeFinalizer(client, RuntimeResource, rt, RUNTIME_CLEANUP_FINALIZER).catch(() => undefined);
    await client.delete(RuntimeResource, name).catch(() => undefined);
  }
  client.close();
});

describe("controller", () => {
  it("leader election: one of two instances reconciles; the other takes over quickly when it stops", async () => {
    const a = await startManager("controller-a");
    await waitFor(() => a.isLeader(), { what: "a leads" });
    const b = await startManager("controller-b");
    await sleep(1500);
    expect(b.isLeader()).toBe(false);

    // Health and metrics from the leader.
    const port = a.operator.port!;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, {
      what: "readyz",
    });
    expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toContain("envicutor_runtimes");

    const t0 = Date.now();
    await a.stop();
    managers.splice(managers.indexOf(a), 1);
    await waitFor(() => b.isLeader(), { what: "b leads", timeoutMs: 10_000 });
    // Released on stop: well under the 4 s lease duration.
    expect(Date.now() - t0).toBeLessThan(3000);
    expect((await client.get(LeaseResource, leaseName, ns)).spec?.holderIdentity).toBe("controller-b");

    // b reconciles: a new Runtime gets its finalizer and a status.
    const rt = await createRuntime({ pool: uniqueName("none") });
    await waitFor(
      async () => {
        const r = await getRt(rt.metadata.name!);
        return (
          r.metadata.finalizers?.includes(RUNTIME_CLEANUP_FINALIZER) && ready(r)?.reason === "NoEligibleNodes"
        );
      },
      { what: "b reconciles" },
    );
  });

  it("a Runtime becomes Ready only when the last eligible node reports Installed", async () => {
    const pool = uniqueName("pool");
    const [n1, n2] = await Promise.all([
      new FakeNode("n").start({ pool }, 2),
      new FakeNode("n").start({ pool }, 2),
    ]);
    const other = await new FakeNode("other").start({ pool: "elsewhere" }, 2);
    const rt = await createRuntime({ pool });
    const name = rt.metadata.name!;
    await waitFor(async () => (await getRt(name)).status?.eligibleNodes === 2, { what: "2 eligible" });

    await n1!.install(rt, 1, "Installing");
    await other.install(rt, 1, "Installed", "hash-1"); // not eligible: does not count
    await n1!.install(rt, 1, "Installed", "hash-1");
    await waitFor(async () => (await getRt(name)).status?.installedNodes === 1, { what: "1 installed" });
    let r = await getRt(name);
    expect(ready(r)).toMatchObject({ status: "False", reason: "Installing" });
    expect(r.status?.activeGeneration).toBeUndefined();

    await n2!.install(rt, 1, "Failed", undefined, "nix build failed: boom");
    await waitFor(async () => ready(await getRt(name))?.reason === "InstallFailed", {
      what: "InstallFailed",
    });
    r = await getRt(name);
    expect(r.status?.failures).toEqual([
      { node: n2!.name, reason: "InstallFailed", message: "nix build failed: boom" },
    ]);

    await n2!.install(rt, 1, "Installed", "hash-1");
    await waitFor(async () => ready(await getRt(name))?.status === "True", { what: "Ready" });
    r = await getRt(name);
    expect(r.status).toMatchObject({
      eligibleNodes: 2,
      installedNodes: 2,
      failedNodes: 0,
      activeGeneration: 1,
      activeClosureHash: "hash-1",
      observedGeneration: 1,
    });
    expect(ready(r)).toMatchObject({ reason: "AllNodesInstalled", observedGeneration: 1 });
    expect(r.status?.failures).toBeUndefined();
  });

  it("switches to a new generation only when every node has it; a joining node does not flip Ready", async () => {
    const { nodes, rt } = await readyPool(2, 2);
    const name = rt.metadata.name!;
    await client.patch(RuntimeResource, name, { spec: { version: "3.12" } });
    await waitFor(async () => (await getRt(name)).status?.observedGeneration === 2, {
      what: "observed gen 2",
    });
    await nodes[0]!.install(rt, 2, "Installed", "hash-2");
    await waitFor(async () => (await getRt(name)).status?.installedNodes === 1, {
      what: "gen 2 on one node",
    });
    let r = await getRt(name);
    expect(r.status).toMatchObject({ activeGeneration: 1, activeClosureHash: "hash-1" });
    expect(ready(r)).toMatchObject({ status: "True", reason: "RolloutInProgress" });

    await nodes[1]!.install(rt, 2, "Installed", "hash-2");
    await waitFor(async () => (await getRt(name)).status?.activeGeneration === 2, {
      what: "switch to gen 2",
    });
    r = await getRt(name);
    expect(r.status).toMatchObject({ activeClosureHash: "hash-2", installedNodes: 2 });
    expect(ready(r)).toMatchObject({ status: "True", reason: "AllNodesInstalled" });
    const readySince = ready(r)!.lastTransitionTime;

    // A new node joins the pool: eligible grows, Ready stays True while it catches up.
    const pool = (rt.spec.nodeSelector as Record<string, string>).pool!;
    const late = await new FakeNode("late").start({ pool }, 2);
    await waitFor(async () => (await getRt(name)).status?.eligibleNodes === 3, { what: "3 eligible" });
    r = await getRt(name);
    expect(ready(r)).toMatchObject({
      status: "True",
      reason: "RolloutInProgress",
      lastTransitionTime: readySince,
    });
    await late.install(rt, 2, "Installed", "hash-2");
    await waitFor(async () => ready(await getRt(name))?.reason === "AllNodesInstalled", {
      what: "caught up",
    });
  });

  it("holds a deleted Runtime with its finalizer until live nodes dropped it", async () => {
    const { nodes, rt } = await readyPool(2, 1);
    const name = rt.metadata.name!;
    await client.delete(RuntimeResource, name);
    await waitFor(
      async () => getCondition((await getRt(name)).status?.conditions, "Terminating")?.status === "True",
      {
        what: "Terminating",
      },
    );
    expect(getCondition((await getRt(name)).status?.conditions, "Terminating")!.message).toContain(
      "2 node(s)",
    );
    await nodes[0]!.remove(name);
    await sleep(1000);
    expect(await client.tryGet(RuntimeResource, name)).toBeDefined();
    // The second node dies instead of cleaning up: a dead node does not hold the Runtime.
    nodes[1]!.kill();
    await waitFor(async () => (await client.tryGet(RuntimeResource, name)) === undefined, {
      what: "Runtime gone",
      timeoutMs: 20_000,
    });
  });

  it("schedules 200 Executions: each assigned once, spread across nodes, within slots", async () => {
    const { nodes, rt } = await readyPool(4, 5);
    const name = rt.metadata.name!;
    const created = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        createExecution(name, (e) => {
          e.spec.priority = i % 3;
        }),
      ),
    );
    const uids = new Set(created.map((e) => e.metadata.uid!));
    await waitFor(
      async () => {
        const list = (await client.list(ExecutionResource, { namespace: execNs })).items.filter((e) =>
          uids.has(e.metadata.uid!),
        );
        return list.every((e) => e.status?.phase === "Succeeded") && list;
      },
      { what: "200 Executions Succeeded", timeoutMs: 120_000, intervalMs: 500 },
    );
    const list = (await client.list(ExecutionResource, { namespace: execNs })).items.filter((e) =>
      uids.has(e.metadata.uid!),
    );
    expect(list).toHaveLength(200);
    for (const e of list) expect(e.status?.attempts).toBe(1);
    // No Execution ran twice or on two nodes.
    const runs = new Map<string, number>();
    for (const n of nodes) for (const [uid, c] of n.ran) runs.set(uid, (runs.get(uid) ?? 0) + c);
    expect([...uids].filter((u) => runs.get(u) !== 1)).toEqual([]);
    // Spread: every node took a fair share.
    const perNode = nodes.map((n) => list.filter((e) => e.status?.nodeName === n.name).length);
    for (const c of perNode) expect(c).toBeGreaterThan(20);
    expect(perNode.reduce((a, b) => a + b, 0)).toBe(200);
  });

  it("never over-commits a node: its slots and the controller's nodePrefetch (1 by default), no more", async () => {
    const { nodes, rt } = await readyPool(2, 3);
    for (const n of nodes) n.runExecutions = false;
    const perNode = 3 + DEFAULTS.nodePrefetch;
    const created = await Promise.all(Array.from({ length: 10 }, () => createExecution(rt.metadata.name!)));
    const uids = new Set(created.map((e) => e.metadata.uid!));
    const mine = async () =>
      (await client.list(ExecutionResource, { namespace: execNs })).items.filter((e) =>
        uids.has(e.metadata.uid!),
      );
    await waitFor(
      async () => (await mine()).filter((e) => e.status?.phase === "Scheduled").length === 2 * perNode,
      { what: `${2 * perNode} scheduled` },
    );
    await sleep(1000);
    const list = await mine();
    expect(list.filter((e) => e.status?.phase === "Scheduled")).toHaveLength(2 * perNode);
    for (const n of nodes) expect(list.filter((e) => e.status?.nodeName === n.name)).toHaveLength(perNode);
    const waiting = list.filter((e) => !e.status?.nodeName);
    expect(waiting).toHaveLength(10 - 2 * perNode);
    for (const e of waiting)
      expect(getCondition(e.status?.conditions, "Scheduled")).toMatchObject({
        status: "False",
        reason: "NoFreeSlot",
      });
  });

  it("reschedules the Executions of a lost node, and fails them with NodeLost after maxAttempts", async () => {
    const { nodes, rt } = await readyPool(2, 2);
    for (const n of nodes) n.runExecutions = false; // they hold it
    const e = await createExecution(rt.metadata.name!);
    const get = () => client.get(ExecutionResource, e.metadata.name!, execNs);
    const first = await waitFor(async () => (await get()).status?.nodeName, { what: "scheduled" });
    const lost1 = nodes.find((n) => n.name === first)!;
    const other = nodes.find((n) => n.name !== first)!;
    lost1.kill();
    const second = await waitFor(
      async () => {
        const s = (await get()).status;
        return s?.nodeName && s.nodeName !== first && s;
      },
      { what: "rescheduled", timeoutMs: 20_000 },
    );
    expect(second).toMatchObject({ nodeName: other.name, attempts: 2, phase: "Scheduled" });
    // Second loss: attempts (2) reached maxAttempts (2).
    other.kill();
    const failed = await waitFor(
      async () => {
        const s = (await get()).status;
        return s?.phase === "Failed" && s;
      },
      { what: "NodeLost", timeoutMs: 20_000 },
    );
    expect(getCondition(failed.conditions, "Failed")).toMatchObject({ status: "True", reason: "NodeLost" });
    expect(getCondition(failed.conditions, "Complete")).toMatchObject({ status: "True", reason: "NodeLost" });
    expect(failed.verdict).toBeUndefined();
  });

  it("rejects bad Executions with a reason and waits for a Runtime that is not Ready", async () => {
    const { rt } = await readyPool(1, 2);
    const tooBig = await createExecution(rt.metadata.name!, (e) => {
      e.spec.limits = { run: { memoryKiB: 64 * 1024 * 1024 } };
    });
    const missing = await createExecution("no-such-runtime");
    const notReadyRt = await createRuntime({ pool: uniqueName("empty") });
    const waiting = await createExecution(notReadyRt.metadata.name!);
    const status = (e: Execution) =>
      client.get(ExecutionResource, e.metadata.name!, execNs).then((x) => x.status);

    const s1 = await waitFor(async () => (await status(tooBig))?.phase === "Failed" && status(tooBig), {
      what: "LimitOutOfBounds",
    });
    expect(getCondition(s1!.conditions, "Failed")).toMatchObject({
      status: "True",
      reason: "LimitOutOfBounds",
    });
    expect(getCondition(s1!.conditions, "Failed")!.message).toContain("spec.limits.run.memoryKiB");
    expect(s1!.verdict).toBeUndefined();
    const s2 = await waitFor(async () => (await status(missing))?.phase === "Failed" && status(missing), {
      what: "RuntimeNotFound",
    });
    expect(getCondition(s2!.conditions, "Complete")).toMatchObject({
      status: "True",
      reason: "RuntimeNotFound",
    });
    const s3 = await waitFor(
      async () => getCondition((await status(waiting))?.conditions, "Scheduled") && status(waiting),
      { what: "waiting" },
    );
    expect(s3).toMatchObject({ phase: "Pending" });
    expect(getCondition(s3!.conditions, "Scheduled")).toMatchObject({
      status: "False",
      reason: "RuntimeNotReady",
    });
  });

  it("deletes finished Executions after their TTL", async () => {
    const { rt } = await readyPool(1, 2);
    const e = await createExecution(rt.metadata.name!, (x) => {
      x.spec.ttlSecondsAfterFinished = 2;
    });
    await waitFor(
      async () =>
        (await client.get(ExecutionResource, e.metadata.name!, execNs)).status?.phase === "Succeeded",
      {
        what: "finished",
      },
    );
    const finishedAt = Date.now();
    await waitFor(
      async () => (await client.tryGet(ExecutionResource, e.metadata.name!, execNs)) === undefined,
      {
        what: "deleted by TTL",
        timeoutMs: 15_000,
      },
    );
    expect(Date.now() - finishedAt).toBeGreaterThan(1000);
  });
});
