// go-judge (github.com/criyle/go-judge), a Go sandbox server, side by side
// with bare isolate and Envicutor in bench/node.ts (issue 17 item 4). It is
// built outside the project from its own repository (bench/README.md says
// how); the bench looks for it at $GO_JUDGE_BIN, then /opt/go-judge/go-judge,
// starts it pinned to the node's CPU with the Runtime's closure mounted
// read-only path by path (its mount.yaml), and runs the same program through
// its REST API (POST /run: source copied in, run, outputs collected).
import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { resolveCommand } from "../src/agent/sandbox/isolate-box.ts";
import type { StageLimits } from "../src/api/common.ts";

export const GO_JUDGE_DEFAULT = "/opt/go-judge/go-judge";
/** Its cgroups (v1: under each controller) get this prefix; removed after it stops. */
const CGROUP_PREFIX = "envicutor-bench-go-judge";
const PORT = 5950;

/** The binary, or undefined when it is not on this machine. */
export function findGoJudge(): string | undefined {
  const bin = process.env.GO_JUDGE_BIN ?? GO_JUDGE_DEFAULT;
  return existsSync(bin) ? bin : undefined;
}

/** go-judge's mount.yaml (JSON is YAML): the closure bound read-only, devices, tmpfs /w and /tmp, /proc. */
export function mountConfig(closure: string[]): string {
  const bind = (p: string, readonly = true) => ({ type: "bind", source: p, target: p, readonly });
  const tmpfs = (t: string) => ({ type: "tmpfs", target: t, data: "size=128m,nr_inodes=4k" });
  const conf = {
    mount: [
      ...closure.map((p) => bind(p)),
      ...["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"].map((d) => bind(d, false)),
      tmpfs("/w"),
      tmpfs("/tmp"),
    ],
    symLink: [
      { linkPath: "/dev/fd", target: "/proc/self/fd" },
      { linkPath: "/dev/stdin", target: "/proc/self/fd/0" },
      { linkPath: "/dev/stdout", target: "/proc/self/fd/1" },
      { linkPath: "/dev/stderr", target: "/proc/self/fd/2" },
    ],
    proc: true,
    workDir: "/w",
    hostName: "go-judge",
    domainName: "go-judge",
    uid: 1536,
    gid: 1536,
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

export interface GoJudgeProgram {
  argv: string[];
  env: Record<string, string>;
  limits: StageLimits;
  sourceFile: string;
}

/** One go-judge server, pinned to `cpu` (its threads by taskset, its containers by its -cpuset). */
export class GoJudge {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly url = `http://127.0.0.1:${PORT}`;
  private readonly bin: string;
  private readonly cpu: number;
  private readonly workDir: string;

  constructor(bin: string, cpu: number, workDir: string) {
    this.bin = bin;
    this.cpu = cpu;
    this.workDir = workDir;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(closure: string[], parallelism: number): Promise<void> {
    const conf = join(this.workDir, "mount.yaml");
    writeFileSync(conf, mountConfig(closure));
    const args = [
      ...["-c", String(this.cpu), this.bin],
      ...["-http-addr", `127.0.0.1:${PORT}`, "-mount-conf", conf, "-cpuset", String(this.cpu)],
      ...["-parallelism", String(parallelism), "-cgroup-prefix", CGROUP_PREFIX, "-silent"],
    ];
    // Its containers' init processes print to stderr when they are stopped: into a log, not the bench's output.
    const log = openSync(join(this.workDir, "go-judge.log"), "a");
    const proc = spawn("taskset", args, {
      stdio: ["ignore", log, log],
      cwd: this.workDir,
      env: { ...process.env, GIN_MODE: "release" },
    });
    closeSync(log);
    this.proc = proc;
    this.exited = new Promise((r) => proc.once("exit", () => r()));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null)
        throw new Error(`go-judge exited with ${proc.exitCode} at start: ${this.logTail()}`);
      const up = await fetch(`${this.url}/version`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) return;
      if (Date.now() > deadline) throw new Error("go-judge did not answer /version in 15 s");
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private logTail(): string {
    return readFileSync(join(this.workDir, "go-judge.log"), "utf8").slice(-500);
  }

  /** POST /run of one program (source in, run, stdout out); ms from request to answer. */
  async run(p: GoJudgeProgram, source: string): Promise<{ ms: number; stdout: string }> {
    const env: Record<string, string> = { HOME: "/tmp", TMPDIR: "/tmp", LANG: "C.UTF-8", ...p.env };
    const l = p.limits;
    const cmd = {
      args: [resolveCommand(p.argv[0]!, env.PATH), ...p.argv.slice(1)],
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      files: [
        { content: "" },
        { name: "stdout", max: l.outputBytes },
        { name: "stderr", max: l.outputBytes },
      ],
      cpuLimit: l.cpuTimeMillis * 1e6,
      clockLimit: l.wallTimeMillis * 1e6,
      memoryLimit: l.memoryKiB * 1024,
      procLimit: l.processes,
      copyIn: { [p.sourceFile]: { content: source } },
    };
    const t = performance.now();
    const res = await fetch(`${this.url}/run`, { method: "POST", body: JSON.stringify({ cmd: [cmd] }) });
    const body = (await res.json()) as { status: string; files?: Record<string, string> }[];
    const ms = performance.now() - t;
    const r = body[0];
    if (!res.ok || r?.status !== "Accepted")
      throw new Error(`go-judge run: ${res.status} ${JSON.stringify(body)}`);
    return { ms, stdout: r.files?.stdout ?? "" };
  }

  async stop(): Promise<void> {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill("SIGTERM");
      const t = setTimeout(() => this.proc?.kill("SIGKILL"), 10_000);
      await this.exited;
      clearTimeout(t);
    }
    removeCgroups();
  }
}

/** go-judge leaves its (empty) cgroup directories behind on cgroup v1: remove them, deepest first. */
function removeCgroups(): void {
  for (const c of ["cpu", "cpuacct", "cpuset", "memory", "pids"]) {
    const top = join("/sys/fs/cgroup", c, CGROUP_PREFIX);
    if (existsSync(top)) removeTree(top);
  }
}

function removeTree(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory()) removeTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // still in use or gone: left as it is
  }
}

export interface GoJudgeSide {
  bin: string;
  server: GoJudge;
  run: (source: string) => Promise<{ ms: number; stdout: string }>;
}

export interface GoJudgeStart {
  workDir: string;
  cpu: number;
  parallelism: number;
  closure: string[];
  program: GoJudgeProgram;
  /** Where to say, loudly, that go-judge is missing or did not start. */
  say: (msg: string) => void;
}

/** Starts go-judge when it is on this machine; else says so loudly and the bench goes on without it. */
export async function startGoJudge(o: GoJudgeStart): Promise<{ side?: GoJudgeSide; note: string }> {
  const bin = findGoJudge();
  if (!bin) {
    const where = process.env.GO_JUDGE_BIN ?? GO_JUDGE_DEFAULT;
    o.say(
      `!!! go-judge NOT FOUND at ${where}: no go-judge column in this run (bench/README.md says how to build it)`,
    );
    return { note: `not on this machine (${where})` };
  }
  const server = new GoJudge(bin, o.cpu, o.workDir);
  try {
    await server.start(o.closure, o.parallelism);
    const side = { bin, server, run: (source: string) => server.run(o.program, source) };
    const first = await side.run("print(1)\n");
    if (first.stdout !== "1\n") throw new Error(`printed ${JSON.stringify(first.stdout)}`);
    return { side, note: "found" };
  } catch (err) {
    await server.stop().catch(() => undefined);
    o.say(`!!! go-judge at ${bin} did not run the program: ${String(err)}; no go-judge column in this run`);
    return { note: `failed: ${String(err).slice(0, 200)}` };
  }
}
