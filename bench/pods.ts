// `npm run bench:pods` (issue 12): Execution latency when Envicutor runs as
// pods (`helm install` of charts/envicutor on a real kubelet/containerd node,
// the images built here: e2e/node/helm-cluster.ts, as the node-helm e2e test
// installs it) against the same when the controller and the agent run as
// processes on that machine, in one run and back to back: the same cluster
// and node, the same Runtime object (installed once; the agent's pod finds it
// in the state directory the processes used), the same program (python3
// print(1)), one Execution at a time, latency from the client's create to its
// watch seeing the Execution finished. Processes first, so that the same
// Runtime carries over. Appends to bench/pods-results.json and rewrites its
// section of bench/README.md. Needs what the node-helm e2e test needs (root,
// isolate, the built node): e2e/node/prerequisites.ts.
import { rm } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { HelmCluster, NODE } from "../e2e/node/helm-cluster.ts";
import { missingForNode } from "../e2e/node/prerequisites.ts";
import { PY_NODE, pythonRuntime } from "../e2e/node/runtimes.ts";
import { waitFor } from "../e2e/support/cluster.ts";
import { startAgent, startController } from "../e2e/support/processes.ts";
import { KubeClient, loadKubeConfig } from "../src/k8s/client.ts";
import { RuntimeResource, WorkerResource } from "../src/k8s/resources.ts";
import { FinishWatch } from "./finish-watch.ts";
import { type PodsResult, writePodsResult } from "./pods-report.ts";
import { round, summarize } from "./stats.ts";

const APP_NS = "envicutor-bench-pods";
/** Where the processes keep their Leases: apart from the release's namespace. */
const PROC_NS = "envicutor-bench-processes";
/** The processes' agent boxes (840–849 is this bench's range); the pods' agent uses the node-helm test's 700–707. */
const PROC_BOX_BASE = 840;
const POD_BOX_BASE = 700;
const RUNS = Number(process.env.BENCH_PODS_RUNS ?? 40);
const WARMUP = 5;

const started = Date.now();
const say = (msg: string) =>
  process.stderr.write(`[bench:pods ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${msg}\n`);

/** One Execution at a time: ms from create to the watch showing it finished, each Accepted. */
async function latencies(client: KubeClient, watch: FinishWatch, side: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const name = `${side}-${String(i).padStart(3, "0")}`;
    const { posted, finished, ex } = await watch.run(client, name, {
      runtime: PY_NODE,
      files: [{ name: "main.py", content: "print(1)\n" }],
      expectedOutput: "1\n",
    });
    if (ex.status?.verdict !== "Accepted") throw new Error(`${name}: ${JSON.stringify(ex.status)}`);
    out.push(finished - posted);
  }
  return out;
}

/** Warm-up runs (not counted), then RUNS measured ones. */
async function measure(client: KubeClient, watch: FinishWatch, side: string): Promise<number[]> {
  await latencies(client, watch, `${side}-warmup`, WARMUP);
  say(`${side}: ${RUNS} Executions, one at a time`);
  const ms = await latencies(client, watch, side, RUNS);
  say(`${side}: p50 ${summarize(ms).p50} ms, p95 ${summarize(ms).p95} ms`);
  return ms;
}

/** The node's Worker (the Worker of the agent now running: the last one's is deleted) has it Installed, and it is Ready. */
async function runtimeReady(client: KubeClient): Promise<void> {
  await waitFor(
    async () => {
      const w = await client.get(WorkerResource, NODE).catch(() => undefined);
      const installed = w?.status?.runtimes?.some((r) => r.name === PY_NODE && r.phase === "Installed");
      const rt = await client.get(RuntimeResource, PY_NODE);
      return installed && rt.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    },
    { timeoutMs: 300_000, intervalMs: 500, what: `Runtime ${PY_NODE} installed on ${NODE} and Ready` },
  );
}

/**
 * The controller and the agent as processes on this machine, the agent as the
 * node's (same name, state directory, package set and cache as the pod gets),
 * against the same control plane; stopped, with their Worker, afterwards.
 */
async function processSide(c: HelmCluster, client: KubeClient, watch: FinishWatch): Promise<number[]> {
  await c.kubectl(["create", "namespace", PROC_NS]);
  const common = { kubeconfig: c.cp.kubeconfigPath, namespace: PROC_NS, logDir: join(c.tmp, "logs") };
  const controller = startController({ ...common, identity: "bench-pods" });
  const agent = startAgent({
    ...common,
    nodeName: NODE,
    stateDir: c.stateDir,
    slots: 2,
    boxIdBase: PROC_BOX_BASE,
    env: {
      ENVICUTOR_PACKAGE_SET: c.pkgs.location,
      ENVICUTOR_NIX_SUBSTITUTERS: c.pkgs.cache.url,
      ENVICUTOR_NIX_TRUSTED_PUBLIC_KEYS: c.pkgs.cache.publicKey,
    },
  });
  try {
    await c.kubectl(["apply", "-f", "-"], JSON.stringify(pythonRuntime()));
    await runtimeReady(client).catch((err) => {
      throw new Error(`${(err as Error).message}\n--- agent:\n${agent.logs().slice(-4000)}`);
    });
    return await measure(client, watch, "processes");
  } finally {
    await agent.stop();
    await controller.stop();
    await client.delete(WorkerResource, NODE).catch(() => undefined);
    for (let id = PROC_BOX_BASE; id < PROC_BOX_BASE + 10; id++)
      await rm(`/var/local/lib/isolate/${id}`, { recursive: true, force: true });
  }
}

async function podSide(c: HelmCluster, client: KubeClient, watch: FinishWatch): Promise<number[]> {
  const s = await c.install();
  say(`helm install Ready in ${s.toFixed(1)} s`);
  await runtimeReady(client);
  return measure(client, watch, "pods");
}

function result(c: { versions: string }, processes: number[], pods: number[]): PodsResult {
  const p = summarize(processes);
  const q = summarize(pods);
  return {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model.trim()}, load average ${loadavg()
      .map((x) => round(x, 2))
      .join(" ")}`,
    node: c.versions,
    order: "processes, then pods, back to back",
    program: "python3 print(1), one test, one Execution at a time",
    runs: RUNS,
    warmup: WARMUP,
    processesMs: p,
    podsMs: q,
    ratioP50: round(q.p50 / p.p50, 3),
    ratioP95: round(q.p95 / p.p95, 3),
    samples: { processes, pods },
  };
}

async function main(): Promise<void> {
  const missing = await missingForNode();
  if (missing.length) throw new Error(`bench:pods needs: ${missing.join("; ")}`);
  say("control plane, node (kubelet, containerd), images");
  const c = await HelmCluster.start({ boxIdBase: POD_BOX_BASE, log: say });
  const client = new KubeClient(loadKubeConfig(c.cp.kubeconfigPath), { fieldManager: "envicutor-bench" });
  const watch = new FinishWatch(client, APP_NS);
  try {
    const v = await c.node.versions();
    await c.kubectl(["create", "namespace", APP_NS]);
    await watch.start();
    const processes = await processSide(c, client, watch);
    const pods = await podSide(c, client, watch);
    const r = result({ versions: `${v.kubelet}; ${v.containerd}; ${v.runc}` }, processes, pods);
    writePodsResult(r);
    say(`pods ÷ processes: p50 ${r.ratioP50}, p95 ${r.ratioP95}`);
  } finally {
    await watch.stop();
    client.close();
    const left = await c.stop();
    if (left.length) say(`the node left behind: ${left.join(", ")}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
