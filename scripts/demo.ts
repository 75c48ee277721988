// `npm run demo`: the whole system on this machine. A local control plane
// (etcd, kube-apiserver, kube-controller-manager built from Go modules), the
// CRDs, the controller and one agent as processes, sample Runtimes from
// examples/ installed with Nix from nix/pkgs (a small offline stand-in for
// nixpkgs, served from a local binary cache), and Executions judged in isolate.
// Leaves a kubeconfig to point kubectl at; Ctrl-C stops everything.
//
// It first checks this machine the way `envicutor doctor` does (isolate and its
// cgroup mode, box namespaces, root, Nix) and stops within seconds, saying
// what is missing and how to get it, before it builds or starts anything.
//
//   npm run demo            keeps the cluster up on a terminal until Ctrl-C
//   npm run demo -- --exit  stops after printing the verdicts
//   ENVICUTOR_ISOLATE_BIN=/path/to/isolate npm run demo   another isolate (the agent's variable)
//
// Exit status: 0 when every Execution was judged, 1 when a check or a step
// failed, 130 / 143 / 129 when interrupted (Ctrl-C / SIGTERM / terminal closed).
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ControlPlane } from "../e2e/controlplane/control-plane.ts";
import { type ManagedProcess, startAgent, startController } from "../e2e/support/processes.ts";
import { type Execution, isFinished } from "../src/api/execution.ts";
import type { Runtime } from "../src/api/runtime.ts";
import { formatReport } from "../src/cli/report.ts";
import { KubeClient, loadKubeConfig } from "../src/k8s/client.ts";
import { errText } from "../src/k8s/errors.ts";
import { ExecutionResource, NodeResource, RuntimeResource } from "../src/k8s/resources.ts";
import { type PreflightPhase, preflight } from "./demo-preflight.ts";

const ROOT = join(import.meta.dirname, "..");
const DEMO = join(ROOT, ".demo");
const NS = "envicutor-system";
const RUNTIMES = ["python", "c", "cpp", "bash"];
const EXECUTIONS = ["hello", "a-plus-b-tests", "c-compile-error"];
const exitAfter = process.argv.includes("--exit") || !process.stdout.isTTY;
const started = Date.now();
const tty = process.stderr.isTTY;

const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s`;
const say = (msg: string) => process.stderr.write(`${tty ? "\r\x1b[K" : ""}[${elapsed()}] ${msg}\n`);

/** Steps running now (process groups), stopped when the demo is. */
const steps = new Set<ChildProcess>();

/** Runs a command, showing a spinner with its latest output line (long first builds). */
function runWithProgress(label: string, cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // Its own process group, so that an interrupted demo stops the whole step (setup's go builds too).
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
    steps.add(child);
    let stdout = "";
    let last = "";
    let frame = 0;
    const frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";
    const timer = setInterval(() => {
      if (tty)
        process.stderr.write(
          `\r\x1b[K[${elapsed()}] ${frames[frame++ % frames.length]} ${label} ${last.slice(0, 80)}`,
        );
      else if (frame++ % 150 === 0)
        process.stderr.write(`[${elapsed()}] ... ${label} ${last.slice(0, 80)}\n`);
    }, 200);
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      last = d.toString().trim().split("\n").pop() ?? last;
    });
    child.on("close", (code) => {
      clearInterval(timer);
      steps.delete(child);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${label} failed (exit ${code}): ${last}`));
    });
  });
}

function loadYaml<T>(path: string): T[] {
  return parseAllDocuments(readFileSync(path, "utf8")).map((d) => d.toJSON() as T);
}

async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  fn: () => Promise<T | undefined>,
  show?: (v: T | undefined) => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await fn().catch(() => undefined);
    if (last !== undefined) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    if (tty) process.stderr.write(`\r\x1b[K[${elapsed()}] waiting for ${what} ${show?.(last) ?? ""}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A Runtime's Ready condition as the Reason and Message columns of `kubectl get runtimes` show it. */
function readyOf(r: Runtime): string {
  const c = r.status?.conditions?.find((x) => x.type === "Ready");
  return c ? `Ready=${c.status} ${c.reason}: ${c.message}` : "no status yet";
}

const isReady = (r: Runtime) => r.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");

function kubectlGetRuntimes(bin: string, kubeconfig: string): Promise<string> {
  return runWithProgress("kubectl get runtimes", join(bin, "kubectl"), [
    `--kubeconfig=${kubeconfig}`,
    "get",
    "runtimes",
  ]);
}

/**
 * Waits until the Runtimes are Ready, printing a Runtime's Ready reason and
 * message whenever it changes (on a terminal or not). A Runtime that failed
 * to install stops the wait: the demo shows `kubectl get runtimes`, whose
 * Reason and Message columns say why, and fails with the node's reason.
 */
async function waitForRuntimes(client: KubeClient, names: string[], bin: string, kubeconfig: string) {
  const shown = new Map<string, string>();
  const deadline = Date.now() + 600_000;
  for (;;) {
    // Interrupted: shutdown() exits; nothing more to show.
    if (stopping) await new Promise(() => {});
    const all = await client.list(RuntimeResource).catch(() => undefined);
    const rts = (all?.items ?? []).filter((r) => names.includes(r.metadata.name!));
    for (const r of rts) {
      const now = readyOf(r);
      if (shown.get(r.metadata.name!) !== now) say(`  runtime ${r.metadata.name}: ${now}`);
      shown.set(r.metadata.name!, now);
    }
    const failed = rts.filter((r) => (r.status?.failedNodes ?? 0) > 0);
    const timedOut = Date.now() > deadline;
    if (failed.length || timedOut) {
      process.stdout.write(`\n${await kubectlGetRuntimes(bin, kubeconfig)}\n`);
      if (timedOut) throw new Error("timed out after 600 s waiting for the Runtimes to be Ready");
      const why = failed.map((r) => {
        const f = r.status?.failures?.[0];
        return `${r.metadata.name} on ${f?.node}: ${f?.reason}: ${f?.message}`;
      });
      throw new Error(`Runtime(s) cannot install: ${why.join("; ")}`);
    }
    if (rts.length === names.length && rts.every(isReady)) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

let controlPlane: ControlPlane | undefined;
const procs: ManagedProcess[] = [];
let stopping = false;

/** Stops what the demo started and exits with the code. */
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const child of steps) {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      // already gone
    }
  }
  if (procs.length || controlPlane) say("stopping agent, controller and control plane");
  for (const p of procs) await p.stop();
  await controlPlane?.stop();
  process.exit(code);
}

/** The machine checked as `envicutor doctor` checks a node; exits 1 when a check fails. */
async function checkMachine(phase: PreflightPhase): Promise<void> {
  const t0 = Date.now();
  const p = await preflight(phase);
  const took = ((Date.now() - t0) / 1000).toFixed(1);
  for (const line of p.text.split("\n")) say(`  ${line}`);
  if (p.failed.length === 0) {
    say(
      `checks of this machine ${phase === "before-setup" ? "before the set-up" : "after it"} passed (${took}s)`,
    );
    return;
  }
  say(
    `cannot run the demo here: ${p.failed.join(", ")} (see fix: above; \`node src/cli/main.ts doctor\` checks again)`,
  );
  await shutdown(1);
}

async function main(): Promise<void> {
  // Interrupted is not success: 128 + the signal's number, as a shell reports it.
  process.on("SIGINT", () => void shutdown(130));
  process.on("SIGTERM", () => void shutdown(143));
  // A closed terminal too: by default it would kill the demo and leave the agent running.
  process.on("SIGHUP", () => void shutdown(129));
  mkdirSync(join(DEMO, "logs"), { recursive: true });
  say("Envicutor demo: checking this machine (isolate, cgroups, namespaces, root, Nix)");
  await checkMachine("before-setup");
  try {
    say(
      "scripts/setup.sh: npm and Debian packages, Nix, control-plane binaries from Go modules (first run: ~10-15 min)",
    );
    await runWithProgress("scripts/setup.sh", "bash", ["scripts/setup.sh"]);
    await checkMachine("after-setup");
    const bin = (
      await runWithProgress("control-plane binaries", "bash", ["e2e/controlplane/build-binaries.sh"])
    )
      .trim()
      .split("\n")
      .pop()!;
    // The control plane installs the CRDs and waits until they are Established.
    controlPlane = new ControlPlane(bin, { crds: join(ROOT, "crds") });
    await runDemo(controlPlane, bin);
    if (exitAfter) return shutdown(0);
    say("the cluster stays up until Ctrl-C");
  } catch (err) {
    say(`demo failed: ${errText(err)}`);
    for (const p of procs) say(`  ${p.name} log: ${p.logFile}`);
    await shutdown(1);
  }
}

/** The controller and this machine's agent, as processes (logs in .demo/logs; box ids 700 and up). */
function startProcesses(kubeconfig: string, node: string, cache: { url: string; publicKey: string }): void {
  const logDir = join(DEMO, "logs");
  procs.push(startController({ kubeconfig, namespace: NS, identity: "demo", logDir }));
  procs.push(
    startAgent({
      kubeconfig,
      namespace: NS,
      nodeName: node,
      stateDir: join(DEMO, "agent-state"),
      logDir,
      slots: 2,
      boxIdBase: 700,
      env: {
        ENVICUTOR_PACKAGE_SET: join(ROOT, "nix/pkgs"),
        ENVICUTOR_NIX_SUBSTITUTERS: cache.url,
        ENVICUTOR_NIX_TRUSTED_PUBLIC_KEYS: cache.publicKey,
        ENVICUTOR_LEASE_DURATION_SECONDS: "15",
      },
    }),
  );
  say(`controller and agent started (node ${node}); logs in ${logDir}`);
}

/** Control plane, controller and agent, the sample Runtimes, and the Executions' verdicts. */
async function runDemo(cp: ControlPlane, bin: string): Promise<void> {
  const info = await cp.start();
  const kubeconfig = join(DEMO, "kubeconfig");
  copyFileSync(info.kubeconfigPath, kubeconfig);
  say(`control plane up at ${info.server}, CRDs installed`);

  say("building the stand-in Nix package set (nix/pkgs, not nixpkgs) into a local file:// binary cache");
  const cacheOut = await runWithProgress("nix-build + nix copy", "bash", [
    "nix/pkgs/make-binary-cache.sh",
    join(DEMO, "cache"),
    "python3",
    "gcc",
    "bash",
    "coreutils",
  ]);
  const cache = JSON.parse(cacheOut.trim().split("\n").pop()!) as { url: string; publicKey: string };

  const client = new KubeClient(loadKubeConfig(kubeconfig), { fieldManager: "envicutor-demo" });
  await client.rest
    .request("POST", "/api/v1/namespaces", {
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
    })
    .catch(() => undefined);
  const node =
    hostname()
      .toLowerCase()
      .replace(/[^a-z0-9.-]/g, "-") || "local";
  // No kubelet here: the Node object stands for this machine.
  await client
    .create(NodeResource, {
      metadata: { name: node, labels: { "kubernetes.io/hostname": node, "kubernetes.io/os": "linux" } },
    })
    .catch(() => undefined);

  startProcesses(kubeconfig, node, cache);

  for (const r of RUNTIMES) {
    for (const rt of loadYaml<Runtime>(join(ROOT, "examples/runtimes", `${r}.yaml`))) {
      await client
        .create(RuntimeResource, rt)
        .catch((err: unknown) => say(`runtime ${rt.metadata.name}: ${errText(err)}`));
    }
  }
  const names = RUNTIMES.flatMap((r) =>
    loadYaml<Runtime>(join(ROOT, "examples/runtimes", `${r}.yaml`)).map((x) => x.metadata.name!),
  );
  say(`applied Runtimes ${names.join(", ")}; the agent installs and smoke-tests each`);
  await waitForRuntimes(client, names, bin, kubeconfig);
  say("all Runtimes Ready");
  await judgeExamples(client, bin, kubeconfig);
}

/** The example Executions, one at a time, each printed like a judge's report; then the objects as kubectl shows them. */
async function judgeExamples(client: KubeClient, bin: string, kubeconfig: string): Promise<void> {
  for (const e of EXECUTIONS) {
    for (const ex of loadYaml<Execution>(join(ROOT, "examples/executions", `${e}.yaml`))) {
      ex.metadata.namespace = "default";
      await client
        .delete(ExecutionResource, ex.metadata.name!, { namespace: "default" })
        .catch(() => undefined);
      await waitUntil(`old ${ex.metadata.name} to go`, 30_000, async () =>
        (await client.tryGet(ExecutionResource, ex.metadata.name!, "default")) ? undefined : true,
      );
      await client.create(ExecutionResource, ex);
      const done = await waitUntil(`execution ${ex.metadata.name}`, 120_000, async () => {
        const cur = await client.get(ExecutionResource, ex.metadata.name!, "default");
        return isFinished(cur.status) ? cur : undefined;
      });
      process.stdout.write(`\n${formatReport(done)}\n`);
    }
  }
  const table = await runWithProgress("kubectl get", join(bin, "kubectl"), [
    `--kubeconfig=${kubeconfig}`,
    "get",
    "runtimes,workers,executions",
    "-A",
  ]);
  process.stdout.write(`\n${table}\n`);
  say(`done. Point kubectl at the cluster with:  export KUBECONFIG=${kubeconfig}`);
  say(
    `  (kubectl is at ${join(bin, "kubectl")}; try: kubectl get runtimes; node src/cli/main.ts run FILE --runtime python-3)`,
  );
}

void main();
