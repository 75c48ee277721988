import { afterEach, describe, expect, it } from "vitest";
import { handBack, NODE_DRAINING } from "../api/execution-lifecycle.ts";
import { type Execution, isFinished } from "../api/index.ts";
import { getCondition } from "../k8s/conditions.ts";
import { ConflictError } from "../k8s/errors.ts";
import { ExecutionResource } from "../k8s/resources.ts";
import { TestCluster, type TestClusterOptions, until } from "./test-cluster.ts";

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function started(opts: TestClusterOptions): Promise<TestCluster> {
  cluster = new TestCluster(opts);
  await cluster.start();
  return cluster;
}

const placed = (c: TestCluster) => c.all().filter((e) => e.status?.nodeName && !isFinished(e.status));
const byName = (es: Execution[]) => es.map((e) => e.metadata.name).sort();

describe("placement", () => {
  it("places the highest priority first, then the oldest, within a namespace", async () => {
    const c = await started({ nodes: 1, slotsPerNode: 2 });
    c.create("ns", { name: "old-low", ageMs: 5000 });
    c.create("ns", { name: "new-high", priority: 5 });
    c.create("ns", { name: "older-low", ageMs: 9000 });
    await until(() => placed(c).length === 2, 2000, "two placed");
    expect(byName(placed(c))).toEqual(["new-high", "older-low"]);
  });

  it("never fills more than a node's slots, and tells the ones left why they wait", async () => {
    const c = await started({ nodes: 2, slotsPerNode: 3 });
    for (let i = 0; i < 10; i++) c.create("ns");
    await until(() => placed(c).length === 6, 2000, "six placed");
    await new Promise((r) => setTimeout(r, 100));
    expect(placed(c)).toHaveLength(6);
    for (const n of c.nodes) expect(placed(c).filter((e) => e.status?.nodeName === n)).toHaveLength(3);
    const waiting = c.all().filter((e) => !e.status?.nodeName);
    await until(
      () =>
        waiting.every((w) => getCondition(c.get(`ns/${w.metadata.name}`).status?.conditions, "Scheduled")),
      2000,
      "told",
    );
    for (const w of waiting)
      expect(getCondition(c.get(`ns/${w.metadata.name}`).status?.conditions, "Scheduled")).toMatchObject({
        status: "False",
        reason: "NoFreeSlot",
      });
  });

  it("with nodePrefetch, a full node takes that many more (to start as a slot frees), and no more", async () => {
    const c = await started({ nodes: 2, slotsPerNode: 3, settings: { nodePrefetch: 1 } });
    for (let i = 0; i < 10; i++) c.create("ns");
    await until(() => placed(c).length === 8, 2000, "eight placed");
    await new Promise((r) => setTimeout(r, 100));
    expect(placed(c)).toHaveLength(8);
    for (const n of c.nodes) expect(placed(c).filter((e) => e.status?.nodeName === n)).toHaveLength(4);
    // A completion frees room for exactly one more.
    c.complete(`ns/${placed(c)[0]!.metadata.name}`);
    await until(
      () => placed(c).length === 8 && c.all().filter((e) => !e.status?.nodeName).length === 1,
      2000,
      "one more placed",
    );
  });

  it("places what completions free, one Execution per freed slot, until the queue is empty", async () => {
    const c = await started({ nodes: 2, slotsPerNode: 2 });
    const keys = Array.from({ length: 40 }, () => c.create("ns"));
    for (let done = 0; done < 40; ) {
      await until(() => placed(c).length > 0, 2000, "something placed");
      for (const e of placed(c)) {
        c.complete(`ns/${e.metadata.name}`);
        done++;
      }
      expect(placed(c).length).toBeLessThanOrEqual(4);
    }
    await until(() => keys.every((k) => isFinished(c.get(k).status)), 2000, "all finished");
    expect(c.all().every((e) => e.status?.attempts === 1)).toBe(true);
  });

  it("fails an Execution whose Runtime does not exist, with RuntimeNotFound", async () => {
    const c = await started({});
    const key = c.create("ns", { name: "orphan" });
    const e = c.get(key);
    c.kube.put(ExecutionResource, { ...e, spec: { ...e.spec, runtime: "nope" } });
    await until(() => isFinished(c.get(key).status), 2000, "failed");
    expect(getCondition(c.get(key).status?.conditions, "Failed")).toMatchObject({
      reason: "RuntimeNotFound",
    });
  });

  it("fails an Execution that is Pending with its attempts spent, with TooManyAttempts", async () => {
    const c = await started({});
    const key = c.create("ns", {
      status: { phase: "Pending", attempts: 3, message: "handed back by node x" },
    });
    await until(() => isFinished(c.get(key).status), 2000, "failed");
    expect(getCondition(c.get(key).status?.conditions, "Failed")).toMatchObject({
      reason: "TooManyAttempts",
    });
    expect(c.get(key).status?.nodeName).toBeUndefined();
  });

  it("a placement write refused as a conflict places nothing twice and is placed once from the newer copy", async () => {
    cluster = new TestCluster({ nodes: 1, slotsPerNode: 1 });
    const c = cluster;
    let refused = 0;
    c.kube.beforeWrite = (obj) => {
      if (refused++ === 0) throw new ConflictError("the object has been modified", obj);
    };
    await c.start();
    const key = c.create("ns");
    await until(() => c.get(key).status?.nodeName !== undefined, 2000, "placed");
    await new Promise((r) => setTimeout(r, 50));
    expect(c.get(key).status?.attempts).toBe(1);
    expect(c.kube.writes).toBe(1);
  });
});

describe("writes from the newest copy", () => {
  it("a slot freed while an Execution's waiting write is in flight places it from that write's answer, never from the copy it replaced", async () => {
    cluster = new TestCluster({ nodes: 1, slotsPerNode: 1 });
    const c = cluster;
    c.kube.writeDelayMs = 60;
    await c.start();
    const first = c.create("ns");
    await until(() => placed(c).length === 1, 3000, "first placed");
    const second = c.create("ns");
    await new Promise((r) => setTimeout(r, 15)); // its Scheduled=False write is on its way
    c.complete(first);
    await until(() => c.get(second).status?.nodeName !== undefined, 3000, "second placed");
    await new Promise((r) => setTimeout(r, 100));
    expect(c.kube.conflicts).toBe(0);
    expect(c.get(second).status?.attempts).toBe(1);
  });
});

describe("fair share between namespaces", () => {
  it("10 queued in a small namespace are not starved by 1,000 queued earlier in a big one", async () => {
    const c = await started({ nodes: 2, slotsPerNode: 5 });
    for (let i = 0; i < 1000; i++) c.create("big", { ageMs: 60_000 });
    for (let i = 0; i < 10; i++) c.create("small");
    await until(() => placed(c).length === 10, 2000, "ten placed");
    const ns = (n: string) => placed(c).filter((e) => e.metadata.namespace === n).length;
    expect({ big: ns("big"), small: ns("small") }).toEqual({ big: 5, small: 5 });
  });

  it("freed slots go to the namespace with fewer running, priority deciding only within it", async () => {
    const c = await started({ nodes: 1, slotsPerNode: 2 });
    const a = [c.create("a", { priority: 1000 }), c.create("a", { priority: 1000 })];
    await until(() => placed(c).length === 2, 2000, "a placed");
    c.create("a", { priority: 1000, name: "a-high" });
    c.create("b", { priority: -1000, name: "b-low" });
    c.complete(a[0]!);
    await until(() => placed(c).length === 2, 2000, "one more placed");
    expect(byName(placed(c))).toContain("b-low");
  });

  const caps: [string, TestClusterOptions["settings"], Record<string, number>][] = [
    ["a cap for every namespace holds each at it", { maxRunningPerNamespace: 2 }, { a: 2, b: 2 }],
    [
      "a namespace's own cap overrides the default one",
      { maxRunningPerNamespace: 2, namespaceCaps: { b: 1 } },
      { a: 2, b: 1 },
    ],
    ["without a cap one namespace may take every free slot", {}, { a: 8, b: 0 }],
  ];
  it.each(caps)("%s", async (_name, settings, want) => {
    const c = await started({ nodes: 2, slotsPerNode: 4, settings });
    for (let i = 0; i < 10; i++) c.create("a");
    if (want.b) for (let i = 0; i < 10; i++) c.create("b");
    const total = want.a! + want.b!;
    await until(() => placed(c).length === total, 2000, `${total} placed`);
    await new Promise((r) => setTimeout(r, 100));
    const ns = (n: string) => placed(c).filter((e) => e.metadata.namespace === n).length;
    expect({ a: ns("a"), b: ns("b") }).toEqual(want);
  });
});

describe("node loss and hand-backs", () => {
  it("a lost node's Executions go back to the queue and onto a live node, one more attempt each", async () => {
    const c = await started({ nodes: 1, slotsPerNode: 2 });
    const keys = [c.create("ns"), c.create("ns")];
    await until(() => placed(c).length === 2, 2000, "placed");
    c.addNode("spare", 2);
    c.renew("node-0", 1, new Date(0)); // released: expired on the apiserver too
    await until(() => keys.every((k) => c.get(k).status?.nodeName === "spare"), 3000, "moved");
    for (const k of keys) expect(c.get(k).status).toMatchObject({ attempts: 2, phase: "Scheduled" });
  });

  it("a controller starting with Executions running on live nodes leaves them where they are", async () => {
    cluster = new TestCluster({ nodes: 2, slotsPerNode: 2 });
    const c = cluster;
    const keys = ["node-0", "node-1"].map((n) =>
      c.create("ns", { status: { phase: "Running", nodeName: n, attempts: 1, runtimeGeneration: 1 } }),
    );
    await c.start();
    await new Promise((r) => setTimeout(r, 200));
    for (const [i, k] of keys.entries())
      expect(c.get(k).status).toMatchObject({ nodeName: `node-${i}`, attempts: 1 });
    expect(c.kube.writes).toBe(0);
  });

  it("on their last attempt a lost node's Executions fail with NodeLost", async () => {
    const c = await started({ nodes: 1, slotsPerNode: 1, settings: { maxAttempts: 1 } });
    const key = c.create("ns");
    await until(() => c.get(key).status?.nodeName !== undefined, 2000, "placed");
    c.kube.remove(
      {
        apiVersion: "v1",
        kind: "Node",
        plural: "nodes",
        namespaced: false,
        validate: () => ({ ok: true, object: {} }),
      } as never,
      "node-0",
    );
    await until(() => isFinished(c.get(key).status), 3000, "failed");
    expect(getCondition(c.get(key).status?.conditions, "Failed")).toMatchObject({ reason: "NodeLost" });
  });

  const handBacks: [string, number, string][] = [
    ["a hand-back with attempts left is requeued and placed again, one more attempt", 1, "Scheduled"],
    ["a hand-back of the last attempt fails with TooManyAttempts", 3, "Failed"],
  ];
  it.each(handBacks)("%s", async (_name, attempts, phase) => {
    const c = await started({ nodes: 1, slotsPerNode: 1 });
    const key = c.create("ns");
    await until(() => c.get(key).status?.nodeName !== undefined, 2000, "placed");
    const e = c.get(key);
    e.status = { ...e.status, attempts };
    c.kube.put(ExecutionResource, { ...e, status: handBack(e, "RuntimeUnavailable", "gone", new Date()) });
    await until(() => c.get(key).status?.phase === phase, 3000, phase);
    if (phase === "Scheduled") expect(c.get(key).status?.attempts).toBe(attempts + 1);
    else
      expect(getCondition(c.get(key).status?.conditions, "Failed")).toMatchObject({
        reason: "TooManyAttempts",
      });
  });
});

describe("a drained (cordoned) node", () => {
  const scheduledReason = (c: TestCluster, key: string) =>
    getCondition(c.get(key).status?.conditions, "Scheduled")?.reason;

  it("gets no new placement while cordoned, the wait says NodeCordoned, and uncordoned it takes the work", async () => {
    const c = await started({ nodes: 1, slotsPerNode: 2 });
    c.cordon("node-0");
    await until(() => c.liveness.views()[0]?.cordoned === true, 2000, "the cordon in the Node cache");
    const key = c.create("ns");
    await until(() => scheduledReason(c, key) === "NodeCordoned", 2000, "told NodeCordoned");
    await new Promise((r) => setTimeout(r, 100));
    expect(c.get(key).status?.nodeName).toBeUndefined();
    c.cordon("node-0", false);
    await until(() => c.get(key).status?.nodeName === "node-0", 2000, "placed after uncordon");
    expect(c.get(key).status?.attempts).toBe(1);
  });

  it("Executions told NoFreeSlot are told NodeCordoned once the only node is cordoned", async () => {
    const c = await started({ nodes: 1, slotsPerNode: 1 });
    const running = c.create("ns");
    await until(() => c.get(running).status?.nodeName !== undefined, 2000, "one placed");
    const waiting = [c.create("ns"), c.create("ns")];
    await until(() => waiting.every((k) => scheduledReason(c, k) === "NoFreeSlot"), 2000, "told NoFreeSlot");
    c.cordon("node-0");
    await until(
      () => waiting.every((k) => scheduledReason(c, k) === "NodeCordoned"),
      3000,
      "told NodeCordoned",
    );
    expect(waiting.map((k) => c.get(k).status?.nodeName)).toEqual([undefined, undefined]);
  });

  it("a drain hand-back on the last attempt is requeued, not counted, and placed once the node is uncordoned", async () => {
    const c = await started({ nodes: 1, slotsPerNode: 1 });
    const key = c.create("ns");
    await until(() => c.get(key).status?.nodeName !== undefined, 2000, "placed");
    c.cordon("node-0");
    await until(() => c.liveness.views()[0]?.cordoned === true, 2000, "the cordon in the Node cache");
    const e = c.get(key);
    e.status = { ...e.status, attempts: 3 };
    c.kube.put(ExecutionResource, { ...e, status: handBack(e, NODE_DRAINING, "cordoned", new Date()) });
    await until(() => c.get(key).status?.phase === "Pending", 3000, "requeued");
    // Its Scheduled=False already says why it waits (a requeue's reason is not overwritten).
    expect(scheduledReason(c, key)).toBe(NODE_DRAINING);
    await new Promise((r) => setTimeout(r, 100));
    expect(c.get(key).status).toMatchObject({ phase: "Pending", attempts: 3, excusedAttempts: 1 });
    c.cordon("node-0", false);
    await until(() => c.get(key).status?.phase === "Scheduled", 3000, "placed again");
    expect(c.get(key).status).toMatchObject({ nodeName: "node-0", attempts: 4, excusedAttempts: 1 });
  });
});
