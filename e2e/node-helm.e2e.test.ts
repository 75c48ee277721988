// Envicutor installed the way a platform team installs it: `helm install` of
// charts/envicutor into a cluster with a REAL node (kubelet, containerd 2,
// runc, CNI bridge; e2e/node), running the controller and agent images built
// from this checkout without Docker or a registry (images/build.sh, the file
// system images/Containerfile gives), loaded into the node's containerd.
//
// The cluster is its own: a control plane like the suite's (e2e/controlplane)
// but listening where pods reach it, with the controllers Deployments and
// DaemonSets need, and kube-scheduler. The shared one is left alone (other
// files create Node objects with no kubelet behind them in it).
//
// The agent pod installs a Runtime of the stand-in package set (nix/pkgs,
// NOT nixpkgs; frozen-package-set.ts says how a pod gets it) into the node's
// /nix (hostPath, shared with this machine's Nix) and judges an Execution in
// isolate (this machine's isolate, copied into the test's agent image).
// README "Install on a cluster" follows these steps.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { KubeConfig, Watch } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildControlPlaneBinaries, ControlPlane } from "./controlplane/control-plane.ts";
import { type FrozenPackageSet, frozenPackageSet } from "./node/frozen-package-set.ts";
import { type ImageArchive, KubeNode } from "./node/node.ts";
import { waitFor } from "./support/cluster.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const NODE = "envicutor-e2e-node";
const NS = "envicutor-system";
const RELEASE = "envicutor";
const APP_NS = "envicutor-node-e2e";
/** The IPv4 address of the interface with the default route (here eth0's 192.0.2.2): kubelet refuses a loopback node IP. */
const NODE_IP = (() => {
  const routes = existsSync("/proc/net/route")
    ? readFileSync("/proc/net/route", "utf8").split("\n").slice(1)
    : [];
  const dev = routes.map((l) => l.split(/\s+/)).find((f) => f[1] === "00000000")?.[0] ?? "";
  return networkInterfaces()[dev]?.find((a) => a.family === "IPv4" && !a.internal)?.address ?? "";
})();
const POD_CIDR = "10.234.0.0/24";
const BOX_ID_BASE = 700; // ids 700-707: taken by no other e2e file

/** What this file needs and does not build itself; each missing item is printed and the file skips. */
async function missing(): Promise<string[]> {
  const out: string[] = [];
  if (process.getuid?.() !== 0) out.push("root (kubelet, containerd, mounts)");
  if (!existsSync("/usr/local/bin/isolate")) out.push("isolate at /usr/local/bin/isolate (README: isolate)");
  if (!existsSync("/usr/lib/cni/bridge"))
    out.push("CNI plugins (apt-get install containernetworking-plugins)");
  if (
    !(await run("umoci", ["--version"]).then(
      () => true,
      () => false,
    ))
  )
    out.push("umoci (apt-get install umoci)");
  const node = await run("bash", [join(ROOT, "e2e/node/build-node.sh"), "--check"]).catch(() => undefined);
  if (!node) out.push("kubelet, containerd, runc (run scripts/setup.sh: e2e/node/build-node.sh)");
  if (!NODE_IP) out.push("a network interface with an IPv4 address other than loopback (the node's IP)");
  if (out.length) console.warn(`!!! node-helm e2e SKIPPED — missing: ${out.join("; ")}`);
  return out;
}
const skip = (await missing()).length > 0;

let tmp: string;
let cp: ControlPlane;
let node: KubeNode;
let helmBin: string;
let pkgs: FrozenPackageSet;

async function kubectl(args: string[], input?: string): Promise<string> {
  // Its discovery cache in the test's directory, not ~/.kube/cache.
  const kubeArgs = [`--kubeconfig=${cp.kubeconfigPath}`, `--cache-dir=${join(tmp, "kube-cache")}`, ...args];
  const child = run(cp.kubectlPath, kubeArgs, { maxBuffer: 64 << 20 });
  if (input !== undefined) child.child.stdin?.end(input);
  try {
    return (await child).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(" ")}: ${e.stderr?.trim() || e.message}`);
  }
}

async function helm(args: string[]): Promise<string> {
  try {
    return (await run(helmBin, [`--kubeconfig=${cp.kubeconfigPath}`, ...args], { maxBuffer: 64 << 20 }))
      .stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`helm ${args.join(" ")}: ${e.stderr?.trim() || e.message}`);
  }
}

async function getJson<T = Record<string, unknown>>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, "-o", "json"])) as T;
}

/** controller, agent and pause images from images/build.sh (this machine's isolate in the agent). */
async function buildImages(out: string, nodeBin: string): Promise<ImageArchive[]> {
  const env = {
    ...process.env,
    PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}`,
    ENVICUTOR_IMAGE_OUT: out,
    ISOLATE_FROM: "/",
    // The node's /nix is this machine's too: the image's build users are this machine's.
    NIX_USERS_FROM: "/etc",
    PAUSE_BIN: join(nodeBin, "pause"),
    PAUSE_TAG: "e2e",
  };
  const t = Date.now();
  const res = await run("bash", [join(ROOT, "images/build.sh"), "controller", "agent", "pause"], {
    env,
    maxBuffer: 16 << 20,
  });
  console.log(`[e2e] images built in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  return res.stdout
    .trim()
    .split("\n")
    .map((l) => {
      const [ref, archive] = l.split(" ");
      return { ref: ref!, archive: archive! };
    });
}

async function nodeReady(): Promise<boolean> {
  const n = await getJson<{ status?: { conditions?: { type: string; status: string }[] } }>([
    "get",
    "node",
    NODE,
  ]).catch(() => undefined);
  return n?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

beforeAll(async () => {
  if (skip) return;
  tmp = await mkdtemp(join(tmpdir(), "envicutor-node-e2e-"));
  const token = `node-${Date.now().toString(16)}-${process.pid}`;
  const nodeBin = (await run("bash", [join(ROOT, "e2e/node/build-node.sh")])).stdout.trim();
  helmBin = join((await run("bash", [join(ROOT, "scripts/build-helm.sh")])).stdout.trim(), "helm");
  cp = new ControlPlane(await buildControlPlaneBinaries(), {
    crds: join(ROOT, "charts/envicutor/crds"),
    bindAddress: "0.0.0.0",
    advertiseAddress: NODE_IP,
    controllers: ["*"],
    tokens: [[token, `system:node:${NODE}`, `node-${NODE}`, "system:nodes"]],
    scheduler: join(nodeBin, "kube-scheduler"),
  });
  await cp.start();
  const port = new URL(cp.server).port;
  node = new KubeNode({
    bin: nodeBin,
    name: NODE,
    server: cp.server,
    token,
    nodeIp: NODE_IP,
    podCidr: POD_CIDR,
    apiserverService: { clusterIp: "10.96.0.1", target: `${NODE_IP}:${port}` },
    labels: { "envicutor.io/e2e": "node" },
  });
  const images = await buildImages(join(tmp, "images"), nodeBin);
  const t = Date.now();
  await node.start(images);
  await waitFor(nodeReady, { timeoutMs: 120_000, intervalMs: 500, what: `Node ${NODE} Ready` }).catch(
    (err) => {
      throw new Error(`${(err as Error).message}\n--- kubelet:\n${node.tail("kubelet")}`);
    },
  );
  const v = await node.versions();
  console.log(
    `[e2e] node ${NODE} Ready in ${((Date.now() - t) / 1000).toFixed(1)} s: ${v.kubelet}; ${v.containerd}; ${v.runc}; CNI plugins ${v.cni} (Debian)`,
  );
  const state = join(tmp, "state");
  await mkdir(join(state, "e2e"), { recursive: true });
  pkgs = await frozenPackageSet(join(state, "e2e"), ["python3", "bash", "coreutils"]);
}, 1_200_000);

afterAll(async () => {
  if (skip) return;
  await node?.stop();
  await cp?.stop();
  const left = node?.leftovers() ?? [];
  await rm(tmp, { recursive: true, force: true });
  for (let id = BOX_ID_BASE; id < BOX_ID_BASE + 8; id++)
    await rm(`/var/local/lib/isolate/${id}`, { recursive: true, force: true });
  expect(left, "what the node left behind").toEqual([]);
}, 300_000);

/** The chart's values for this cluster: everything else is the chart's default. */
function values(): string {
  return `# What the e2e node needs beyond the chart's defaults (see README "Install on a cluster").
agent:
  slots: 2
  boxIdBase: ${BOX_ID_BASE}
  hostPaths:
    stateDir: ${join(tmp, "state")}
  nix:
    packageSet: ${pkgs.location}
    substituters: ["${pkgs.cache.url}"]
    trustedPublicKeys: ["${pkgs.cache.publicKey}"]
    installTimeoutSeconds: 120
  resources:
    requests: {cpu: 100m, memory: 256Mi}
controller:
  resources:
    requests: {cpu: 50m, memory: 64Mi}
`;
}

describe.skipIf(skip)("a real node: helm install of the chart with images built here", () => {
  it("the node runs on containerd with the images loaded", async () => {
    const images = await node.ctr(["images", "list", "-q"]);
    expect(images).toContain("ghcr.io/envicutor/envicutor-controller:0.1.0");
    expect(images).toContain("ghcr.io/envicutor/envicutor-agent:0.1.0");
    const n = await getJson<{
      status: { nodeInfo: { containerRuntimeVersion: string; kubeletVersion: string } };
    }>(["get", "node", NODE]);
    expect(n.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/v?2\./);
    expect(n.status.nodeInfo.kubeletVersion).toBe("v1.36.3");
  });

  it("helm install: the controller Deployment (2 replicas, one leader) and the agent DaemonSet become Ready", async () => {
    await writeFile(join(tmp, "values.yaml"), values());
    const t = Date.now();
    await helm([
      "install",
      RELEASE,
      join(ROOT, "charts/envicutor"),
      "--namespace",
      NS,
      "--create-namespace",
      "-f",
      join(tmp, "values.yaml"),
      "--wait",
      "--timeout",
      "5m",
    ]).catch(async (err) => {
      throw new Error(`${(err as Error).message}\n${await podsReport()}`);
    });
    // helm --wait counts a DaemonSet ready with maxUnavailable (1) pods missing: wait for the pod itself.
    await kubectl(["-n", NS, "rollout", "status", `ds/${RELEASE}-agent`, "--timeout=180s"]);
    await kubectl(["-n", NS, "rollout", "status", `deploy/${RELEASE}-controller`, "--timeout=180s"]);
    console.log(`[e2e] helm install Ready in ${((Date.now() - t) / 1000).toFixed(1)} s`);
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
    await waitFor(
      async () => {
        const rt = await getJson<{ status?: { conditions?: { type: string; status: string }[] } }>([
          "get",
          "runtime",
          "py-node",
        ]);
        return rt.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      },
      { timeoutMs: 240_000, intervalMs: 1000, what: "Runtime py-node Ready" },
    ).catch(async (err) => {
      throw new Error(
        `${(err as Error).message}\n${await kubectl(["get", "runtime", "py-node", "-o", "yaml"])}\n${await agentLogs()}`,
      );
    });
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
    for (const c of ["controller", "agent"])
      await node.ctr([
        "images",
        "tag",
        `ghcr.io/envicutor/envicutor-${c}:0.1.0`,
        `ghcr.io/envicutor/envicutor-${c}:${tag}`,
      ]);
    await inFlight("upgraded", async () => {
      await helm([
        "upgrade",
        RELEASE,
        join(ROOT, "charts/envicutor"),
        "--namespace",
        NS,
        "-f",
        join(tmp, "values.yaml"),
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

  it("helm uninstall (after the Runtime is deleted) leaves no object of the release", async () => {
    await kubectl(["delete", "runtime", "py-node", "--wait=true", "--timeout=120s"]);
    await kubectl(["delete", "namespace", APP_NS, "--wait=true", "--timeout=120s"]);
    await helm(["uninstall", RELEASE, "--namespace", NS, "--wait", "--timeout", "3m"]);
    await waitFor(async () => (await kubectl(["-n", NS, "get", "pods", "-o", "name"])).trim() === "", {
      timeoutMs: 120_000,
      what: "the release's pods gone",
    });
    const left = await kubectl([
      "get",
      "all,serviceaccounts,roles,rolebindings,leases,clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings",
      "-A",
      "-l",
      `app.kubernetes.io/instance=${RELEASE}`,
      "-o",
      "name",
    ]);
    expect(left.trim()).toBe("");
  });
});

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
  kc.loadFromFile(cp.kubeconfigPath);
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
      runtime: "py-node",
      files: [{ name: "main.py", content: "import time\ntime.sleep(3)\nprint(input())" }],
      testCases: [{ stdin: "1\n", expectedOutput: "1\n" }],
    },
  };
}

interface ExecutionJson {
  status?: { phase?: string; verdict?: string; nodeName?: string; tests?: { verdict: string }[] };
}

function pythonRuntime() {
  return {
    apiVersion: "envicutor.io/v1alpha1",
    kind: "Runtime",
    metadata: { name: "py-node" },
    spec: {
      language: "python",
      version: "3.11",
      packages: ["python3"],
      sourceFile: "main.py",
      runCommand: ["python3", "main.py"],
      smokeTest: { source: "print('ok')", expectedOutput: "ok\n" },
    },
  };
}

function execution(name: string) {
  return {
    apiVersion: "envicutor.io/v1alpha1",
    kind: "Execution",
    metadata: { name, namespace: APP_NS },
    spec: {
      runtime: "py-node",
      files: [{ name: "main.py", content: "import sys\nprint(sys.stdin.read().upper(), end='')" }],
      testCases: [
        { stdin: "abc\n", expectedOutput: "ABC\n" },
        { stdin: "x\n", expectedOutput: "nope\n" },
      ],
    },
  };
}

async function agentLogs(): Promise<string> {
  return kubectl(["-n", NS, "logs", `ds/${RELEASE}-agent`, "-c", "agent", "--tail=40"]).catch((e) =>
    String(e),
  );
}

async function podsReport(): Promise<string> {
  const pods = await kubectl(["-n", NS, "get", "pods", "-o", "wide"]).catch((e) => String(e));
  const events = await kubectl(["-n", NS, "get", "events", "--sort-by=.lastTimestamp"]).catch((e) =>
    String(e),
  );
  return `${pods}\n${events.split("\n").slice(-25).join("\n")}\n--- kubelet:\n${node.tail("kubelet", 20)}`;
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
  kc.loadFromFile(cp.kubeconfigPath);
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
  const rt = await getJson<{ status?: { activeGeneration?: number } }>(["get", "runtime", "py-node"]);
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
