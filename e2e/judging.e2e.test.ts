// Checkers, interactors and the compile cache against REAL isolate (1.x, --cg on
// cgroup v1), without Kubernetes: the executor as the agent runs it, with the
// host's /usr/bin/python3 and /usr/bin/gcc mounted read-only into the boxes.
//
// Box ids 730..733 belong to this file alone.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { CompileCache, compileCacheMetrics } from "../src/agent/executor/compile-cache.ts";
import type { IsolateExecutor } from "../src/agent/executor/executor.ts";
import type { RuntimeForExecution } from "../src/agent/ports.ts";
import type { Sandbox } from "../src/agent/sandbox/setup.ts";
import type { StageLimits } from "../src/api/common.ts";
import type { ExecutionSpec, SourceFile } from "../src/api/execution.ts";
import { execution as executionSchema } from "../src/api/execution.ts";
import type { RuntimeSpec } from "../src/api/runtime.ts";
import { boxProcesses, ISOLATE_1, isolateInstalls } from "./support/isolate-installs.ts";
import {
  executionSpec,
  executorOn,
  HOST_DIRS,
  hostRuntime,
  PATH_ENV,
  sandboxFixture,
} from "./support/sandbox-fixture.ts";

const BOX_BASE = 730;
const BOX_COUNT = 4;
const ids = Array.from({ length: BOX_COUNT }, (_, i) => BOX_BASE + i);
const { isolate1: isolateOk } = isolateInstalls("checker, interactor and compile cache tests");

const logger = pino({ level: "warn" });

const RUN: StageLimits = {
  cpuTimeMillis: 2000,
  wallTimeMillis: 4000,
  memoryKiB: 128 * 1024,
  processes: 16,
  openFiles: 64,
  fileSizeKiB: 1024,
  outputBytes: 1024 * 1024,
};
const COMPILE: StageLimits = {
  ...RUN,
  cpuTimeMillis: 10_000,
  wallTimeMillis: 20_000,
  memoryKiB: 512 * 1024,
  processes: 64,
};

const runtime = (spec: Partial<RuntimeSpec>, closureHash?: string): RuntimeForExecution => ({
  ...hostRuntime({ compile: COMPILE, run: RUN }, PATH_ENV, spec),
  ...(closureHash ? { closureHash } : {}),
});
const PY = runtime({});
/** For runs whose point is ending long before the wall time: a limit far from it, so load cannot blur the two. */
const LONG_WALL = 20_000;
const PY_LONG_WALL: RuntimeForExecution = {
  ...PY,
  limits: { compile: COMPILE, run: { ...RUN, wallTimeMillis: LONG_WALL } },
};
const C = runtime(
  {
    language: "c",
    packages: ["gcc"],
    sourceFile: "main.c",
    compileCommand: ["gcc", "-O1", "-o", "main", "main.c"],
    runCommand: ["./main"],
  },
  "host-gcc", // the compile cache needs a closure hash; the host's gcc stands in for a Nix closure
);

const CPP = runtime({
  language: "c++",
  packages: ["gcc"],
  sourceFile: "main.cpp",
  compileCommand: ["g++", "-O2", "-o", "main", "main.cpp"],
  runCommand: ["./main"],
});

const file = (name: string, content: string): SourceFile => ({ name, content, encoding: "utf8" });
const execution = (source: string, extra: Partial<ExecutionSpec> = {}, runtimeName = "python-3") =>
  executionSpec(source, extra, { runtime: runtimeName });

/** a + b: a checker that needs no answer file (it reads the input) and accepts any whitespace. */
const SUM_CHECKER = `
import sys
inp, out, ans = (open(p).read() for p in sys.argv[1:4])
a, b = map(int, inp.split())
got = out.split()
if len(got) != 1:
    print("expected one number, found %d tokens" % len(got), file=sys.stderr); sys.exit(2)
if int(got[0]) != a + b:
    print("wrong answer: expected %d, found %s" % (a + b, got[0]), file=sys.stderr); sys.exit(1)
print("ok %d" % (a + b), file=sys.stderr)
`;
const SUM = "a, b = map(int, input().split())\nprint(a + b)\n";
const SUM_TESTS = [
  { name: "small", stdin: "1 2\n" },
  { name: "large", stdin: "1000000000000 2\n" },
  { name: "neg", stdin: "-5 3\n" },
];
const checkerProgram = (source: string, extra: Record<string, unknown> = {}) => ({
  checker: { program: { files: [file("check.py", source)], ...extra } },
});

/** Guess the number in [1, 1000] in at most 10 guesses; the input file holds the number. */
const GUESS_INTERACTOR = `
import sys
n = int(open(sys.argv[1]).read())
for i in range(10):
    line = sys.stdin.readline()
    if not line:
        print("unexpected EOF after %d guesses" % i, file=sys.stderr); sys.exit(2)
    g = int(line)
    if g == n:
        print("=", flush=True)
        print("ok guessed %d in %d" % (n, i + 1), file=sys.stderr); sys.exit(0)
    print("<" if n < g else ">", flush=True)
print("wrong answer: not guessed in 10", file=sys.stderr); sys.exit(1)
`;
const BINARY_SEARCH = `
lo, hi = 1, 1000
while True:
    mid = (lo + hi) // 2
    print(mid, flush=True)
    r = input()
    if r == "=": break
    if r == "<": hi = mid - 1
    else: lo = mid + 1
`;
const interactive = (source: string, interactor = GUESS_INTERACTOR, extra: Partial<ExecutionSpec> = {}) =>
  execution(source, {
    interactor: { files: [file("interactor.py", interactor)] },
    testCases: [
      { name: "n-1", stdin: "1\n" },
      { name: "n-777", stdin: "777\n" },
    ],
    ...extra,
  });

describe.skipIf(!isolateOk)("judging with isolate 1.x (host binaries)", () => {
  let tmp: string;
  let sandbox: Sandbox;
  let executor: IsolateExecutor;
  let registry: Registry;
  let cache: CompileCache;

  beforeAll(async () => {
    ({ tmp, sandbox } = await sandboxFixture({ ...ISOLATE_1, ids }, "judging-e2e-", {
      logger,
      extraDirs: HOST_DIRS,
    }));
    registry = new Registry();
    cache = new CompileCache({
      dir: join(sandbox.settings.workDir, "compile-cache"),
      maxBytes: 64 * 1024 * 1024,
      metrics: compileCacheMetrics(registry),
    });
    const others: Record<string, RuntimeForExecution> = { "c-gcc": C, "cpp-gcc": CPP, "python-3": PY };
    executor = executorOn(sandbox, logger, { compileCache: cache, runtimes: async (name) => others[name] });
  });

  /** Every box back in the pool, cleaned, and nothing of it running. */
  afterEach(() => {
    if (!sandbox) return;
    expect(sandbox.pool.available).toBe(BOX_COUNT);
    expect(boxProcesses(ids)).toEqual([]);
    for (const id of ids) {
      const dir = join(ISOLATE_1.boxRoot, String(id));
      expect(!existsSync(dir) || readdirSync(dir).length === 0, `box ${id} left behind`).toBe(true);
    }
  });

  afterAll(() => {
    if (!sandbox) return;
    for (const id of ids) {
      execFileSync(ISOLATE_1.bin, ["--cg", `--box-id=${id}`, "--cleanup"]);
      if (existsSync(join(ISOLATE_1.boxRoot, String(id)))) rmdirSync(join(ISOLATE_1.boxRoot, String(id)));
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  describe("built-in comparisons", () => {
    it("Float accepts answers within the tolerance and refuses one past it", async () => {
      const o = await executor.run(
        execution("print(1 / float(input()))", {
          checker: { comparison: "Float", absoluteTolerance: 1e-3 },
          testCases: [
            { name: "third", stdin: "3\n", expectedOutput: "0.3333\n" },
            { name: "seventh", stdin: "7\n", expectedOutput: "0.1448\n" },
          ],
        }),
        PY,
      );
      expect(o.tests.map((t) => t.verdict)).toEqual(["Accepted", "WrongAnswer"]);
    });

    it("UnorderedLines accepts the lines in any order", async () => {
      const o = await executor.run(
        execution("print('b'); print('a')", {
          checker: { comparison: "UnorderedLines" },
          expectedOutput: "a\nb\n",
        }),
        PY,
      );
      expect(o.verdict).toBe("Accepted");
    });
  });

  describe("custom checker", () => {
    it("accepts any right answer, with the checker's message, in a box of its own", async () => {
      const o = await executor.run(
        execution(SUM, { ...checkerProgram(SUM_CHECKER), testCases: SUM_TESTS.map((t) => ({ ...t })) }),
        PY,
      );
      expect(o.verdict).toBe("Accepted");
      expect(o.tests.map((t) => [t.name, t.verdict, t.message])).toEqual([
        ["small", "Accepted", "ok 3"],
        ["large", "Accepted", "ok 1000000000002"],
        ["neg", "Accepted", "ok -2"],
      ]);
      expect(o.tests[0]!.judge).toMatchObject({ exitCode: 0, message: "ok 3" });
      expect(o.tests[0]!.judge!.memoryKiB).toBeGreaterThan(0);
    });

    it("a wrong answer and a presentation error are WrongAnswer with the checker's message", async () => {
      const o = await executor.run(
        execution("a, b = map(int, input().split())\nprint(a + b + (a == 1), 'x' if a < 0 else '')", {
          ...checkerProgram(SUM_CHECKER),
          testCases: SUM_TESTS,
        }),
        PY,
      );
      expect(o.verdict).toBe("WrongAnswer");
      expect(o.tests.map((t) => [t.verdict, t.message])).toEqual([
        ["WrongAnswer", "wrong answer: expected 3, found 4"],
        ["Accepted", "ok 1000000000002"],
        ["WrongAnswer", "presentation error: expected one number, found 2 tokens"],
      ]);
      expect(o.tests[0]!.judge?.exitCode).toBe(1);
    });

    it("sees the submission's output only as a file: nothing of the submission's box is in its own", async () => {
      const peek = `
import os, sys
out = open(sys.argv[2]).read()
seen = sorted(os.listdir(".")) + sorted(os.listdir("judge-io")) + sorted(os.listdir("/tmp"))
print(" ".join(seen), file=sys.stderr)
sys.exit(0 if out == "written\\n" else 1)
`;
      const o = await executor.run(
        execution(
          "open('/box/leak.txt', 'w').write('x'); open('/tmp/leak2', 'w').write('y'); print('written')",
          {
            ...checkerProgram(peek),
            stdin: "",
          },
        ),
        PY,
      );
      expect(o.verdict).toBe("Accepted");
      // Its own source (as the Runtime's main.py) and the three files: no leak.txt, no leak2, no submission.
      expect(o.tests[0]!.message).toBe("judge-io main.py answer input output");
    });

    it("gives partial points with testlib's exit code 7", async () => {
      const half = "import sys\nprint('points 0.5 half of it', file=sys.stderr)\nsys.exit(7)\n";
      const o = await executor.run(execution("print(1)", { ...checkerProgram(half), stdin: "" }), PY);
      expect(o.tests[0]).toMatchObject({ verdict: "Accepted", points: 0.5, message: "half of it" });
    });

    it("a checker in another Runtime (C) is compiled once for every test", async () => {
      const cChecker = `#include <stdio.h>
int main(int argc, char **argv) {
  long long a, b, got;
  FILE *in = fopen(argv[1], "r"), *out = fopen(argv[2], "r");
  if (!in || fscanf(in, "%lld %lld", &a, &b) != 2) { fprintf(stderr, "bad input"); return 3; }
  if (!out || fscanf(out, "%lld", &got) != 1) { fprintf(stderr, "no number"); return 2; }
  if (got != a + b) { fprintf(stderr, "expected %lld, found %lld", a + b, got); return 1; }
  fprintf(stderr, "ok");
  return 0;
}
`;
      const before = executor.compiles;
      const o = await executor.run(
        execution(SUM, {
          checker: { program: { runtime: "c-gcc", files: [file("check.c", cChecker)] } },
          testCases: SUM_TESTS,
        }),
        PY,
      );
      expect(o.tests.map((t) => t.verdict)).toEqual(["Accepted", "Accepted", "Accepted"]);
      expect(o.tests[0]!.message).toBe("ok");
      expect(executor.compiles - before).toBeLessThanOrEqual(1); // 0 if an earlier run of this file compiled it
    });

    it.each([
      [
        "crashes (killed by SIGSEGV)",
        "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
        /judge error: the checker .*signal 11/,
      ],
      [
        "runs out of its CPU time",
        "while True: pass\n",
        /judge error: the checker CPU time limit of 500 ms exceeded/,
      ],
      [
        "reports its own failure (exit 3)",
        "import sys\nprint('FAIL no answer', file=sys.stderr)\nsys.exit(3)\n",
        /judge error: the checker reported a failure \(exit 3\): FAIL no answer/,
      ],
      [
        "exits with a code testlib does not know",
        "import sys\nsys.exit(5)\n",
        /judge error: the checker exited with code 5/,
      ],
    ])(
      "a checker that %s is a judge error (InternalError), never a wrong answer",
      async (_name, source, message) => {
        const o = await executor.run(
          execution(SUM, {
            ...checkerProgram(source, { limits: { run: { cpuTimeMillis: 500 } } }),
            testCases: SUM_TESTS,
          }),
          PY,
        );
        expect(o.verdict).toBe("InternalError");
        expect(o.tests).toHaveLength(1); // the first judge error ends the Execution
        expect(o.tests[0]!.verdict).toBe("InternalError");
        expect(o.tests[0]!.message).toMatch(message);
        expect(o.tests[0]!.exitCode).toBe(0); // the submission itself ran fine
        expect(o.message).toMatch(/^test small: judge error/);
      },
    );

    it("a checker that does not compile is a judge error before any test runs", async () => {
      const o = await executor.run(
        execution(SUM, {
          checker: { program: { runtime: "c-gcc", files: [file("check.c", "int main( {")] } },
          testCases: SUM_TESTS,
        }),
        PY,
      );
      expect(o.verdict).toBe("InternalError");
      expect(o.tests).toEqual([]);
      expect(o.message).toMatch(/^judge error: the checker did not compile/);
    });

    it("a checker whose Runtime is not on the node is a judge error", async () => {
      const o = await executor.run(
        execution(SUM, { checker: { program: { runtime: "rust", files: [file("check.rs", "")] } } }),
        PY,
      );
      expect(o).toMatchObject({
        verdict: "InternalError",
        message: "judge error: the checker's Runtime rust is not installed on this node",
      });
    });
  });

  describe("interactor", () => {
    it("a binary search guesses the number: Accepted with the interactor's message", async () => {
      const o = await executor.run(interactive(BINARY_SEARCH), PY);
      expect(o.tests.map((t) => [t.verdict, t.message])).toEqual([
        ["Accepted", "ok guessed 1 in 9"],
        ["Accepted", "ok guessed 777 in 8"],
      ]);
      expect(o.tests[0]!.judge).toMatchObject({ exitCode: 0 });
    });

    it("a linear search runs out of guesses: the interactor's WrongAnswer", async () => {
      const o = await executor.run(
        interactive(
          "i = 1\nwhile True:\n    print(i, flush=True)\n    if input() == '=': break\n    i += 1\n",
        ),
        PY,
      );
      expect(o.tests.map((t) => [t.verdict, t.message])).toEqual([
        ["Accepted", "ok guessed 1 in 1"],
        ["WrongAnswer", "wrong answer: not guessed in 10"],
      ]);
    });

    it("a deadlock (both sides reading) ends at the submission's wall time as TimeLimitExceeded", async () => {
      const started = Date.now();
      const o = await executor.run(
        interactive("input()\n", GUESS_INTERACTOR, { testCases: [{ stdin: "5\n" }], limits: {} }),
        runtime({}, undefined),
      );
      const ms = Date.now() - started;
      expect(o.tests[0]).toMatchObject({
        verdict: "TimeLimitExceeded",
        message: `wall time limit of ${RUN.wallTimeMillis} ms exceeded`,
      });
      expect(ms).toBeLessThan(RUN.wallTimeMillis + 6000);
    });

    it("a submission that exits at once: the interactor reads EOF and says so (WrongAnswer)", async () => {
      const o = await executor.run(interactive("pass\n"), PY);
      expect(o.tests.map((t) => [t.verdict, t.message])).toEqual([
        ["WrongAnswer", "presentation error: unexpected EOF after 0 guesses"],
        ["WrongAnswer", "presentation error: unexpected EOF after 0 guesses"],
      ]);
    });

    it("a submission flooding the pipe ends cleanly once the interactor gives up", async () => {
      const started = Date.now();
      const o = await executor.run(
        interactive("import sys\nwhile True: sys.stdout.write('5\\n' * 1000)\n"),
        PY_LONG_WALL,
      );
      const ms = Date.now() - started;
      expect(o.tests.map((t) => [t.verdict, t.message])).toEqual([
        ["WrongAnswer", "wrong answer: not guessed in 10"],
        ["WrongAnswer", "wrong answer: not guessed in 10"],
      ]);
      expect(ms).toBeLessThan(LONG_WALL); // both tests, each ended long before its wall time
    });

    it("the submission's own time limit comes before the interactor's verdict", async () => {
      // It burns CPU after one guess; under load it may reach the wall time before the CPU time.
      const o = await executor.run(interactive("print(500, flush=True)\nwhile True: pass\n"), PY);
      expect(o.tests[0]!.verdict).toBe("TimeLimitExceeded");
      expect(o.tests[0]!.message).toMatch(/^(CPU|wall) time limit of \d+ ms exceeded$/);
    });

    it("an interactor that writes 150 KiB and gives up while the submission never reads: its WrongAnswer, after the grace second", async () => {
      const chatty =
        "import sys\nsys.stdout.write('x' * (150 << 10))\nsys.stdout.flush()\nprint('no answer read', file=sys.stderr)\nsys.exit(1)\n";
      const started = Date.now();
      const o = await executor.run(
        interactive("import time\ntime.sleep(60)\n", chatty, { testCases: [{ stdin: "5\n" }] }),
        PY_LONG_WALL,
      );
      const ms = Date.now() - started;
      expect(o.tests[0]).toMatchObject({ verdict: "WrongAnswer", message: "no answer read" });
      expect(ms).toBeLessThan(LONG_WALL / 2); // the grace second ended it, not the wall time
    });

    it("an interactor that crashes is a judge error", async () => {
      const o = await executor.run(interactive(BINARY_SEARCH, "import os\nos.abort()\n"), PY);
      expect(o.verdict).toBe("InternalError");
      expect(o.tests[0]!.message).toMatch(/^judge error: the interactor .*signal 6/);
    });
  });

  describe("compile cache", () => {
    const source = (tag: string) =>
      `#include <stdio.h>\nint main(void){long a,b; if(scanf("%ld %ld",&a,&b)!=2) return 1; printf("%ld\\n", a+b); /* ${tag} */ return 0;}\n`;
    const cSum = (tag: string) =>
      execution(source(tag), { testCases: [{ stdin: "1 2\n", expectedOutput: "3\n" }] }, "c-gcc");

    it("the same source compiles once; the second Execution's status says it was a cache hit", async () => {
      const tag = `cache-${Date.now()}`;
      const c0 = executor.compiles;
      const miss = await executor.run(cSum(tag), C);
      const hit = await executor.run(cSum(tag), C);
      expect(executor.compiles - c0).toBe(1);
      expect(miss.verdict).toBe("Accepted");
      expect(miss.compile?.cacheHit).toBeUndefined();
      expect(hit.verdict).toBe("Accepted");
      expect(hit.compile).toMatchObject({ cacheHit: true, exitCode: 0 });
      const metrics = await registry.metrics();
      expect(metrics).toMatch(/envicutor_agent_compile_cache_lookups_total\{result="hit"\} [1-9]/);
    });

    it("another source, other compile limits or another closure miss the cache", async () => {
      const tag = `other-${Date.now()}`;
      await executor.run(cSum(tag), C);
      const c0 = executor.compiles;
      await executor.run(cSum(`${tag}-changed`), C);
      await executor.run(cSum(tag), {
        ...C,
        limits: { ...C.limits, compile: { ...COMPILE, memoryKiB: 256 * 1024 } },
      });
      await executor.run(cSum(tag), { ...C, closureHash: "host-gcc-2" });
      expect(executor.compiles - c0).toBe(3);
    });

    it("measures a hit against a miss (five of each, medians)", async () => {
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const timed = async (tag: string) => {
        const t = Date.now();
        expect((await executor.run(cSum(tag), C)).verdict).toBe("Accepted");
        return Date.now() - t;
      };
      const base = `bench-${Date.now()}`;
      const misses: number[] = [];
      const hits: number[] = [];
      for (let i = 0; i < 5; i++) misses.push(await timed(`${base}-${i}`));
      for (let i = 0; i < 5; i++) hits.push(await timed(`${base}-0`));
      console.log(
        `compile cache (C, one test, host gcc): miss median ${median(misses)} ms [${misses.join(", ")}], hit median ${median(hits)} ms [${hits.join(", ")}]`,
      );
      expect(median(hits)).toBeLessThan(median(misses));
    });

    it("a compile that failed is not kept: it runs again", async () => {
      const c0 = executor.compiles;
      const bad = execution(`int main( { /* ${Date.now()} */`, {}, "c-gcc");
      expect((await executor.run(bad, C)).verdict).toBe("CompilationError");
      expect((await executor.run(bad, C)).verdict).toBe("CompilationError");
      expect(executor.compiles - c0).toBe(2);
    });
  });
  describe("the examples of examples/executions", () => {
    const example = (name: string) =>
      executionSchema.parse(
        parseYaml(
          readFileSync(join(import.meta.dirname, "..", "examples", "executions", `${name}.yaml`), "utf8"),
        ),
      );

    it("checker-two-summands: every test Accepted by the Python checker of a C++ submission", async () => {
      const ex = example("checker-two-summands");
      const o = await executor.run(ex.spec, CPP);
      expect(o.tests.map((t) => [t.name, t.verdict, t.message])).toEqual([
        ["ten", "Accepted", "ok 1 + 9 = 10"],
        ["two", "Accepted", "ok 1 + 1 = 2"],
        ["large", "Accepted", "ok 1 + 999999999999 = 1000000000000"],
      ]);
    });

    it("interactive-guess: the binary search is Accepted on both tests", async () => {
      const ex = example("interactive-guess");
      const o = await executor.run(ex.spec, PY);
      expect(o.tests.map((t) => [t.verdict, t.message])).toEqual([
        ["Accepted", "ok guessed 1 in 9"],
        ["Accepted", "ok guessed 777 in 8"],
      ]);
    });
  });
});
