import { type ChildProcess, spawn } from "node:child_process";

export interface RunOptions {
  /** Kill the whole process group after this long. */
  timeoutMs?: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  /** Between SIGTERM (Nix then stops its builders) and SIGKILL. */
  killGraceMs?: number;
  /** Keep at most this many bytes of stdout and of stderr (the end). */
  maxOutputBytes?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  signal: NodeJS.Signals | undefined;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
}

/**
 * Runs a command in its own process group and never throws for its exit
 * status. On timeout or abort the whole group gets SIGTERM, then SIGKILL:
 * nix-build answers SIGTERM by stopping its sandboxed builders (which run in
 * their own sessions, out of reach of a group kill), and SIGKILL makes sure
 * nothing outlives the install if it does not.
 */
export function runCommand(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  if (opts.signal?.aborted) return Promise.resolve(abortedBeforeStart());
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      detached: true,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const output = captureOutput(child, opts.maxOutputBytes ?? 1024 * 1024);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const guard = watchdog(child, opts);
    child.on("error", (err) => {
      guard.detach();
      reject(err);
    });
    child.on("close", (code, sig) => {
      guard.finish();
      resolve({
        ...output(),
        exitCode: code ?? undefined,
        signal: sig ?? undefined,
        timedOut: guard.timedOut,
        aborted: guard.aborted,
        durationMs: Date.now() - started,
      });
    });
  });
}

function abortedBeforeStart(): RunResult {
  return {
    stdout: "",
    stderr: "",
    exitCode: undefined,
    signal: undefined,
    timedOut: false,
    aborted: true,
    durationMs: 0,
  };
}

/** Keeps the last `max` characters of each stream, so a chatty build cannot grow the agent's heap. */
function captureOutput(child: ChildProcess, max: number): () => { stdout: string; stderr: string } {
  let stdout = "";
  let stderr = "";
  const keep = (acc: string, chunk: Buffer) => {
    const s = acc + chunk.toString("utf8");
    return s.length > max ? s.slice(s.length - max) : s;
  };
  child.stdout?.on("data", (c: Buffer) => {
    stdout = keep(stdout, c);
  });
  child.stderr?.on("data", (c: Buffer) => {
    stderr = keep(stderr, c);
  });
  return () => ({ stdout, stderr });
}

interface Watchdog {
  readonly timedOut: boolean;
  readonly aborted: boolean;
  /** Stops watching (the child never started). */
  detach(): void;
  /** Stops watching after the child closed, and kills what is left of its group if it was stopped. */
  finish(): void;
}

/** Stops the child's process group on timeout or abort: SIGTERM, then SIGKILL after the grace. */
function watchdog(child: ChildProcess, opts: RunOptions): Watchdog {
  let timedOut = false;
  let aborted = false;
  let killTimer: NodeJS.Timeout | undefined;
  const killGroup = (sig: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      // group already gone
    }
  };
  const stop = () => {
    killGroup("SIGTERM");
    killTimer = setTimeout(() => killGroup("SIGKILL"), opts.killGraceMs ?? 5_000);
    killTimer.unref();
  };
  const timer =
    opts.timeoutMs !== undefined
      ? setTimeout(() => {
          timedOut = true;
          stop();
        }, opts.timeoutMs)
      : undefined;
  const onAbort = () => {
    aborted = true;
    stop();
  };
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const detach = () => {
    if (timer) clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  };
  return {
    get timedOut() {
      return timedOut;
    },
    get aborted() {
      return aborted;
    },
    detach,
    finish() {
      detach();
      if (killTimer) clearTimeout(killTimer);
      // Whatever is left of the group (a builder helper that ignored SIGTERM).
      if (timedOut || aborted) killGroup("SIGKILL");
    },
  };
}
