// `npm run bench:node` (issue 17): one node's cost and speed against bare
// isolate, in one run. The node (the agent and the boxes it starts) is pinned
// to CPU 1; etcd, kube-apiserver, kube-controller-manager, the controller and
// this bench client to CPU 0 (on a 2-core machine this is all the separation
// there is). Measures CPU per Execution of each process from /proc, latency
// and its breakdown by hop, and throughput at equal parallelism (the node's 2
// slots; 2 Executions in flight, then 8 so that the queue never runs dry)
// against bare isolate init-run-cleanup ×2 pinned to the same CPU. Appends to
// bench/node-results.json and rewrites its section of bench/README.md.
// When go-judge is on this machine ($GO_JUDGE_BIN or /opt/go-judge/go-judge),
// it runs the same program with the same parallelism, pinned to CPU 1 too.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ControlPlane, controlPlaneBinDir } from "../e2e/controlplane/control-plane.ts";
import { type ManagedProcess, startAgent, startController } from "../e2e/support/processes.ts";
import { StateDir } from "../src/agent/nix/state-dir.ts";
import { detectIsolate } from "../src/agent/sandbox/isolate-detect.ts";
import { type Execution, isFinished } from "../src/api/execution.ts";
import { API_VERSION } from "../src/api/group.ts";
import { resolveExecutionLimits } from "../src/api/limits.ts";
import type { Runtime } from "../src/api/runtime.ts";
import { DEFAULTS as CONTROLLER_DEFAULTS } from "../src/controller/config.ts";
import { KubeClient, loadKubeConfig } from "../src/k8s/client.ts";
import { errText } from "../src/k8s/errors.ts";
import { Informer } from "../src/k8s/informer.ts";
import { ExecutionResource, NodeResource, RuntimeResource, WorkerResource } from "../src/k8s/resources.ts";
import { executionTraffic, perExecutionTraffic } from "./apiserver-requests.ts";
import { BareBox, type BareOptions, bareInterpreted } from "./bare-isolate.ts";
import { type GoJudgeSide, startGoJudge } from "./go-judge.ts";
import { CpuMeter, type CpuSample, childPids, pinArgs, treeCpuMs } from "./node-cpu.ts";
import { NODE_RESULTS, writeNodeSection } from "./node-report.ts";
import { pool, round, summarize } from "./stats.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const NS = "envicutor-bench-node";
const NODE = "bench-node";
/** The bench's isolate boxes: the agent 800..803, bare runs 826..827 (800–829 is the bench's range). */
const AGENT_BOX_BASE = 800;
const BARE_BOX_BASE = 826;
const NODE_CPU = 1;
const REST_CPU = 0;
const env = (name: string, dflt: number) => Number(process.env[name] ?? dflt);
const LATENCY_RUNS = env("BENCH_LATENCY_RUNS", 60);
const THROUGHPUT_RUNS = env("BENCH_THROUGHPUT_RUNS", 60);
/**
 * The queue-kept-full phase: this many Executions in flight for the node's 2
 * slots, so a slot finds the next one waiting (the node's capacity, as bare
 * isolate's two back-to-back loops measure theirs), over QUEUED_RUNS.
 */
const QUEUED_IN_FLIGHT = env("BENCH_QUEUED_IN_FLIGHT", 8);
const QUEUED_RUNS = env("BENCH_QUEUED_RUNS", 120);
const TEST_RUNS = env("BENCH_TEST_RUNS", 20);
const EXTRA_TESTS = 10;
const IDLE_MS = 5_000;
const TRIVIAL_PY = "print(1)\n";
const ECHO_PY = "print(input())\n";

const started = Date.now();
const say = (msg: string) =>
  process.stderr.write(`[bench:node ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Date.now(), not performance.now(): compared with the agent's Date.now() stamps (another process).
const now = () => Date.now();

const PY_RUNTIME = {
  language: "python",
  version: "3.11",
  packages: ["python3"],
  sourceFile: "main.py",
  runCommand: ["python3", "main.py"],
  env: [{ name: "PYTHONUNBUFFERED", value: "1" }],
  smokeTest: { source: "print('ok')", expectedOutput: "ok\n" },
} as unknown as Runtime["spec"];

/** What the bench client saw of one Execution (epoch ms, sub-millisecond). */
interface Seen {
  posted: number;
  created?: number;
  scheduled?: number;
  running?: number;
  finished?: number;
  ex?: Execution;
}

/** The client's watch: when each Execution was seen Scheduled, Running and finished. */
class Watcher {
  readonly informer: Informer<Execution>;
  readonly seen = new Map<string, Seen>();
  private readonly waiters = new Map<string, () => void>();

  constructor(client: KubeClient) {
    this.informer = new Informer(client, ExecutionResource, { namespace: NS });
    this.informer.on((ev) => {
      if (ev.type !== "add" && ev.type !== "update") return;
      const s = this.seen.get(ev.key);
      if (!s) return;
      const t = now();
      const phase = ev.object.status?.phase;
      if (phase === "Scheduled") s.scheduled ??= t;
      if (phase === "Running") s.running ??= t;
      if (isFinished(ev.object.status) && s.finished === undefined) {
        s.finished = t;
        s.ex = ev.object;
        this.waiters.get(ev.key)?.();
      }
    });
  }

  expect(key: string): { seen: Seen; done: Promise<void> } {
    const seen: Seen = { posted: now() };
    this.seen.set(key, seen);
    const done = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${key} not finished after 60 s`)), 60_000);
      this.waiters.set(key, () => {
        clearTimeout(t);
        this.waiters.delete(key);
        resolve();
      });
    });
    return { seen, done };
  }
}

interface Setup {
  cp: ControlPlane;
  client: KubeClient;
  controller: ManagedProcess;
  agent: ManagedProcess;
  watcher: Watcher;
  meter: CpuMeter;
  bare: BareBox[];
  barePy: (box: BareBox, source: string, stdin?: string) => Promise<{ ms: number; stdout: string }>;
  /** go-judge, when it is on this machine and ran the program; `goJudgeNote` says which. */
  goJudge?: GoJudgeSide;
  goJudgeNote: string;
  tmp: string;
}

type Base = Omit<Setup, "watcher" | "meter" | "bare" | "barePy" | "goJudge" | "goJudgeNote">;

async function pin(pid: number, cpu: number): Promise<void> {
  await run("taskset", pinArgs(pid, cpu));
}

/**
 * BENCH_AGENT_CPU_PROF=<dir>: the agent runs under node --cpu-prof and writes its profile there when it stops.
 * The profiler costs the agent CPU, so such a run's figures are not written to node-results.json.
 */
const AGENT_PROF_DIR = process.env.BENCH_AGENT_CPU_PROF;
/** BENCH_AGENT_NODE_OPTIONS: more Node.js options for the agent (e.g. --perf-basic-prof, for `perf record -C 1`). */
const agentProfileEnv = (): Record<string, string> => {
  const opts = [
    ...(AGENT_PROF_DIR ? [`--cpu-prof --cpu-prof-dir=${AGENT_PROF_DIR} --cpu-prof-interval=200`] : []),
    ...(process.env.BENCH_AGENT_NODE_OPTIONS ? [process.env.BENCH_AGENT_NODE_OPTIONS] : []),
  ];
  return opts.length > 0 ? { NODE_OPTIONS: opts.join(" ") } : {};
};

async function startSystem(tmp: string): Promise<Base> {
  const logDir = join(tmp, "logs");
  // Everything this process starts from here inherits CPU 0, except what is moved to the node's CPU.
  await pin(process.pid, REST_CPU);
  const cp = new ControlPlane(controlPlaneBinDir(), { crds: join(ROOT, "crds") });
  const info = await cp.start();
  const client = new KubeClient(loadKubeConfig(info.kubeconfigPath), { fieldManager: "envicutor-bench" });
  await client.rest.request("POST", "/api/v1/namespaces", {
    body: { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
  });
  await client.create(NodeResource, { metadata: { name: NODE, labels: { "kubernetes.io/hostname": NODE } } });
  const controller = startController({
    kubeconfig: info.kubeconfigPath,
    namespace: NS,
    identity: "bench-node",
    logDir,
  });
  const packageSet = join(tmp, "pkgs.nix");
  writeFileSync(packageSet, `{ ... }: import ${join(ROOT, "nix/pkgs")} {}\n`);
  const agent = startAgent({
    kubeconfig: info.kubeconfigPath,
    namespace: NS,
    nodeName: NODE,
    stateDir: join(tmp, "state"),
    logDir,
    slots: 2,
    boxIdBase: AGENT_BOX_BASE,
    env: { ENVICUTOR_PACKAGE_SET: packageSet, ...agentProfileEnv() },
  });
  await pin(agent.pid!, NODE_CPU);
  await waitFor("the Worker", 60_000, async () => (await client.list(WorkerResource)).items.length > 0);
  return { cp, client, controller, agent, tmp };
}

async function waitFor(what: string, ms: number, fn: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await fn()) return;
    } catch (err) {
      last = err;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${errText(last)}` : ""}`);
}

async function installPython(s: Base) {
  await s.client.create(RuntimeResource, {
    apiVersion: API_VERSION,
    kind: "Runtime",
    metadata: { name: "bench-py" },
    spec: PY_RUNTIME,
  } as Runtime);
  let rt: Runtime | undefined;
  await waitFor("bench-py Ready", 300_000, async () => {
    rt = await s.client.get(RuntimeResource, "bench-py");
    return rt.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
  });
  const rec = (await new StateDir(join(s.tmp, "state")).read("bench-py", rt!.status!.activeGeneration!))!;
  return { rec, limits: resolveExecutionLimits(rt!.spec, {}).limits };
}

let seq = 0;
/** Creates an Execution and resolves when the client's watch shows it finished. */
async function submit(s: Setup, spec: Record<string, unknown>): Promise<Seen> {
  const name = `n-${(seq++).toString().padStart(5, "0")}`;
  const { seen, done } = s.watcher.expect(`${NS}/${name}`);
  await s.client.create(ExecutionResource, {
    apiVersion: API_VERSION,
    kind: "Execution",
    metadata: { name, namespace: NS },
    spec,
  } as never);
  seen.created = now();
  await done;
  const st = seen.ex?.status;
  if (st?.verdict !== "Accepted") {
    const bad = st?.tests?.find((t) => t.verdict !== "Accepted");
    throw new Error(`${name}: ${st?.phase} ${st?.verdict} ${st?.message}; ${JSON.stringify(bad)}`);
  }
  return seen;
}

const pySpec = (tests = 0) =>
  tests === 0
    ? { runtime: "bench-py", files: [{ name: "main.py", content: TRIVIAL_PY }], expectedOutput: "1\n" }
    : {
        runtime: "bench-py",
        files: [{ name: "main.py", content: ECHO_PY }],
        testCases: Array.from({ length: tests }, (_, i) => ({ stdin: `${i}\n`, expectedOutput: `${i}\n` })),
      };

/** CPU of each process over `fn`, the bench's reaped children (bare isolate) too, and the wall time. */
async function measured<T>(s: Setup, fn: () => Promise<T>) {
  const a = s.meter.sample();
  const t = now();
  const out = await fn();
  const wallMs = now() - t;
  return { out, wallMs, cpu: CpuMeter.delta(a, s.meter.sample()) };
}

type Cpu = Record<string, CpuSample>;
/** Per Execution: (window − idle rate × window) ÷ n, and the raw window ÷ n. */
function perExecution(cpu: Cpu, wallMs: number, idle: { cpu: Cpu; wallMs: number }, n: number) {
  const out: Record<string, { selfMs: number; selfRawMs: number; childrenMs: number }> = {};
  for (const [k, v] of Object.entries(cpu)) {
    const idleSelf = (idle.cpu[k]!.selfMs / idle.wallMs) * wallMs;
    out[k] = {
      selfMs: round((v.selfMs - idleSelf) / n, 2),
      selfRawMs: round(v.selfMs / n, 2),
      childrenMs: round(v.childrenMs / n, 2),
    };
  }
  return out;
}

function agentHops(agent: ManagedProcess): Map<string, Record<string, number>> {
  const m = new Map<string, Record<string, number>>();
  for (const e of agent.logEntries((x) => x.msg === "result written"))
    m.set(String(e.execution), e.hops as Record<string, number>);
  return m;
}

/** Median of each hop over the latency runs, from the client's and the agent's timestamps. */
function hopBreakdown(s: Setup, keys: string[]) {
  const hops = agentHops(s.agent);
  const steps: [string, string, string][] = [
    ["POST → create answered (client)", "posted", "created"],
    [
      "created → watch delivered to the agent (controller's placement write, two watches)",
      "created",
      "seenAt",
    ],
    ["agent: watch event → worker picked it up", "seenAt", "dequeuedAt"],
    // Since runningDelayMs (1 s by default) a short run is started with no Running write: 0 ms.
    ["agent: Running status write (none for runs under 1 s)", "dequeuedAt", "startedAt"],
    ["agent: box ready (isolate --init, source in)", "startedAt", "readyAt"],
    ["agent: run (isolate --run, compare)", "readyAt", "ranAt"],
    ["agent: box cleaned (isolate --cleanup)", "ranAt", "cleanedAt"],
    ["agent: result status write", "cleanedAt", "resultWrittenAt"],
    ["agent: run → result written (clean-up in the background)", "ranAt", "resultWrittenAt"],
    ["result written → watch delivered to the client", "resultWrittenAt", "finished"],
  ];
  const cleanedFirst = (t: Record<string, number | undefined>) =>
    t.cleanedAt !== undefined && t.cleanedAt <= t.resultWrittenAt!;
  const rows = steps.map(([what, from, to]) => {
    const d: number[] = [];
    // The agent's own CPU over the hop (its process.cpuUsage at both ends): runs are sequential here.
    const cpu: number[] = [];
    for (const k of keys) {
      const t = { ...s.watcher.seen.get(k), ...hops.get(k) } as Record<string, number | undefined>;
      // The clean-up's rows only where it came before the result write; the background row only where not.
      const onPath = to === "cleanedAt" || from === "cleanedAt";
      if (onPath !== cleanedFirst(t) && (onPath || what.includes("background"))) continue;
      if (t[from] !== undefined && t[to] !== undefined) d.push(t[to]! - t[from]!);
      const c = hops.get(k)?.cpuMs as unknown as Record<string, number> | undefined;
      if (c?.[from] !== undefined && c[to] !== undefined) cpu.push(round(c[to] - c[from], 2));
    }
    const agentCpu = cpu.length > 0 ? { agentCpuP50Ms: summarize(cpu).p50 } : {};
    return { hop: what, p50Ms: summarize(d).p50, meanMs: summarize(d).mean, n: d.length, ...agentCpu };
  });
  const sched: number[] = keys.flatMap((k) => {
    const x = s.watcher.seen.get(k)!;
    return x.scheduled !== undefined && x.created !== undefined ? [x.scheduled - x.created] : [];
  });
  return { rows, createdToClientSawScheduledP50Ms: summarize(sched).p50 };
}

/** One go-judge run of the trivial program, checked; its ms. */
async function goJudgeOnce(g: GoJudgeSide): Promise<number> {
  const r = await g.run(TRIVIAL_PY);
  if (r.stdout !== "1\n") throw new Error(`go-judge printed ${JSON.stringify(r.stdout)}`);
  return r.ms;
}

/** go-judge's part of the latency phase: its runs' latency and its process tree's CPU per run. */
function goJudgeLatency(ms: number[], cpuMs: number, sysP50: number) {
  if (ms.length === 0) return undefined;
  const sum = summarize(ms);
  return { ms: sum, p50OverGoJudgeMs: round(sysP50 - sum.p50), cpuMsPerRun: round(cpuMs / ms.length, 2) };
}

async function latencyPhase(s: Setup, idle: { cpu: Cpu; wallMs: number }) {
  const sys: number[] = [];
  const bare: number[] = [];
  const gj: number[] = [];
  const keys: string[] = [];
  const gjCpu0 = s.goJudge ? treeCpuMs(s.goJudge.server.pid!) : 0;
  const m = await measured(s, async () => {
    for (let i = 0; i < LATENCY_RUNS; i++) {
      const x = await submit(s, pySpec());
      sys.push(x.finished! - x.posted);
      keys.push(`${NS}/${x.ex!.metadata.name}`);
      const b = await s.barePy(s.bare[0]!, TRIVIAL_PY);
      if (b.stdout !== "1\n") throw new Error(`bare printed ${JSON.stringify(b.stdout)}`);
      bare.push(b.ms);
      if (s.goJudge) gj.push(await goJudgeOnce(s.goJudge));
    }
  });
  const gjCpu = s.goJudge ? treeCpuMs(s.goJudge.server.pid!) - gjCpu0 : 0;
  const programCpuMs = keys.reduce(
    (a, k) => a + (s.watcher.seen.get(k)!.ex!.status?.tests?.[0]?.cpuTimeMillis ?? 0),
    0,
  );
  return {
    runs: LATENCY_RUNS,
    systemMs: summarize(sys),
    bareMs: summarize(bare),
    p50OverBareMs: round(summarize(sys).p50 - summarize(bare).p50),
    goJudge: goJudgeLatency(gj, gjCpu, summarize(sys).p50),
    cpuPerExecution: perExecution(m.cpu, m.wallMs, idle, LATENCY_RUNS),
    programCpuMsPerExecution: round(programCpuMs / LATENCY_RUNS, 2),
    hops: hopBreakdown(s, keys),
  };
}

/** Agent CPU per extra test case: Executions of 1 test against Executions of 1 + EXTRA_TESTS tests. */
async function testCasePhase(s: Setup, idle: { cpu: Cpu; wallMs: number }) {
  const batch = async (tests: number) => {
    const m = await measured(s, async () => {
      for (let i = 0; i < TEST_RUNS; i++) await submit(s, pySpec(tests));
    });
    return perExecution(m.cpu, m.wallMs, idle, TEST_RUNS);
  };
  const one = await batch(1);
  const many = await batch(1 + EXTRA_TESTS);
  const per = (k: string, f: "selfMs" | "childrenMs") => round((many[k]![f] - one[k]![f]) / EXTRA_TESTS, 2);
  return {
    executions: TEST_RUNS,
    extraTests: EXTRA_TESTS,
    oneTest: one,
    manyTests: many,
    agentMsPerExtraTest: per("agent", "selfMs"),
    agentChildrenMsPerExtraTest: per("agent", "childrenMs"),
  };
}

/**
 * `runs` trivial Executions, `inFlight` at a time, against bare isolate ×2 on
 * the node's CPU (two loops of init-run-cleanup, back to back) and go-judge
 * (-parallelism 2) with as many requests in flight. At 2 in flight each slot
 * waits for the client's round trip between Executions; with more, the
 * controller's queue holds the next one (the node's 2 slots are the
 * parallelism either way).
 */
async function throughputPhase(s: Setup, idle: { cpu: Cpu; wallMs: number }, inFlight: number, runs: number) {
  const m = await measured(s, () => pool(runs, inFlight, () => submit(s, pySpec())));
  let next = 0;
  const tBare = now();
  await Promise.all(
    s.bare.map(async (box) => {
      while (next++ < runs) await s.barePy(box, TRIVIAL_PY);
    }),
  );
  const bareMs = now() - tBare;
  const sysPerSecond = runs / (m.wallMs / 1000);
  const barePerSecond = runs / (bareMs / 1000);
  const goJudge = s.goJudge
    ? await goJudgeThroughput(s.goJudge, { inFlight, runs }, sysPerSecond, barePerSecond)
    : undefined;
  return {
    executions: runs,
    parallelism: 2,
    inFlight,
    systemSeconds: round(m.wallMs / 1000, 2),
    systemPerSecond: round(sysPerSecond, 2),
    bareSeconds: round(bareMs / 1000, 2),
    barePerSecond: round(barePerSecond, 2),
    ratio: round(sysPerSecond / barePerSecond, 3),
    cpuPerExecution: perExecution(m.cpu, m.wallMs, idle, runs),
    goJudge,
  };
}

/** go-judge's runs as the phase's (its -parallelism is 2), after bare's. */
async function goJudgeThroughput(
  g: GoJudgeSide,
  o: { inFlight: number; runs: number },
  sysPerSecond: number,
  barePerSecond: number,
) {
  const cpu0 = treeCpuMs(g.server.pid!);
  const t = now();
  await pool(o.runs, o.inFlight, () => goJudgeOnce(g));
  const ms = now() - t;
  const perSecond = o.runs / (ms / 1000);
  return {
    seconds: round(ms / 1000, 2),
    perSecond: round(perSecond, 2),
    cpuMsPerRun: round((treeCpuMs(g.server.pid!) - cpu0) / o.runs, 2),
    systemRatio: round(sysPerSecond / perSecond, 3),
    overBare: round(perSecond / barePerSecond, 3),
  };
}

async function setUpMeasuring(base: Base): Promise<Setup> {
  const isolate = await detectIsolate("isolate");
  if (!isolate) throw new Error("isolate not found: bench:node needs it");
  const { rec, limits } = await installPython(base);
  const [etcd] = childPids(process.pid, "etcd");
  const [apiserver] = childPids(process.pid, "kube-apiserver");
  const [kcm] = childPids(process.pid, "kube-controller");
  if (!etcd || !apiserver || !kcm)
    throw new Error("control-plane processes not found among this process's children");
  const meter = new CpuMeter(
    {
      agent: base.agent.pid!,
      "kube-apiserver": apiserver,
      etcd,
      controller: base.controller.pid!,
      "kube-controller-manager": kcm,
      "bench client": process.pid,
      // The agent's command shells (src/agent/sandbox/command-shell.ts) count with it.
    },
    { agent: "sh" },
  );
  const bareOpts: BareOptions = {
    bin: isolate.bin,
    useCg: isolate.useCg,
    workDir: join(base.tmp, "bare"),
    cpu: NODE_CPU,
  };
  mkdirSync(bareOpts.workDir, { recursive: true });
  const bare = [BARE_BOX_BASE, BARE_BOX_BASE + 1].map((id) => new BareBox(bareOpts, id));
  for (const b of bare)
    if (existsSync(join("/var/local/lib/isolate", String(b.id), "box"))) await b.cleanup();
  const pyEnv = { ...rec.env, PYTHONUNBUFFERED: "1" };
  const barePy = (box: BareBox, source: string) =>
    bareInterpreted(box, [{ name: "main.py", data: source }], {
      argv: PY_RUNTIME.runCommand,
      mounts: rec.closure,
      env: pyEnv,
      limits: limits.run,
    });
  const gj = await startGoJudge({
    workDir: bareOpts.workDir,
    cpu: NODE_CPU,
    parallelism: 2,
    closure: rec.closure,
    program: { argv: PY_RUNTIME.runCommand, env: pyEnv, limits: limits.run, sourceFile: "main.py" },
    say,
  });
  const watcher = new Watcher(base.client);
  watcher.informer.start();
  await watcher.informer.waitForSync();
  return { ...base, watcher, meter, bare, barePy, goJudge: gj.side, goJudgeNote: gj.note };
}

/** Warm-up, the idle window, then the latency, test-case and throughput phases; the run's record. */
async function runPhases(s: Setup) {
  say("warm-up");
  for (let i = 0; i < 5; i++) {
    await submit(s, pySpec());
    await s.barePy(s.bare[0]!, TRIVIAL_PY);
    if (s.goJudge) await goJudgeOnce(s.goJudge);
  }
  await sleep(1000);
  const idle = await measured(s, () => sleep(IDLE_MS));
  say(
    `latency: ${LATENCY_RUNS} sequential Executions, each followed by a bare run${s.goJudge ? " and a go-judge run" : ""}`,
  );
  const before = await executionTraffic(s.client);
  const latency = await latencyPhase(s, idle);
  const traffic = perExecutionTraffic(before, await executionTraffic(s.client), LATENCY_RUNS);
  const gjP50 = latency.goJudge?.ms.p50;
  say(`latency: ${JSON.stringify({ sys: latency.systemMs.p50, bare: latency.bareMs.p50, goJudge: gjP50 })}`);
  say(`test cases: ${TEST_RUNS} Executions of 1 test, then ${TEST_RUNS} of ${1 + EXTRA_TESTS}`);
  const tests = await testCasePhase(s, idle);
  say(
    `throughput: ${THROUGHPUT_RUNS} Executions 2 in flight, then bare ×2${s.goJudge ? ", then go-judge ×2" : ""}`,
  );
  const throughput = await throughputPhase(s, idle, 2, THROUGHPUT_RUNS);
  sayThroughput(throughput);
  say(`throughput, queue kept full: ${QUEUED_RUNS} Executions ${QUEUED_IN_FLIGHT} in flight, then bare ×2`);
  const queued = await throughputPhase(s, idle, QUEUED_IN_FLIGHT, QUEUED_RUNS);
  sayThroughput(queued);
  return {
    date: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    loadAverage1mAtEnd: round(loadavg()[0]!, 2),
    commit:
      process.env.BENCH_COMMIT ??
      (await run("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).then(
        (r) => r.stdout.trim(),
        () => "unknown",
      )),
    pinning: { node: NODE_CPU, rest: REST_CPU },
    // The controller reads ENVICUTOR_NODE_PREFETCH from this environment (a same-commit A/B).
    nodePrefetch: Number(process.env.ENVICUTOR_NODE_PREFETCH || CONTROLLER_DEFAULTS.nodePrefetch),
    goJudge: s.goJudgeNote,
    idle: { seconds: round(idle.wallMs / 1000, 2), cpuMs: idle.cpu },
    latency: { ...latency, apiserverTrafficPerExecution: traffic },
    tests,
    throughput,
    queued,
  };
}

function sayThroughput(t: Awaited<ReturnType<typeof throughputPhase>>): void {
  const gj = t.goJudge ? `, go-judge ${t.goJudge.perSecond}/s` : "";
  say(`throughput (${t.inFlight} in flight): ${t.systemPerSecond}/s vs bare ${t.barePerSecond}/s${gj}`);
}

/** Appends the run to node-results.json and rewrites the README's section; a profiled run only beside its profile. */
function save(result: unknown): void {
  if (AGENT_PROF_DIR) {
    writeFileSync(join(AGENT_PROF_DIR, "node-result.json"), `${JSON.stringify(result, null, 2)}\n`);
    say(`agent profiled: figures in ${AGENT_PROF_DIR}/node-result.json, not in node-results.json`);
    return;
  }
  if (process.env.BENCH_AGENT_NODE_OPTIONS) {
    say(`agent ran with extra options, figures not written:\n${JSON.stringify(result)}`);
    return;
  }
  const all = existsSync(NODE_RESULTS) ? (JSON.parse(readFileSync(NODE_RESULTS, "utf8")) as unknown[]) : [];
  all.push(result);
  writeFileSync(NODE_RESULTS, `${JSON.stringify(all.slice(-8), null, 2)}\n`);
  writeNodeSection(join(import.meta.dirname, "README.md"));
  say("wrote bench/node-results.json and the node section of bench/README.md");
}

async function tearDown(s: Setup | undefined, base: Base | undefined, tmp: string): Promise<void> {
  if (s)
    for (const b of s.bare)
      if (existsSync(join("/var/local/lib/isolate", String(b.id), "box")))
        await b.cleanup().catch(() => undefined);
  await s?.watcher.informer.stop().catch(() => undefined);
  await s?.goJudge?.server.stop().catch(() => undefined);
  await base?.agent.stop(10_000).catch(() => undefined);
  await base?.controller.stop(10_000).catch(() => undefined);
  await base?.cp.stop().catch(() => undefined);
  if (!process.env.BENCH_KEEP) rmSync(tmp, { recursive: true, force: true });
}

async function main(): Promise<void> {
  if (availableParallelism() < 2) throw new Error("bench:node needs 2 CPUs to pin the node apart");
  const tmp = mkdtempSync(join(tmpdir(), "envicutor-bench-node-"));
  let s: Setup | undefined;
  let base: Base | undefined;
  try {
    say("control plane, controller and agent (agent on CPU 1, the rest on CPU 0)");
    base = await startSystem(tmp);
    s = await setUpMeasuring(base);
    save(await runPhases(s));
  } finally {
    await tearDown(s, base, tmp);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    say(`bench:node failed: ${errText(err)}`);
    process.exit(1);
  },
);
