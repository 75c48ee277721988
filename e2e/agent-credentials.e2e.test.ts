// Node-scoped agent credentials (charts/envicutor/templates/agent-admission-policy.yaml)
// against the real kube-apiserver, with real tokens: the chart's agent
// ServiceAccount, RBAC and ValidatingAdmissionPolicy are applied, a Pod of that
// ServiceAccount is bound to node A (spec.nodeName; no kubelet needed), and a
// TokenRequest bound to that Pod gives the token the kubelet would project
// into the agent's pod. With it, agent A writes its own Worker, Lease and
// Execution status, and nothing of node B's nor the controller's Lease.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { validExecution } from "../src/api/test-fixtures.ts";
import { KubeClient } from "../src/k8s/client.ts";
import { ExecutionResource, LeaseResource, WorkerResource } from "../src/k8s/resources.ts";
import {
  createNode,
  deleteNode,
  ensureNamespace,
  kubeConfig,
  kubectl,
  uniqueName,
  waitFor,
} from "./support/cluster.ts";

const ROOT = join(import.meta.dirname, "..");
const NS = uniqueName("envicutor-creds");
const RELEASE = uniqueName("cr");
const NODE_A = uniqueName("node-a");
const NODE_B = uniqueName("node-b");
const SA = `${RELEASE}-envicutor-agent`;
/** agent.slots of the rendered chart: the most slots agent A's Worker may claim. */
const SLOTS = 4;
/** agent.leaseDurationSeconds, the chart's default: the longest its Lease may last. */
const LEASE_SECONDS = 20;
/** What the policy keys on, from the token (checked below with a SelfSubjectReview). */
const NODE_CLAIM = "authentication.kubernetes.io/node-name";

type Obj = { kind: string; metadata: { name: string; labels?: Record<string, string> } };
let admin: KubeClient;
let agentA: KubeClient;
let clusterScoped: string[] = [];

/** The chart's agent objects: ServiceAccount, RBAC, the admission policy and its binding. */
function agentManifests(): string {
  const helm = join(
    execFileSync("bash", [join(ROOT, "scripts/build-helm.sh")], { encoding: "utf8" }).trim(),
    "helm",
  );
  // agent.slots bounds what a Worker may claim (with 0, the node's CPU count, only the CRD's maximum does).
  const args = ["template", RELEASE, join(ROOT, "charts/envicutor"), "--namespace", NS];
  const text = execFileSync(helm, [...args, "--set", `agent.slots=${SLOTS}`], { encoding: "utf8" });
  const kinds = new Set([
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
  ]);
  const docs = parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter(
      (o): o is Obj =>
        !!o && kinds.has(o.kind) && o.metadata.labels?.["app.kubernetes.io/component"] === "agent",
    );
  clusterScoped = docs
    .filter((o) => o.kind.startsWith("Cluster") || o.kind.startsWith("ValidatingAdmission"))
    .map((o) => `${o.kind}/${o.metadata.name}`);
  return docs.map((d) => JSON.stringify(d)).join("\n");
}

/** A token bound to a Pod of the agent's ServiceAccount on `node`, as the kubelet would get it. */
async function agentToken(node: string): Promise<string> {
  const pod = (await admin.rest.request("POST", `/api/v1/namespaces/${NS}/pods`, {
    body: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: uniqueName("agent"), namespace: NS },
      spec: {
        nodeName: node,
        serviceAccountName: SA,
        automountServiceAccountToken: false,
        containers: [{ name: "agent", image: "envicutor-agent:never-pulled" }],
      },
    },
  })) as { metadata: { name: string; uid: string } };
  const tr = (await admin.rest.request("POST", `/api/v1/namespaces/${NS}/serviceaccounts/${SA}/token`, {
    body: {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {
        expirationSeconds: 3600,
        boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod.metadata.name, uid: pod.metadata.uid },
      },
    },
  })) as { status: { token: string } };
  return tr.status.token;
}

function clientWithToken(token: string): KubeClient {
  const base = kubeConfig();
  const cluster = base.getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: "agent", token }],
    contexts: [{ name: "agent", cluster: cluster.name, user: "agent" }],
    currentContext: "agent",
  });
  return new KubeClient(kc, { fieldManager: "envicutor-agent" });
}

/** The apiserver's answer to a write: "ok", or the status code and message of the refusal. */
async function attempt(write: () => Promise<unknown>): Promise<string> {
  try {
    await write();
    return "ok";
  } catch (err) {
    const e = err as { status?: number; message: string };
    return `${e.status ?? "?"} ${e.message}`;
  }
}

async function seed(): Promise<void> {
  for (const node of [NODE_A, NODE_B]) {
    await admin.create(WorkerResource, { metadata: { name: node }, spec: { nodeName: node } });
    await admin.create(LeaseResource, {
      metadata: { name: `envicutor-agent-${node}`, namespace: NS },
      spec: { holderIdentity: node, leaseDurationSeconds: 20 },
    });
    const ex = validExecution(`ex-${node}`, NS) as { metadata: { name: string; namespace: string } };
    await admin.create(ExecutionResource, ex as never);
    await admin.patchStatus(
      ExecutionResource,
      ex.metadata.name,
      { status: scheduledOn(node) },
      { namespace: NS },
    );
  }
  await admin.create(LeaseResource, {
    metadata: { name: "envicutor-controller", namespace: NS },
    spec: { holderIdentity: "controller-0", leaseDurationSeconds: 15 },
  });
}

const scheduledOn = (node: string) => ({
  phase: "Scheduled",
  nodeName: node,
  attempts: 1,
  runtimeGeneration: 1,
  scheduledTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
});
/** A heartbeat: renewTime is a MicroTime (microseconds). */
const renew = () => ({ spec: { renewTime: new Date().toISOString().replace(/Z$/, "000Z") } });
const running = { status: { phase: "Running", startTime: new Date().toISOString().replace(/\.\d+Z$/, "Z") } };

beforeAll(async () => {
  admin = new KubeClient(kubeConfig(), { fieldManager: "e2e-admin" });
  await ensureNamespace(NS);
  await createNode(NODE_A);
  await createNode(NODE_B);
  await kubectl(["apply", "-f", "-"], agentManifests());
  await seed();
  agentA = clientWithToken(await agentToken(NODE_A));
  // RBAC and the policy reach the apiserver's caches a moment after they are created.
  await waitFor(async () => (await attempt(() => agentA.get(WorkerResource, NODE_A))) === "ok", {
    what: "agent A's RBAC",
  });
  await waitFor(
    async () =>
      (await attempt(() => agentA.patchStatus(WorkerResource, NODE_B, { status: { slots: 1 } }))).includes(
        "may write only Worker",
      ),
    { what: "the node-scope policy" },
  );
}, 120_000);

afterAll(async () => {
  for (const node of [NODE_A, NODE_B]) {
    await admin.delete(WorkerResource, node).catch(() => undefined);
    await admin.delete(WorkerResource, `${node}-x`).catch(() => undefined);
    await deleteNode(node).catch(() => undefined);
  }
  for (const ref of clusterScoped)
    await kubectl(["delete", ref, "--ignore-not-found"]).catch(() => undefined);
  await kubectl(["delete", "namespace", NS, "--wait=false", "--ignore-not-found"]).catch(() => undefined);
});

describe("node-scoped agent credentials", () => {
  it("the pod-bound token names the pod's node", async () => {
    const who = (await agentA.rest.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    })) as { status: { userInfo: { username: string; extra?: Record<string, string[]> } } };
    console.log(`[e2e] agent token: ${JSON.stringify(who.status.userInfo)}`);
    expect(who.status.userInfo.username).toBe(`system:serviceaccount:${NS}:${SA}`);
    expect(who.status.userInfo.extra?.[NODE_CLAIM]).toEqual([NODE_A]);
  });

  it("agent A writes its own Worker, Lease and the status of its Execution", async () => {
    expect(await attempt(() => agentA.patchStatus(WorkerResource, NODE_A, { status: { slots: 2 } }))).toBe(
      "ok",
    );
    expect(
      await attempt(() => agentA.patch(WorkerResource, NODE_A, { metadata: { labels: { seen: "yes" } } })),
    ).toBe("ok");
    expect(
      await attempt(() =>
        agentA.patch(LeaseResource, `envicutor-agent-${NODE_A}`, renew(), { namespace: NS }),
      ),
    ).toBe("ok");
    expect(
      await attempt(() => agentA.patchStatus(ExecutionResource, `ex-${NODE_A}`, running, { namespace: NS })),
    ).toBe("ok");
    expect((await admin.get(ExecutionResource, `ex-${NODE_A}`, NS)).status?.phase).toBe("Running");
  });

  it("agent A cannot change node B's Execution, node B's Worker or Lease, nor the controller's Lease", async () => {
    const refused = {
      executionB: await attempt(() =>
        agentA.patchStatus(ExecutionResource, `ex-${NODE_B}`, running, { namespace: NS }),
      ),
      workerB: await attempt(() => agentA.patchStatus(WorkerResource, NODE_B, { status: { slots: 99 } })),
      leaseB: await attempt(() =>
        agentA.patch(LeaseResource, `envicutor-agent-${NODE_B}`, renew(), { namespace: NS }),
      ),
      controllerLease: await attempt(() =>
        agentA.patch(
          LeaseResource,
          "envicutor-controller",
          { spec: { holderIdentity: NODE_A } },
          { namespace: NS },
        ),
      ),
      // Nor take B's Execution over, nor hand its own to B.
      moveToB: await attempt(() =>
        agentA.patchStatus(
          ExecutionResource,
          `ex-${NODE_A}`,
          { status: { nodeName: NODE_B } },
          { namespace: NS },
        ),
      ),
      newWorker: await attempt(() =>
        agentA.create(WorkerResource, { metadata: { name: `${NODE_B}-x` }, spec: { nodeName: NODE_A } }),
      ),
    };
    console.log(`[e2e] refused writes of agent A: ${JSON.stringify(refused, null, 2)}`);
    for (const [what, answer] of Object.entries(refused)) {
      expect(answer, what).toMatch(/^403 /);
      expect(answer, what).toContain(`the agent on node ${NODE_A} may write only`);
    }
    expect((await admin.get(ExecutionResource, `ex-${NODE_B}`, NS)).status?.phase).toBe("Scheduled");
    expect((await admin.get(ExecutionResource, `ex-${NODE_A}`, NS)).status?.nodeName).toBe(NODE_A);
    expect((await admin.get(LeaseResource, "envicutor-controller", NS)).spec?.holderIdentity).toBe(
      "controller-0",
    );
  });

  it("agent A cannot give itself attempts, nor write an Execution once it is finished", async () => {
    const attempts = await attempt(() =>
      agentA.patchStatus(ExecutionResource, `ex-${NODE_A}`, { status: { attempts: 0 } }, { namespace: NS }),
    );
    expect(attempts).toMatch(/^403 /);
    expect(attempts).toContain("may not change attempts");
    await admin.patchStatus(
      ExecutionResource,
      `ex-${NODE_A}`,
      { status: { phase: "Succeeded" } },
      { namespace: NS },
    );
    const reopened = await attempt(() =>
      agentA.patchStatus(ExecutionResource, `ex-${NODE_A}`, running, { namespace: NS }),
    );
    console.log(
      `[e2e] agent A on its own Execution: attempts → ${attempts}; after it finished → ${reopened}`,
    );
    expect(reopened).toMatch(/^403 /);
    expect(reopened).toContain("is finished");
    const ex = await admin.get(ExecutionResource, `ex-${NODE_A}`, NS);
    expect([ex.status?.phase, ex.status?.attempts]).toEqual(["Succeeded", 1]);
  });

  it("agent A cannot inflate what it claims: more slots than agent.slots, a longer Lease, a Lease naming node B, excused attempts", async () => {
    const lease = `envicutor-agent-${NODE_A}`;
    const ns = { namespace: NS };
    // An Execution of node A that is not finished (ex-A is Succeeded by now).
    const ex2 = validExecution(`ex2-${NODE_A}`, NS) as { metadata: { name: string } };
    await admin.create(ExecutionResource, ex2 as never);
    await admin.patchStatus(ExecutionResource, ex2.metadata.name, { status: scheduledOn(NODE_A) }, ns);
    const refused = {
      slots: await attempt(() =>
        agentA.patchStatus(WorkerResource, NODE_A, { status: { slots: SLOTS + 1 } }),
      ),
      leaseDuration: await attempt(() =>
        agentA.patch(LeaseResource, lease, { spec: { leaseDurationSeconds: 2_000_000_000 } }, ns),
      ),
      leaseOfNodeB: await attempt(() =>
        agentA.patch(LeaseResource, lease, { metadata: { labels: { "envicutor.io/node": NODE_B } } }, ns),
      ),
      excusedAttempts: await attempt(() =>
        agentA.patchStatus(ExecutionResource, ex2.metadata.name, { status: { excusedAttempts: 50 } }, ns),
      ),
    };
    console.log(`[e2e] inflated claims of agent A: ${JSON.stringify(refused, null, 2)}`);
    for (const [what, answer] of Object.entries(refused)) expect(answer, what).toMatch(/^403 /);
    expect(refused.slots).toContain(`may not claim more than ${SLOTS} slots`);
    expect(refused.leaseDuration).toContain(`lasting at most ${LEASE_SECONDS} s`);
    expect(refused.leaseOfNodeB).toContain("labelled with its own node");
    expect(refused.excusedAttempts).toContain("may not change attempts, excusedAttempts");
    // Within the bounds it still writes: its own slots up to agent.slots, its own label, a shorter Lease.
    expect(
      await attempt(() => agentA.patchStatus(WorkerResource, NODE_A, { status: { slots: SLOTS } })),
    ).toBe("ok");
    const own = { metadata: { labels: { "envicutor.io/node": NODE_A } }, spec: { leaseDurationSeconds: 1 } };
    expect(await attempt(() => agentA.patch(LeaseResource, lease, own, ns))).toBe("ok");
    expect((await admin.get(WorkerResource, NODE_A)).status?.slots).toBe(SLOTS);
    expect((await admin.get(LeaseResource, lease, NS)).spec?.leaseDurationSeconds).toBe(1);
    expect(
      (await admin.get(ExecutionResource, ex2.metadata.name, NS)).status?.excusedAttempts,
    ).toBeUndefined();
    await admin.delete(ExecutionResource, ex2.metadata.name, ns); // the last case lists A's and B's only
  });

  it("a token of the same ServiceAccount without a node writes nothing", async () => {
    const tr = (await admin.rest.request("POST", `/api/v1/namespaces/${NS}/serviceaccounts/${SA}/token`, {
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { expirationSeconds: 600 },
      },
    })) as { status: { token: string } };
    const unbound = clientWithToken(tr.status.token);
    const answer = await attempt(() => unbound.patchStatus(WorkerResource, NODE_A, { status: { slots: 3 } }));
    expect(answer).toMatch(/^403 .*carries no node/);
  });

  it("an agent still reads what its node may need: every Execution and Runtime (RBAC cannot filter by node)", async () => {
    const all = await agentA.list(ExecutionResource, { namespace: NS });
    expect(all.items.map((e) => e.metadata.name).sort()).toEqual([`ex-${NODE_A}`, `ex-${NODE_B}`].sort());
  });
});
