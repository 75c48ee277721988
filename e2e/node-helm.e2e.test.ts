// Envicutor installed the way a platform team installs it: `helm install` of
// charts/envicutor into a cluster with a REAL node (kubelet, containerd 2,
// runc, CNI bridge; e2e/node), running the controller and agent images built
// from this checkout without Docker or a registry (images/build.sh, the file
// system images/Containerfile gives), loaded into the node's containerd.
//
// The cluster is its own (e2e/node/helm-cluster.ts, which bench/pods.ts uses
// too): a control plane like the suite's (e2e/controlplane) but listening
// where pods reach it, with the controllers Deployments and DaemonSets need,
// and kube-scheduler. The shared one is left alone (other files create Node
// objects with no kubelet behind them in it).
//
// The agent pod installs a Runtime of the stand-in package set (nix/pkgs,
// NOT nixpkgs; frozen-package-set.ts says how a pod gets it) into the node's
// /nix (hostPath, shared with this machine's Nix) and judges an Execution in
// isolate (this machine's isolate, copied into the test's agent image).
// README "Install on a cluster" follows these steps.
import { join } from "node:path";
import { KubeConfig, Watch } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StateDir } from "../src/agent/nix/state-dir.ts";
import { HelmCluster, NODE, NS, RELEASE } from "./node/helm-cluster.ts";
import { missingForNode } from "./node/prerequisites.ts";
import { releaseLeftovers } from "./node/release-leftovers.ts";
import { PY_NODE, pythonRuntime, SH_NODE, shellRuntime } from "./node/runtimes.ts";
import { waitFor } from "./support/cluster.ts";
import { liveAutoRootsUnder } from "./support/gc-roots.ts";

const APP_NS = "envicutor-node-e2e";
const CHART = join(import.meta.dirname, "..", "charts/envicutor");
const BOX_ID_BASE = 700; // ids 700-707: taken by no other e2e file

const missing = await missingForNode();
if (missing.length) console.warn(`!!! node-helm e2e SKIPPED — missing: ${missing.join("; ")}`);
const skip = missing.length > 0;

let c: HelmCluster;
const kubectl = (args: string[], input?: string) => c.kubectl(args, input);
const helm = (args: string[]) => c.helm(args);
const getJson = <T = Record<string, unknown>>(args: string[]) => c.getJson<T>(args);
const agentLogs = () => c.agentLogs();

beforeAll(async () => {
  if (skip) return;
  c = await HelmCluster.start({ boxIdBase: BOX_ID_BASE, log: (m) => console.log(`[e2e] ${m}`) });
}, 1_200_000);

afterAll(async () => {
  if (skip || !c) return;
  expect(await c.stop(), "what the node left behind").toEqual([]);
}, 300_000);

describe.skipIf(skip)("a real node: helm install of the chart with images built here", () => {
  it("the node runs on containerd with the images loaded", async () => {
    const images = await c.node.ctr(["images", "list", "-q"]);
    expect(images).toContain("ghcr.io/envicutor/envicutor-controller:0.1.0");
    expect(images).toContain("ghcr.io/envicutor/envicutor-agent:0.1.0");
    const n = await getJson<{
      status: { nodeInfo: { containerRuntimeVersion: string; kubeletVersion: string } };
    }>(["get", "node", NODE]);
    expect(n.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/v?2\./);
    expect(n.status.nodeInfo.kubeletVersion).toBe("v1.36.3");
  });

  it("helm install: the controller Deployment (2 replicas, one leader) and the agent DaemonSet become Ready", async () => {
    const seconds = await c.install();
    console.log(`[e2e] helm install Ready in ${seconds.toFixed(1)} s`);
    const deploy = await getJson<{ status: { readyReplicas?: number } }>([
      "-n",
      NS,
      "get",
      "deploy",
      `${RELEASE}-controller`,
    ]);
    expect(deploy.status.readyReplicas).toBe(2);
    const ds = await getJson<{ status: { numberReady?: number } }>([
      "-n",
      NS,
      "get",
      "ds",
      `${RELEASE}-agent`,
    ]);
    expect(ds.status.numberReady).toBe(1);
    const lease = await waitFor(
      async () => {
        const l = await getJson<{ spec: { holderIdentity?: string } }>([
          "-n",
          NS,
          "get",
          "lease",
          `${RELEASE}-controller`,
        ]).catch(() => undefined);
        return l?.spec.holderIdentity;
      },
      { timeoutMs: 60_000, what: "a controller leader" },
    );
    const pods = (
      await kubectl(["-n", NS, "get", "pods", "-l", "app.kubernetes.io/component=controller", "-o", "name"])
    )
      .trim()
      .split("\n")
      .map((p) => p.replace("pod/", ""));
    expect(pods).toHaveLength(2);
    expect(pods).toContain(lease);
  }, 420_000);

  it("a Runtime of the stand-in package set installs in the agent pod, and an Execution is judged", async () => {
    await kubectl(["create", "namespace", APP_NS]);
    await kubectl(["apply", "-f", "-"], JSON.stringify(pythonRuntime()));
    await runtimeReady(PY_NODE);
    await kubectl(["apply", "-f", "-"], JSON.stringify(execution("upper")));
    const ex = await waitFor(
      async () => {
        const e = await getJson<ExecutionJson>(["-n", APP_NS, "get", "execution", "upper"]);
        return e.status?.phase === "Succeeded" || e.status?.phase === "Failed" ? e : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: "Execution upper finished" },
    );
    expect(ex.status?.phase, JSON.stringify(ex.status)).toBe("Succeeded");
    expect(ex.status?.verdict).toBe("WrongAnswer");
    expect(ex.status?.tests?.map((t) => t.verdict)).toEqual(["Accepted", "WrongAnswer"]);
    expect(ex.status?.nodeName).toBe(NODE);
  }, 420_000);

  it("kubectl logs and the metrics Services work", async () => {
    const logs = await kubectl(["-n", NS, "logs", `ds/${RELEASE}-agent`, "-c", "agent"]);
    expect(logs).toMatch(/"msg"/);
    // The Execution above ran with its closure as one view of hard links, made in the pod beside the host's store.
    expect(logs).toContain('"msg":"made a closure view"');
    expect(logs).not.toMatch(/no closure view|closure views are off/);
    for (const [svc, port, metric] of [
      [`${RELEASE}-controller-metrics`, 8080, "envicutor_"],
      [`${RELEASE}-agent-metrics`, 8081, "envicutor_agent_"],
    ] as const) {
      const text = await kubectl([
        "get",
        "--raw",
        `/api/v1/namespaces/${NS}/services/http:${svc}:${port}/proxy/metrics`,
      ]);
      expect(text, svc).toContain(metric);
    }
  });

  it("the agent's pod deleted mid-run: every Execution is judged, none twice", async () => {
    await inFlight("agent-stopped", async () => {
      await kubectl(["-n", NS, "delete", "pod", "-l", "app.kubernetes.io/component=agent", "--wait=false"]);
    });
    await kubectl(["-n", NS, "rollout", "status", `ds/${RELEASE}-agent`, "--timeout=180s"]);
    // And without its grace period: kubelet kills it at once.
    await inFlight("agent-killed", async () => {
      await kubectl([
        "-n",
        NS,
        "delete",
        "pod",
        "-l",
        "app.kubernetes.io/component=agent",
        "--grace-period=0",
        "--force",
      ]);
    });
    await kubectl(["-n", NS, "rollout", "status", `ds/${RELEASE}-agent`, "--timeout=180s"]);
  }, 420_000);

  it("the leader's pod deleted: the other replica leads, every Execution is judged, none twice", async () => {
    const leader = await leaseHolder();
    await inFlight("leader-killed", async () => {
      await kubectl(["-n", NS, "delete", "pod", leader, "--wait=false"]);
    });
    const next = await waitFor(async () => ((await leaseHolder()) !== leader ? leaseHolder() : undefined), {
      timeoutMs: 60_000,
      what: "a new leader",
    });
    expect(next).not.toBe(leader);
    await kubectl(["-n", NS, "rollout", "status", `deploy/${RELEASE}-controller`, "--timeout=180s"]);
  }, 420_000);

  it("helm upgrade to a new image tag with Executions in flight: every one is judged, none twice", async () => {
    const tag = "0.1.0-e2e-upgrade";
    for (const image of ["controller", "agent"])
      await c.node.ctr([
        "images",
        "tag",
        `ghcr.io/envicutor/envicutor-${image}:0.1.0`,
        `ghcr.io/envicutor/envicutor-${image}:${tag}`,
      ]);
    await inFlight("upgraded", async () => {
      await helm([
        "upgrade",
        RELEASE,
        CHART,
        "--namespace",
        NS,
        "-f",
        c.valuesFile,
        "--set",
        `controller.image.tag=${tag}`,
        "--set",
        `agent.image.tag=${tag}`,
        "--wait",
        "--timeout",
        "4m",
      ]);
    });
    const images = await kubectl([
      "-n",
      NS,
      "get",
      "pods",
      "-o",
      "jsonpath={.items[*].spec.containers[*].image}",
    ]);
    expect(
      images.split(" ").every((i) => i.endsWith(`:${tag}`)),
      images,
    ).toBe(true);
  }, 420_000);

  // kubectl drain: the cordon stops new work on the node, and the agent, whose DaemonSet pod
  // every drain leaves in place (--ignore-daemonsets), hands back what it has not started. The
  // cluster has ONE node and both controller pods run on it: evicting them would leave them
  // Pending (no other node) and the controller's PDB would block the second eviction, so the
  // drain would hang with the control loop gone. This drain evicts only pods outside the
  // release (--pod-selector): it cordons the node exactly as a full drain does, which is what
  // the agent must act on. A controller pod going away is the leader case above.
  it("kubectl drain of the node: nothing new starts, what was not started is handed back (NodeDraining); uncordoned, every Execution is judged, none twice", async () => {
    const seen = watchStarts();
    const window = { drainedAt: "", resumedAt: "" };
    try {
      await inFlight("drained", async () => {
        await kubectl([
          "drain",
          NODE,
          "--ignore-daemonsets",
          "--delete-emptydir-data",
          `--pod-selector=app.kubernetes.io/instance!=${RELEASE}`,
          "--timeout=120s",
        ]);
        const n = await getJson<{ spec?: { unschedulable?: boolean } }>(["get", "node", NODE]);
        expect(n.spec?.unschedulable, "the drain cordoned the node").toBe(true);
        window.drainedAt = (await drainingCondition("True", "NodeCordoned")).lastTransitionTime;
        await drainedWhileCordoned();
        // The runs of before the drain finish, and their slots stay empty: drained-2 and -3
        // would start now if the cordon did not stop them.
        const idle = await waitFor(
          async () => {
            const l = await getJson<{ items: DrainExecutionJson[] }>(["-n", APP_NS, "get", "executions"]);
            return l.items.every((e) => e.status?.phase !== "Running") ? l.items : undefined;
          },
          { timeoutMs: 120_000, intervalMs: 500, what: "the runs started before the drain finished" },
        );
        // Which of drained-* had started depends on how long the drain took; none after it.
        const late = idle.filter((e) => (e.status?.startTime ?? "") > window.drainedAt);
        expect(
          late.map((e) => e.metadata.name),
          "started while cordoned",
        ).toEqual([]);
        await kubectl(["uncordon", NODE]);
        window.resumedAt = (await drainingCondition("False", "NodeSchedulable")).lastTransitionTime;
      });
      for (const name of DRAIN_EXTRA) {
        const ex = await waitFor(
          async () => {
            const e = await getJson<DrainExecutionJson>(["-n", APP_NS, "get", "execution", name]);
            return e.status?.phase === "Succeeded" || e.status?.phase === "Failed" ? e : undefined;
          },
          { timeoutMs: 300_000, intervalMs: 500, what: `Execution ${name} finished` },
        );
        expect(ex.status?.verdict, `${name}: ${JSON.stringify(ex.status)}`).toBe("Accepted");
      }
      const raced = await getJson<DrainExecutionJson>(["-n", APP_NS, "get", "execution", DRAIN_EXTRA[0]]);
      // Placed twice (the hand-back and after the uncordon); the drain's attempt not counted.
      expect(raced.status).toMatchObject({ attempts: 2, excusedAttempts: 1 });
      await new Promise((r) => setTimeout(r, 2000)); // a late second finish would show by now
      expect(Object.fromEntries(DRAIN_EXTRA.map((nm) => [nm, seen.finishes.get(nm) ?? 0]))).toEqual(
        Object.fromEntries(DRAIN_EXTRA.map((nm) => [nm, 1])),
      );
      // Agent timestamps (one clock), in seconds: a start decided before the agent saw the
      // cordon is at or before drainedAt; none may be after it and before the uncordon.
      const during = [...seen.starts].filter(([, t]) => t > window.drainedAt && t < window.resumedAt);
      console.log(
        `[e2e] drain: Draining ${window.drainedAt} → ${window.resumedAt}; starts: ${JSON.stringify([...seen.starts])}`,
      );
      expect(during, "Executions started on the cordoned node").toEqual([]);
    } finally {
      seen.stop();
    }
  }, 600_000);

  // helm uninstall as a platform team runs it, with no clean-up of its own first: Runtimes
  // installed on the node, finished Executions (every case's above), and Executions running
  // and queued. The chart's pre-delete hook deletes the Executions and Runtimes while the
  // agent still runs, so the agent removes its GC roots and the controller lifts the
  // finalizers; its post-delete hook deletes the Workers and Leases.
  it("helm uninstall with Runtimes and Executions (finished, running, queued) present: the finalizers are lifted, the GC roots removed, no object of the release is left", async () => {
    await kubectl(["apply", "-f", "-"], JSON.stringify(shellRuntime()));
    await runtimeReady(SH_NODE);
    const sh = await submitAndWait(shExecution("sh-finished"));
    expect(sh.status?.verdict, JSON.stringify(sh.status)).toBe("Accepted");
    const gcroots = join(c.stateDir, "gcroots");
    const before = liveAutoRootsUnder(gcroots);
    for (const rt of [PY_NODE, SH_NODE])
      expect(
        before.filter((r) => r.startsWith(join(gcroots, rt, "/"))).length,
        `${rt}'s GC roots`,
      ).toBeGreaterThan(0);
    // Two slots and one ahead (nodePrefetch): two of these run, one waits on the node, one in the queue.
    for (let i = 0; i < 4; i++)
      await kubectl(["apply", "-f", "-"], JSON.stringify(slowExecution(`uninstalled-${i}`)));
    await waitFor(
      async () =>
        (await getJson<{ items: ExecutionJson[] }>(["-n", APP_NS, "get", "executions"])).items.some(
          (e) => e.status?.phase === "Running",
        ),
      { timeoutMs: 60_000, intervalMs: 200, what: "an Execution of uninstalled-* running" },
    );
    await expectListedBeforeUninstall();
    const seen = watchRuntimeDeletions();
    const t = Date.now();
    try {
      await helm(["uninstall", RELEASE, "--namespace", NS, "--wait", "--timeout", "5m"]);
    } finally {
      seen.stop();
    }
    console.log(
      `[e2e] helm uninstall with 2 Runtimes and Executions in flight: ${((Date.now() - t) / 1000).toFixed(1)} s; the Runtimes went ${JSON.stringify(Object.fromEntries(seen.steps))}`,
    );
    // Each was held by its finalizer while the agent removed its roots, then deleted: lifted, not bypassed.
    for (const rt of [PY_NODE, SH_NODE]) expect(seen.steps.get(rt), rt).toEqual(["held", "deleted"]);
    expect(liveAutoRootsUnder(gcroots), "GC roots of the release's Runtimes on the node's /nix").toEqual([]);
    expect(await new StateDir(c.stateDir).list(), "generations the agent still records as installed").toEqual(
      [],
    );
    // Endpoint slices and hook Jobs' pods go by garbage collection, a little after Helm returns.
    let left: string[] = [];
    await waitFor(
      async () => {
        left = await releaseLeftovers(kubectl, { namespace: NS, release: RELEASE });
        return left.length === 0;
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: "no object of the release left" },
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\nleft:\n${left.join("\n")}`);
    });
  }, 600_000);
});

/** The leftovers' listing sees the release while it is installed: its empty answer after the uninstall means something. */
async function expectListedBeforeUninstall(): Promise<void> {
  const present = await releaseLeftovers(kubectl, { namespace: NS, release: RELEASE });
  const expected = [
    `envicutor: runtime.envicutor.io/${PY_NODE}`,
    `envicutor: runtime.envicutor.io/${SH_NODE}`,
    `envicutor: worker.envicutor.io/${NODE}`,
    "envicutor: execution.envicutor.io/sh-finished",
    `namespace ${NS}: deployment.apps/${RELEASE}-controller`,
    `namespace ${NS}: lease.coordination.k8s.io/${RELEASE}-controller`,
    `namespace ${NS}: lease.coordination.k8s.io/envicutor-agent-${NODE}`,
    `labelled app.kubernetes.io/instance=${RELEASE}: daemonset.apps/${RELEASE}-agent`,
  ];
  expect(present).toEqual(expect.arrayContaining(expected));
  const clusterScoped = present.filter((p) => p.startsWith("cluster-scoped"));
  expect(clusterScoped.some((p) => p.includes("clusterrole.rbac.authorization.k8s.io/"))).toBe(true);
  expect(clusterScoped.some((p) => p.includes("validatingadmissionpolicy"))).toBe(true);
  console.log(`[e2e] before helm uninstall: ${present.length} objects of the release listed`);
}

/** Waits until the Runtime says Ready; on a timeout, says why with its status and the agent's log. */
async function runtimeReady(name: string): Promise<void> {
  await waitFor(
    async () => {
      const rt = await getJson<{ status?: { conditions?: { type: string; status: string }[] } }>([
        "get",
        "runtime",
        name,
      ]);
      return rt.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    },
    { timeoutMs: 240_000, intervalMs: 1000, what: `Runtime ${name} Ready` },
  ).catch(async (err) => {
    throw new Error(
      `${(err as Error).message}\n${await kubectl(["get", "runtime", name, "-o", "yaml"])}\n${await agentLogs()}`,
    );
  });
}

async function submitAndWait(ex: { metadata: { name: string } }): Promise<ExecutionJson> {
  await kubectl(["apply", "-f", "-"], JSON.stringify(ex));
  return waitFor(
    async () => {
      const e = await getJson<ExecutionJson>(["-n", APP_NS, "get", "execution", ex.metadata.name]);
      return e.status?.phase === "Succeeded" || e.status?.phase === "Failed" ? e : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500, what: `Execution ${ex.metadata.name} finished` },
  );
}

/**
 * How each Runtime went away, as a watch saw it: "held" once it showed a
 * deletionTimestamp with its clean-up finalizer still on, "deleted" when it was gone.
 */
function watchRuntimeDeletions() {
  type Rt = { metadata: { name: string; deletionTimestamp?: string; finalizers?: string[] } };
  const steps = new Map<string, string[]>();
  const step = (name: string, s: string) => {
    const list = steps.get(name) ?? [];
    if (list.at(-1) !== s) steps.set(name, [...list, s]);
  };
  const kc = new KubeConfig();
  kc.loadFromFile(c.cp.kubeconfigPath);
  const req = new Watch(kc).watch(
    "/apis/envicutor.io/v1alpha1/runtimes",
    {},
    (type, obj: Rt) => {
      const { name, deletionTimestamp, finalizers } = obj.metadata;
      if (type === "DELETED") step(name, "deleted");
      else if (deletionTimestamp && finalizers?.includes("envicutor.io/runtime-cleanup")) step(name, "held");
    },
    () => undefined,
  );
  return { steps, stop: () => void req.then((r) => r.abort()) };
}

async function leaseHolder(): Promise<string> {
  const l = await getJson<{ spec: { holderIdentity?: string } }>([
    "-n",
    NS,
    "get",
    "lease",
    `${RELEASE}-controller`,
  ]);
  return l.spec.holderIdentity ?? "";
}

/**
 * Submits Executions that take a few seconds each, does `fault` once one of
 * them runs, and checks that every one is judged (Accepted) and became
 * finished exactly once, as a watch of the Executions saw them.
 */
async function inFlight(prefix: string, fault: () => Promise<void>, n = 4): Promise<void> {
  const finishes = new Map<string, number>();
  const kc = new KubeConfig();
  kc.loadFromFile(c.cp.kubeconfigPath);
  const last = new Map<string, string | undefined>();
  const watch = await new Watch(kc).watch(
    `/apis/envicutor.io/v1alpha1/namespaces/${APP_NS}/executions`,
    {},
    (_type, obj: { metadata: { name: string } } & ExecutionJson) => {
      const phase = obj.status?.phase;
      const done = (p?: string) => p === "Succeeded" || p === "Failed";
      if (done(phase) && !done(last.get(obj.metadata.name)))
        finishes.set(obj.metadata.name, (finishes.get(obj.metadata.name) ?? 0) + 1);
      last.set(obj.metadata.name, phase);
    },
    () => undefined,
  );
  try {
    const names = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
    for (const name of names) await kubectl(["apply", "-f", "-"], JSON.stringify(slowExecution(name)));
    await waitFor(
      async () =>
        (await getJson<{ items: ExecutionJson[] }>(["-n", APP_NS, "get", "executions"])).items.some(
          (e) => e.status?.phase === "Running",
        ),
      { timeoutMs: 60_000, intervalMs: 200, what: `an Execution of ${prefix} running` },
    );
    await fault();
    for (const name of names) {
      const ex = await waitFor(
        async () => {
          const e = await getJson<ExecutionJson>(["-n", APP_NS, "get", "execution", name]);
          return e.status?.phase === "Succeeded" || e.status?.phase === "Failed" ? e : undefined;
        },
        { timeoutMs: 300_000, intervalMs: 500, what: `Execution ${name} finished` },
      );
      expect(ex.status?.verdict, `${name}: ${JSON.stringify(ex.status)}`).toBe("Accepted");
    }
    await new Promise((r) => setTimeout(r, 2000)); // a late second finish would show by now
    expect(Object.fromEntries(names.map((nm) => [nm, finishes.get(nm) ?? 0]))).toEqual(
      Object.fromEntries(names.map((nm) => [nm, 1])),
    );
  } finally {
    watch.abort();
  }
}

function slowExecution(name: string) {
  return {
    ...execution(name),
    spec: {
      runtime: PY_NODE,
      files: [{ name: "main.py", content: "import time\ntime.sleep(3)\nprint(input())" }],
      testCases: [{ stdin: "1\n", expectedOutput: "1\n" }],
    },
  };
}

interface ExecutionJson {
  status?: { phase?: string; verdict?: string; nodeName?: string; tests?: { verdict: string }[] };
}

function shExecution(name: string) {
  return {
    ...execution(name),
    spec: {
      runtime: SH_NODE,
      files: [{ name: "main.sh", content: "read x; echo $((x + 1))" }],
      testCases: [{ stdin: "41\n", expectedOutput: "42\n" }],
    },
  };
}

function execution(name: string) {
  return {
    apiVersion: "envicutor.io/v1alpha1",
    kind: "Execution",
    metadata: { name, namespace: APP_NS },
    spec: {
      runtime: PY_NODE,
      files: [{ name: "main.py", content: "import sys\nprint(sys.stdin.read().upper(), end='')" }],
      testCases: [
        { stdin: "abc\n", expectedOutput: "ABC\n" },
        { stdin: "x\n", expectedOutput: "nope\n" },
      ],
    },
  };
}

/** The drain case's own Executions besides inFlight's: one placed as if racing the cordon, one queued during it. */
const DRAIN_EXTRA = ["drain-raced", "drain-queued"] as const;

interface DrainExecutionJson {
  metadata: { name: string };
  status?: {
    phase?: string;
    verdict?: string;
    nodeName?: string;
    attempts?: number;
    excusedAttempts?: number;
    startTime?: string;
    handBack?: { attempt: number; reason: string };
    conditions?: { type: string; status: string; reason: string }[];
  };
}

/** Every distinct startTime each Execution showed, and how often each became finished, as a watch saw them. */
function watchStarts() {
  const starts = new Set<[string, string]>();
  const keys = new Set<string>();
  const finishes = new Map<string, number>();
  const last = new Map<string, string | undefined>();
  const kc = new KubeConfig();
  kc.loadFromFile(c.cp.kubeconfigPath);
  const done = (p?: string) => p === "Succeeded" || p === "Failed";
  const req = new Watch(kc).watch(
    `/apis/envicutor.io/v1alpha1/namespaces/${APP_NS}/executions`,
    {},
    (_type, obj: DrainExecutionJson) => {
      const { name } = obj.metadata;
      const t = obj.status?.startTime;
      if (t && !keys.has(`${name} ${t}`)) {
        keys.add(`${name} ${t}`);
        starts.add([name, t]);
      }
      if (done(obj.status?.phase) && !done(last.get(name))) finishes.set(name, (finishes.get(name) ?? 0) + 1);
      last.set(name, obj.status?.phase);
    },
    () => undefined,
  );
  return { starts, finishes, stop: () => void req.then((r) => r.abort()) };
}

/** Waits for the agent's Worker to show Draining with `status` and `reason`; returns the condition. */
async function drainingCondition(
  status: string,
  reason: string,
): Promise<{ lastTransitionTime: string; message: string }> {
  type C = { type: string; status: string; reason: string; message: string; lastTransitionTime: string };
  return waitFor(
    async () => {
      const w = await getJson<{ status?: { conditions?: C[] } }>(["get", "worker", NODE]);
      const c = w.status?.conditions?.find((x) => x.type === "Draining");
      return c?.status === status && c.reason === reason ? c : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: `Worker ${NODE} Draining=${status} (${reason})` },
  );
}

/**
 * While the node is cordoned: one created now waits, saying the node is cordoned; an
 * Execution placed on it as a placement racing the cordon would be (written as the
 * controller writes one, from a cache that had not seen the cordon) is handed back
 * unstarted as NodeDraining and requeued without counting the attempt; the
 * controller pods were not evicted.
 */
async function drainedWhileCordoned(): Promise<void> {
  const [raced, queued] = DRAIN_EXTRA;
  // First one the controller must leave waiting: then its cache has seen the cordon, and the
  // placement below cannot meet one of its own.
  await kubectl(["apply", "-f", "-"], JSON.stringify(slowExecution(queued)));
  const waiting = await waitFor(
    async () => {
      const e = await getJson<DrainExecutionJson>(["-n", APP_NS, "get", "execution", queued]);
      const c = e.status?.conditions?.find((x) => x.type === "Scheduled");
      return c?.status === "False" && c.reason === "NodeCordoned" ? e : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: `${queued} waiting with reason NodeCordoned` },
  );
  expect(waiting.status?.nodeName).toBeUndefined();
  await kubectl(["apply", "-f", "-"], JSON.stringify(slowExecution(raced)));
  await placeOnNode(raced);
  const back = await waitFor(
    async () => {
      const e = await getJson<DrainExecutionJson>(["-n", APP_NS, "get", "execution", raced]);
      return e.status?.excusedAttempts === 1 && !e.status.nodeName ? e : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: `${raced} handed back and requeued` },
  ).catch(async (err) => {
    throw new Error(`${(err as Error).message}\n${await agentLogs()}`);
  });
  expect(back.status?.handBack).toMatchObject({ attempt: 1, reason: "NodeDraining" });
  expect(back.status?.startTime, "the raced one never started").toBeUndefined();
  expect(back.status?.phase).toBe("Pending");
  const ready = await getJson<{ status: { readyReplicas?: number } }>([
    "-n",
    NS,
    "get",
    "deploy",
    `${RELEASE}-controller`,
  ]);
  expect(ready.status.readyReplicas, "controller pods not evicted").toBe(2);
}

/** Writes a placement on NODE as the controller's scheduler does (schedule() in api/execution-lifecycle). */
async function placeOnNode(name: string): Promise<void> {
  const rt = await getJson<{ status?: { activeGeneration?: number } }>(["get", "runtime", PY_NODE]);
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  await waitFor(
    async () => {
      const e = await getJson<Record<string, unknown> & DrainExecutionJson>([
        "-n",
        APP_NS,
        "get",
        "execution",
        name,
      ]);
      const attempts = (e.status?.attempts ?? 0) + 1;
      const status = {
        ...e.status,
        phase: "Scheduled",
        nodeName: NODE,
        runtimeGeneration: rt.status?.activeGeneration,
        attempts,
        scheduledTime: now,
        conditions: [
          {
            type: "Scheduled",
            status: "True",
            reason: "Scheduled",
            message: `assigned to node ${NODE} (attempt ${attempts})`,
            lastTransitionTime: now,
          },
        ],
      };
      // A conflict (the controller wrote why it waits meanwhile) is retried from the newer copy.
      return kubectl(["replace", "--subresource=status", "-f", "-"], JSON.stringify({ ...e, status })).then(
        () => true,
        () => false,
      );
    },
    { timeoutMs: 30_000, intervalMs: 200, what: `${name} placed on ${NODE}` },
  );
}
