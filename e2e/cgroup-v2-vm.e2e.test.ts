// The production sandbox mode, for real: isolate 2.x with --cg on cgroup v2
// (issue 13). This machine is cgroup v1, so the test boots a cgroup v2 guest
// in qemu once (e2e/vm: Debian's kernel, the host's root shared read-only,
// software emulation) and runs e2e/vm/guest-suite.ts there: agents in
// containers (own cgroup and mount namespaces) set up their delegated subtree
// with setUpSandbox and run the verdict matrix through runExecution against
// /opt/isolate-2. What the guest saw comes back as JSON and is asserted here;
// the same programs also run on this machine with isolate 1.x (--cg on
// cgroup v1), and both columns are printed side by side.
//
// Box ids 600..649 belong to this file: 600..621 in the guest, 645..646 here.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, setUpSandbox } from "../src/agent/sandbox/setup.ts";
import { ISOLATE_1, isolateInstalls } from "./support/isolate-installs.ts";
import { loopCpuMillis } from "./vm/emulation-speed.ts";
import type { AgentReport } from "./vm/guest-agent.ts";
import { nodeJob } from "./vm/guest-job.ts";
import type { GuestResults } from "./vm/guest-suite.ts";
import { GUEST_CRASH_REBOOTS, type GuestRun, guestFailure, runInGuestRetryingCrash } from "./vm/qemu-vm.ts";
import { runVerdictCases } from "./vm/run-verdict-cases.ts";
import { VERDICT_CASES, type VerdictCase, type VerdictObservation } from "./vm/verdict-cases.ts";
import { vmMissing } from "./vm/vm-prerequisites.ts";

const missing = vmMissing();
if (missing) console.warn(`!!! cgroup v2 VM tests SKIPPED: ${missing}`);
const { isolate1 } = isolateInstalls("cgroup v1 side of the v1/v2 verdict table");
const GUEST_TIMEOUT_MS = 900_000;
const V1_IDS = [645, 646];

const expectedOf = (c: VerdictCase) => (Array.isArray(c.expected) ? c.expected : [c.expected]);
const say = (what: string, tried: string, saw: unknown) =>
  console.log(
    `[cgroup-v2-vm ${what}] tried: ${tried}\n  saw: ${typeof saw === "string" ? saw : JSON.stringify(saw)}`,
  );

describe.skipIf(!!missing)("isolate 2.x with --cg on cgroup v2, in a qemu guest", () => {
  let run: GuestRun;
  let g: GuestResults;
  let v1: VerdictObservation[] | undefined;
  const report = (name: string): AgentReport => {
    const r = g.reports[name];
    if (!r) throw new Error(`no report from agent ${name}`);
    expect(r.error, `agent ${name} failed`).toBeUndefined();
    return r;
  };

  beforeAll(
    async () => {
      const hostLoopMs = loopCpuMillis();
      run = await runInGuestRetryingCrash({
        script: nodeJob("e2e/vm/guest-suite.ts", {
          VM_HOST_LOOP_MS: String(hostLoopMs),
          VM_RESULTS: "/run/vm/results.json",
        }),
        timeoutMs: GUEST_TIMEOUT_MS,
      });
      console.log(
        `[cgroup-v2-vm] guest console:\n${run.console}\n[cgroup-v2-vm] job log (tail):\n${run.jobLog.slice(-3000)}`,
      );
      if (run.exitCode !== 0 || !run.files["results.json"])
        throw new Error(guestFailure(run, "the guest's job failed"));
      g = JSON.parse(run.files["results.json"]) as GuestResults;
      console.log(
        `[cgroup-v2-vm] ${g.uname}, ${g.isolateVersion}; the guest ran in ${(run.wallMs / 1000).toFixed(0)} s. ` +
          `Emulation: the same Python loop took ${g.hostLoopMs} ms of CPU here and ${g.guestLoopMs} ms in the guest ` +
          `(${(g.guestLoopMs / g.hostLoopMs).toFixed(1)}x slower): time limits x${g.scale}. Phases (ms): ${JSON.stringify(g.wallMs)}`,
      );
    },
    (1 + GUEST_CRASH_REBOOTS) * GUEST_TIMEOUT_MS + 60_000, // a crashed guest boots again
  );

  it("nothing of the guest is left: no qemu process, no run directory", () => {
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    say("clean-up", "look for qemu's process and the run's directory after the guest powered off", {
      qemuPid: run.qemuPid,
      runDir: run.runDir,
    });
    expect(run.qemuPid).toBeDefined();
    expect(alive(run.qemuPid!)).toBe(false);
    expect(existsSync(run.runDir)).toBe(false);
  });

  it("the guest runs cgroup v2 with the memory, cpu and pids controllers", () => {
    say("boot", "mount cgroup2 only, list the root's controllers", g.controllers);
    for (const c of ["memory", "cpu", "pids"]) expect(g.controllers.split(" ")).toContain(c);
    expect(g.isolateVersion).toMatch(/isolator 2\./);
  });

  it("first start in a container: own delegated subtree, controllers enabled, --cg on; a second set-up changes nothing", () => {
    const r = report("a-first");
    say(
      "first start",
      "setUpSandbox twice in one agent whose cgroup namespace is its container's cgroup",
      r.setups,
    );
    expect(r.ownCgroupAtStart).toBe("/");
    expect(r.setups).toHaveLength(2);
    for (const s of r.setups) {
      expect(s).toMatchObject({ useCg: true, cgroupMode: "v2", ownCgroup: "/agent" });
      expect(s.protections).toContain("memory:cgroup");
      expect(s.config).toMatch(/^cg_root = \/sys\/fs\/cgroup\/envicutor$/m);
      expect(s.tree).toEqual(["/: cpu memory pids", "/agent: ", "/envicutor: cpu memory pids"]);
    }
    expect(r.setups[1]).toEqual(r.setups[0]);
  });

  it("a restarted agent (starting in the leaf the last one left) reuses the same subtree", () => {
    const first = report("a-first").setups[0]!;
    const r = report("a-restart");
    say(
      "restart",
      "a new agent process in <container>/agent, as a restart inside the container starts",
      r.setups,
    );
    expect(r.ownCgroupAtStart).toBe("/agent");
    expect(r.setups[0]).toEqual(first);
  });

  it("several agents on one node: two in one container share its subtree, a third has its own; boxes of all at once", () => {
    const a = report("a-matrix").setups[0]!;
    const a2 = report("a-second").setups[0]!;
    const b = report("b").setups[0]!;
    say(
      "several agents",
      "two agents started at once in container A, one in container B, each holding its 2 boxes",
      {
        boxCgroupsSeenAtOnce: g.concurrent,
        held: ["a-matrix", "a-second", "b"].map((n) => report(n).held.map((h) => h.verdict)),
      },
    );
    for (const s of [a, a2, b]) expect(s.config).toBe(a.config); // one configuration file, the same text
    expect(g.concurrent.map((c) => c.path).sort()).toEqual([
      "/kubepods/pod-a/ctr/envicutor/box-600",
      "/kubepods/pod-a/ctr/envicutor/box-601",
      "/kubepods/pod-a/ctr/envicutor/box-605",
      "/kubepods/pod-a/ctr/envicutor/box-606",
      "/kubepods/pod-b/ctr/envicutor/box-610",
      "/kubepods/pod-b/ctr/envicutor/box-611",
    ]);
    for (const c of g.concurrent) {
      expect(c.memoryMax).toBe(String(64 * 1024 * 1024));
      expect(c.memoryCurrent).toBeGreaterThanOrEqual(16 * 1024 * 1024); // the held 16 MiB, charged to the box
    }
    for (const n of ["a-matrix", "a-second", "b"])
      expect(report(n).held.map((h) => h.verdict)).toEqual(["Accepted", "Accepted"]);
    // Only cgroups are left after the agents stopped: no box cgroup, no box process.
    expect(g.leftoverBoxCgroups).toEqual([]);
    expect(g.leftoverBoxProcesses).toEqual([]);
    expect(g.treeAfter).toEqual([
      "/kubepods: cpu memory pids",
      "/kubepods/pod-a: cpu memory pids",
      "/kubepods/pod-a/ctr: cpu memory pids",
      "/kubepods/pod-a/ctr/agent: ",
      "/kubepods/pod-a/ctr/envicutor: cpu memory pids",
      "/kubepods/pod-b: cpu memory pids",
      "/kubepods/pod-b/ctr: cpu memory pids",
      "/kubepods/pod-b/ctr/agent: ",
      "/kubepods/pod-b/ctr/envicutor: cpu memory pids",
      "/system.slice: cpu memory pids",
      "/system.slice/agent.service: cpu memory pids",
      "/system.slice/agent.service/agent: ",
      "/system.slice/agent.service/envicutor: cpu memory pids",
    ]);
  });

  it("an agent as a systemd service (no cgroup namespace) delegates below its own cgroup", () => {
    const r = report("service");
    say("service", "setUpSandbox in /system.slice/agent.service without a cgroup namespace", {
      ownCgroup: r.setups[0]?.ownCgroup,
      verdicts: r.observations.map((o) => `${o.name}: ${o.verdict}`),
    });
    expect(r.setups[0]).toMatchObject({ useCg: true, ownCgroup: "/system.slice/agent.service/agent" });
    expect(r.setups[0]!.config).toMatch(
      /^cg_root = \/sys\/fs\/cgroup\/system\.slice\/agent\.service\/envicutor$/m,
    );
    expect(r.observations.map((o) => o.verdict)).toEqual(["Accepted", "MemoryLimitExceeded"]);
  });

  it("container B's boxes get the same memory verdicts", () => {
    const obs = report("b").observations;
    say(
      "container B",
      "memory hog, /dev/shm fill and hello in the second container",
      obs.map((o) => `${o.name}: ${o.verdict}`),
    );
    expect(obs.map((o) => o.verdict)).toEqual(["MemoryLimitExceeded", "MemoryLimitExceeded", "Accepted"]);
  });

  describe.each(VERDICT_CASES.map((c) => [c.name, c] as const))("verdict matrix: %s", (name, c) => {
    it(`${expectedOf(c).join(" or ")} on cgroup v2`, () => {
      const o = report("a-matrix").observations.find((x) => x.name === name);
      say(`v2 ${name}`, c.tried, o);
      expect(o, `no observation of ${name}`).toBeDefined();
      expect(o!.error).toBeUndefined();
      expect(expectedOf(c)).toContain(o!.verdict);
      checkDetails(c, o!);
    });
  });

  describe.skipIf(!isolate1)("the same programs with isolate 1.x, --cg on cgroup v1 (this machine)", () => {
    let tmp: string;
    let sandbox: Sandbox | undefined;
    beforeAll(async () => {
      tmp = mkdtempSync(join(tmpdir(), "cgroup-v1-matrix-"));
      const logger = pino({ level: "error" });
      sandbox = await setUpSandbox({
        isolateBin: ISOLATE_1.bin,
        isolateConfigPath: ISOLATE_1.config,
        boxRoot: ISOLATE_1.boxRoot,
        boxIdBase: V1_IDS[0]!,
        boxCount: V1_IDS.length,
        stateDir: join(tmp, "state"),
        extraDirs: [],
        logger,
      });
      if (!sandbox) throw new Error("setUpSandbox found no isolate 1.x");
      v1 = await runVerdictCases(
        { sandbox: sandbox.settings, pool: sandbox.pool, outputCapBytes: 64 * 1024, logger },
        VERDICT_CASES,
        1,
      );
    });
    afterAll(() => rmSync(tmp, { recursive: true, force: true }));

    it("every verdict is the same as on cgroup v2; the table", () => {
      const v2 = report("a-matrix").observations;
      const row = (c: VerdictCase) => {
        const a = v1!.find((o) => o.name === c.name);
        const b = v2.find((o) => o.name === c.name);
        return `| ${c.name} | ${c.tried} | ${a?.verdict} | ${a?.memoryKiB ?? "-"} | ${b?.verdict} | ${b?.memoryKiB ?? "-"} |`;
      };
      console.log(
        [
          "[cgroup-v2-vm] verdicts and peak memory (KiB, as the result reports it):",
          "| case | program | v1: isolate 1.x --cg | v1 KiB | v2: isolate 2.x --cg | v2 KiB |",
          "|---|---|---|---|---|---|",
          ...VERDICT_CASES.map(row),
        ].join("\n"),
      );
      for (const c of VERDICT_CASES) {
        const a = v1!.find((o) => o.name === c.name)!;
        expect(expectedOf(c), `${c.name} on cgroup v1: ${JSON.stringify(a)}`).toContain(a.verdict);
        checkDetails(c, a);
      }
    });
  });
});

/** What a case's verdict alone does not say. */
function checkDetails(c: VerdictCase, o: VerdictObservation): void {
  const details: Record<string, () => void> = {
    hello: () => expect(o.stdout).toBe("hello\n"),
    "exit-3": () => expect(o.exitCode).toBe(3),
    segfault: () => expect(o.signal).toBe(11),
    sigfpe: () => expect(o.signal).toBe(8),
    "sigkill-small": () => expect(o.signal).toBe(9),
    "cpu-loop": () => expect(o.message).toMatch(/CPU time limit/),
    sleep: () => expect(o.message).toMatch(/wall time limit/),
    "memory-hog": () => expect(o.message).toMatch(/memory limit of 65536 KiB/),
    "memory-under-limit": () => expect(o.stdout).toBe("kept 32 MiB\n"),
    "memory-per-test-case": () => {
      const t = o.tests ?? [];
      expect(t.map((x) => x.verdict)).toEqual(["MemoryLimitExceeded", "Accepted", "Accepted", "Accepted"]);
      const [, small, big, smallAgain] = t.map((x) => x.memoryKiB ?? 0);
      expect(big).toBeGreaterThanOrEqual(32 * 1024);
      // Each its own peak: the 1 MiB test cases stay well under the 32 MiB one and the 512 MiB attempt.
      expect(small).toBeLessThan(big! - 16 * 1024);
      expect(smallAgain).toBeLessThan(big! - 16 * 1024);
    },
    "dev-shm-fill": () => expect(o.message).toMatch(/memory limit of 65536 KiB/),
    "process-limit": () => expect(o.stdout).toMatch(/^fork refused after [0-7] /),
    "output-flood": () => expect(o.message).toMatch(/output exceeded 1048576 bytes/),
    "storage-fill": () => expect(o.message).toMatch(/storage limit of 32768 KiB was reached/),
    "file-size": () => expect(o.stderr).toMatch(/File too large/),
  };
  details[c.name]?.();
}
