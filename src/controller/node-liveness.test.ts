import { describe, expect, it } from "vitest";
import { AGENT_LEASE_PREFIX, type Worker } from "../api/index.ts";
import { FakeKube } from "../k8s/fake-kube.ts";
import { Informer } from "../k8s/informer.ts";
import { type Lease, LeaseResource, microTime, NodeResource, WorkerResource } from "../k8s/resources.ts";
import { loadConfig, parseCaps } from "./config.ts";
import { leaseExpiry, leaseNode, NodeLiveness } from "./node-liveness.ts";

describe("agent leases", () => {
  const now = Date.parse("2025-01-01T00:00:30Z");
  it("expire renewTime + duration after renewal, never later than now + duration", () => {
    const lease = (renewTime: string) => ({
      metadata: { name: "envicutor-agent-n1" },
      spec: { renewTime, leaseDurationSeconds: 40 },
    });
    expect(leaseExpiry(lease("2025-01-01T00:00:20.000000Z"), now)).toBe(Date.parse("2025-01-01T00:01:00Z"));
    expect(leaseExpiry(lease("2025-01-01T00:10:00.000000Z"), now)).toBe(now + 40_000); // agent clock ahead
    expect(leaseExpiry(lease("1970-01-01T00:00:00.000000Z"), now)).toBeLessThan(now); // released
    expect(leaseExpiry({ metadata: { name: "x" }, spec: {} }, now)).toBeUndefined();
  });
  it("name their node by label, else by name prefix", () => {
    expect(leaseNode({ metadata: { name: "envicutor-agent-n1" } })).toBe("n1");
    expect(leaseNode({ metadata: { name: "whatever", labels: { "envicutor.io/node": "n2" } } })).toBe("n2");
    expect(leaseNode({ metadata: { name: "envicutor-controller" } })).toBeUndefined();
  });
});

describe("config", () => {
  it("reads flags over env over defaults and validates", () => {
    const c = loadConfig(["--namespace", "x", "--max-attempts", "5"], {
      ENVICUTOR_DEFAULT_TTL_SECONDS: "60",
      ENVICUTOR_METRICS_PORT: "-1",
    });
    expect(c).toMatchObject({
      namespace: "x",
      maxAttempts: 5,
      defaultTtlSeconds: 60,
      metricsPort: undefined,
      leaderElect: true,
    });
    expect(() => loadConfig(["--max-attempts", "0"], {})).toThrow(/max-attempts/);
    expect(
      loadConfig([], { ENVICUTOR_MAX_RUNNING_PER_NAMESPACE: "20", ENVICUTOR_NAMESPACE_CAPS: "a=5, b=0" }),
    ).toMatchObject({ maxRunningPerNamespace: 20, namespaceCaps: { a: 5, b: 0 } });
    expect(loadConfig([], {}).maxRunningPerNamespace).toBeUndefined();
    // One Execution per node placed ahead of a free slot unless told otherwise; 0 turns it off.
    expect(loadConfig([], {}).nodePrefetch).toBe(1);
    expect(loadConfig([], { ENVICUTOR_NODE_PREFETCH: "0" }).nodePrefetch).toBe(0);
    expect(loadConfig(["--node-prefetch", "3"], { ENVICUTOR_NODE_PREFETCH: "0" }).nodePrefetch).toBe(3);
    for (const bad of ["-1", "one", "1.5"])
      expect(() => loadConfig([], { ENVICUTOR_NODE_PREFETCH: bad })).toThrow(/node-prefetch/);
    expect(() => parseCaps("a=x")).toThrow(/namespace-caps/);
    expect(() => loadConfig(["--lease-duration-seconds", "5", "--renew-deadline-seconds", "10"], {})).toThrow(
      /renew deadline/,
    );
  });
});

describe("node liveness decisions", () => {
  const NS = "sys";
  async function world(nodes: string[], opts: { lossPerSecond?: number; lossBurst?: number } = {}) {
    const kube = new FakeKube();
    const renew = (n: string, seconds: number) =>
      kube.put(LeaseResource, {
        metadata: { name: `${AGENT_LEASE_PREFIX}${n}`, namespace: NS },
        spec: { leaseDurationSeconds: seconds, renewTime: microTime() },
      } as Lease);
    for (const n of nodes) {
      kube.put(NodeResource, { metadata: { name: n } });
      kube.put(WorkerResource, { metadata: { name: n }, spec: { nodeName: n } } as Worker);
      renew(n, 1);
    }
    const client = kube.client();
    const leases = new Informer(client, LeaseResource, { namespace: NS });
    const nodeInf = new Informer(client, NodeResource);
    const workers = new Informer(client, WorkerResource);
    const liveness = new NodeLiveness({ leases, nodes: nodeInf, workers, client, namespace: NS, ...opts });
    const lost: [string, number][] = [];
    liveness.onChange((n, live) => {
      if (!live) lost.push([n, Date.now()]);
    });
    for (const i of [leases, nodeInf, workers]) i.start();
    await Promise.all([leases, nodeInf, workers].map((i) => i.waitForSync()));
    const stop = async () => {
      liveness.stop();
      await Promise.all([leases, nodeInf, workers].map((i) => i.stop()));
    };
    return { kube, liveness, leases, renew, lost, stop };
  }
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("a Lease that only looks expired (the watch stalled, the agent renewed) is read back and its node stays live", async () => {
    const w = await world(["a"]);
    expect(w.liveness.isLive("a")).toBe(true);
    await w.leases.stop(); // the watch stalls: renewals are no longer seen
    const t = setInterval(() => w.renew("a", 1), 200);
    await wait(1600);
    clearInterval(t);
    expect(w.lost).toEqual([]);
    expect(w.liveness.isLive("a")).toBe(true);
    await w.stop();
  });

  it("a Lease expired on the apiserver too loses its node", async () => {
    const w = await world(["a"]);
    await wait(1600);
    expect(w.lost.map(([n]) => n)).toEqual(["a"]);
    expect(w.liveness.isLive("a")).toBe(false);
    expect(w.liveness.whyNotLive("a")).toMatch(/agent lease of node a expired/);
    await w.stop();
  });

  it("loss decisions are rate-limited: nodes expiring together are lost one token at a time", async () => {
    const w = await world(["a", "b"], { lossPerSecond: 2, lossBurst: 1 });
    await wait(2200);
    expect(w.lost.map(([n]) => n).sort()).toEqual(["a", "b"]);
    expect(Math.abs(w.lost[1]![1] - w.lost[0]![1])).toBeGreaterThanOrEqual(400);
    await w.stop();
  });

  it("a deleted Node is lost at once, without waiting for its Lease", async () => {
    const w = await world(["a"]);
    w.kube.remove(NodeResource, "a");
    await wait(50);
    expect(w.lost.map(([n]) => n)).toEqual(["a"]);
    expect(w.liveness.whyNotLive("a")).toBe("node a was deleted");
    await w.stop();
  });
});
