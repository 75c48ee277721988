// One agent in the guest, as the agent runs in a container: the agent's own
// sandbox set-up (setUpSandbox: detection, the delegated cgroup v2 subtree,
// isolate's configuration) and then Executions through runExecution. Started
// by guest-suite.ts inside a container's cgroup (and cgroup namespace); it
// writes what it saw as JSON to the file named in its plan.
import { readFileSync, writeFileSync } from "node:fs";
import { pino } from "pino";
import type { ExecutorContext } from "../../src/agent/executor/run-execution.ts";
import { readOwnCgroupV2 } from "../../src/agent/sandbox/isolate-config.ts";
import { type Sandbox, setUpSandbox } from "../../src/agent/sandbox/setup.ts";
import { cgroupTree } from "./cgroup-tree.ts";
import { HOST_DIRS, runVerdictCase, runVerdictCases } from "./run-verdict-cases.ts";
import { VERDICT_CASES, type VerdictCase, type VerdictObservation } from "./verdict-cases.ts";

export interface AgentPlan {
  name: string;
  boxBase: number;
  boxCount: number;
  /** setUpSandbox runs this many times in this process (idempotence). */
  setups: number;
  /** Verdict cases by name, run one after another. */
  cases: string[];
  /** Run HOLD_CASE in every box at once (several agents' boxes at the same time). */
  hold: boolean;
  scale: number;
  stateDir: string;
  out: string;
}

export interface SetupSeen {
  useCg: boolean;
  cgroupMode: string;
  protections: string[];
  config: string;
  ownCgroup: string;
  /** The agent's cgroup tree as this process sees it (its cgroup namespace). */
  tree: string[];
}

export interface AgentReport {
  name: string;
  pid: number;
  ownCgroupAtStart: string;
  setups: SetupSeen[];
  observations: VerdictObservation[];
  held: VerdictObservation[];
  error?: string;
}

export const ISOLATE_2_BIN = "/opt/isolate-2/bin/isolate";
export const ISOLATE_2_CONFIG = "/opt/isolate-2/etc/isolate";

/** Where guest-suite.ts says "go" once it has seen every agent's boxes at once; mounted into the holding boxes. */
export const BARRIER_DIR = "/run/vm-barrier";

/** Holds a box with 16 MiB in use until the barrier opens (4 minutes at most), so every agent's boxes are seen at once. */
export const HOLD_CASE: VerdictCase = {
  name: "hold",
  tried: "hold 16 MiB in every box of every agent at once, until the suite has seen them all",
  language: "python",
  source: [
    "import os, time",
    "x = bytearray(16 << 20)",
    "for i in range(0, len(x), 4096): x[i] = 1",
    "end = time.time() + 240",
    `while time.time() < end and not os.path.exists('${BARRIER_DIR}/go'): time.sleep(0.2)`,
    "print('held')",
  ].join("\n"),
  run: { wallTimeMillis: 300_000 },
  expected: "Accepted",
};

const logger = pino({ level: "error" });

async function main(plan: AgentPlan): Promise<AgentReport> {
  const report: AgentReport = {
    name: plan.name,
    pid: process.pid,
    ownCgroupAtStart: readOwnCgroupV2(),
    setups: [],
    observations: [],
    held: [],
  };
  let sandbox: Sandbox | undefined;
  for (let i = 0; i < plan.setups; i++) {
    sandbox = await setUpSandbox({
      isolateBin: ISOLATE_2_BIN,
      isolateConfigPath: ISOLATE_2_CONFIG,
      boxRoot: "/var/local/lib/isolate2",
      boxIdBase: plan.boxBase,
      boxCount: plan.boxCount,
      stateDir: plan.stateDir,
      extraDirs: [],
      logger,
    });
    if (!sandbox) throw new Error(`setUpSandbox found no isolate at ${ISOLATE_2_BIN}`);
    report.setups.push({
      useCg: sandbox.info.useCg,
      cgroupMode: sandbox.info.cgroupMode,
      protections: sandbox.protections,
      config: readFileSync(ISOLATE_2_CONFIG, "utf8"),
      ownCgroup: readOwnCgroupV2(),
      tree: cgroupTree("/sys/fs/cgroup"),
    });
  }
  if (!sandbox) return report;
  const ctx: ExecutorContext = {
    sandbox: sandbox.settings,
    pool: sandbox.pool,
    outputCapBytes: 64 * 1024,
    logger,
  };
  if (plan.hold)
    report.held = await Promise.all(
      sandbox.pool.ids().map(() => runVerdictCase(ctx, HOLD_CASE, plan.scale, [...HOST_DIRS, BARRIER_DIR])),
    );
  const cases = plan.cases.map((n) => {
    const c = VERDICT_CASES.find((v) => v.name === n);
    if (!c) throw new Error(`no verdict case ${n}`);
    return c;
  });
  report.observations = await runVerdictCases(ctx, cases, plan.scale);
  return report;
}

if (import.meta.main) {
  const plan = JSON.parse(process.env.VM_AGENT_PLAN ?? "{}") as AgentPlan;
  const report = await main(plan).catch(
    (err: unknown): AgentReport => ({
      name: plan.name,
      pid: process.pid,
      ownCgroupAtStart: "",
      setups: [],
      observations: [],
      held: [],
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    }),
  );
  writeFileSync(plan.out, JSON.stringify(report));
}
