// Warm and kept boxes (issue 17) against REAL isolate, without Kubernetes:
// with warmBoxes the agent's executor makes each box's next one right after
// cleaning it (isolate --init, a new tmpfs); with keepBoxes (the agent's
// default) it keeps the box itself, emptied in place with a new cgroup where
// isolate would carry one over; either way before the id goes back to the
// pool. Such a box must be exactly as clean as a box made at the last moment:
// nothing of one run reaches the next, whatever the run did or how it ended.
// Host /usr/bin/python3 mounted read-only.
//
// Box ids 380..381 (isolate 1.x, --cg on cgroup v1) and 390..391 (isolate 2.x
// from /opt/isolate-2, without cgroups on cgroup v1) belong to this file alone.
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { IsolateExecutor } from "../src/agent/executor/executor.ts";
import type { Sandbox } from "../src/agent/sandbox/setup.ts";
import type { StageLimits } from "../src/api/common.ts";
import type { ExecutionSpec } from "../src/api/execution.ts";
import { boxHoldsNothing } from "./support/boxes-left.ts";
import {
  boxProcesses,
  ISOLATE_1,
  ISOLATE_2,
  isolateInstalls,
  TIME_SCALE,
} from "./support/isolate-installs.ts";
import {
  type Boxes,
  executionSpec,
  executorOn,
  HOST_DIRS,
  hostRuntime,
  PATH_ENV,
  sandboxFixture,
} from "./support/sandbox-fixture.ts";

const { isolate1: isolateOk, isolate2: isolate2Ok } = isolateInstalls("warm box tests");
const logger = pino({ level: "error" });

const RUN: StageLimits = {
  cpuTimeMillis: 2000 * TIME_SCALE,
  wallTimeMillis: 20_000 * TIME_SCALE,
  memoryKiB: 256 * 1024,
  processes: 16,
  openFiles: 64,
  fileSizeKiB: 1024,
  outputBytes: 1024 * 1024,
};

const runtime = (run: Partial<StageLimits> = {}) =>
  hostRuntime({ compile: RUN, run: { ...RUN, ...run } }, PATH_ENV);
const spec = (source: string, extra: Partial<ExecutionSpec> = {}) =>
  executionSpec(source, extra, { file: "main.py" });

/** Leaves something everywhere a program can write, then says what it found there first. */
const LITTER = [
  "import os",
  "seen = {d: sorted(os.listdir(d)) for d in ('/box', '/tmp', '/dev/shm')}",
  "for d in ('/box', '/tmp', '/dev/shm'):",
  "    with open(os.path.join(d, 'left-behind'), 'w') as f: f.write('x' * 4096)",
  "    os.makedirs(os.path.join(d, 'sub', 'deeper'), exist_ok=True)",
  "os.chmod('/box', 0o777)",
  "print(seen, os.stat('/box').st_dev)",
].join("\n");
/** What a fresh box shows the program: its source in /box, nothing in /tmp or /dev/shm. */
const FRESH = "{'/box': ['main.py'], '/tmp': [], '/dev/shm': []}";

type Mode = "warmBoxes" | "keepBoxes";

function warmBoxCases(o: Boxes, mode: Mode) {
  describe(`${o.name}, ${mode}`, () => {
    let tmp: string;
    let sandbox: Sandbox;
    let executor: IsolateExecutor;
    const fsDir = (id: number) => join(sandbox.settings.workDir, `fs-${id}`);
    const warmIds = () =>
      o.ids.filter(
        (id) => existsSync(join(o.boxRoot, String(id), "box")) && existsSync(join(fsDir(id), "box")),
      );

    beforeAll(async () => {
      ({ tmp, sandbox } = await sandboxFixture(o, "warm-boxes-e2e-", { logger }));
      executor = executorOn(sandbox, logger, {
        mounts: HOST_DIRS,
        cleanUpInBackground: true,
        [mode]: true,
      });
    });

    /** coolDown cleans the warm boxes: then nothing of any box is left, as without warm boxes. */
    afterEach(async () => {
      if (!sandbox) return;
      await executor.coolDown();
      expect(sandbox.pool.available).toBe(o.ids.length);
      expect(boxProcesses(o.ids)).toEqual([]);
      for (const id of o.ids) {
        const dir = join(o.boxRoot, String(id));
        expect(!existsSync(dir) || readdirSync(dir).length === 0, `box ${id} left behind`).toBe(true);
      }
      expect(readdirSync(sandbox.settings.workDir).sort()).toEqual(["dev"]);
    });

    afterAll(() => {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it("the next run takes the box made after the last one's clean-up, and finds nothing of it", async () => {
      const first = await executor.run(spec(LITTER), runtime());
      expect(first.verdict).toBe("Accepted");
      expect(first.tests[0]?.stdout).toContain(FRESH);
      await executor.idle();
      const warm = warmIds();
      expect(warm).toEqual([o.ids[0]]);
      expect(boxHoldsNothing(o.boxRoot, warm[0]!, sandbox.settings.workDir)).toBe(true);
      // The warm box's tmpfs is the one the next run's /box lives on (same device).
      const dev = statSync(join(fsDir(warm[0]!), "box")).dev;
      const second = await executor.run(spec(LITTER), runtime());
      expect(second.verdict).toBe("Accepted");
      expect(second.tests[0]?.stdout).toBe(`${FRESH} ${dev}\n`);
    });

    it("each test case of one Execution gets a fresh box, the first a warm one", async () => {
      await executor.run(spec("print(1)"), runtime()); // makes the warm box
      await executor.idle();
      expect(warmIds()).toEqual([o.ids[0]]);
      const r = await executor.run(
        spec(LITTER, { testCases: [{ stdin: "" }, { stdin: "" }, { stdin: "" }] }),
        runtime(),
      );
      expect(r.tests.map((t) => t.verdict)).toEqual(["Accepted", "Accepted", "Accepted"]);
      for (const t of r.tests) expect(t.stdout).toContain(FRESH);
    });

    it("a run killed at its time limit with a child still running: the next box is fresh", async () => {
      const src = [
        "import os, time",
        "open('/tmp/mine', 'w').write('x')",
        "if os.fork() == 0:",
        "    time.sleep(600)",
        "while True: pass",
      ].join("\n");
      const killed = await executor.run(spec(src), runtime({ cpuTimeMillis: 300 * TIME_SCALE }));
      expect(killed.verdict).toBe("TimeLimitExceeded");
      await executor.idle();
      expect(boxProcesses(o.ids)).toEqual([]);
      const next = await executor.run(spec(LITTER), runtime());
      expect(next.verdict).toBe("Accepted");
      expect(next.tests[0]?.stdout).toContain(FRESH);
    });

    it("a run with other storage limits does not take the warm box: it gets one made for it, as fresh", async () => {
      await executor.run(spec(LITTER), runtime());
      await executor.idle();
      const r = await executor.run(
        spec(
          "import os\nprint(sorted(os.listdir('/box')), os.statvfs('/box').f_blocks * os.statvfs('/box').f_frsize)",
        ),
        runtime({ storageKiB: 2048 }),
      );
      expect(r.verdict).toBe("Accepted");
      expect(r.tests[0]?.stdout).toBe(`['main.py'] ${2048 * 1024}\n`);
    });

    it("a run killed by the OOM killer: its box is not kept, the next is fresh and reports its own memory", async () => {
      const hog = "x = bytearray(512 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1";
      const oom = await executor.run(spec(hog), runtime());
      expect(oom.verdict).toBe(o.name.includes("--cg") ? "MemoryLimitExceeded" : "RuntimeError");
      await executor.idle();
      const big = await executor.run(
        spec("x = bytearray(96 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1"),
        runtime(),
      );
      expect(big.verdict).toBe("Accepted");
      await executor.idle();
      const small = await executor.run(spec(LITTER), runtime());
      expect(small.verdict).toBe("Accepted");
      expect(small.tests[0]?.stdout).toContain(FRESH);
      // Its own peak, not the 96 MiB of the run before it in the same box.
      expect(small.tests[0]!.memoryKiB!).toBeLessThan(big.tests[0]!.memoryKiB! - 64 * 1024);
    });

    it("two at a time: each run's box is fresh and no id is used by two runs at once", async () => {
      const runs = await Promise.all(Array.from({ length: 6 }, () => executor.run(spec(LITTER), runtime())));
      for (const r of runs) {
        expect(r.verdict).toBe("Accepted");
        expect(r.tests[0]?.stdout).toContain(FRESH);
      }
    });
  });
}

describe.skipIf(!isolateOk && !isolate2Ok)("warm and kept boxes", () => {
  for (const mode of ["warmBoxes", "keepBoxes"] as const) {
    describe.skipIf(!isolateOk)("isolate 1.x", () => {
      warmBoxCases({ ...ISOLATE_1, ids: [380, 381] }, mode);
    });
    describe.skipIf(!isolate2Ok)("isolate 2.x", () => {
      warmBoxCases({ ...ISOLATE_2, ids: [390, 391] }, mode);
    });
  }
});
