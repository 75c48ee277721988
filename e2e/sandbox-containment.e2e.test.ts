// Hostile submissions against REAL isolate, as a submitter would try them
// (issue 10): the node's devices and /dev/shm, a box's storage as a whole,
// compiled files and the agent's memory, kernel channels between runs. Each
// case prints what it tried and what it saw; after each one the pool is whole,
// no box process, box directory or box filesystem is left, the node's own
// /dev/shm is as it was, and the next Execution on the same boxes succeeds.
// Host /usr/bin/python3 and /usr/bin/gcc with host directories mounted
// read-only (no Nix here: this is the sandbox alone).
//
// Box ids 340..341 (isolate 1.x, --cg on cgroup v1) and 350..351 (isolate 2.x
// from /opt/isolate-2, without cgroups on cgroup v1) belong to this file alone.
import { existsSync, readdirSync, rmSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type ExecutionRuntime,
  type ExecutorContext,
  runExecution,
} from "../src/agent/executor/run-execution.ts";
import { mountsBelow } from "../src/agent/sandbox/box-storage.ts";
import type { Sandbox } from "../src/agent/sandbox/setup.ts";
import type { StageLimits } from "../src/api/common.ts";
import type { ExecutionSpec } from "../src/api/execution.ts";
import {
  boxProcesses,
  ISOLATE_1,
  ISOLATE_2,
  isolateInstalls,
  peakRssGrowthMiB,
  TIME_SCALE,
} from "./support/isolate-installs.ts";
import {
  type Boxes,
  HOST_DIRS,
  PATH_ENV,
  pythonRun,
  runContext,
  sandboxFixture,
  executionSpec as spec,
  withRun,
} from "./support/sandbox-fixture.ts";

const logger = pino({ level: "error" });
const MiB = 1024 * 1024;

const { isolate1: isolateOk, isolate2: isolate2Ok } = isolateInstalls("sandbox containment tests");

const RUN: StageLimits = {
  cpuTimeMillis: 5000 * TIME_SCALE,
  wallTimeMillis: 20_000 * TIME_SCALE,
  memoryKiB: 256 * 1024,
  processes: 16,
  openFiles: 64,
  fileSizeKiB: 64 * 1024,
  outputBytes: 1024 * 1024,
  storageKiB: 64 * 1024,
  storageFiles: 1000,
};
const COMPILE: StageLimits = {
  ...RUN,
  cpuTimeMillis: 20_000 * TIME_SCALE,
  memoryKiB: 512 * 1024,
  processes: 64,
};
const PY = pythonRun({ compile: COMPILE, run: RUN });
const py = (...lines: string[]) => lines.join("\n");
const say = (what: string, tried: string, saw: unknown) =>
  console.log(
    `[containment ${what}] tried: ${tried}\n  saw: ${typeof saw === "string" ? saw : JSON.stringify(saw)}`,
  );

/** Lowest free space of the node's disk (the filesystem of /var/local/lib) while fn runs, in bytes below the start. */
async function diskDrop<T>(fn: () => Promise<T>): Promise<{ result: T; dropBytes: number }> {
  const free = () => {
    const s = statfsSync("/var/local/lib");
    return s.bavail * s.bsize;
  };
  const start = free();
  let low = start;
  const timer = setInterval(() => {
    low = Math.min(low, free());
  }, 5);
  try {
    const result = await fn();
    low = Math.min(low, free());
    return { result, dropBytes: start - low };
  } finally {
    clearInterval(timer);
  }
}

function containmentCases(o: Boxes) {
  describe(o.name, () => {
    let tmp: string;
    let sandbox: Sandbox;
    let ctx: ExecutorContext;
    let nodeShm: string[];
    const run = (s: ExecutionSpec, runtime: ExecutionRuntime) =>
      runExecution(ctx, { spec: s, runtime, runtimeEnv: PATH_ENV, mounts: HOST_DIRS });

    beforeAll(async () => {
      ({ tmp, sandbox } = await sandboxFixture(o, "sandbox-containment-e2e-", { logger }));
      ctx = runContext(sandbox, logger);
      nodeShm = readdirSync("/dev/shm").sort();
      console.log(`[containment ${o.name}] protections: ${sandbox.protections.join(" ")}`);
    });

    afterEach(async () => {
      if (!sandbox) return;
      expect(sandbox.pool.available).toBe(o.ids.length);
      expect(boxProcesses(o.ids)).toEqual([]);
      for (const id of o.ids)
        expect(existsSync(join(o.boxRoot, String(id))), `box ${id} left behind`).toBe(false);
      expect(await mountsBelow(sandbox.settings.workDir)).toEqual([]);
      expect(readdirSync(sandbox.settings.workDir).sort()).toEqual(["dev"]);
      expect(readdirSync("/dev/shm").sort()).toEqual(nodeShm);
      const next = await run(spec("print('next')", { expectedOutput: "next" }), PY);
      expect(next.verdict, "the next Execution on these boxes").toBe("Accepted");
    });

    afterAll(() => {
      if (!sandbox) return;
      rmSync(tmp, { recursive: true, force: true });
    });

    it("/dev holds five memory devices and nothing of the node; it is read-only", async () => {
      const src = py(
        "import os",
        "print(' '.join(sorted(os.listdir('/dev'))))",
        "for p in ['/dev/kmsg', '/dev/kvm', '/dev/loop0', '/dev/loop-control', '/dev/vda', '/dev/sda', '/dev/mem', '/dev/fuse', '/dev/net', '/dev/tty', '/dev/console']:",
        "    print(p, 'present' if os.path.lexists(p) else 'absent')",
        "for what, fn in [('mknod', lambda: os.mknod('/dev/x')), ('create', lambda: open('/dev/newfile', 'w'))]:",
        "    try:",
        "        fn(); print(what, 'succeeded')",
        "    except OSError as e:",
        "        print(what, 'refused', e.errno)",
        "print('urandom', len(open('/dev/urandom', 'rb').read(16)), 'zero', open('/dev/zero', 'rb').read(2))",
        "open('/dev/null', 'w').write('x')",
        "try:",
        "    os.write(os.open('/dev/full', os.O_WRONLY), b'x')",
        "except OSError as e:",
        "    print('full', e.errno)",
        "print('stdout is', os.readlink('/dev/stdout'))",
      );
      const r = await run(spec(src), PY);
      const out = r.tests[0]?.stdout ?? "";
      say(o.name, "list /dev, open node devices, mknod and create in /dev, use the memory devices", {
        out,
        err: r.tests[0]?.stderr,
      });
      expect(r.verdict).toBe("Accepted");
      const lines = out.trim().split("\n");
      expect(lines[0]).toBe("fd full null random shm stderr stdin stdout urandom zero");
      expect(out).not.toMatch(/present/);
      expect(out).toMatch(/mknod refused/);
      expect(out).toMatch(/create refused/);
      expect(out).toMatch(/urandom 16 zero b'\\x00\\x00'/);
      expect(out).toMatch(/full 28/); // ENOSPC, as on any Linux
      expect(out).toMatch(/stdout is \/proc\/self\/fd\/1/);
    });

    it("/dev/shm is private to one box: nothing passes to the next test case, a later Execution, or the node", async () => {
      const token = `envicutor-secret-${process.pid}-${Date.now()}`;
      const src = py(
        "import os, multiprocessing",
        "print('seen:', sorted(os.listdir('/dev/shm')))",
        `open('/dev/shm/${token}', 'w').write('hidden test input')`,
        "lock = multiprocessing.Lock()  # a POSIX semaphore in /dev/shm",
        "lock.acquire(); lock.release()",
        "print('semaphore ok')",
      );
      const first = await run(spec(src, { testCases: [{ stdin: "" }, { stdin: "" }] }), PY);
      const later = await run(spec(src), PY);
      const seen = [...first.tests, ...later.tests].map((t) => t.stdout?.trim());
      say(o.name, `write /dev/shm/${token} in test 1, look for it in test 2 and in a later Execution`, seen);
      expect(first.verdict).toBe("Accepted");
      expect(later.verdict).toBe("Accepted");
      for (const s of seen) expect(s).toBe("seen: []\nsemaphore ok");
      expect(existsSync(`/dev/shm/${token}`)).toBe(false);
    });

    it("/dev/shm counts against the box: memory with cgroups, storage without", async () => {
      const useCg = sandbox.info.useCg;
      // 160 MiB into /dev/shm: over the 64 MiB memory limit with --cg; over 32 MiB of storage without.
      const rt = withRun(
        PY,
        useCg ? { memoryKiB: 64 * 1024, storageKiB: 512 * 1024 } : { storageKiB: 32 * 1024 },
      );
      const src = py(
        "f = open('/dev/shm/fill', 'wb')",
        "for i in range(160):",
        "    f.write(b'x' * (1 << 20)); f.flush()",
        "print('wrote 160 MiB')",
      );
      const r = await run(spec(src), rt);
      say(o.name, `160 MiB into /dev/shm (${useCg ? "64 MiB memory" : "32 MiB storage"})`, {
        verdict: r.verdict,
        message: r.tests[0]?.message,
      });
      expect(r.verdict).toBe(useCg ? "MemoryLimitExceeded" : "OutputLimitExceeded");
    });

    it("a box's storage is capped as a whole: many files each under fileSizeKiB, and the node's disk does not move", async () => {
      const rt = withRun(PY, { fileSizeKiB: 4 * 1024, storageKiB: 32 * 1024 });
      const src = py(
        "import os",
        "n = 0",
        "try:",
        "    for i in range(180):",
        "        for d in ['/box', '/tmp']:",
        "            with open(f'{d}/f{i}', 'wb') as f: f.write(b'z' * ((4 << 20) - 1))",
        "            n += 1",
        "except OSError as e:",
        "    print('refused after', n, 'files:', e.strerror)",
        "    raise",
      );
      const { result: r, dropBytes } = await diskDrop(() => run(spec(src), rt));
      say(o.name, "180 x 2 files of 4 MiB - 1 (1.4 GiB) in /box and /tmp, storageKiB 32 MiB", {
        verdict: r.verdict,
        message: r.tests[0]?.message,
        stdout: r.tests[0]?.stdout?.trim(),
        nodeDiskDropMiB: +(dropBytes / MiB).toFixed(1),
      });
      expect(r.verdict).toBe("OutputLimitExceeded");
      expect(r.tests[0]?.message).toMatch(/storage limit of 32768 KiB was reached/);
      expect(r.tests[0]?.stdout).toMatch(/refused after [0-9] files/);
      expect(dropBytes).toBeLessThan(32 * MiB);
    });

    it("a box's file count is capped as a whole", async () => {
      const rt = withRun(PY, { storageFiles: 500 });
      const src = py(
        "import os",
        "n = 0",
        "try:",
        "    for i in range(100000):",
        "        os.mkdir(f'/tmp/d{i}') if i % 2 else open(f'/box/e{i}', 'w').close()",
        "        n += 1",
        "except OSError as e:",
        "    print('refused after', n, e.strerror)",
      );
      const r = await run(spec(src), rt);
      say(o.name, "100,000 empty files and directories, storageFiles 500", {
        verdict: r.verdict,
        message: r.tests[0]?.message,
        stdout: r.tests[0]?.stdout?.trim(),
      });
      expect(r.verdict).toBe("OutputLimitExceeded");
      expect(r.tests[0]?.message).toMatch(/limit of 500 files was reached/);
      expect(r.tests[0]?.stdout).toMatch(/refused after 49\d/);
    });

    it("compiled files reach the test boxes without passing through the agent's memory", async () => {
      // Every slot compiles at once, each leaving a 192 MiB file beside the program, then runs 3 tests.
      const blob = 192 * MiB;
      const c: ExecutionRuntime = {
        ...PY,
        language: "c",
        sourceFile: "main.c",
        compileCommand: [
          "/bin/sh",
          "-c",
          `gcc -O1 -o main main.c && head -c ${blob} /dev/zero > blob && head -c ${blob} /dev/zero > /tmp/scratch`,
        ],
        runCommand: ["./main"],
        limits: {
          compile: { ...COMPILE, fileSizeKiB: 256 * 1024, storageKiB: 512 * 1024, memoryKiB: 1024 * 1024 },
          run: { ...RUN, storageKiB: 256 * 1024 },
        },
      };
      const src = [
        "#include <stdio.h>",
        "#include <sys/stat.h>",
        'int main(void) { struct stat st; stat("blob", &st); printf("%lld\\n", (long long)st.st_size); return 0; }',
      ].join("\n");
      const tests = [{ stdin: "" }, { stdin: "" }, { stdin: "" }];
      const { result, growthMiB } = await peakRssGrowthMiB(() =>
        Promise.all(o.ids.map(() => run(spec(src, { testCases: tests }), c))),
      );
      say(
        o.name,
        `${o.ids.length} slots at once, each compile leaving ${blob / MiB} MiB in /box (+ as much in /tmp), 3 tests each`,
        {
          verdicts: result.map((r) => r.verdict),
          blobSizeSeenByTests: result.flatMap((r) => r.tests.map((t) => t.stdout?.trim())),
          agentRssGrowthMiB: +growthMiB.toFixed(1),
        },
      );
      for (const r of result) {
        expect(r.verdict).toBe("Accepted");
        for (const t of r.tests) expect(t.stdout?.trim()).toBe(String(blob));
      }
      expect(growthMiB).toBeLessThan(48);
    });

    it("sparse files left by a compile step do not become gigabytes on the node's disk", async () => {
      // 40 files of 60 MiB apparent size (under fileSizeKiB), almost no storage used: 2.4 GB if copied as is.
      const sparse: ExecutionRuntime = {
        ...PY,
        compileCommand: ["python3", "-c", "[open(f's{i}', 'wb').truncate(60 << 20) for i in range(40)]"],
        limits: { ...PY.limits, compile: { ...COMPILE, fileSizeKiB: 64 * 1024, storageKiB: 64 * 1024 } },
      };
      const { result: r, dropBytes } = await diskDrop(() => run(spec("print('never')"), sparse));
      say(o.name, "compile step leaves 40 sparse files of 60 MiB (2.4 GB apparent) in a 64 MiB box", {
        verdict: r.verdict,
        message: r.message,
        nodeDiskDropMiB: +(dropBytes / MiB).toFixed(1),
      });
      expect(r.verdict).toBe("CompilationError");
      expect(r.message).toMatch(/add up to more than 67108864 bytes/);
      expect(dropBytes).toBeLessThan(96 * MiB);
    });

    it("keyrings: a key left by one run is gone for the next run as the same box user", async () => {
      // add_key(2)/request_key(2) pass isolate 2.x's filter (it stops keyctl only); 1.x filters nothing.
      const src = py(
        "import ctypes, sys",
        "libc = ctypes.CDLL(None, use_errno=True)",
        "# /proc/keys lists every key the box user may view, descriptions included: a channel of its own",
        "listed = 'envicutor-probe' in open('/proc/keys').read()",
        "found = libc.syscall(249, b'user', b'envicutor-probe', None, 0) >= 0  # request_key(2)",
        "print('found' if listed or found else 'none')",
        "added = libc.syscall(248, b'user', b'envicutor-probe', b'secret', 6, -4)  # add_key(2) into @u",
        "print('added' if added >= 0 else f'add refused {ctypes.get_errno()}')",
      );
      // Runs one after another get the pool's lowest id: the same box user each time. Eight test
      // cases: a key unlinked but not yet destroyed by the kernel's collector is still listed in
      // /proc/keys for a few milliseconds, which a single next run catches only now and then.
      const first = await run(spec(src, { testCases: Array.from({ length: 8 }, () => ({ stdin: "" })) }), PY);
      const later = await run(spec(src), PY);
      const seen = [...first.tests, ...later.tests].map((t) => t.stdout?.trim().replace("\n", ", "));
      say(
        o.name,
        "add a key in the box user's keyring, look for it in the next test case and a later Execution",
        seen,
      );
      for (const s of seen) expect(s).toMatch(/^none, /);
    });
  });
}

describe.skipIf(!isolateOk && !isolate2Ok)("sandbox containment of hostile programs", () => {
  describe.skipIf(!isolateOk)("isolate 1.x", () => {
    containmentCases({ ...ISOLATE_1, ids: [340, 341] });
  });
  describe.skipIf(!isolate2Ok)("isolate 2.x", () => {
    containmentCases({ ...ISOLATE_2, ids: [350, 351] });
  });
});
