// The sandbox verdict matrix as data: the same programs run on cgroup v1
// (isolate 1.x, --cg, on this machine) and on cgroup v2 (isolate 2.x, --cg,
// in the guest), with the same expected verdicts. Time limits are multiplied
// by the guest's measured slowdown (`scale`); memory, process, output and
// storage limits are not, so what decides each verdict stays the same.
import type { ExecutionRuntime } from "../../src/agent/executor/run-execution.ts";
import type { StageLimits, Verdict } from "../../src/api/common.ts";
import type { ExecutionSpec } from "../../src/api/execution.ts";

export interface VerdictCase {
  name: string;
  tried: string;
  language: "python" | "c";
  source: string;
  run?: Partial<StageLimits>;
  /** stdin of each test case, in one Execution; one test case with no input when unset. */
  tests?: string[];
  /** The verdict, or the verdicts any of which is right (a fork bomb ends by time, memory or a failing exit). */
  expected: Verdict | Verdict[];
}

/** What a case came back with, as plain JSON (from the guest to the host). */
export interface VerdictObservation {
  name: string;
  verdict: string;
  message?: string;
  exitCode?: number;
  signal?: number;
  cpuTimeMillis?: number;
  wallTimeMillis?: number;
  memoryKiB?: number;
  stdout?: string;
  stderr?: string;
  error?: string;
  /** Each test case's verdict and peak memory, for a case of several test cases. */
  tests?: { verdict: string; memoryKiB?: number }[];
}

const MiB_KiB = 1024;
const py = (...lines: string[]) => lines.join("\n");

/** Run limits before scaling: CPU and wall time in host milliseconds. */
export const BASE_RUN: StageLimits = {
  cpuTimeMillis: 2000,
  wallTimeMillis: 10_000,
  memoryKiB: 64 * MiB_KiB,
  processes: 16,
  openFiles: 64,
  fileSizeKiB: 8 * MiB_KiB,
  outputBytes: 1024 * 1024,
  storageKiB: 32 * MiB_KiB,
  storageFiles: 1000,
};

export const VERDICT_CASES: VerdictCase[] = [
  {
    name: "hello",
    tried: "print a line",
    language: "python",
    source: "print('hello')",
    expected: "Accepted",
  },
  {
    name: "exit-3",
    tried: "sys.exit(3)",
    language: "python",
    source: "import sys\nsys.exit(3)",
    expected: "RuntimeError",
  },
  {
    name: "segfault",
    tried: "a C program writing through NULL (compiled in the box)",
    language: "c",
    source: "int main(void) { *(volatile int *)0 = 1; return 0; }",
    expected: "RuntimeError",
  },
  {
    name: "sigfpe",
    tried: "kill itself with SIGFPE",
    language: "python",
    source: "import os, signal\nos.kill(os.getpid(), signal.SIGFPE)",
    expected: "RuntimeError",
  },
  {
    name: "sigkill-small",
    tried: "kill itself with SIGKILL while using little memory (must not look like an OOM kill)",
    language: "python",
    source: "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    expected: "RuntimeError",
  },
  {
    name: "cpu-loop",
    tried: "while True: pass, CPU limit 500 ms (scaled)",
    language: "python",
    source: "while True: pass",
    run: { cpuTimeMillis: 500 },
    expected: "TimeLimitExceeded",
  },
  {
    name: "sleep",
    // Longer than the wall limit at the largest scale (3 s x 40): CI once saw a loaded guest's
    // scale stretch the limit past a 60 s sleep, which then ended Accepted.
    tried: "sleep 600 s, wall limit 3 s (scaled)",
    language: "python",
    source: "import time\ntime.sleep(600)",
    run: { wallTimeMillis: 3000 },
    expected: "TimeLimitExceeded",
  },
  {
    name: "memory-hog",
    tried: "allocate 512 MiB with a 64 MiB memory limit",
    language: "python",
    source: "x = b'x' * (512 << 20)\nprint(len(x))",
    run: { cpuTimeMillis: 4000 },
    expected: "MemoryLimitExceeded",
  },
  {
    name: "memory-under-limit",
    tried: "touch 32 MiB with a 64 MiB memory limit, then report",
    language: "python",
    source:
      "x = bytearray(32 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\nprint('kept', len(x) >> 20, 'MiB')",
    run: { cpuTimeMillis: 4000 },
    expected: "Accepted",
  },
  {
    // The box serves the next test case (issue 17): what a test case's cgroup counted must not
    // carry over: neither an OOM kill (test 2 after 1) nor a memory peak (test 4 after 3).
    name: "memory-per-test-case",
    tried: "four test cases touching 512, 1, 32 and 1 MiB with a 64 MiB memory limit",
    language: "python",
    source:
      "n = int(input())\nx = bytearray(n << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\nprint('kept', n)",
    run: { cpuTimeMillis: 4000 },
    tests: ["512", "1", "32", "1"],
    expected: "MemoryLimitExceeded",
  },
  {
    name: "dev-shm-fill",
    tried: "write 160 MiB into /dev/shm with 64 MiB memory and 512 MiB storage",
    language: "python",
    source: py(
      "f = open('/dev/shm/fill', 'wb')",
      "for i in range(160):",
      "    f.write(b'x' * (1 << 20)); f.flush()",
      "print('wrote 160 MiB')",
    ),
    run: { cpuTimeMillis: 4000, storageKiB: 512 * MiB_KiB, fileSizeKiB: 512 * MiB_KiB },
    expected: "MemoryLimitExceeded",
  },
  {
    name: "process-limit",
    tried: "fork 40 sleeping children with a limit of 8 processes, report how many started",
    language: "python",
    source: py(
      "import os, sys, time",
      "n = 0",
      "try:",
      "    for i in range(40):",
      "        if os.fork() == 0:",
      "            time.sleep(5); os._exit(0)",
      "        n += 1",
      "except OSError as e:",
      "    print('fork refused after', n, e.strerror)",
      "else:",
      "    print('forked all', n)",
      "sys.stdout.flush(); os._exit(0)",
    ),
    run: { processes: 8 },
    expected: "Accepted",
  },
  {
    name: "fork-bomb",
    tried: "a C fork bomb with a limit of 16 processes",
    language: "c",
    source: "#include <unistd.h>\nint main(void) { for (;;) fork(); }",
    run: { cpuTimeMillis: 1000, wallTimeMillis: 3000 },
    // Any of the three is containment. On cgroup v1 the memory controller also
    // counts the kernel memory of every refused fork (task structs freed after
    // an RCU grace period), so a spinning bomb can reach 64 MiB before 1 s of
    // CPU: seen once in CI as MemoryLimitExceeded at 65536 KiB after 121 ms.
    expected: ["TimeLimitExceeded", "RuntimeError", "MemoryLimitExceeded"],
  },
  {
    name: "output-flood",
    tried: "write stdout without end, output limit 1 MiB",
    language: "python",
    source: "import sys\nwhile True: sys.stdout.write('x' * 65536)",
    expected: "OutputLimitExceeded",
  },
  {
    name: "storage-fill",
    tried: "write 4 MiB files into /box and /tmp until refused, storage 32 MiB",
    language: "python",
    source: py(
      "n = 0",
      "try:",
      "    for i in range(100):",
      "        for d in ['/box', '/tmp']:",
      "            with open(f'{d}/f{i}', 'wb') as f: f.write(b'z' * (4 << 20))",
      "            n += 1",
      "except OSError as e:",
      "    print('refused after', n, 'files:', e.strerror)",
      "    raise",
    ),
    run: { memoryKiB: 256 * MiB_KiB, cpuTimeMillis: 4000 },
    expected: "OutputLimitExceeded",
  },
  {
    name: "file-size",
    tried: "one 16 MiB file with fileSizeKiB 8 MiB (Python ignores SIGXFSZ)",
    language: "python",
    source: "open('big', 'wb').write(b'x' * (16 << 20))",
    run: { memoryKiB: 256 * MiB_KiB },
    expected: "RuntimeError",
  },
];

/** The limits of one case, time multiplied by `scale` (the guest's slowdown; 1 on the host). */
export function caseRuntime(c: VerdictCase, scale: number): ExecutionRuntime {
  const run = { ...BASE_RUN, ...c.run };
  const timed = (l: StageLimits): StageLimits => ({
    ...l,
    cpuTimeMillis: Math.round(l.cpuTimeMillis * scale),
    wallTimeMillis: Math.round(l.wallTimeMillis * scale),
  });
  const compile: StageLimits = {
    ...BASE_RUN,
    cpuTimeMillis: 20_000,
    wallTimeMillis: 60_000,
    memoryKiB: 512 * MiB_KiB,
    processes: 64,
    storageKiB: 64 * MiB_KiB,
  };
  const base = { limits: { compile: timed(compile), run: timed(run) }, allowNetwork: false };
  return c.language === "c"
    ? {
        ...base,
        language: "c",
        sourceFile: "main.c",
        compileCommand: ["gcc", "-O0", "-o", "main", "main.c"],
        runCommand: ["./main"],
      }
    : { ...base, language: "python", sourceFile: "main.py", runCommand: ["python3", "main.py"] };
}

export const caseSpec = (c: VerdictCase): ExecutionSpec => ({
  runtime: "vm",
  files: [{ name: "main.src", content: c.source, encoding: "utf8" }],
  ...(c.tests ? { testCases: c.tests.map((stdin) => ({ stdin })) } : {}),
  outputComparison: "IgnoreTrailingWhitespace",
  priority: 0,
});
