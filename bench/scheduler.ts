// `npm run bench:scheduler` (node --expose-gc bench/scheduler.ts): the
// scheduler's figures for issue 11. (1) Against the real kube-apiserver: 5,000
// queued Executions drained by the controller process with simulated agents,
// with the controller's RSS. (2) In process (see scheduler-inprocess.ts): the
// time to place one new Execution at 100, 10,000 and 100,000 queued, heap per
// queued Execution at 100,000, and the drain rate without HTTP. Writes
// bench/scheduler-results.json and the scheduler section of bench/README.md.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { ControlPlane, controlPlaneBinDir } from "../e2e/controlplane/control-plane.ts";
import { type ManagedProcess, startController } from "../e2e/support/processes.ts";
import { API_VERSION, isFinished, type Runtime } from "../src/api/index.ts";
import { KubeClient, loadKubeConfig } from "../src/k8s/client.ts";
import { errText } from "../src/k8s/errors.ts";
import { ExecutionResource, RuntimeResource } from "../src/k8s/resources.ts";
import { executionTraffic, perExecutionTraffic } from "./apiserver-requests.ts";
import { drainInProcess, memoryPerQueued, placementCost } from "./scheduler-inprocess.ts";
import { renderSchedulerSection, SCHEDULER_RESULTS } from "./scheduler-report.ts";
import { SIM_LABEL, SimulatedAgents } from "./simulated-agents.ts";
import { pool, round } from "./stats.ts";

const NS = "envicutor-bench";
const SCALE_NS = "envicutor-bench-scale";
const N = Number(process.env.BENCH_SCALE_EXECUTIONS ?? 5000);
const say = (m: string) => process.stderr.write(`[bench:scheduler] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const rssKiB = (pid: number, field: "VmHWM" | "VmRSS") => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
};

const SIM_RUNTIME = {
  language: "python",
  version: "3.11",
  packages: ["python3"],
  sourceFile: "main.py",
  runCommand: ["python3", "main.py"],
  nodeSelector: { [SIM_LABEL]: "true" },
  smokeTest: { source: "print('ok')", expectedOutput: "ok\n" },
} as unknown as Runtime["spec"];

async function createQueue(client: KubeClient): Promise<number> {
  const t = performance.now();
  await pool(N, 20, (i) =>
    client.create(ExecutionResource, {
      apiVersion: API_VERSION,
      kind: "Execution",
      metadata: { name: `s-${String(i).padStart(6, "0")}`, namespace: SCALE_NS },
      spec: {
        runtime: "bench-sim",
        files: [{ name: "main.py", content: "print(1)\n" }],
        expectedOutput: "1\n",
      },
    } as never),
  );
  return (performance.now() - t) / 1000;
}

/**
 * The apiserver's own ceiling in the same run: one status PUT of each (finished) Execution,
 * 160 in flight as the simulated agents write, with their watch still open, and no controller.
 * A drained Execution needs at least two such writes (placement, result).
 */
async function statusWriteBaseline(
  client: KubeClient,
  sim: SimulatedAgents,
): Promise<Record<string, number>> {
  const all = sim.executions();
  const t = performance.now();
  await pool(all.length, 160, (i) => {
    const e = all[i]!;
    return client
      .replaceStatus(ExecutionResource, { ...e, status: { ...e.status, message: "bench: baseline write" } })
      .catch(() => undefined);
  });
  const seconds = (performance.now() - t) / 1000;
  return { writes: all.length, seconds: round(seconds, 2), perSecond: round(all.length / seconds, 0) };
}

/** The controller's /metrics text ("" when it cannot be read). */
async function controllerMetricsText(ctl: ManagedProcess): Promise<string> {
  const port = ctl.logEntries((e) => e.msg === "serving /healthz, /readyz, /metrics").pop()?.port;
  if (!port) return "";
  return fetch(`http://127.0.0.1:${port}/metrics`).then(
    (r) => r.text(),
    () => "",
  );
}

/** The placement loop's cycles and their mean duration, from the controller's work-queue metrics. */
function cycles(text: string): { count: number; meanMs: number } {
  const metric = (name: string) =>
    Number(new RegExp(`^${name}\\{[^}]*name="scheduler"[^}]*\\} (\\S+)`, "m").exec(text)?.[1] ?? Number.NaN);
  const count = metric("envicutor_workqueue_work_duration_seconds_count");
  return {
    count,
    meanMs: round((metric("envicutor_workqueue_work_duration_seconds_sum") / count) * 1000, 2),
  };
}

/** The scheduler's status writes by kind and result, and the Executions requeued after a node loss. */
function controllerWrites(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(
    /^envicutor_scheduler_status_writes_total\{kind="(\w+)",result="(\w+)"\} (\S+)/gm,
  ))
    out[`${m[1]} ${m[2]}`] = Number(m[3]);
  const requeued = /^envicutor_executions_rescheduled_total (\S+)/m.exec(text)?.[1];
  if (requeued !== undefined) out["requeued after node loss"] = Number(requeued);
  return out;
}

/** Starts a controller with N queued and waits until every Execution is finished. */
async function drain(
  kubeconfig: string,
  logDir: string,
  sim: SimulatedAgents,
): Promise<Record<string, unknown>> {
  const t = performance.now();
  const ctl = startController({ kubeconfig, namespace: NS, identity: "bench-drain", logDir });
  let finished = 0;
  let queuedRssKiB = 0;
  let firstMs: number | undefined;
  const busy: number[] = [];
  let nextSample = 0;
  try {
    while (performance.now() - t < 300_000) {
      const all = sim.executions();
      finished = all.filter((e) => e.status?.phase === "Succeeded" || e.status?.phase === "Failed").length;
      if (firstMs !== undefined && performance.now() - t >= nextSample) {
        // Slots busy (assigned, not finished) once a second: full = the agents are the limit.
        nextSample = performance.now() - t + 1000;
        busy.push(all.filter((e) => e.status?.nodeName && !isFinished(e.status)).length);
      }
      if (firstMs === undefined && all.some((e) => e.status?.nodeName)) {
        firstMs = performance.now() - t;
        queuedRssKiB = ctl.pid ? rssKiB(ctl.pid, "VmRSS") : 0; // synced, N still queued
      }
      if (finished >= N) break;
      await sleep(20);
    }
    const seconds = (performance.now() - t) / 1000;
    const fromFirst = seconds - (firstMs ?? 0) / 1000;
    return {
      executions: N,
      finished,
      secondsFromControllerStart: round(seconds, 2),
      firstAssignmentMs: round(firstMs ?? 0),
      secondsFromFirstAssignment: round(fromFirst, 2),
      drainPerSecond: round(finished / fromFirst, 0),
      controllerRssWithAllQueuedMiB: round(queuedRssKiB / 1024, 1),
      controllerPeakRssMiB: ctl.pid ? round(rssKiB(ctl.pid, "VmHWM") / 1024, 1) : undefined,
      simulatedAgentConflicts: sim.conflicts,
      slotsBusyPerSecond: busy,
      ...(await controllerMetricsText(ctl).then((t) => ({
        schedulerCycles: cycles(t),
        schedulerWrites: controllerWrites(t),
      }))),
      // Others share this machine: the 1-minute load average when the drain ended.
      loadAverage1m: round(loadavg()[0]!, 2),
      cores: availableParallelism(),
    };
  } finally {
    await ctl.stop(10_000);
  }
}

async function realApiserver(tmp: string): Promise<Record<string, unknown>> {
  const logDir = join(tmp, "logs");
  mkdirSync(logDir, { recursive: true });
  const cp = new ControlPlane(controlPlaneBinDir(), { crds: join(import.meta.dirname, "..", "crds") });
  const info = await cp.start();
  let sim: SimulatedAgents | undefined;
  let setupCtl: ManagedProcess | undefined;
  try {
    const client = new KubeClient(loadKubeConfig(info.kubeconfigPath), { fieldManager: "envicutor-bench" });
    for (const ns of [NS, SCALE_NS])
      await client.rest.request("POST", "/api/v1/namespaces", {
        body: { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
      });
    sim = new SimulatedAgents({
      client,
      leaseNamespace: NS,
      executionNamespace: SCALE_NS,
      nodes: Array.from({ length: 20 }, (_, i) => `sim-${String(i).padStart(2, "0")}`),
      slotsPerNode: 8,
      // One write in flight per slot, as 20 agents with 8 slots each would have.
      concurrency: 160,
    });
    const rt = await client.create(RuntimeResource, {
      apiVersion: API_VERSION,
      kind: "Runtime",
      metadata: { name: "bench-sim" },
      spec: SIM_RUNTIME,
    } as Runtime);
    await sim.setUp(rt);
    // A first controller makes the Runtime Ready, then stops, so the queue builds up unserved.
    setupCtl = startController({
      kubeconfig: info.kubeconfigPath,
      namespace: NS,
      identity: "bench-setup",
      logDir,
    });
    for (let i = 0; i < 600; i++) {
      const r = await client.get(RuntimeResource, "bench-sim");
      if (r.status?.conditions?.find((c) => c.type === "Ready")?.status === "True") break;
      await sleep(100);
    }
    await setupCtl.stop(10_000);
    const createSeconds = await createQueue(client);
    say(`created ${N} in ${round(createSeconds, 1)} s`);
    const before = await executionTraffic(client, ["verb", "subresource", "code"]);
    await sim.start();
    const d = await drain(info.kubeconfigPath, logDir, sim);
    const after = await executionTraffic(client, ["verb", "subresource", "code"]);
    const baseline = await statusWriteBaseline(client, sim);
    say(`baseline: ${baseline.writes} status writes at ${baseline.perSecond}/s`);
    return {
      ...d,
      statusWriteBaseline: baseline,
      // kube-apiserver's counters over the drain: requests by verb, subresource and code (409 = conflict).
      apiserverRequestsPerExecution: perExecutionTraffic(before, after, N),
      createSeconds: round(createSeconds, 1),
      apiserver: "kube-apiserver (this machine), etcd --unsafe-no-fsync",
    };
  } finally {
    await sim?.stop().catch(() => undefined);
    await cp.stop().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version };
  const tmp = mkdtempSync(join(tmpdir(), "envicutor-bench-scheduler-"));
  try {
    if (!process.env.BENCH_SKIP_APISERVER) {
      say(`real apiserver: drain ${N} queued with simulated agents`);
      results.drainRealApiserver = await realApiserver(tmp);
      say(JSON.stringify(results.drainRealApiserver));
    }
    if (process.env.BENCH_SKIP_INPROCESS) return;
    say("in process: drain 5,000");
    results.drainInProcess = await drainInProcess(5000);
    say(JSON.stringify(results.drainInProcess));
    results.placement = [];
    for (const q of [100, 10_000, 100_000]) {
      const r = await placementCost(q);
      (results.placement as unknown[]).push(r);
      say(JSON.stringify(r));
    }
    results.memory = await memoryPerQueued(100_000);
    say(JSON.stringify(results.memory));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  writeFileSync(SCHEDULER_RESULTS, `${JSON.stringify(results, null, 2)}\n`);
  const readme = join(import.meta.dirname, "README.md");
  writeFileSync(readme, renderSchedulerSection(readFileSync(readme, "utf8"), results));
  say("wrote bench/scheduler-results.json and the scheduler section of bench/README.md");
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    say(`failed: ${errText(err)}`);
    process.exit(1);
  },
);
