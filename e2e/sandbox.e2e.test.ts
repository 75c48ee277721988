// The sandbox and executor against REAL isolate, without Kubernetes (this file
// is in the e2e project only because it is slow): hostile programs, limits,
// isolation between boxes and test cases, and clean-up afterwards.
//
// These runs use the HOST's /usr/bin/python3 and /usr/bin/gcc, mounted
// read-only into the boxes (extraDirs). Runtimes from /nix/store are tested in
// e2e/agent.e2e.test.ts.
//
// Box ids 300..301 (isolate 1.x, --cg on this cgroup v1 machine) and 310
// (isolate 2.x, without cgroups on cgroup v1) belong to this file alone.
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { IsolateExecutor } from "../src/agent/executor/executor.ts";
import type { ExecutionOutcome, RuntimeForExecution } from "../src/agent/ports.ts";
import { IsolateBox } from "../src/agent/sandbox/isolate-box.ts";
import type { Sandbox } from "../src/agent/sandbox/setup.ts";
import type { StageLimits } from "../src/api/common.ts";
import type { ExecutionSpec } from "../src/api/execution.ts";
import type { RuntimeSpec } from "../src/api/runtime.ts";
import {
  executionSpec,
  executorOn,
  HOST_DIRS,
  hostRuntime,
  PATH_ENV,
  sandboxFixture,
} from "./support/sandbox-fixture.ts";

const ISOLATE = "isolate";
const ISOLATE_CONFIG = "/usr/local/etc/isolate";
const BOX_ROOT = "/var/local/lib/isolate";
const BOX_BASE = 300;
const BOX_COUNT = 2;
const FIRST_UID = 60000; // setUpSandbox's first_uid: box N runs as uid 60000 + N

const isolateOk = spawnSync(ISOLATE, ["--version"]).status === 0;
if (!isolateOk) console.warn("!!! isolate not found: sandbox e2e tests SKIPPED — see README (isolate)");

// isolate 2.x, built beside 1.x; its configuration path is compiled in.
const ISOLATE2 = "/opt/isolate-2/bin/isolate";
const ISOLATE2_CONFIG = "/opt/isolate-2/etc/isolate";
const BOX_ROOT2 = "/var/local/lib/isolate2";
const BOX_BASE2 = 310;
const isolate2Ok = isolateOk && spawnSync(ISOLATE2, ["--version"]).status === 0;
if (isolateOk && !isolate2Ok)
  console.warn(`!!! ${ISOLATE2} not found: isolate 2.x sandbox e2e tests SKIPPED`);

const logger = pino({ level: "warn" });

const RUN: StageLimits = {
  cpuTimeMillis: 1000,
  wallTimeMillis: 3000,
  memoryKiB: 128 * 1024,
  processes: 16,
  openFiles: 64,
  fileSizeKiB: 1024,
  outputBytes: 256 * 1024,
};
const COMPILE: StageLimits = {
  ...RUN,
  cpuTimeMillis: 10_000,
  wallTimeMillis: 20_000,
  memoryKiB: 512 * 1024,
  processes: 64,
  fileSizeKiB: 64 * 1024,
};

const runtime = (
  spec: Partial<RuntimeSpec>,
  run: Partial<StageLimits> = {},
  outputCapBytes?: number,
): RuntimeForExecution => ({
  ...hostRuntime({ compile: COMPILE, run: { ...RUN, ...run } }, PATH_ENV, spec),
  ...(outputCapBytes !== undefined ? { outputCapBytes } : {}),
});
const PY = runtime({});
const C = runtime({
  language: "c",
  packages: ["gcc"],
  sourceFile: "main.c",
  compileCommand: ["gcc", "-O0", "-o", "main", "main.c"],
  runCommand: ["./main"],
});

const execution = (source: string, extra: Partial<ExecutionSpec> = {}, name = "main.src") =>
  executionSpec(source, extra, { file: name });

/**
 * isolate 1.x's --cleanup removes a box's contents but leaves (even creates)
 * an empty directory for the id; 2.x removes it. Either way nothing may be left in it.
 */
const boxGone = (root: string, id: number): boolean => {
  const dir = join(root, String(id));
  return !existsSync(dir) || readdirSync(dir).length === 0;
};

/** uids of every process on the machine. */
const processUids = (): number[] =>
  execFileSync("ps", ["-eo", "uid="], { encoding: "utf8" })
    .split("\n")
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n));

const boxProcesses = (ids: number[]): number[] => {
  const uids = new Set(ids.map((id) => FIRST_UID + id));
  return processUids().filter((u) => uids.has(u));
};

describe.skipIf(!isolateOk)("sandbox with isolate 1.x (host binaries)", () => {
  let tmp: string;
  let sandbox: Sandbox;
  let executor: IsolateExecutor;
  const ids = Array.from({ length: BOX_COUNT }, (_, i) => BOX_BASE + i);

  beforeAll(async () => {
    const boxes = { name: "isolate 1.x", bin: ISOLATE, config: ISOLATE_CONFIG, boxRoot: BOX_ROOT, ids };
    ({ tmp, sandbox } = await sandboxFixture(boxes, "sandbox-e2e-", { logger, extraDirs: HOST_DIRS }));
    executor = executorOn(sandbox, logger);
  });

  /** The agent's side is fine: every box back in the pool, cleaned, and nothing of it running. */
  afterEach(() => {
    if (!sandbox) return;
    expect(sandbox.pool.available).toBe(BOX_COUNT);
    expect(boxProcesses(ids)).toEqual([]);
    for (const id of ids) expect(boxGone(BOX_ROOT, id), `box ${id} left behind`).toBe(true);
  });

  afterAll(() => {
    if (!sandbox) return;
    for (const id of ids) {
      execFileSync(ISOLATE, ["--cg", `--box-id=${id}`, "--cleanup"]);
      // the empty directory isolate 1.x leaves; rmdir fails if anything is still in it
      if (existsSync(join(BOX_ROOT, String(id)))) rmdirSync(join(BOX_ROOT, String(id)));
    }
    const left = execFileSync("ls", [BOX_ROOT], { encoding: "utf8" }).split("\n");
    for (const id of ids) expect(left).not.toContain(String(id));
    expect(boxProcesses(ids)).toEqual([]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it("detects isolate 1.x with cgroup v1 and --cg", () => {
    expect(sandbox.info.major).toBe(1);
    expect(sandbox.info.cgroupMode).toBe("v1");
    expect(sandbox.info.useCg).toBe(true);
  });

  it("hello world: Accepted", async () => {
    const o = await executor.run(
      execution('print("hello, world")', { expectedOutput: "hello, world\n", outputComparison: "Exact" }),
      PY,
    );
    expect(o.verdict).toBe("Accepted");
    expect(o.tests).toHaveLength(1);
    expect(o.tests[0]).toMatchObject({
      name: "1",
      verdict: "Accepted",
      exitCode: 0,
      stdout: "hello, world\n",
    });
    expect(o.tests[0]!.memoryKiB).toBeGreaterThan(0);
  });

  it("echoes stdin", async () => {
    const o = await executor.run(
      execution("import sys\nsys.stdout.write(sys.stdin.read())", {
        stdin: "line 1\nline 2 é\n",
        expectedOutput: "line 1\nline 2 é\n",
        outputComparison: "Exact",
      }),
      PY,
    );
    expect(o.verdict).toBe("Accepted");
    expect(o.tests[0]!.stdout).toBe("line 1\nline 2 é\n");
  });

  it("wrong output: WrongAnswer", async () => {
    const o = await executor.run(execution("print(41)", { expectedOutput: "42" }), PY);
    expect(o.verdict).toBe("WrongAnswer");
  });

  it("compile error: CompilationError with the compiler's stderr, no tests run", async () => {
    const o = await executor.run(execution("int main( {"), C);
    expect(o.verdict).toBe("CompilationError");
    expect(o.compile?.verdict).toBe("CompilationError");
    expect(o.compile?.stderr).toMatch(/main\.c:1:\d+: error/);
    expect(o.tests).toEqual([]);
  });

  it("non-zero exit: RuntimeError with exit code 3", async () => {
    const o = await executor.run(execution("import sys\nsys.exit(3)"), PY);
    expect(o.verdict).toBe("RuntimeError");
    expect(o.tests[0]).toMatchObject({ verdict: "RuntimeError", exitCode: 3 });
  });

  it("segfault: RuntimeError, signal 11", async () => {
    const o = await executor.run(execution("int main(void) { *(volatile int *)0 = 1; return 0; }"), C);
    expect(o.compile?.exitCode).toBe(0);
    expect(o.verdict).toBe("RuntimeError");
    expect(o.tests[0]).toMatchObject({ verdict: "RuntimeError", signal: 11 });
  });

  it("division by zero: RuntimeError, SIGFPE (8)", async () => {
    const o = await executor.run(execution("int main(void) { volatile int a = 7, z = 0; return a / z; }"), C);
    expect(o.verdict).toBe("RuntimeError");
    expect(o.tests[0]).toMatchObject({ verdict: "RuntimeError", signal: 8 });
  });

  it("infinite loop: TimeLimitExceeded (CPU)", async () => {
    const o = await executor.run(execution("while True: pass"), PY);
    expect(o.verdict).toBe("TimeLimitExceeded");
    expect(o.tests[0]!.message).toMatch(/CPU time limit of 1000 ms/);
    expect(o.tests[0]!.cpuTimeMillis).toBeGreaterThanOrEqual(1000);
  });

  it("sleep: TimeLimitExceeded (wall clock)", async () => {
    const o = await executor.run(execution("import time\ntime.sleep(30)"), PY);
    expect(o.verdict).toBe("TimeLimitExceeded");
    expect(o.tests[0]!.message).toMatch(/wall time limit of 3000 ms/);
    expect(o.tests[0]!.wallTimeMillis).toBeGreaterThanOrEqual(3000);
    expect(o.tests[0]!.wallTimeMillis).toBeLessThan(10_000);
  });

  it("memory hog: MemoryLimitExceeded (cgroup OOM kill)", async () => {
    // Filling 128 MiB costs CPU (page faults, reclaim): generous time limits, so only memory can stop it.
    const rt = runtime({}, { cpuTimeMillis: 8000, wallTimeMillis: 15_000 });
    const o = await executor.run(execution("x = b'x' * (512 * 1024 * 1024)\nprint(len(x))"), rt);
    expect(o.tests[0]!.message).toMatch(/memory limit of 131072 KiB/);
    expect(o.verdict).toBe("MemoryLimitExceeded");
  });

  it("fork bomb: contained by the process limit, nothing of the box survives", async () => {
    const src = "#include <unistd.h>\nint main(void) { for (;;) fork(); }";
    const o = await executor.run(execution(src), C);
    // Which limit stops it first is a race: the process cap (fork fails, the loop spins to
    // the time limit or the box dies), or the memory cgroup, which counts every child's
    // kernel memory (seen once in CI: MemoryLimitExceeded). All three are contained.
    expect(["RuntimeError", "TimeLimitExceeded", "MemoryLimitExceeded"]).toContain(o.verdict);
    expect(boxProcesses(ids)).toEqual([]);
  });

  it("output flood: OutputLimitExceeded, stored stdout capped", async () => {
    const o = await executor.run(execution("import sys\nwhile True: sys.stdout.write('x' * 65536)"), PY);
    expect(o.verdict).toBe("OutputLimitExceeded");
    const t = o.tests[0]!;
    expect(t.stdoutTruncated).toBe(true);
    expect(t.stdout!.length).toBe(64 * 1024);
  });

  it("disk fill: the file size limit stops it (SIGXFSZ)", async () => {
    const src = [
      "#include <unistd.h>",
      "#include <fcntl.h>",
      "static char buf[65536];",
      'int main(void) { int fd = open("big", O_WRONLY | O_CREAT, 0644);',
      "  for (;;) if (write(fd, buf, sizeof buf) < 0) return 1; }",
    ].join("\n");
    const o = await executor.run(execution(src), C);
    expect(o.verdict).toBe("RuntimeError");
    expect(o.tests[0]!.signal).toBe(25);
  });

  it("disk fill from Python (which ignores SIGXFSZ): error exit", async () => {
    const src = "with open('/tmp/big', 'wb') as f:\n    while True: f.write(b'x' * 65536)";
    const o = await executor.run(execution(src), PY);
    expect(o.verdict).toBe("RuntimeError");
    expect(o.tests[0]!.exitCode).toBe(1);
    expect(o.tests[0]!.stderr).toMatch(/File too large/);
  });

  it.each(["/usr", "/nix/store"])("writing to %s fails (read-only): RuntimeError", async (dir) => {
    const name = `envicutor-e2e-${process.pid}`;
    const o = await executor.run(execution(`open('${dir}/${name}', 'w').write('x')`), PY);
    expect(o.verdict).toBe("RuntimeError");
    expect(o.tests[0]!.stderr).toMatch(/Read-only file system|Permission denied|No such file/);
    expect(existsSync(join(dir, name))).toBe(false);
  });

  describe("network", () => {
    let server: Server;
    let port: number;
    const connects: number[] = [];
    beforeAll(async () => {
      server = createServer((sock) => {
        connects.push(Date.now());
        sock.end("hi from the host\n");
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const src = [
      "import socket, sys",
      "s = socket.socket()",
      "s.settimeout(2)",
      "try:",
      "    s.connect(('127.0.0.1', int(sys.argv[1])))",
      "    print('connected', s.recv(100).decode().strip())",
      "except OSError as e:",
      "    print('failed', e.errno)",
    ].join("\n");

    it("without allowNetwork a box cannot reach the host's loopback", async () => {
      const o = await executor.run(execution(src, { args: [String(port)] }), PY);
      expect(o.verdict).toBe("Accepted");
      expect(o.tests[0]!.stdout).toMatch(/^failed \d+/);
      expect(connects).toEqual([]);
    });

    it("allowNetwork where the platform did not turn networking on: refused (NetworkDisabled), never the host's network", async () => {
      // Networked boxes get namespaces of their own only with a BoxNetwork (e2e/box-network.e2e.test.ts).
      const err = await executor
        .run(execution(src, { args: [String(port)] }), runtime({ allowNetwork: true }))
        .catch((e: unknown) => e as { reason?: string });
      expect((err as { reason?: string }).reason).toBe("NetworkDisabled");
      expect(connects).toEqual([]);
    });
  });

  it("another box's directory and /etc/shadow are not visible", async () => {
    // Hold the other box of the pool with a secret in it while the Execution runs in the remaining one.
    const other = await sandbox.pool.acquire();
    const box = new IsolateBox(sandbox.settings, other);
    try {
      await box.init({ storageKiB: 1024, storageFiles: 100 });
      await box.writeFiles([{ path: "secret.txt", data: Buffer.from("SECRET") }]);
      const src = [
        "import os, sys",
        "for p in [f'/var/local/lib/isolate/{sys.argv[1]}/box/secret.txt', f'/var/local/lib/isolate/{sys.argv[1]}/box', '/etc/shadow', '/etc']:",
        "    try:",
        "        print(p, 'READ', os.listdir(p) if os.path.isdir(p) else open(p).read())",
        "    except OSError as e:",
        "        print(p, 'denied', type(e).__name__)",
      ].join("\n");
      const o = await executor.run(execution(src, { args: [String(other)] }), PY);
      expect(o.verdict).toBe("Accepted");
      const out = o.tests[0]!.stdout!;
      expect(out).not.toContain("READ");
      expect(out).not.toContain("SECRET");
      expect(out.trim().split("\n")).toHaveLength(4);
      expect(out).toMatch(/\/etc\/shadow denied/);
    } finally {
      await box.cleanup();
      sandbox.pool.release(other);
    }
  });

  it("a file left in /tmp or /box by test case 1 is not visible in test case 2", async () => {
    const src = [
      "import os",
      "left = [p for p in ('/tmp/marker', '/box/marker', 'marker') if os.path.exists(p)]",
      "print('dirty' if left else 'clean', left)",
      "open('/tmp/marker', 'w').write('x')",
      "open('/box/marker', 'w').write('x')",
    ].join("\n");
    const o = await executor.run(
      execution(src, {
        testCases: [
          { stdin: "", expectedOutput: "clean []" },
          { stdin: "", expectedOutput: "clean []" },
          { name: "third", stdin: "", expectedOutput: "clean []" },
        ],
      }),
      PY,
    );
    expect(o.tests.map((t) => [t.name, t.verdict])).toEqual([
      ["1", "Accepted"],
      ["2", "Accepted"],
      ["third", "Accepted"],
    ]);
    expect(o.verdict).toBe("Accepted");
  });

  it("symlinks, FIFOs and links to / left by the compile step are not copied (nor followed) into the run", async () => {
    const sh = runtime({
      language: "sh",
      sourceFile: "main.sh",
      compileCommand: [
        "/bin/sh",
        "-c",
        "ln -s /etc/shadow main; ln -s / rootlink; mkdir d; ln -s /etc/shadow d/shadow; ln -s ../../../../etc/passwd d/rel; mkfifo fifo; echo x > ok; echo y > d/kept; chmod +x ok",
      ],
      runCommand: [
        "/bin/sh",
        "-c",
        "ls -A; ls -A d; test -e main && echo HAS_MAIN; test -x ok && echo ok-executable; cat ok d/kept",
      ],
    });
    const o = await executor.run(execution("echo source", {}, "main.sh"), sh);
    expect(o.compile?.verdict).toBeUndefined();
    expect(o.verdict).toBe("Accepted");
    const out = o.tests[0]!.stdout!;
    expect(out.split("\n")).toEqual(["d", "main.sh", "ok", "kept", "ok-executable", "x", "y", ""]);
    expect(out).not.toContain("root:");
  });

  it("a compile step that makes more files than its storage allows: CompilationError, not an agent failure", async () => {
    const sh = runtime({
      language: "sh",
      sourceFile: "main.sh",
      compileCommand: ["/usr/bin/python3", "-c", "for i in range(10001): open(f'f{i}', 'w')"],
      runCommand: ["/bin/sh", "main.sh"],
    });
    const o = await executor.run(execution("echo never", {}, "main.sh"), sh);
    expect(o.verdict).toBe("CompilationError");
    expect(o.compile?.verdict).toBe("CompilationError");
    expect(o.message).toMatch(/limit of 10000 files was reached/);
    expect(o.tests).toEqual([]);
  });

  it("a compile step that writes more bytes than its storage allows: CompilationError, not an agent failure", async () => {
    // compile.storageKiB is 4 MiB here: the fifth MB does not fit the box's filesystem
    const sh = runtime({
      language: "sh",
      sourceFile: "main.sh",
      compileCommand: ["/bin/sh", "-c", "for i in 1 2 3 4 5; do head -c 1000000 /dev/zero > f$i; done"],
      runCommand: ["/bin/sh", "main.sh"],
    });
    sh.limits = { ...sh.limits, compile: { ...sh.limits.compile, fileSizeKiB: 1024, storageKiB: 4096 } };
    const o = await executor.run(execution("echo never", {}, "main.sh"), sh);
    expect(o.verdict).toBe("CompilationError");
    expect(o.message).toMatch(/storage limit of 4096 KiB was reached/);
  });

  it("a compile step that leaves a directory tree deeper than PATH_MAX: CompilationError, the box is still cleaned", async () => {
    const sh = runtime({
      language: "sh",
      sourceFile: "main.sh",
      compileCommand: [
        "/usr/bin/python3",
        "-c",
        "import os\nfor i in range(1500):\n    os.mkdir('deep'); os.chdir('deep')\nopen('f', 'w').write('x')",
      ],
      runCommand: ["/bin/sh", "main.sh"],
    });
    const o = await executor.run(execution("echo never", {}, "main.sh"), sh);
    expect(o.compile?.exitCode).toBe(0);
    expect(o.verdict).toBe("CompilationError");
    expect(o.message).toMatch(/too deep/);
  });

  it("a background process of the compile step dies with it", async () => {
    const sh = runtime({
      language: "sh",
      sourceFile: "main.sh",
      compileCommand: ["/bin/sh", "-c", "(sleep 1; echo late > late) > /dev/null 2>&1 & echo early > early"],
      runCommand: ["/bin/sh", "-c", "sleep 1.5; ls"],
    });
    const o = await executor.run(execution("true", {}, "main.sh"), sh);
    expect(o.verdict).toBe("Accepted");
    expect(o.tests[0]!.stdout).toBe("early\nmain.sh\n");
  });

  it("runs as the box's own uid, with a clean environment and its own /proc", async () => {
    const src = [
      "import os",
      "print(os.getuid(), os.getgid())",
      "print(sorted(os.environ))",
      "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))",
    ].join("\n");
    const o = await executor.run(execution(src), PY);
    expect(o.verdict).toBe("Accepted");
    const [ids_, env, pids] = o.tests[0]!.stdout!.trim().split("\n");
    const [uid, gid] = ids_!.split(" ").map(Number);
    expect(ids).toContain(uid! - FIRST_UID);
    expect(gid).toBe(uid);
    for (const k of JSON.parse(env!.replaceAll("'", '"')) as string[])
      expect(["HOME", "LANG", "LC_CTYPE", "PATH", "TMPDIR", "LIBC_FATAL_STDERR_"]).toContain(k);
    // a new PID namespace: isolate's keeper and this program, not the host's processes
    expect(JSON.parse(pids!).length).toBeLessThanOrEqual(3);
  });

  it("a large stdin the program never reads: Accepted, the agent is unharmed", async () => {
    const o = await executor.run(
      execution("print('ignored')", { stdin: "x".repeat(512 * 1024), expectedOutput: "ignored" }),
      PY,
    );
    expect(o.verdict).toBe("Accepted");
  });

  it("a stderr flood counts against the same output limit", async () => {
    const o = await executor.run(
      execution("import sys\nprint('out')\nwhile True: sys.stderr.write('e' * 4096)"),
      PY,
    );
    expect(o.verdict).toBe("OutputLimitExceeded");
    expect(o.tests[0]!.stderrTruncated).toBe(true);
  });

  it("ten test cases compile once", async () => {
    const src =
      '#include <stdio.h>\nint main(void) { long x; if (scanf("%ld", &x) != 1) return 2; printf("%ld\\n", 2 * x); return 0; }';
    const before = executor.compiles;
    const testCases = Array.from({ length: 10 }, (_, i) => ({
      stdin: `${i}\n`,
      expectedOutput: `${2 * i}\n`,
    }));
    const o = await executor.run(execution(src, { testCases }), C);
    expect(executor.compiles - before).toBe(1);
    expect(o.verdict).toBe("Accepted");
    expect(o.tests).toHaveLength(10);
    expect(o.tests.every((t) => t.verdict === "Accepted")).toBe(true);
  });

  // Issue 17: a box this agent cleaned is not cleaned again before its next use, and the next
  // test case of a run keeps its tmpfs, emptied in place (no umount and mount), and its isolate
  // box, with a cgroup the agent made anew (after an OOM kill a new box: the next test).
  // isolate, mount and umount here are wrappers that log each call and its parent and run the
  // real one (mount and umount found through PATH, as the agent does).
  it("three test cases: one mount, one isolate --init and --cleanup, three --run", async () => {
    // What a test case could leave for the next: files, a directory, a link, modes on /tmp and /box.
    const src = [
      "import os",
      "left = sorted(os.listdir('/tmp') + os.listdir('/box'))",
      "print(oct(os.stat('/tmp').st_mode & 0o7777), oct(os.stat('/box').st_mode & 0o7777), left)",
      "os.makedirs('/tmp/a/b'); open('/box/out', 'w').write('x'); os.symlink('/', '/tmp/root')",
      "os.chmod('/tmp', 0o1777); os.chmod('/box', 0o755)",
    ].join("\n");
    const { o, calls, from } = await runLogged(src, ["", "", ""]);
    expect(o.tests.map((t) => t.verdict)).toEqual(["Accepted", "Accepted", "Accepted"]);
    // The program's own file only: nothing of an earlier test case, the modes as the agent made them.
    for (const t of o.tests) expect(t.stdout?.trim()).toBe("0o700 0o700 ['main.py']");
    // Every command, --run too, is started by one of the agent's command shells, not forked from its heap.
    expect(from).toEqual(calls.map(() => "sh"));
    expect(calls).toEqual(["init", "mount", "run", "run", "run", "umount", "cleanup"]);
  });

  it("a test case after an OOM kill gets a new isolate box, and each reports its own memory peak", async () => {
    const src = "n = int(input())\nx = bytearray(n << 20)\nfor i in range(0, len(x), 4096): x[i] = 1";
    const { o, calls } = await runLogged(src, ["1024", "1", "64", "1"]);
    expect(o.tests.map((t) => t.verdict)).toEqual([
      "MemoryLimitExceeded",
      "Accepted",
      "Accepted",
      "Accepted",
    ]);
    expect(calls).toEqual([
      ...["init", "mount", "run"],
      ...["cleanup", "init", "run"], // after the OOM kill: a new cgroup
      ...["run", "run"],
      ...["umount", "cleanup"],
    ]);
    const [, small, big, smallAgain] = o.tests.map((t) => t.memoryKiB ?? 0);
    expect(big).toBeGreaterThanOrEqual(64 * 1024);
    expect(small).toBeLessThan(big! - 32 * 1024);
    expect(smallAgain, "the 64 MiB test case's peak carried over").toBeLessThan(big! - 32 * 1024);
  });

  // A run's page cache is charged to its box's cgroup (seen: isolate 1.10 reports 98568 KiB for
  // /bin/true run after a cat of a 96 MiB file in the same box): the next test case, and the next
  // Execution in a kept box, get a cgroup of their own, so their memory is their own.
  it("what a test case read into the page cache does not count as the next one's memory", async () => {
    // Outside /tmp, which is the box's own: mounted read-only at the same path inside.
    const dir = mkdtempSync("/var/tmp/envicutor-page-cache-");
    chmodSync(dir, 0o755); // the box user reads it
    const big = join(dir, "big");
    writeFileSync(big, Buffer.alloc(96 << 20, 7));
    // Out of the page cache, so the box's run is the one charged for reading it.
    execFileSync("dd", ["if=/dev/null", `of=${big}`, "oflag=nocache", "conv=notrunc,fdatasync", "count=0"]);
    const reader = executorOn(sandbox, logger, { mounts: [...HOST_DIRS, dir] });
    const src = `import sys\nif input() == "read":\n    f = open("${big}", "rb")\n    while f.read(1 << 20): pass`;
    let o: ExecutionOutcome;
    try {
      o = await reader.run(execution(src, { testCases: [{ stdin: "read" }, { stdin: "no" }] }), PY);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(
      o.tests.map((t) => t.verdict),
      JSON.stringify(o.tests[0]?.stderr),
    ).toEqual(["Accepted", "Accepted"]);
    const [read, after] = o.tests.map((t) => t.memoryKiB ?? 0);
    expect(read, "the 96 MiB read was not charged to the box: the test shows nothing").toBeGreaterThan(
      64 * 1024,
    );
    expect(after).toBeLessThan(32 * 1024);
  });

  /**
   * Runs `src` over test cases with these stdins through wrappers of isolate, mount and umount
   * that log each call and its parent and run the real one (mount and umount found through PATH,
   * as the agent does): which commands each test case cost, and who started them.
   */
  async function runLogged(src: string, stdins: string[]) {
    const log = join(tmp, `calls-${Date.now()}.log`);
    const bin = join(tmp, "logged-bin");
    mkdirSync(bin, { recursive: true });
    // Their own paths, found before PATH leads to the wrappers.
    const which = (name: string) =>
      execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
    const real = { isolate: which(ISOLATE), mount: which("mount"), umount: which("umount") };
    for (const [name, path] of Object.entries(real))
      writeFileSync(
        join(bin, name),
        `#!/bin/sh\necho "${name} $* from=$(cat /proc/$PPID/comm)" >> '${log}'\nexec ${path} "$@"\n`,
        { mode: 0o755 },
      );
    const logged = executorOn(
      {
        ...sandbox,
        settings: {
          ...sandbox.settings,
          isolate: { ...sandbox.settings.isolate, bin: join(bin, "isolate") },
        },
      },
      logger,
    );
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    let o: ExecutionOutcome;
    try {
      o = await logged.run(execution(src, { testCases: stdins.map((stdin) => ({ stdin })) }), PY);
    } finally {
      process.env.PATH = path;
    }
    const lines = readFileSync(log, "utf8").trim().split("\n");
    const calls = lines.map((l) => /^(mount|umount)|--(init|run|cleanup)\b/.exec(l)?.slice(1).find(Boolean));
    const from = lines.map((l) => / from=(\S+)$/.exec(l)?.[1]);
    return { o, calls, from };
  }

  it("the first failing test case decides the verdict", async () => {
    const src = "x = int(input())\nimport sys\nsys.exit(x)";
    const o = await executor.run(
      execution(src, { testCases: [{ stdin: "0" }, { stdin: "4" }, { stdin: "0", expectedOutput: "nope" }] }),
      PY,
    );
    expect(o.tests.map((t) => t.verdict)).toEqual(["Accepted", "RuntimeError", "WrongAnswer"]);
    expect(o.verdict).toBe("RuntimeError");
  });

  describe("stored output cap", () => {
    const big = "0123456789".repeat(10 * 1024); // 100 KiB
    const capped = runtime({}, {}, 1000);
    const src = `import sys\nsys.stdout.write(${JSON.stringify(big)})`;

    it("100 KiB of stdout is stored truncated, compared in full: Accepted", async () => {
      const o = await executor.run(
        execution(src, { expectedOutput: big, outputComparison: "Exact" }),
        capped,
      );
      expect(o.verdict).toBe("Accepted");
      expect(o.tests[0]).toMatchObject({ stdoutTruncated: true, stdout: big.slice(0, 1000) });
    });

    it("a difference after the cap is still WrongAnswer", async () => {
      const o = await executor.run(
        execution(src, { expectedOutput: `${big.slice(0, -1)}X`, outputComparison: "Exact" }),
        capped,
      );
      expect(o.verdict).toBe("WrongAnswer");
      expect(o.tests[0]!.stdout).toHaveLength(1000);
    });
  });
});

/**
 * isolate 2.x on this cgroup v1 machine: isolate 2 drives only cgroup v2, so
 * it runs without --cg (memory limited by address space). The basic cases
 * must still hold.
 */
describe.skipIf(!isolate2Ok)("sandbox with isolate 2.x (no cgroups on cgroup v1)", () => {
  let tmp: string;
  let sandbox: Sandbox;
  let executor: IsolateExecutor;

  beforeAll(async () => {
    const boxes = {
      name: "isolate 2.x",
      bin: ISOLATE2,
      config: ISOLATE2_CONFIG,
      boxRoot: BOX_ROOT2,
      ids: [BOX_BASE2],
    };
    ({ tmp, sandbox } = await sandboxFixture(boxes, "sandbox2-e2e-", {
      logger: pino({ level: "error" }), // setUpSandbox warns about the missing cgroups, as expected here
      extraDirs: HOST_DIRS,
    }));
    executor = executorOn(sandbox, logger);
  });

  afterEach(() => {
    if (!sandbox) return;
    expect(sandbox.pool.available).toBe(1);
    expect(boxProcesses([BOX_BASE2])).toEqual([]);
    expect(boxGone(BOX_ROOT2, BOX_BASE2)).toBe(true);
  });

  afterAll(() => {
    if (!sandbox) return;
    execFileSync(ISOLATE2, [`--box-id=${BOX_BASE2}`, "--cleanup"]);
    expect(existsSync(join(BOX_ROOT2, String(BOX_BASE2)))).toBe(false);
    rmSync(tmp, { recursive: true, force: true });
  });

  it("detects isolate 2.x, no --cg on cgroup v1", () => {
    expect(sandbox.info.major).toBe(2);
    expect(sandbox.info.cgroupMode).toBe("v1");
    expect(sandbox.info.useCg).toBe(false);
  });

  const cases: [string, () => Promise<ExecutionOutcome>, (o: ExecutionOutcome) => void][] = [
    [
      "hello world: Accepted",
      () => executor.run(execution('print("hello")', { expectedOutput: "hello" }), PY),
      (o) => expect(o.verdict).toBe("Accepted"),
    ],
    [
      "C compiled once, two test cases: Accepted",
      () =>
        executor.run(
          execution(
            '#include <stdio.h>\nint main(void) { int x; scanf("%d", &x); printf("%d\\n", x + 1); }',
            {
              testCases: [
                { stdin: "1", expectedOutput: "2" },
                { stdin: "41", expectedOutput: "42" },
              ],
            },
          ),
          C,
        ),
      (o) => expect(o.tests.map((t) => t.verdict)).toEqual(["Accepted", "Accepted"]),
    ],
    [
      "compile error: CompilationError",
      () => executor.run(execution("int main( {"), C),
      (o) => {
        expect(o.verdict).toBe("CompilationError");
        expect(o.compile?.stderr).toMatch(/error/);
      },
    ],
    [
      "exit 3: RuntimeError",
      () => executor.run(execution("import sys\nsys.exit(3)"), PY),
      (o) => expect(o.tests[0]).toMatchObject({ verdict: "RuntimeError", exitCode: 3 }),
    ],
    [
      "segfault: RuntimeError, signal 11",
      () => executor.run(execution("int main(void) { *(volatile int *)0 = 1; return 0; }"), C),
      (o) => expect(o.tests[0]).toMatchObject({ verdict: "RuntimeError", signal: 11 }),
    ],
    [
      "infinite loop: TimeLimitExceeded",
      () => executor.run(execution("while True: pass"), PY),
      (o) => expect(o.verdict).toBe("TimeLimitExceeded"),
    ],
    [
      // Without cgroups the address-space limit makes the allocation fail: Python's MemoryError.
      "memory hog without cgroups: RuntimeError (address-space limit), not Accepted",
      () => executor.run(execution("x = b'x' * (512 * 1024 * 1024)"), PY),
      (o) => {
        expect(o.verdict).toBe("RuntimeError");
        expect(o.tests[0]!.stderr).toMatch(/MemoryError/);
      },
    ],
  ];
  it.each(cases)("%s", async (_name, run, check) => {
    check(await run());
  });
});
