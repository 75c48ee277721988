// Runs in the cgroup v2 guest as root (the job of e2e/cgroup-v2-vm.e2e.test.ts):
// a node as kubelet leaves it, agents in containers on it, and what they saw.
//
//   /sys/fs/cgroup/kubepods/pod-a/ctr        container A (cgroup and mount namespace of its own)
//   /sys/fs/cgroup/kubepods/pod-b/ctr        container B, a second agent on the node
//   /sys/fs/cgroup/system.slice/agent.service  an agent as a systemd service (no cgroup namespace)
//
// Each container has an init process (as a pause container would) that
// agents join with nsenter. Writes the results as JSON to $VM_RESULTS; the
// host's test asserts on them.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { cgroupProcs, cgroupTree, childCgroups } from "./cgroup-tree.ts";
import { loopCpuMillis, timeScale } from "./emulation-speed.ts";
import { type AgentPlan, type AgentReport, BARRIER_DIR } from "./guest-agent.ts";
import { VERDICT_CASES } from "./verdict-cases.ts";

const CG = "/sys/fs/cgroup";
const AGENT = join(import.meta.dirname, "guest-agent.ts");
const CONTROLLERS = "+cpu +memory +pids";
const FIRST_UID = 60000;
const CONTAINER_INIT_WAIT_MS = 120_000;

export interface BoxCgroupSeen {
  path: string;
  memoryMax: string;
  memoryCurrent: number;
  pidsMax: string;
  procs: number;
}

export interface GuestResults {
  uname: string;
  controllers: string;
  hostLoopMs: number;
  guestLoopMs: number;
  scale: number;
  reports: Record<string, AgentReport>;
  /** The most box cgroups seen at one moment while the agents held their boxes, and when. */
  concurrent: BoxCgroupSeen[];
  treeAfter: string[];
  leftoverBoxCgroups: string[];
  leftoverBoxProcesses: string[];
  isolateVersion: string;
  wallMs: Record<string, number>;
}

const write = (file: string, text: string) => writeFileSync(file, text);

/** A cgroup (made with its parents) whose parents delegate cpu, memory and pids to it. */
function nodeCgroup(path: string): string {
  let dir = CG;
  for (const part of path.split("/").filter(Boolean)) {
    write(join(dir, "cgroup.subtree_control"), CONTROLLERS);
    dir = join(dir, part);
    mkdirSync(dir, { recursive: true });
  }
  return dir;
}

/** A container's init: joins the cgroup, takes a cgroup and mount namespace and mounts its own cgroupfs view. */
async function containerInit(cgroup: string): Promise<number> {
  const inner = `umount ${CG} && mount -t cgroup2 cgroup2 ${CG} && touch /run/ns-ready-$$ && exec sleep 100000`;
  const p = spawn(
    "sh",
    [
      "-c",
      `echo $$ > ${cgroup}/cgroup.procs && exec unshare --cgroup --mount --propagation private sh -c '${inner}'`,
    ],
    { stdio: "ignore", detached: true },
  );
  const pid = p.pid!;
  // Four execs from the 9p root under emulation, on a host that may be busy
  // with the rest of the suite: seconds, not milliseconds. Only a hang fails.
  const started = Date.now();
  while (!existsSync(`/run/ns-ready-${pid}`) && Date.now() - started < CONTAINER_INIT_WAIT_MS)
    await sleep(50);
  if (!existsSync(`/run/ns-ready-${pid}`))
    throw new Error(`container init in ${cgroup} did not start within ${CONTAINER_INIT_WAIT_MS / 1000} s`);
  console.log(`[guest] container init in ${cgroup} ready after ${Date.now() - started} ms`);
  p.unref();
  return pid;
}

/** Starts an agent in `cgroup`, inside the namespaces of `nsOf` (a container init) or a private mount namespace. */
function startAgent(cgroup: string, nsOf: number | undefined, plan: AgentPlan): ChildProcess {
  const node = process.execPath;
  const enter = nsOf
    ? `exec nsenter --target ${nsOf} --cgroup --mount --root --wd -- ${node} ${AGENT}`
    : // a service with its own /opt/isolate-2/etc: its isolate configuration is its own
      `exec unshare --mount --propagation private sh -c 'mount -t tmpfs tmpfs /opt/isolate-2/etc && exec ${node} ${AGENT}'`;
  return spawn("sh", ["-c", `echo $$ > ${cgroup}/cgroup.procs && ${enter}`], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, VM_AGENT_PLAN: JSON.stringify(plan) },
  });
}

async function runAgents(runs: [string, number | undefined, AgentPlan][]): Promise<AgentReport[]> {
  return Promise.all(
    runs.map(async ([cgroup, ns, plan]) => {
      const child = startAgent(cgroup, ns, plan);
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) =>
        child.once("close", (c, s) => r([c, s])),
      );
      if (!existsSync(plan.out)) {
        // Node.js itself crashed: the suite dies by a signal too, so the host boots the guest once more.
        if (signal) crashLikeAgent(plan.name, signal);
        throw new Error(`agent ${plan.name} exited ${code} without a report`);
      }
      return JSON.parse(readFileSync(plan.out, "utf8")) as AgentReport;
    }),
  );
}

/** An agent's Node.js died by a signal without a report: exit as if this process had (128 + n). */
function crashLikeAgent(name: string, signal: NodeJS.Signals): never {
  console.error(
    `[guest] agent ${name} died by ${signal} without a report: a crash of Node.js, not a verdict`,
  );
  process.exit(128 + (constants.signals[signal] ?? 0));
}

/** Box cgroups below each agent subtree right now (one removed while read is left out). */
function boxCgroups(subtrees: string[]): BoxCgroupSeen[] {
  const seen: BoxCgroupSeen[] = [];
  for (const s of subtrees)
    for (const name of childCgroups(s)) {
      const dir = join(s, name);
      const read = (f: string) => readFileSync(join(dir, f), "utf8").trim();
      try {
        seen.push({
          path: dir.slice(CG.length),
          memoryMax: read("memory.max"),
          memoryCurrent: Number(read("memory.current")),
          pidsMax: read("pids.max"),
          procs: cgroupProcs(dir).length,
        });
      } catch {
        // isolate removed it meanwhile
      }
    }
  return seen;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<GuestResults> {
  const wallMs: Record<string, number> = {};
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    try {
      return await fn();
    } finally {
      wallMs[what] = Date.now() - t;
      console.log(`[guest] ${what}: ${wallMs[what]} ms`);
    }
  };
  const hostLoopMs = Number(process.env.VM_HOST_LOOP_MS);
  const guestLoopMs = loopCpuMillis(2);
  const scale = timeScale(guestLoopMs, hostLoopMs);
  console.log(`[guest] loop: host ${hostLoopMs} ms, guest ${guestLoopMs} ms; time limits x${scale}`);

  mkdirSync(BARRIER_DIR, { recursive: true });
  const ctrA = nodeCgroup("kubepods/pod-a/ctr");
  const ctrB = nodeCgroup("kubepods/pod-b/ctr");
  const service = nodeCgroup("system.slice/agent.service");
  const initA = await containerInit(ctrA);
  const initB = await containerInit(ctrB);
  const plan = (name: string, boxBase: number, o: Partial<AgentPlan> = {}): AgentPlan => ({
    name,
    boxBase,
    boxCount: 2,
    setups: 1,
    cases: [],
    hold: false,
    scale,
    stateDir: `/tmp/agent-${name}`,
    out: `/tmp/report-${name}.json`,
    ...o,
  });
  const reports: Record<string, AgentReport> = {};
  const keep = (rs: AgentReport[]) => {
    for (const r of rs) reports[r.name] = r;
  };

  // 1. First start, set-up twice in one process; 2. a restart: the new process starts where the old one ended up.
  keep(await timed("first-start", () => runAgents([[ctrA, initA, plan("a-first", 600, { setups: 2 })]])));
  keep(await timed("restart", () => runAgents([[join(ctrA, "agent"), initA, plan("a-restart", 600)]])));

  // 3. Three agents at once, two in container A (one subtree) and one in B, each holding both its boxes
  //    until all six are seen at one moment (the barrier opens then, or after 4 minutes).
  const subtrees = [join(ctrA, "envicutor"), join(ctrB, "envicutor")];
  let concurrent: BoxCgroupSeen[] = [];
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const now = boxCgroups(subtrees).filter((b) => b.procs > 0 && b.memoryCurrent >= 16 * 1024 * 1024);
      if (now.length > concurrent.length) concurrent = now;
      if (concurrent.length >= 6) writeFileSync(join(BARRIER_DIR, "go"), "");
      await sleep(250);
    }
  })();
  const allCases = VERDICT_CASES.map((c) => c.name);
  keep(
    await timed("three-agents", () =>
      runAgents([
        [join(ctrA, "agent"), initA, plan("a-matrix", 600, { hold: true, cases: allCases })],
        [join(ctrA, "agent"), initA, plan("a-second", 605, { hold: true, cases: ["hello"] })],
        [ctrB, initB, plan("b", 610, { hold: true, cases: ["memory-hog", "dev-shm-fill", "hello"] })],
      ]),
    ),
  );
  polling = false;
  await poll;

  // 4. An agent as a systemd service: its own cgroup path, no cgroup namespace.
  keep(
    await timed("service", () =>
      runAgents([[service, undefined, plan("service", 620, { cases: ["hello", "memory-hog"] })]]),
    ),
  );

  for (const pid of [initA, initB]) process.kill(pid, "SIGKILL");
  const boxUids = new Set(Array.from({ length: 50 }, (_, i) => String(FIRST_UID + 600 + i)));
  return {
    uname: execFileSync("uname", ["-sr"], { encoding: "utf8" }).trim(),
    controllers: readFileSync(join(CG, "cgroup.controllers"), "utf8").trim(),
    hostLoopMs,
    guestLoopMs,
    scale,
    reports,
    concurrent,
    treeAfter: cgroupTree(CG).filter((l) => !l.startsWith("/: ") && !l.startsWith("/init")),
    leftoverBoxCgroups: boxCgroups([...subtrees, join(service, "envicutor")]).map((b) => b.path),
    leftoverBoxProcesses: execFileSync("ps", ["-eo", "uid=,pid=,comm="], { encoding: "utf8" })
      .split("\n")
      .filter((l) => boxUids.has(l.trim().split(/\s+/)[0] ?? "")),
    isolateVersion: execFileSync("/opt/isolate-2/bin/isolate", ["--version"], { encoding: "utf8" }).split(
      "\n",
    )[0]!,
    wallMs,
  };
}

const results = await main();
writeFileSync(process.env.VM_RESULTS ?? "/run/vm/results.json", JSON.stringify(results, null, 1));
console.log(`[guest] done: ${Object.keys(results.reports).join(", ")}`);
