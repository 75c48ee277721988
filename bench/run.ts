// `npm run bench`: the real system on this machine (control plane, controller
// and agents as processes, Nix installs from a local binary cache, isolate),
// each scenario compared with a baseline measured in the same run. Writes
// bench/results.json and bench/README.md. See bench/README.md for the output.
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ControlPlane, controlPlaneBinDir } from "../e2e/controlplane/control-plane.ts";
import { type ManagedProcess, startAgent, startController } from "../e2e/support/processes.ts";
import { C_SPEC } from "../e2e/support/stand-in-runtimes.ts";
import { StateDir } from "../src/agent/nix/state-dir.ts";
import { detectCgroupMode, detectIsolate, type IsolateInfo } from "../src/agent/sandbox/isolate-detect.ts";
import { type Execution, isFinished } from "../src/api/execution.ts";
import { API_VERSION } from "../src/api/group.ts";
import { resolveExecutionLimits } from "../src/api/limits.ts";
import type { Runtime } from "../src/api/runtime.ts";
import { KubeClient, loadKubeConfig } from "../src/k8s/client.ts";
import { errText } from "../src/k8s/errors.ts";
import { Informer } from "../src/k8s/informer.ts";
import {
  ExecutionResource,
  NodeResource,
  ProblemResource,
  RuntimeResource,
  WorkerResource,
} from "../src/k8s/resources.ts";
import { BareBox, type BareOptions, bareCompile, bareInterpreted } from "./bare-isolate.ts";
import { startBenchGateway, timedPost } from "./gateway.ts";
import { writeReport } from "./report.ts";
import { SIM_LABEL, SimulatedAgents } from "./simulated-agents.ts";
import { pool, round, summarize } from "./stats.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const NS = "envicutor-bench";
const SCALE_NS = "envicutor-bench-scale";
const REAL_LABEL = "envicutor.io/bench";
const NODES = ["bench-a", "bench-b", "bench-c"];
/**
 * Box ids of the bench, 800–829 (the VM test has 600–649): agents 800.., 810.., 820.. (slots plus
 * install concurrency each), bare runs 828 and 829. bench/node.ts uses the same range: run one at a time.
 */
const AGENT_BOX_BASE = 800;
const BARE_BOX_BASE = 828;
const BUDGET_MS = 9 * 60_000;
/** isolate's box_root as the agents configure it (ENVICUTOR_ISOLATE_BOX_ROOT's default). */
const BOX_ROOT = "/var/local/lib/isolate";

const env = (name: string, dflt: number) => Number(process.env[name] ?? dflt);
const LATENCY_RUNS = env("BENCH_LATENCY_RUNS", 50);
const THROUGHPUT_RUNS = env("BENCH_THROUGHPUT_RUNS", 40);
const TESTS = 20;
const SCALE_TARGET = env("BENCH_SCALE_EXECUTIONS", 5000);
const SIM_NODES = 20;
const SIM_SLOTS = 8;

const started = Date.now();
const say = (msg: string) =>
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const PY_RUNTIME: Runtime["spec"] = {
  language: "python",
  version: "3.11",
  judge0: { languageId: 71 },
  packages: ["python3"],
  sourceFile: "main.py",
  runCommand: ["python3", "main.py"],
  env: [{ name: "PYTHONUNBUFFERED", value: "1" }],
  nodeSelector: { [REAL_LABEL]: "real" },
  smokeTest: { source: "print('ok')", expectedOutput: "ok\n" },
} as unknown as Runtime["spec"];

const C_RUNTIME: Runtime["spec"] = { ...C_SPEC, nodeSelector: { [REAL_LABEL]: "real" } };

const TRIVIAL_PY = "print(1)\n";
/** ~0.1 s of CPU in CPython. */
const CPU_PY = "s = 0\nfor i in range(400000):\n    s += i * i\nprint(s % 1000)\n";
const SQUARE_C =
  '#include <stdio.h>\nint main(void){long n; if(scanf("%ld",&n)!=1) return 1; printf("%ld\\n", n*n); return 0;}\n';

interface Cleanup {
  cp?: ControlPlane;
  procs: ManagedProcess[];
  informers: { stop(): Promise<void> }[];
  sim?: SimulatedAgents;
  tmp: string;
  bare?: { opts: BareOptions; ids: number[] };
  /** Store paths made only for this run (deleted at the end). */
  copies?: string[];
}

const cleanup: Cleanup = { procs: [], informers: [], tmp: "" };

/**
 * Whether a box was initialised and not cleaned up. (isolate 1.10's --cleanup of a box that was
 * never initialised leaves an empty directory behind, so boxes are cleaned only when in use.)
 */
function boxInUse(id: number): boolean {
  return existsSync(join(BOX_ROOT, String(id), "box"));
}
let cleaned = false;

async function cleanUp(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await cleanup.sim?.stop().catch(() => undefined);
  for (const i of cleanup.informers) await i.stop().catch(() => undefined);
  for (const p of cleanup.procs) await p.stop(10_000).catch(() => undefined);
  if (cleanup.bare)
    for (const id of cleanup.bare.ids)
      if (boxInUse(id)) await new BareBox(cleanup.bare.opts, id).cleanup().catch(() => undefined);
  await cleanup.cp?.stop().catch(() => undefined);
  if (cleanup.tmp && !process.env.BENCH_KEEP) rmSync(cleanup.tmp, { recursive: true, force: true });
  // The copies' GC roots were in the agents' state dirs (now gone): collect them, not the shared packages.
  if (cleanup.copies?.length && !process.env.BENCH_KEEP) {
    const derivers = await run("nix-store", ["--query", "--deriver", ...cleanup.copies]).then(
      (r) => r.stdout.split("\n").filter((l) => l.startsWith("/nix/store/")),
      () => [],
    );
    await run("nix-store", ["--delete", ...cleanup.copies]).catch(() => undefined);
    for (const d of derivers) await run("nix-store", ["--delete", d]).catch(() => undefined);
  }
}

process.once("exit", () => {
  // Last resort (Ctrl-C, an uncaught error): processes die by their own exit hooks; boxes and the temp dir go here.
  if (cleaned) return;
  if (cleanup.bare)
    for (const id of cleanup.bare.ids) {
      if (!boxInUse(id)) continue;
      try {
        execFileSync(cleanup.bare.opts.bin, [
          ...(cleanup.bare.opts.useCg ? ["--cg"] : []),
          `--box-id=${id}`,
          "--cleanup",
        ]);
      } catch {
        // nothing to clean
      }
    }
  if (cleanup.tmp && !process.env.BENCH_KEEP) rmSync(cleanup.tmp, { recursive: true, force: true });
});
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.prependOnceListener(sig, () => {
    say(`${sig}: cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });
}

/** Waits for Executions of one namespace to finish, from a watch (what a judge client would do). */
class CompletionWatcher {
  readonly informer: Informer<Execution>;
  private readonly waiters = new Map<string, (ex: Execution, at: number) => void>();

  constructor(client: KubeClient, namespace: string) {
    this.informer = new Informer(client, ExecutionResource, { namespace });
    this.informer.on((ev) => {
      if (ev.type !== "add" && ev.type !== "update") return;
      if (!isFinished(ev.object.status)) return;
      const w = this.waiters.get(ev.key);
      if (w) {
        this.waiters.delete(ev.key);
        w(ev.object, performance.now());
      }
    });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
  }

  /** Registers before the create, so the event cannot be missed. */
  expect(key: string, timeoutMs = 120_000): Promise<{ ex: Execution; at: number }> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(`execution ${key} not finished after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(key, (ex, at) => {
        clearTimeout(t);
        resolve({ ex, at });
      });
    });
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }
}

async function waitUntil<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${lastErr ? `: ${errText(lastErr)}` : ""}`);
    await sleep(200);
  }
}

function readMemKiB(pid: number, field: "VmHWM" | "VmRSS"): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Deletes the store paths of a closure that nothing else holds, top-level first; reports which went. */
async function deleteClosure(paths: string[]): Promise<{ deleted: string[]; kept: string[] }> {
  const closure = (await run("nix-store", ["-qR", ...paths])).stdout.split("\n").filter(Boolean);
  // -qR lists dependencies before their referrers; delete referrers first.
  const all = await run("nix-store", ["--delete", ...closure]).then(
    () => true,
    () => false,
  );
  const deleted: string[] = [];
  const kept: string[] = [];
  for (const p of [...closure].reverse()) {
    if (!all) await run("nix-store", ["--delete", p]).catch(() => undefined);
    const valid = await run("nix-store", ["--check-validity", p]).then(
      () => true,
      () => false,
    );
    (valid ? kept : deleted).push(p);
  }
  return { deleted, kept };
}

function logTimes(p: ManagedProcess, msg: string, runtime: string): number[] {
  return p
    .logEntries((e) => e.msg === msg && e.runtime === runtime)
    .map((e) => Date.parse(String(e.time)))
    .filter((t) => !Number.isNaN(t));
}

type Submit = (spec: Record<string, unknown>) => Promise<{ ms: number; ex: Execution }>;
const PROBLEM_TESTS = 100;

/**
 * A Problem of 100 inline tests judged by one Execution, against the same 100
 * tests as 100 single-test Executions submitted at once (2 slots). Every
 * submission has a source of its own, so the compile cache never answers.
 */
async function benchProblem(
  client: KubeClient,
  submit: Submit,
  expectAccepted: (ex: Execution) => void,
  cFiles: (tag: string) => { name: string; content: string }[],
): Promise<Record<string, unknown>> {
  const cases = Array.from({ length: PROBLEM_TESTS }, (_, i) => ({
    stdin: `${i}\n`,
    expectedOutput: `${i * i}\n`,
  }));
  await client.create(ProblemResource, {
    apiVersion: API_VERSION,
    kind: "Problem",
    metadata: { name: "bench-squares", namespace: NS },
    spec: { testCases: cases },
  } as never);
  const problemMs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const x = await submit({ runtime: "bench-c", problem: "bench-squares", files: cFiles(`problem-${r}`) });
    expectAccepted(x.ex);
    if (x.ex.status?.score?.points !== 100)
      throw new Error(`problem run scored ${JSON.stringify(x.ex.status?.score)}`);
    problemMs.push(x.ms);
  }
  const t = performance.now();
  const singles = await pool(PROBLEM_TESTS, PROBLEM_TESTS, (i) =>
    submit({ runtime: "bench-c", files: cFiles(`single-${i}`), testCases: [cases[i]!] }),
  );
  for (const x of singles) expectAccepted(x.ex);
  const singlesMs = performance.now() - t;
  const p = summarize(problemMs);
  return {
    program: "C (gcc -O2), reads n, prints n*n",
    tests: PROBLEM_TESTS,
    problemExecutionMs: p,
    singleExecutionsMs: round(singlesMs),
    ratio: round(singlesMs / p.p50, 2),
  };
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = {};
  const tmp = mkdtempSync(join(tmpdir(), "envicutor-bench-"));
  cleanup.tmp = tmp;
  const logDir = join(tmp, "logs");
  mkdirSync(logDir, { recursive: true });

  const isolate: IsolateInfo | undefined = await detectIsolate("isolate");
  if (!isolate)
    console.warn("!!! isolate not found: the isolate scenarios are SKIPPED — see README (isolate)");
  const facts = {
    date: new Date().toISOString(),
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    kernel: release(),
    node: process.version,
    isolate: isolate?.version ?? "missing",
    cgroupMode: detectCgroupMode(),
    isolateUsesCg: isolate?.useCg ?? false,
    nix: (await run("nix", ["--version"]).catch(() => ({ stdout: "missing" }))).stdout.trim(),
    apiserver: "",
  };
  results.machine = facts;

  say("control plane: building or finding the binaries, starting etcd + kube-apiserver");
  const bin = controlPlaneBinDir();
  // The control plane installs the CRDs (and waits until they are Established) before its controller-manager starts.
  const cp = new ControlPlane(bin, { crds: join(ROOT, "crds") });
  cleanup.cp = cp;
  const info = await cp.start();
  const kubeconfig = info.kubeconfigPath;
  const kubectl = (...args: string[]) =>
    run(join(bin, "kubectl"), [`--kubeconfig=${kubeconfig}`, ...args], { maxBuffer: 64 << 20 });
  facts.apiserver = (
    JSON.parse((await kubectl("version", "-o", "json")).stdout) as { serverVersion: { gitVersion: string } }
  ).serverVersion.gitVersion;
  say(`kube-apiserver ${facts.apiserver} up`);

  const client = new KubeClient(loadKubeConfig(kubeconfig), { fieldManager: "envicutor-bench" });
  for (const ns of [NS, SCALE_NS])
    await client.rest.request("POST", "/api/v1/namespaces", {
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
    });
  for (const n of NODES)
    await client.create(NodeResource, {
      metadata: { name: n, labels: { "kubernetes.io/hostname": n, [REAL_LABEL]: "real" } },
    });

  const controllerEnv = {
    ENVICUTOR_LEASE_DURATION_SECONDS: "6",
    ENVICUTOR_RENEW_DEADLINE_SECONDS: "4",
    ENVICUTOR_RETRY_PERIOD_SECONDS: "1",
  };
  const controller = startController({
    kubeconfig,
    namespace: NS,
    identity: "bench-1",
    logDir,
    env: controllerEnv,
  });
  cleanup.procs.push(controller);

  const watcher = new CompletionWatcher(client, NS);
  cleanup.informers.push(watcher);
  await watcher.start();
  let seq = 0;
  /** Creates an Execution and resolves when it is finished: ms from before the POST to the watch event. */
  const submit = async (spec: Record<string, unknown>): Promise<{ ms: number; ex: Execution }> => {
    const name = `b-${(seq++).toString().padStart(5, "0")}`;
    const done = watcher.expect(`${NS}/${name}`);
    const t = performance.now();
    await client.create(ExecutionResource, {
      apiVersion: API_VERSION,
      kind: "Execution",
      metadata: { name, namespace: NS },
      spec,
    } as never);
    const { ex, at } = await done;
    return { ms: at - t, ex };
  };
  const expectAccepted = (ex: Execution) => {
    if (ex.status?.verdict !== "Accepted")
      throw new Error(
        `execution ${ex.metadata.name}: ${ex.status?.phase} ${ex.status?.verdict}: ${ex.status?.message}`,
      );
  };

  if (isolate && !process.env.BENCH_SKIP_ISOLATE) {
    // ---- Runtime install from the local binary cache, 3 agents -------------------------------
    // The package set: nix/pkgs plus copies of python3 and gcc under names unique to this run, so
    // one install is cold even when something else on this machine holds the real packages.
    const salt = Date.now().toString(36);
    const packageSet = join(tmp, "bench-pkgs.nix");
    writeFileSync(
      packageSet,
      `{ ... }: let
  pkgs = import ${join(ROOT, "nix/pkgs")} {};
  copy = p: derivation {
    name = "\${p.name}-bench-copy-${salt}";
    system = builtins.currentSystem;
    builder = "\${pkgs.busyboxStatic}/bin/sh";
    args = [ "-c" "cp -a \${p} $out" ];
    PATH = "\${pkgs.busyboxStatic}/bin";
  };
in pkgs // { python3Copy = copy pkgs.python3; gccCopy = copy pkgs.gcc; }
`,
    );
    // nix-build prints the outputs in the order of the -A attributes.
    const ATTRS = ["python3", "gcc", "python3Copy", "gccCopy"];
    say("building the stand-in package set (nix/pkgs + fresh copies) into a local file:// binary cache");
    const cacheOut = await run(
      "bash",
      [join(ROOT, "nix/pkgs/make-binary-cache.sh"), "-f", packageSet, join(tmp, "cache"), ...ATTRS],
      { maxBuffer: 16 << 20 },
    );
    const cache = JSON.parse(cacheOut.stdout.trim().split("\n").pop()!) as {
      url: string;
      publicKey: string;
      paths: string[];
    };
    cleanup.copies = cache.paths.filter((p) => p.includes("-bench-copy-"));
    const removal = await deleteClosure(cache.paths);
    say(
      `deleted ${removal.deleted.length} store paths of the closures; ${removal.kept.length} held by others were kept`,
    );

    const agents = new Map<string, ManagedProcess>();
    for (const [i, n] of NODES.entries()) {
      const a = startAgent({
        kubeconfig,
        namespace: NS,
        nodeName: n,
        stateDir: join(tmp, `state-${n}`),
        logDir,
        slots: 2,
        boxIdBase: AGENT_BOX_BASE + i * 10,
        env: {
          ENVICUTOR_PACKAGE_SET: packageSet,
          ENVICUTOR_NIX_SUBSTITUTERS: cache.url,
          ENVICUTOR_NIX_TRUSTED_PUBLIC_KEYS: cache.publicKey,
          ENVICUTOR_INSTALL_CONCURRENCY: "2",
        },
      });
      agents.set(n, a);
      cleanup.procs.push(a);
    }
    await waitUntil("3 Workers", 60_000, async () =>
      (await client.list(WorkerResource)).items.length >= NODES.length ? true : undefined,
    );

    /** Creates Runtimes at once and measures each one's time to Ready on every node. */
    const installPhase = async (phase: { name: string; spec: Runtime["spec"]; attr: string }[]) => {
      say(
        `creating Runtimes ${phase.map((p) => `${p.name} (${p.attr})`).join(", ")} on ${NODES.length} agents`,
      );
      const t0 = Date.now();
      for (const p of phase)
        await client.create(RuntimeResource, {
          apiVersion: API_VERSION,
          kind: "Runtime",
          metadata: { name: p.name },
          spec: p.spec,
        } as Runtime);
      const readyAt = new Map<string, number>();
      await waitUntil("Runtimes Ready on 3 nodes", 240_000, async () => {
        for (const p of phase) {
          if (readyAt.has(p.name)) continue;
          const rt = await client.get(RuntimeResource, p.name);
          if ((rt.status?.failedNodes ?? 0) > 0)
            throw new Error(`install of ${p.name} failed: ${JSON.stringify(rt.status?.failures)}`);
          const ready = rt.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
          if (ready && rt.status?.installedNodes === NODES.length) readyAt.set(p.name, Date.now());
        }
        return readyAt.size === phase.length ? true : undefined;
      });
      const out: Record<string, unknown> = {};
      for (const p of phase) {
        const top = cache.paths[ATTRS.indexOf(p.attr)];
        const sizeMiB = top
          ? round(
              Number((await run("nix-store", ["-q", "--size", top]).catch(() => ({ stdout: "0" }))).stdout) /
                2 ** 20,
              1,
            )
          : undefined;
        out[p.name] = {
          package: p.attr,
          storePath: top,
          narMiB: sizeMiB,
          cold: top ? removal.deleted.includes(top) : false,
          timeToReadySeconds: round((readyAt.get(p.name)! - t0) / 1000, 2),
          perNodeNixSeconds: NODES.map((n) => {
            const a = agents.get(n)!;
            const [s0] = logTimes(a, "installing", p.name);
            const [e0] = logTimes(a, "installed", p.name);
            return {
              node: n,
              nixSeconds: s0 !== undefined && e0 !== undefined ? round((e0 - s0) / 1000, 2) : undefined,
            };
          }),
        };
      }
      return out;
    };
    const realPhase = await installPhase([
      { name: "bench-py", spec: PY_RUNTIME, attr: "python3" },
      { name: "bench-c", spec: C_RUNTIME, attr: "gcc" },
    ]);
    const copyPhase = await installPhase([
      {
        name: "bench-py-copy",
        spec: { ...PY_RUNTIME, packages: ["python3Copy"] },
        attr: "python3Copy",
      },
      { name: "bench-c-copy", spec: { ...C_RUNTIME, packages: ["gccCopy"] }, attr: "gccCopy" },
    ]);
    results.install = {
      agents: NODES.length,
      storePathsDeleted: removal.deleted.length,
      storePathsKeptBecauseHeld: removal.kept,
      runtimes: { ...realPhase, ...copyPhase },
    };
    say(`install: ${JSON.stringify(results.install)}`);

    // ---- From here one node: stop b and c (graceful: they release their Leases) -----------------
    for (const n of NODES.slice(1)) await agents.get(n)!.stop();
    const pyRt = await client.get(RuntimeResource, "bench-py");
    const cRt = await client.get(RuntimeResource, "bench-c");
    const stateA = new StateDir(join(tmp, "state-bench-a"));
    const pyRec = (await stateA.read("bench-py", pyRt.status!.activeGeneration!))!;
    const cRec = (await stateA.read("bench-c", cRt.status!.activeGeneration!))!;
    const pyEnv = { ...pyRec.env, PYTHONUNBUFFERED: "1" };
    const pyLimits = resolveExecutionLimits(pyRt.spec, {}).limits;
    const cLimits = resolveExecutionLimits(cRt.spec, {}).limits;
    const bareOpts: BareOptions = { bin: isolate.bin, useCg: isolate.useCg, workDir: join(tmp, "bare") };
    mkdirSync(bareOpts.workDir, { recursive: true });
    const bareIds = [BARE_BOX_BASE, BARE_BOX_BASE + 1];
    cleanup.bare = { opts: bareOpts, ids: bareIds };
    const boxes = bareIds.map((id) => new BareBox(bareOpts, id));
    for (const b of boxes) if (boxInUse(b.id)) await b.cleanup();
    const barePy = (box: BareBox, source: string) =>
      bareInterpreted(box, [{ name: "main.py", data: source }], {
        argv: PY_RUNTIME.runCommand,
        mounts: pyRec.closure,
        env: pyEnv,
        limits: pyLimits.run,
      });
    // Wait until the controller no longer counts b and c (their Leases were released).
    await sleep(1000);

    // ---- Latency: trivial program, sequential, interleaved with bare isolate -----------------------
    say(`latency: ${LATENCY_RUNS} sequential Executions of print(1), interleaved with bare isolate runs`);
    const pySpec = (source: string, expected: string) => ({
      runtime: "bench-py",
      files: [{ name: "main.py", content: source }],
      expectedOutput: expected,
    });
    for (let i = 0; i < 3; i++) {
      expectAccepted((await submit(pySpec(TRIVIAL_PY, "1\n"))).ex);
      await barePy(boxes[0]!, TRIVIAL_PY);
    }
    const sys: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < LATENCY_RUNS; i++) {
      const r = await submit(pySpec(TRIVIAL_PY, "1\n"));
      expectAccepted(r.ex);
      sys.push(r.ms);
      const b = await barePy(boxes[0]!, TRIVIAL_PY);
      if (b.stdout !== "1\n") throw new Error(`bare run printed ${JSON.stringify(b.stdout)}`);
      bare.push(b.ms);
    }
    const sysS = summarize(sys);
    const bareS = summarize(bare);
    results.latency = {
      program: "python3 print(1)",
      runs: LATENCY_RUNS,
      systemMs: sysS,
      bareIsolateMs: bareS,
      ratioP50: round(sysS.p50 / bareS.p50, 2),
      ratioP95: round(sysS.p95 / bareS.p95, 2),
      ratioP99: round(sysS.p99 / bareS.p99, 2),
      overheadMsP50: round(sysS.p50 - bareS.p50),
      overheadMsP95: round(sysS.p95 - bareS.p95),
      overheadMsP99: round(sysS.p99 - bareS.p99),
    };
    say(`latency: system p50 ${sysS.p50} ms, bare p50 ${bareS.p50} ms`);

    // ---- Gateway overhead: the same program through the gateway, interleaved with direct Executions ----
    say(
      `gateway: ${LATENCY_RUNS} × (direct Execution, Judge0 POST /submissions?wait=true, Piston POST /api/v2/execute)`,
    );
    const gw = await startBenchGateway(client, { kubeconfig, namespace: NS, logDir });
    cleanup.procs.push(gw.process);
    const viaJudge0 = () =>
      timedPost(gw, "/submissions?wait=true&fields=stdout,status_id", {
        source_code: TRIVIAL_PY,
        language_id: 71,
        expected_output: "1\n",
      }).then((r) => {
        if (r.status !== 201 || r.json.status_id !== 3)
          throw new Error(`gateway (Judge0) answered ${r.status} ${JSON.stringify(r.json)}`);
        return r.ms;
      });
    const viaPiston = () =>
      timedPost(gw, "/api/v2/execute", {
        language: "python",
        version: "3.11",
        files: [{ content: TRIVIAL_PY }],
      }).then((r) => {
        const out = (r.json.run as { stdout?: string } | undefined)?.stdout;
        if (r.status !== 200 || out !== "1\n")
          throw new Error(`gateway (Piston) answered ${r.status} ${JSON.stringify(r.json)}`);
        return r.ms;
      });
    for (let i = 0; i < 3; i++) await Promise.all([viaJudge0(), viaPiston()]);
    const gDirect: number[] = [];
    const gJudge0: number[] = [];
    const gPiston: number[] = [];
    for (let i = 0; i < LATENCY_RUNS; i++) {
      const d = await submit(pySpec(TRIVIAL_PY, "1\n"));
      expectAccepted(d.ex);
      gDirect.push(d.ms);
      gJudge0.push(await viaJudge0());
      gPiston.push(await viaPiston());
    }
    const gd = summarize(gDirect);
    const gj = summarize(gJudge0);
    const gp = summarize(gPiston);
    results.gateway = {
      program: "python3 print(1)",
      runs: LATENCY_RUNS,
      directMs: gd,
      judge0WaitMs: gj,
      pistonExecuteMs: gp,
      judge0OverheadMsP50: round(gj.p50 - gd.p50),
      judge0OverheadMsP95: round(gj.p95 - gd.p95),
      pistonOverheadMsP50: round(gp.p50 - gd.p50),
      pistonOverheadMsP95: round(gp.p95 - gd.p95),
    };
    say(`gateway: direct p50 ${gd.p50} ms, Judge0 wait p50 ${gj.p50} ms, Piston p50 ${gp.p50} ms`);
    await gw.process.stop();

    // ---- Throughput: one node, 2 slots, CPU-bound program ----------------------------------------
    say(`throughput: ${THROUGHPUT_RUNS} CPU-bound Executions on one node with 2 slots, vs bare isolate ×2`);
    const cpuExpected = `${(() => {
      let s = 0n;
      for (let i = 0n; i < 400000n; i++) s += i * i;
      return s % 1000n;
    })()}\n`;
    const tSys = performance.now();
    const thr = await pool(THROUGHPUT_RUNS, THROUGHPUT_RUNS, () => submit(pySpec(CPU_PY, cpuExpected)));
    const sysSeconds = (performance.now() - tSys) / 1000;
    for (const r of thr) expectAccepted(r.ex);
    // Bare: two workers, one box each, taking runs from a shared counter.
    let i2 = 0;
    const runOn = async (box: BareBox) => {
      while (i2 < THROUGHPUT_RUNS) {
        i2++;
        const r = await barePy(box, CPU_PY);
        if (r.stdout !== cpuExpected) throw new Error(`bare CPU run printed ${JSON.stringify(r.stdout)}`);
      }
    };
    const tBare2 = performance.now();
    await Promise.all(boxes.map(runOn));
    const bareSeconds = (performance.now() - tBare2) / 1000;
    const cpuMs = thr.map((r) => r.ex.status?.tests?.[0]?.cpuTimeMillis ?? 0);
    results.throughput = {
      program: "python3, 400k-iteration loop",
      executions: THROUGHPUT_RUNS,
      slots: 2,
      cpuMsPerRunP50: summarize(cpuMs).p50,
      systemSeconds: round(sysSeconds, 2),
      systemPerSecond: round(THROUGHPUT_RUNS / sysSeconds, 2),
      bareSeconds: round(bareSeconds, 2),
      barePerSecond: round(THROUGHPUT_RUNS / bareSeconds, 2),
      ratio: round(THROUGHPUT_RUNS / sysSeconds / (THROUGHPUT_RUNS / bareSeconds), 2),
    };
    say(`throughput: ${JSON.stringify(results.throughput)}`);

    // ---- Compile once vs recompiling ------------------------------------------------------------
    say(`compile-once: one Execution with ${TESTS} tests vs ${TESTS} single-test Executions (C, gcc -O2)`);
    const cases = Array.from({ length: TESTS }, (_, i) => ({
      stdin: `${i}\n`,
      expectedOutput: `${i * i}\n`,
    }));
    // Every Execution here gets a source of its own (a comment), so the agents' compile cache never
    // answers: this row measures compiling once against compiling for every test. The cache has its row.
    const cFiles = (tag: string) => [{ name: "main.c", content: `${SQUARE_C}// ${tag}\n` }];
    const once: number[] = [];
    for (let r = 0; r < 3; r++) {
      const x = await submit({ runtime: "bench-c", files: cFiles(`once-${r}`), testCases: cases });
      expectAccepted(x.ex);
      once.push(x.ms);
    }
    const tSeq = performance.now();
    for (const [i, c] of cases.entries())
      expectAccepted((await submit({ runtime: "bench-c", files: cFiles(`seq-${i}`), testCases: [c] })).ex);
    const seqMs = performance.now() - tSeq;
    const tPar = performance.now();
    const par = await pool(TESTS, TESTS, (i) =>
      submit({ runtime: "bench-c", files: cFiles(`par-${i}`), testCases: [cases[i]!] }),
    );
    for (const p of par) expectAccepted(p.ex);
    const parMs = performance.now() - tPar;
    // Bare: compile once + 20 runs, and compile + run ×20.
    const cEnv = cRec.env;
    const compileReq = {
      argv: C_RUNTIME.compileCommand!,
      mounts: cRec.closure,
      env: cEnv,
      limits: cLimits.compile,
    };
    const runBin = async (box: BareBox, binary: Buffer, stdin: string) => {
      await box.init();
      try {
        await box.put([{ name: "main", data: binary, mode: 0o755 }]);
        const r = await box.run({
          argv: ["./main"],
          mounts: cRec.closure,
          env: cEnv,
          limits: cLimits.run,
          stdin,
        });
        if (r.meta.status) throw new Error(`bare C run failed: ${JSON.stringify(r.meta)}`);
        return r.stdout;
      } finally {
        await box.cleanup();
      }
    };
    const src = [{ name: "main.c", data: SQUARE_C }];
    const tBareOnce = performance.now();
    const binary = await bareCompile(boxes[0]!, src, compileReq, "main");
    for (const c of cases) {
      const out = await runBin(boxes[0]!, binary, c.stdin);
      if (out !== c.expectedOutput) throw new Error(`bare C printed ${JSON.stringify(out)}`);
    }
    const bareOnceMs = performance.now() - tBareOnce;
    const tBareEach = performance.now();
    for (const c of cases) {
      const b = await bareCompile(boxes[0]!, src, compileReq, "main");
      await runBin(boxes[0]!, b, c.stdin);
    }
    const bareEachMs = performance.now() - tBareEach;
    const onceS = summarize(once);
    results.compileOnce = {
      program: "C (gcc -O2), reads n, prints n*n",
      tests: TESTS,
      systemOneExecutionMs: onceS,
      systemSequentialExecutionsMs: round(seqMs),
      systemParallelExecutionsMs: round(parMs),
      ratioSequential: round(seqMs / onceS.p50, 2),
      ratioParallel: round(parMs / onceS.p50, 2),
      bareCompileOnceMs: round(bareOnceMs),
      bareCompileEachMs: round(bareEachMs),
      ratioBare: round(bareEachMs / bareOnceMs, 2),
      compileWallMsInBoxP50: summarize(par.map((p) => p.ex.status?.compile?.wallTimeMillis ?? 0)).p50,
    };
    say(`compile-once: ${JSON.stringify(results.compileOnce)}`);

    // ---- Compile cache: the same source again (a hit) vs a new source (a miss) -------------------
    say("compile cache: single-test C Executions, a new source each (miss) vs one source again (hit)");
    const CACHE_RUNS = 8;
    const misses: number[] = [];
    const hits: number[] = [];
    let hitsSaid = 0;
    for (let i = 0; i < CACHE_RUNS; i++) {
      const x = await submit({ runtime: "bench-c", files: cFiles(`miss-${i}`), testCases: [cases[3]!] });
      expectAccepted(x.ex);
      misses.push(x.ms);
    }
    for (let i = 0; i < CACHE_RUNS; i++) {
      const x = await submit({ runtime: "bench-c", files: cFiles("miss-0"), testCases: [cases[3]!] });
      expectAccepted(x.ex);
      if (x.ex.status?.compile?.cacheHit) hitsSaid++;
      hits.push(x.ms);
    }
    const missS = summarize(misses);
    const hitS = summarize(hits);
    results.compileCache = {
      program: "C (gcc -O2), one test",
      runs: CACHE_RUNS,
      missMs: missS,
      hitMs: hitS,
      hitsSaidInStatus: hitsSaid,
      ratio: round(missS.p50 / hitS.p50, 2),
    };
    say(`compile cache: ${JSON.stringify(results.compileCache)}`);

    results.problem = await benchProblem(client, submit, expectAccepted, cFiles);
    say(`problem: ${JSON.stringify(results.problem)}`);

    await agents.get(NODES[0]!)!.stop();
  }

  // ---- Controller scaling against simulated agents ------------------------------------------------
  const remainingMs = BUDGET_MS - (Date.now() - started);
  say(`controller scaling: ${Math.round(remainingMs / 1000)} s of the budget left`);
  const sim = new SimulatedAgents({
    client,
    leaseNamespace: NS,
    executionNamespace: SCALE_NS,
    nodes: Array.from({ length: SIM_NODES }, (_, i) => `sim-${String(i).padStart(2, "0")}`),
    slotsPerNode: SIM_SLOTS,
    concurrency: 20,
  });
  cleanup.sim = sim;
  const simRt = await client.create(RuntimeResource, {
    apiVersion: API_VERSION,
    kind: "Runtime",
    metadata: { name: "bench-sim" },
    spec: { ...PY_RUNTIME, nodeSelector: { [SIM_LABEL]: "true" } },
  } as Runtime);
  await sim.setUp(simRt);
  await waitUntil("bench-sim Ready on the simulated nodes", 60_000, async () => {
    const rt = await client.get(RuntimeResource, "bench-sim");
    return rt.status?.conditions?.find((c) => c.type === "Ready")?.status === "True" ? rt : undefined;
  });
  // The queue builds up with no controller running, so creation and draining are measured apart.
  await controller.stop();

  // Creation budget: what is left minus time to drain (estimated at the creation rate) and clean-up.
  const createBudgetMs = Math.max(20_000, (remainingMs - 60_000) * 0.4);
  say(
    `creating up to ${SCALE_TARGET} Executions, 20 in flight (at most ${Math.round(createBudgetMs / 1000)} s)`,
  );
  const tCreate = performance.now();
  let created = 0;
  let stoppedEarly = false;
  await pool(SCALE_TARGET, 20, async (i) => {
    if (performance.now() - tCreate > createBudgetMs) {
      stoppedEarly = true;
      return;
    }
    await client.create(ExecutionResource, {
      apiVersion: API_VERSION,
      kind: "Execution",
      metadata: { name: `s-${String(i).padStart(5, "0")}`, namespace: SCALE_NS },
      spec: {
        runtime: "bench-sim",
        files: [{ name: "main.py", content: TRIVIAL_PY }],
        expectedOutput: "1\n",
      },
    } as never);
    created++;
  });
  const createSeconds = (performance.now() - tCreate) / 1000;
  say(`created ${created} in ${createSeconds.toFixed(1)} s (${(created / createSeconds).toFixed(0)}/s)`);

  await sim.start();
  const drainBudgetMs = Math.max(30_000, BUDGET_MS - (Date.now() - started) - 30_000);
  const tDrain = performance.now();
  const controller2 = startController({
    kubeconfig,
    namespace: NS,
    identity: "bench-2",
    logDir,
    env: {
      ...controllerEnv,
      ...(process.env.BENCH_CONTROLLER_NODE_OPTIONS
        ? { NODE_OPTIONS: process.env.BENCH_CONTROLLER_NODE_OPTIONS }
        : {}),
    },
  });
  cleanup.procs.push(controller2);
  let peakSampled = 0;
  let drained = false;
  let finishedCount = 0;
  let firstScheduledMs: number | undefined;
  const deadline = performance.now() + drainBudgetMs;
  const timeline: { s: number; pending: number; assigned: number; finished: number; rssMiB: number }[] = [];
  let nextSample = 0;
  while (performance.now() < deadline) {
    const rss = controller2.pid ? readMemKiB(controller2.pid, "VmRSS") : undefined;
    if (rss) peakSampled = Math.max(peakSampled, rss);
    const all = sim.executions();
    finishedCount = all.filter((e) => isFinished(e.status)).length;
    const elapsed = performance.now() - tDrain;
    if (elapsed >= nextSample) {
      nextSample += 1000;
      const assigned = all.filter((e) => e.status?.nodeName && !isFinished(e.status)).length;
      const point = {
        s: round(elapsed / 1000, 1),
        pending: all.length - assigned - finishedCount,
        assigned,
        finished: finishedCount,
        rssMiB: round((rss ?? 0) / 1024, 1),
      };
      timeline.push(point);
      if (timeline.length % 10 === 1) say(`  drain: ${JSON.stringify(point)}`);
    }
    if (firstScheduledMs === undefined && all.some((e) => e.status?.nodeName))
      firstScheduledMs = performance.now() - tDrain;
    if (finishedCount >= created) {
      drained = true;
      break;
    }
    await sleep(100);
  }
  const drainSeconds = (performance.now() - tDrain) / 1000;
  const hwm = controller2.pid ? readMemKiB(controller2.pid, "VmHWM") : undefined;
  // The scheduler's passes (work-queue metrics of the "scheduler" controller).
  const port = controller2.logEntries((e) => e.msg === "serving /healthz, /readyz, /metrics").pop()?.port;
  const metricsText = port
    ? await fetch(`http://127.0.0.1:${port}/metrics`)
        .then((r) => r.text())
        .catch(() => "")
    : "";
  const metric = (name: string) =>
    Number(
      new RegExp(`^${name}\\{[^}]*name="scheduler"[^}]*\\} (\\S+)`, "m").exec(metricsText)?.[1] ?? Number.NaN,
    );
  const passes = metric("envicutor_workqueue_work_duration_seconds_count");
  const passSeconds = metric("envicutor_workqueue_work_duration_seconds_sum");
  const all = sim.executions();
  const succeeded = all.filter((e) => e.status?.phase === "Succeeded").length;
  const reassigned = all.filter((e) => (e.status?.attempts ?? 1) > 1).length;
  // The longest stretch in which nothing finished although work was queued.
  let stall = { from: 0, seconds: 0 };
  for (let i = 0, j = 0; i < timeline.length; i = j) {
    j = i + 1;
    while (j < timeline.length && timeline[j]!.finished === timeline[i]!.finished && timeline[j]!.pending > 0)
      j++;
    const secs = timeline[j - 1]!.s - timeline[i]!.s;
    if (secs > stall.seconds) stall = { from: timeline[i]!.s, seconds: round(secs, 1) };
  }
  results.controllerScaling = {
    target: SCALE_TARGET,
    executions: created,
    stoppedCreatingEarly: stoppedEarly,
    simulatedNodes: SIM_NODES,
    slotsPerNode: SIM_SLOTS,
    createSeconds: round(createSeconds, 1),
    createPerSecond: round(created / createSeconds, 1),
    drained,
    finished: finishedCount,
    succeeded,
    reassigned,
    secondsToDrain: round(drainSeconds, 1),
    firstAssignmentAfterStartMs: firstScheduledMs !== undefined ? round(firstScheduledMs) : undefined,
    drainPerSecond: round(finishedCount / drainSeconds, 1),
    controllerPeakRssMiB: hwm !== undefined ? round(hwm / 1024, 1) : undefined,
    controllerPeakRssSampledMiB: round(peakSampled / 1024, 1),
    fakeAgentConflicts: sim.conflicts,
    longestStallSeconds: stall.seconds,
    longestStallFromSecond: stall.from,
    schedulerPasses: passes,
    schedulerPassMeanMs: round((passSeconds / passes) * 1000),
    timeline,
  };
  say(`controller scaling: ${JSON.stringify(results.controllerScaling)}`);
  await controller2.stop();

  results.totalSeconds = round((Date.now() - started) / 1000, 1);
  writeFileSync(join(import.meta.dirname, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  writeReport(join(import.meta.dirname, "README.md"), results);
  say(`wrote bench/results.json and bench/README.md (${results.totalSeconds} s)`);
}

main()
  .then(async () => {
    await cleanUp();
    say("cleaned up");
    process.exit(0);
  })
  .catch(async (err: unknown) => {
    say(`bench failed: ${errText(err)}`);
    if (cleanup.tmp) say(`logs were in ${join(cleanup.tmp, "logs")} (set BENCH_KEEP=1 to keep them)`);
    await cleanUp();
    process.exit(1);
  });
