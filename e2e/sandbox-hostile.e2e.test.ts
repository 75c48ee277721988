// More of the sandbox against REAL isolate (no Kubernetes; e2e only because it
// is slow), beside e2e/sandbox.e2e.test.ts: the output limit ends a run at once
// and keeps the agent's memory bounded, its exact boundary, symlinks a program
// names like files the host might touch, and runExecution's interface
// (mounts, compile count). Host /usr/bin/python3 and /usr/bin/gcc with host
// directories mounted read-only, until the Nix runtimes replace them.
//
// Box ids 320..321 (isolate 1.x, --cg on cgroup v1) and 330 (isolate 2.x from
// /opt/isolate-2, without cgroups on cgroup v1) belong to this file alone.
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type ExecutionRuntime,
  type ExecutorContext,
  type RunExecutionRequest,
  runExecution,
} from "../src/agent/executor/run-execution.ts";
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
import { ensureStoreProbes, storePathToMountAlone } from "./support/store-probes.ts";

const logger = pino({ level: "error" });
/** A directory of the Nix store to mount alone (this file's own probe where it can make one). */
const removeStoreProbes = ensureStoreProbes();
afterAll(removeStoreProbes);
const storePath = storePathToMountAlone();
if (!storePath) console.warn("!!! no /nix/store with two directories: the one-store-path mount test SKIPPED");

const { isolate1: isolateOk, isolate2: isolate2Ok } = isolateInstalls("sandbox tests");

const RUN: StageLimits = {
  cpuTimeMillis: 2000 * TIME_SCALE,
  wallTimeMillis: 20_000 * TIME_SCALE,
  memoryKiB: 256 * 1024,
  processes: 16,
  openFiles: 64,
  fileSizeKiB: 1024,
  outputBytes: 4 * 1024 * 1024,
};
const COMPILE: StageLimits = {
  ...RUN,
  cpuTimeMillis: 10_000 * TIME_SCALE,
  memoryKiB: 512 * 1024,
  processes: 64,
};

const PY = pythonRun({ compile: COMPILE, run: RUN });
const C: ExecutionRuntime = {
  ...PY,
  language: "c",
  sourceFile: "main.c",
  compileCommand: ["gcc", "-O1", "-o", "main", "main.c"],
  runCommand: ["./main"],
};

/** The same hostile cases against one isolate installation. */
function hostileCases(o: Boxes) {
  describe(o.name, () => {
    let tmp: string;
    let sandbox: Sandbox;
    let ctx: ExecutorContext;
    const run = (s: ExecutionSpec, runtime: ExecutionRuntime, extra: Partial<RunExecutionRequest> = {}) =>
      runExecution(ctx, { spec: s, runtime, runtimeEnv: PATH_ENV, mounts: HOST_DIRS, ...extra });

    beforeAll(async () => {
      // isolate 2.x on cgroup v1 warns about running without cgroups, as expected
      ({ tmp, sandbox } = await sandboxFixture(o, "sandbox-hostile-e2e-", { logger }));
      ctx = runContext(sandbox, logger);
    });

    afterEach(() => {
      if (!sandbox) return;
      expect(sandbox.pool.available).toBe(o.ids.length);
      expect(boxProcesses(o.ids)).toEqual([]);
      for (const id of o.ids)
        expect(existsSync(join(o.boxRoot, String(id))), `box ${id} left behind`).toBe(false);
    });

    afterAll(() => {
      if (!sandbox) return;
      const left = readdirSync(o.boxRoot);
      for (const id of o.ids) expect(left).not.toContain(String(id));
      rmSync(tmp, { recursive: true, force: true });
    });

    it("a flood that ignores the broken pipe and then sleeps: OutputLimitExceeded at once, not at the wall limit", async () => {
      const src = [
        "import sys, time",
        "try:",
        "    while True: sys.stdout.write('x' * 65536)",
        "except BrokenPipeError:",
        "    pass",
        "time.sleep(60)",
      ].join("\n");
      const started = Date.now();
      const r = await run(spec(src), PY);
      expect(r.verdict).toBe("OutputLimitExceeded");
      expect(Date.now() - started).toBeLessThan(8000 * TIME_SCALE); // the wall limit is 20 s (scaled)
      expect(r.tests[0]!.stdoutTruncated).toBe(true);
      expect(r.tests[0]!.stdout).toHaveLength(64 * 1024);
    });

    it("a 2 GiB flood against a 4 MiB limit: the agent's memory stays bounded", async () => {
      const src = [
        "#include <signal.h>",
        "#include <string.h>",
        "#include <unistd.h>",
        "static char buf[1 << 20];",
        "int main(void) {",
        "  signal(SIGPIPE, SIG_IGN);",
        "  memset(buf, 'y', sizeof buf);",
        "  for (int i = 0; i < 2048; i++) { (void)!write(1, buf, sizeof buf); (void)!write(2, buf, sizeof buf); }",
        "  for (;;) pause();",
        "}",
      ].join("\n");
      const { result, growthMiB } = await peakRssGrowthMiB(() => run(spec(src), C));
      expect(result.verdict).toBe("OutputLimitExceeded");
      expect(result.tests[0]!.wallTimeMillis ?? 0).toBeLessThan(8000 * TIME_SCALE);
      expect(growthMiB).toBeLessThan(64);
    });

    it("output exactly at the limit is fine; one byte more is OutputLimitExceeded (stdout and stderr together)", async () => {
      const limited = withRun(PY, { outputBytes: 1000 });
      const src =
        "import sys\nn = int(input())\nsys.stdout.write('o' * 600)\nsys.stdout.flush()\nsys.stderr.write('e' * n)";
      const r = await run(
        spec(src, { testCases: [{ stdin: "400" }, { stdin: "401" }, { stdin: "0", expectedOutput: "o" }] }),
        limited,
      );
      expect(r.tests.map((t) => t.verdict)).toEqual(["Accepted", "OutputLimitExceeded", "WrongAnswer"]);
      expect(r.verdict).toBe("OutputLimitExceeded");
      expect(r.tests[0]!.stderr).toHaveLength(400);
    });

    it("symlinks named like files the host might touch are neither followed nor copied", async () => {
      const shadow = statSync("/etc/shadow");
      const sh: ExecutionRuntime = {
        ...PY,
        language: "sh",
        sourceFile: "main.sh",
        // The compile step replaces the source and plants links where stdout, stderr and meta files could be.
        compileCommand: [
          "/bin/sh",
          "-c",
          "rm main.sh && ln -s /etc/shadow main.sh && for f in stdout stderr meta .meta main out.txt; do ln -s /etc/shadow $f; done && ln -s /etc tmpdir && printf '#!/bin/sh\\necho compiled\\n' > prog && chmod +x prog",
        ],
        runCommand: [
          "/bin/sh",
          "-c",
          "ls -A; for f in stdout stderr meta; do ln -s /etc/shadow $f 2>/dev/null; echo planted > $f; done; ./prog",
        ],
      };
      const r = await run(spec("echo source"), sh);
      expect(r.compile?.exitCode).toBe(0);
      expect(r.verdict).toBe("Accepted");
      // Only the regular file the compile step made reached the run box; the run's own links changed nothing outside.
      expect(r.tests[0]!.stdout).toBe("prog\ncompiled\n");
      const after = statSync("/etc/shadow");
      expect([after.size, after.mtimeMs, after.mode]).toEqual([shadow.size, shadow.mtimeMs, shadow.mode]);
    });

    it("the stack may grow up to the memory limit, and threads still start", async () => {
      const deep = [
        "#include <stdio.h>",
        "static long down(long n) { volatile char pad[1024]; pad[0] = (char)n; return n ? down(n - 1) + pad[0] % 2 : 0; }",
        'int main(void) { printf("%ld\\n", down(64 * 1024)); }', // 64 MiB of stack frames
      ].join("\n");
      const r = await run(spec(deep), C);
      expect(r.verdict).toBe("Accepted");
      const threads = [
        "import threading",
        "ts = [threading.Thread(target=lambda: None) for _ in range(8)]",
        "[t.start() for t in ts]; [t.join() for t in ts]",
        "print('threads ok')",
      ].join("\n");
      const t = await run(spec(threads, { expectedOutput: "threads ok" }), PY);
      expect(t.verdict).toBe("Accepted");
    });

    it("runExecution: ten test cases compile once; the Runtime's env wins over the closure's", async () => {
      const src = [
        "#include <stdio.h>",
        "#include <stdlib.h>",
        'int main(void) { long x; if (scanf("%ld", &x) != 1) return 2; printf("%s %ld\\n", getenv("GREETING"), x * x); }',
      ].join("\n");
      const testCases = Array.from({ length: 10 }, (_, i) => ({
        name: `square-${i}`,
        stdin: `${i}\n`,
        expectedOutput: `hi ${i * i}\n`,
      }));
      const r = await run(
        spec(src, { testCases }),
        { ...C, env: { GREETING: "hi" } },
        {
          runtimeEnv: { ...PATH_ENV, GREETING: "from the closure" },
        },
      );
      expect(r.compiles).toBe(1);
      expect(r.compile?.exitCode).toBe(0);
      expect(r.tests.map((t) => [t.name, t.verdict])).toEqual(testCases.map((t) => [t.name, "Accepted"]));
      expect(r.verdict).toBe("Accepted");
    });

    it("runExecution: an interpreted Runtime compiles nothing; mounts decide what the box sees", async () => {
      const src =
        "import os\nprint(sorted(d for d in ('usr', 'lib', 'opt', 'home', 'root', 'var') if os.path.isdir('/' + d)))";
      const r = await run(spec(src, { expectedOutput: "['lib', 'usr']" }), PY);
      expect(r.compiles).toBe(0);
      expect(r.compile).toBeUndefined();
      expect(r.verdict).toBe("Accepted");
      // Without the host's directories there is no python3 in the box.
      const bare = await run(spec("print(1)"), PY, { mounts: ["/nix/store"] });
      expect(bare.verdict).not.toBe("Accepted");
      await expect(run(spec("print(1)"), PY, { mounts: ["/"] })).rejects.toThrow(/mount must be/);
      await expect(run(spec("print(1)"), PY, { mounts: ["/usr/../etc"] })).rejects.toThrow(/mount must be/);
    });

    it.skipIf(!storePath)(
      "mounts: one store path shows that path alone; no store mount shows no store",
      async () => {
        const src =
          "import os\nprint(sorted(os.listdir('/nix/store')) if os.path.isdir('/nix/store') else 'no store')";
        const one = await run(spec(src), PY, { mounts: [...HOST_DIRS, storePath!] });
        expect(one.tests[0]!.stdout).toBe(`['${basename(storePath!)}']\n`);
        const none = await run(spec(src, { expectedOutput: "no store" }), PY);
        expect(none.verdict).toBe("Accepted");
        const whole = await run(spec(src), PY, { mounts: [...HOST_DIRS, "/nix/store"] });
        expect(whole.tests[0]!.stdout!.split(", ").length).toBeGreaterThan(1);
      },
    );

    it("an aborted Execution stops before its next test case and still cleans its box", async () => {
      const controller = new AbortController();
      const src = "import time\ntime.sleep(1)\nprint('done')";
      const testCases = Array.from({ length: 5 }, () => ({ stdin: "" }));
      setTimeout(() => controller.abort(), 500);
      await expect(run(spec(src, { testCases }), PY, { signal: controller.signal })).rejects.toThrow(/abort/);
    });
  });
}

describe.skipIf(!isolateOk && !isolate2Ok)("sandbox, hostile cases", () => {
  describe.skipIf(!isolateOk)("isolate 1.x", () => {
    hostileCases({ ...ISOLATE_1, name: "isolate 1.x (host binaries)", ids: [320, 321] });
  });
  describe.skipIf(!isolate2Ok)("isolate 2.x", () => {
    hostileCases({ ...ISOLATE_2, name: `${ISOLATE_2.name} (host binaries)`, ids: [330] });
  });
});
