// Faults, with the real processes: agents SIGKILLed (and frozen) mid-run,
// the controller leader killed, a Node deleted, a program filling its box's
// disk, and (on a private control plane) the apiserver restarted. Each case
// prints how long the system took to recover.
//
// Agents and controllers run as processes against the shared control plane;
// Runtimes come from the stand-in package set nix/pkgs (NOT nixpkgs) through
// a local file:// binary cache, and Executions run in real isolate.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Execution } from "../src/api/execution.ts";
import { API_VERSION } from "../src/api/group.ts";
import type { Runtime } from "../src/api/runtime.ts";
import { validRuntime } from "../src/api/test-fixtures.ts";
import { KubeClient, loadKubeConfig } from "../src/k8s/client.ts";
import {
  ExecutionResource,
  type Lease,
  LeaseResource,
  NodeResource,
  RuntimeResource,
  WorkerResource,
} from "../src/k8s/resources.ts";
import { ControlPlane, controlPlaneBinDir } from "./controlplane/control-plane.ts";
import { boxesLeft as boxesHolding } from "./support/boxes-left.ts";
import {
  createNode,
  deleteNode,
  ensureNamespace,
  kubeConfig,
  kubeconfigPath,
  waitFor,
} from "./support/cluster.ts";
import { type ManagedProcess, startAgent, startController } from "./support/processes.ts";
import { isolateAvailable } from "./support/stand-in-runtimes.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const NS = "envicutor-faults-e2e";
const NODES = ["faults-a", "faults-b"] as const;
const LABEL = { "envicutor.io/e2e": "faults" };
/** Box ids of this file: 500.. for the shared plane's agents, 520.. for the private plane's. */
const BOX_BASE: Record<string, number> = { "faults-a": 500, "faults-b": 510, "faults-cp": 520 };
const BOXES_PER_AGENT = 4; // 2 slots + 2 installs
const AGENT_LEASE_SECONDS = 4;
const CONTROLLER_LEASE_SECONDS = 6;
const BOX_ROOT = "/var/local/lib/isolate";
const RUNTIME = "py-faults";

const isolateMissing = !(await isolateAvailable("fault e2e tests"));

let tmp: string;
let client: KubeClient;
let cache: { url: string; publicKey: string };
const agents = new Map<string, ManagedProcess>();
const controllers = new Map<string, ManagedProcess>();
let seq = 0;

function agentFor(node: string, kubeconfig = kubeconfigPath()): ManagedProcess {
  return startAgent({
    kubeconfig,
    namespace: NS,
    nodeName: node,
    stateDir: join(tmp, `state-${node}`),
    logDir: join(tmp, "logs"),
    slots: 2,
    boxIdBase: BOX_BASE[node]!,
    env: {
      ENVICUTOR_PACKAGE_SET: join(ROOT, "nix/pkgs"),
      ENVICUTOR_NIX_SUBSTITUTERS: cache.url,
      ENVICUTOR_NIX_TRUSTED_PUBLIC_KEYS: cache.publicKey,
      ENVICUTOR_LEASE_DURATION_SECONDS: String(AGENT_LEASE_SECONDS),
    },
  });
}

function controllerFor(
  identity: string,
  kubeconfig = kubeconfigPath(),
  lease: Record<string, string> = {
    ENVICUTOR_LEASE_DURATION_SECONDS: String(CONTROLLER_LEASE_SECONDS),
    ENVICUTOR_RENEW_DEADLINE_SECONDS: "4",
    ENVICUTOR_RETRY_PERIOD_SECONDS: "1",
  },
): ManagedProcess {
  return startController({ kubeconfig, namespace: NS, identity, logDir: join(tmp, "logs"), env: lease });
}

/** A process started again whenever it exits (a Deployment's restartPolicy: Always), until stop(). */
class Supervised {
  current: ManagedProcess;
  restarts = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(start: () => ManagedProcess) {
    this.current = start();
    this.timer = setInterval(() => {
      if (this.current.running) return;
      this.restarts++;
      this.current = start();
    }, 500);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.current.stop();
  }
}

function pyRuntime(): Runtime {
  const base = validRuntime(RUNTIME) as unknown as Runtime;
  return { ...base, spec: { ...base.spec, nodeSelector: LABEL } };
}

async function waitReady(c: KubeClient, nodes: number): Promise<void> {
  await waitFor(
    async () => {
      const rt = await c.get(RuntimeResource, RUNTIME);
      const ready = rt.status?.conditions?.find((x) => x.type === "Ready")?.status === "True";
      return ready && rt.status?.installedNodes === nodes;
    },
    { timeoutMs: 120_000, intervalMs: 300, what: `Runtime ${RUNTIME} Ready on ${nodes} node(s)` },
  );
}

/** Creates an Execution of a Python program; returns its name. */
async function submit(c: KubeClient, source: string, extra: Record<string, unknown> = {}): Promise<string> {
  const name = `f-${(seq++).toString().padStart(3, "0")}`;
  await c.create(ExecutionResource, {
    apiVersion: API_VERSION,
    kind: "Execution",
    metadata: { name, namespace: NS },
    spec: { runtime: RUNTIME, files: [{ name: "main.py", content: source }], ...extra },
  } as never);
  return name;
}

function isComplete(e: Execution): boolean {
  return e.status?.conditions?.some((x) => x.type === "Complete" && x.status === "True") ?? false;
}

async function waitDone(c: KubeClient, names: string[], timeoutMs = 90_000): Promise<Execution[]> {
  return waitFor(
    async () => {
      const all = await Promise.all(names.map((n) => c.get(ExecutionResource, n, NS)));
      return all.every(isComplete) ? all : undefined;
    },
    { timeoutMs, intervalMs: 250, what: `Executions ${names.join(", ")} Complete` },
  );
}

/** A program that runs long enough to be caught mid-run, then prints its name. */
const sleeper = (seconds: number, word: string) => `import time\ntime.sleep(${seconds})\nprint("${word}")\n`;

/** Names of Executions the agent of `node` reported finished, from its log (every incarnation appends). */
function finishedIn(node: string): string[] {
  return (agents.get(node)?.logEntries((e) => e.msg === "execution finished") ?? []).map(
    (e) => String(e.execution).split("/").pop()!,
  );
}

/**
 * Box directories of a node's id range that hold anything of a run: empty ones (isolate 1.10's
 * --cleanup of a box never initialised leaves an empty <box_root>/<id>) and kept boxes, emptied in
 * place, are not counted (support/boxes-left.ts).
 */
function boxesLeft(node: string): string[] {
  const ids = Array.from({ length: BOXES_PER_AGENT }, (_, i) => BOX_BASE[node]! + i);
  return boxesHolding(BOX_ROOT, ids, join(tmp, `state-${node}`, "sandbox"));
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** One round of the agent fault: Executions running on `victim`, which is then killed or frozen. */
async function oneRound(
  victim: string,
  survivor: string,
  mode: "kill" | "freeze",
  agent: ManagedProcess,
): Promise<void> {
  const names: string[] = [];
  for (let i = 0; i < 4; i++)
    names.push(await submit(client, sleeper(2, `r${i}`), { expectedOutput: `r${i}\n` }));
  // Wait until the victim runs some of them.
  const runningOnVictim = await waitFor(
    async () => {
      const all = await Promise.all(names.map((n) => client.get(ExecutionResource, n, NS)));
      const mine = all.filter((e) => e.status?.nodeName === victim && e.status?.phase === "Running");
      return mine.length > 0 ? mine.map((e) => e.metadata.name!) : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: `Executions running on ${victim}` },
  );
  const t0 = Date.now();
  if (mode === "kill") await agent.kill();
  else process.kill(-agent.pid!, "SIGSTOP");
  let reassignedMs: number;
  try {
    // After the victim's lease expires its Executions go back to the queue and on to the survivor
    // (one may have finished on the victim just before the fault: that one stays there).
    await waitFor(
      async () => {
        const xs = await Promise.all(runningOnVictim.map((n) => client.get(ExecutionResource, n, NS)));
        return xs.every((e) => e.status?.nodeName === survivor || isComplete(e));
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `reassignment to ${survivor}` },
    );
    reassignedMs = Date.now() - t0;
  } finally {
    if (mode === "freeze") process.kill(-agent.pid!, "SIGCONT");
  }
  const done = await waitDone(client, names);
  // Moved: assigned to the victim (running, or assigned before its lease expired), then to the survivor.
  const moved = done.filter((e) => (e.status?.attempts ?? 1) > 1).map((e) => e.metadata.name!);
  console.log(
    `[faults] agent ${victim} ${mode === "kill" ? "SIGKILLed" : "frozen (SIGSTOP)"} mid-run: ${moved.length} Execution(s) reassigned within ${seconds(reassignedMs)}, all ${names.length} Complete after ${seconds(Date.now() - t0)}`,
  );
  expect(moved.length).toBeGreaterThan(0);
  for (const e of done) {
    const name = e.metadata.name!;
    expect(e.status?.phase, name).toBe("Succeeded");
    expect(e.status?.verdict, name).toBe("Accepted");
    expect(e.status?.tests, name).toHaveLength(1);
    if (moved.includes(name)) {
      expect(e.status?.nodeName, name).toBe(survivor);
      expect(e.status?.attempts, name).toBe(2);
    } else if (runningOnVictim.includes(name)) {
      expect(e.status?.nodeName, name).toBe(victim); // finished just before the fault
    }
  }
  if (mode === "freeze") {
    // The thawed agent finishes the runs it had and tries to write: it finds them reassigned and drops its results.
    const lateOnes = runningOnVictim.filter((n) => moved.includes(n));
    expect(lateOnes.length).toBeGreaterThan(0);
    await waitFor(
      () =>
        lateOnes.every(
          (n) =>
            agent.logEntries(
              (e) =>
                e.msg === "execution was reassigned or finished elsewhere; dropping this result" &&
                String(e.execution).endsWith(`/${n}`),
            ).length > 0,
        ),
      { timeoutMs: 30_000, what: `${victim} to drop its late results` },
    );
    const again = await Promise.all(names.map((n) => client.get(ExecutionResource, n, NS)));
    expect(again.map((e) => [e.status?.nodeName, e.status?.completionTime, e.status?.attempts])).toEqual(
      done.map((e) => [e.status?.nodeName, e.status?.completionTime, e.status?.attempts]),
    );
  }
  // Each result comes from one judging run, on the node its status names.
  for (const e of done) {
    const name = e.metadata.name!;
    expect(finishedIn(e.status!.nodeName!).filter((n) => n === name)).toHaveLength(1);
  }
}

beforeAll(async () => {
  if (isolateMissing) return;
  tmp = await mkdtemp(join(tmpdir(), "envicutor-faults-e2e-"));
  client = new KubeClient(kubeConfig(), { fieldManager: "faults-e2e" });
  const out = await run(
    "bash",
    [join(ROOT, "nix/pkgs/make-binary-cache.sh"), join(tmp, "cache"), "python3"],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  cache = JSON.parse(out.stdout.trim().split("\n").pop()!);
  await ensureNamespace(NS);
  for (const n of NODES) await createNode(n, LABEL);
  // Two controller replicas with leader election: one leads, the other waits warm.
  for (const id of ["faults-c1", "faults-c2"]) controllers.set(id, controllerFor(id));
  for (const n of NODES) agents.set(n, agentFor(n));
  await client.create(RuntimeResource, pyRuntime());
  await waitReady(client, NODES.length);
}, 180_000);

afterAll(async () => {
  if (isolateMissing) return;
  await client?.delete(RuntimeResource, RUNTIME).catch(() => undefined);
  await waitFor(async () => !(await client.tryGet(RuntimeResource, RUNTIME)), {
    timeoutMs: 30_000,
    what: `${RUNTIME} deleted`,
  }).catch(() => undefined);
  for (const a of agents.values()) await a.stop();
  for (const c of controllers.values()) await c.stop();
  for (const n of NODES) await deleteNode(n);
  if (process.env.KEEP_E2E_LOGS) console.log(`[faults] logs kept in ${tmp}/logs`);
  else if (tmp) await rm(tmp, { recursive: true, force: true });
}, 60_000);

describe.skipIf(isolateMissing)("faults", () => {
  it("an agent killed mid-run: its Executions finish once, on the other node (×3, the last one frozen)", async () => {
    // Rounds 1 and 2 SIGKILL the agent; round 3 freezes it (SIGSTOP) past its lease and thaws it
    // after the reassignment, so its late result really is written, and must be dropped.
    const rounds: { victim: string; mode: "kill" | "freeze" }[] = [
      { victim: "faults-a", mode: "kill" },
      { victim: "faults-b", mode: "kill" },
      { victim: "faults-a", mode: "freeze" },
    ];
    for (const { victim, mode } of rounds) {
      const survivor = NODES.find((n) => n !== victim)!;
      const agent = agents.get(victim)!;
      const startsBefore = agent.logEntries((x) => x.msg === "agent started").length;
      try {
        await oneRound(victim, survivor, mode, agent);
      } finally {
        // The victim comes back (cleaning its boxes at start-up) for the next round.
        if (mode === "freeze" && agent.running) await agent.stop();
        agents.set(victim, agentFor(victim));
        await waitFor(
          () => agents.get(victim)!.logEntries((x) => x.msg === "agent started").length > startsBefore,
          { timeoutMs: 30_000, what: `${victim} back` },
        );
      }
    }
  });

  it("the controller leader killed: the other replica takes over within the lease duration", async () => {
    const leaseOf = () => client.get(LeaseResource, "envicutor-controller", NS) as Promise<Lease>;
    const leader = (await leaseOf()).spec?.holderIdentity ?? "";
    expect(controllers.has(leader)).toBe(true);
    const other = [...controllers.keys()].find((k) => k !== leader)!;
    const t0 = Date.now();
    await controllers.get(leader)!.kill();
    const names: string[] = [];
    for (let i = 0; i < 4; i++)
      names.push(await submit(client, `print(${i})\n`, { expectedOutput: `${i}\n` }));
    const newLeader = await waitFor(
      async () => {
        const h = (await leaseOf()).spec?.holderIdentity;
        return h && h !== leader ? h : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: "a new leader" },
    );
    const takeoverMs = Date.now() - t0;
    const done = await waitDone(client, names);
    console.log(
      `[faults] controller leader ${leader} SIGKILLed: ${newLeader} leads after ${seconds(takeoverMs)} (lease ${CONTROLLER_LEASE_SECONDS}s), ${names.length} pending Executions Complete after ${seconds(Date.now() - t0)}`,
    );
    expect(newLeader).toBe(other);
    // Takeover needs the old lease to expire, then one retry period (1 s), plus slack for a busy machine.
    expect(takeoverMs).toBeLessThan((CONTROLLER_LEASE_SECONDS + 3) * 1000);
    expect(done.every((e) => e.status?.verdict === "Accepted")).toBe(true);
    controllers.set(leader, controllerFor(leader)); // back as a follower
  });

  it("a Node deleted: its Worker is collected and its Executions rescheduled", async () => {
    const victim = "faults-b";
    const survivor = "faults-a";
    const names: string[] = [];
    for (let i = 0; i < 4; i++)
      names.push(await submit(client, sleeper(2, `n${i}`), { expectedOutput: `n${i}\n` }));
    const onVictim = await waitFor(
      async () => {
        const all = await Promise.all(names.map((n) => client.get(ExecutionResource, n, NS)));
        const mine = all.filter((e) => e.status?.nodeName === victim);
        return mine.length > 0 ? mine.map((e) => e.metadata.name!) : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `Executions on ${victim}` },
    );
    const t0 = Date.now();
    await deleteNode(victim);
    const done = await waitDone(client, names);
    const completeMs = Date.now() - t0;
    // kube-controller-manager's garbage collector deletes the Worker (owner reference to the Node).
    await waitFor(async () => !(await client.tryGet(WorkerResource, victim)), {
      timeoutMs: 90_000,
      intervalMs: 500,
      what: `Worker ${victim} to be garbage-collected`,
    });
    console.log(
      `[faults] Node ${victim} deleted: ${onVictim.length} Execution(s) rescheduled, all Complete after ${seconds(completeMs)}; Worker collected after ${seconds(Date.now() - t0)}`,
    );
    for (const e of done) {
      expect(e.status?.verdict, e.metadata.name).toBe("Accepted");
      expect(e.status?.nodeName).toBe(survivor);
      if (onVictim.includes(e.metadata.name!)) expect(e.status?.attempts).toBeGreaterThan(1);
    }
    // The Node comes back; its agent (restarted) recreates its Worker and serves again.
    await agents.get(victim)!.stop();
    await createNode(victim, LABEL);
    agents.set(victim, agentFor(victim));
    await waitFor(async () => (await client.tryGet(WorkerResource, victim)) !== undefined, {
      timeoutMs: 30_000,
      what: `Worker ${victim} recreated`,
    });
    await waitReady(client, NODES.length);
  });

  it("a program writing past its file size limit gets RuntimeError; the agent stays healthy and leaves no box", async () => {
    const t0 = Date.now();
    const big = await submit(
      client,
      'with open("big", "wb") as f:\n    for _ in range(64):\n        f.write(b"x" * (1 << 20))\nprint("wrote 64 MiB")\n',
      { limits: { run: { fileSizeKiB: 1024 } } },
    );
    const [e] = await waitDone(client, [big]);
    expect(e!.status?.phase).toBe("Succeeded");
    expect(e!.status?.verdict).toBe("RuntimeError");
    expect(e!.status?.tests?.[0]?.stdout ?? "").not.toContain("wrote");
    // The same agent takes the next one.
    const next = await submit(client, 'print("still fine")\n', { expectedOutput: "still fine\n" });
    const [ok] = await waitDone(client, [next]);
    console.log(
      `[faults] box disk filled past fileSizeKiB on ${e!.status?.nodeName}: ${e!.status?.verdict} (${e!.status?.tests?.[0]?.message ?? e!.status?.tests?.[0]?.stderr?.split("\n").filter(Boolean).pop()}); next Execution ${ok!.status?.verdict} after ${seconds(Date.now() - t0)}`,
    );
    expect(ok!.status?.verdict).toBe("Accepted");
    for (const n of NODES) expect(boxesLeft(n)).toEqual([]);
  });

  it("the apiserver restarted (private control plane): Executions before and after it complete", async () => {
    const cp = new ControlPlane(controlPlaneBinDir(), { crds: join(ROOT, "crds") });
    let agent: ManagedProcess | undefined;
    let controller: Supervised | undefined;
    let c: KubeClient | undefined;
    try {
      const info = await cp.start();
      c = new KubeClient(loadKubeConfig(info.kubeconfigPath), { fieldManager: "faults-e2e" });
      await c.rest.request("POST", "/api/v1/namespaces", {
        body: { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
      });
      await c.create(NodeResource, { metadata: { name: "faults-cp", labels: LABEL } });
      // The chart's defaults (lease 15 s, renew deadline 10 s), and a restart on exit as its Deployment
      // would do: a replica that cannot renew within the deadline steps down and exits by design.
      controller = new Supervised(() =>
        controllerFor("faults-cp", info.kubeconfigPath, {
          ENVICUTOR_LEASE_DURATION_SECONDS: "15",
          ENVICUTOR_RENEW_DEADLINE_SECONDS: "10",
          ENVICUTOR_RETRY_PERIOD_SECONDS: "2",
        }),
      );
      agent = agentFor("faults-cp", info.kubeconfigPath);
      await c.create(RuntimeResource, pyRuntime());
      await waitReady(c, 1);

      const before: string[] = [];
      for (let i = 0; i < 3; i++)
        before.push(await submit(c, sleeper(1, `b${i}`), { expectedOutput: `b${i}\n` }));
      const t0 = Date.now();
      await cp.restartApiserver(2000);
      const upMs = Date.now() - t0;
      const after: string[] = [];
      for (let i = 0; i < 3; i++)
        after.push(await submit(c, `print("a${i}")\n`, { expectedOutput: `a${i}\n` }));
      const done = await waitDone(c, [...before, ...after], 120_000);
      console.log(
        `[faults] apiserver restarted (down 2s, ready again after ${seconds(upMs)}): ${before.length} submitted before and ${after.length} after all Complete ${seconds(Date.now() - t0)} after the restart began`,
      );
      for (const e of done.filter((x) => x.status?.verdict !== "Accepted"))
        console.log(
          `[faults]   ${e.metadata.name}: ${e.status?.verdict} ${e.status?.message} ${JSON.stringify(e.status?.tests?.map((t) => t.message))}`,
        );
      expect(done.map((e) => e.status?.verdict)).toEqual(Array(6).fill("Accepted"));
      expect(agent.running).toBe(true);
      if (controller.restarts > 0)
        console.log(
          `[faults] the controller lost its lease during the restart and was restarted ${controller.restarts}×`,
        );
      await agent.stop();
      expect(boxesLeft("faults-cp")).toEqual([]);
    } finally {
      await agent?.stop();
      await controller?.stop();
      c?.close();
      await cp.stop();
    }
  });
});
