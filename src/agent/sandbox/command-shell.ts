import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { Socket } from "node:net";
import { constants as os, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { parentPid } from "./proc-stat.ts";
import type { CommandResult, OutputKept } from "./run-command.ts";

/** What runCommand keeps of a command's output, as execFile's maxBuffer did. */
const OUTPUT_CAP_CHARS = 1 << 20;

/**
 * A test case's input up to this length (bytes, or a string's characters) is
 * written and removed at once (issue 17: no thread-pool round trips per test
 * case); a longer one through the pool, so that it does not hold the agent's
 * event loop.
 */
const SYNC_INPUT_MAX = 64 * 1024;

/** dash's builtins: by such a name without a slash the shell would not start the program. */
const BUILTINS = new Set(
  "alias bg break cd chdir command continue echo eval exec exit export false fg getopts hash jobs kill local printf pwd read readonly return set shift test times trap true type ulimit umask unalias unset wait [".split(
    " ",
  ),
);

/** Whether `bin` would run as a shell builtin rather than as the program of that name. */
export const isShellBuiltin = (bin: string) => !bin.includes("/") && BUILTINS.has(bin);

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** SIGKILL; whether it was sent. */
const kill = (pid: number): boolean => {
  try {
    process.kill(pid, "SIGKILL");
    return true;
  } catch {
    return false; // already gone
  }
};

interface Pending {
  onPid(pid: number): void;
  onExit(code: number | null, why?: string): void;
}

/** How a streamed command ended: as child_process reports it, or why it never ran to its end. */
export interface StreamedExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** A command started by stream(): its output as it comes, and its end. */
export interface StreamedCommand {
  stdout: Readable;
  stderr: Readable;
  /** Signals the command while it is still the shell's child (before its pid is known: once it is). */
  kill(signal: NodeJS.Signals): void;
  /** The command is gone (its output may still be in the pipes). */
  exited: Promise<StreamedExit>;
  /** Gone, and both streams read to their end or destroyed: the shell is free again. */
  closed: Promise<StreamedExit>;
}

const signalName = (n: number): NodeJS.Signals | null =>
  (Object.entries(os.signals).find(([, v]) => v === n)?.[0] as NodeJS.Signals | undefined) ?? null;

/** A live process's command name (/proc/<pid>/comm, at most 15 characters); undefined when it is gone. */
const programOf = (pid: number): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
};

/** A FIFO's read end that never blocks the agent, as a stream. */
const fifoReader = (path: string): Socket =>
  new Socket({
    fd: openSync(path, constants.O_RDONLY | constants.O_NONBLOCK),
    readable: true,
    writable: false,
  });

/**
 * Makes a FIFO reader see the end: Linux reports it (POLLHUP) only once a
 * writer has come and gone, and a command that failed before its redirect
 * never opened one. No reader left (ENXIO): nothing to end.
 */
const endFifo = (path: string) => {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // the reader is closed already
  }
};

/** A shell's private directory is named after its agent's pid, so a later agent can tell a dead one's. */
const SHELL_DIR = /^envicutor-cmd-(\d+)-/;

/**
 * Start-up: removes the command shells' directories of agents that are gone.
 * A SIGKILLed agent cannot remove its own, and one killed mid-run leaves a
 * test case's input there. Only those whose agent pid is no longer alive
 * (other agents of this machine keep theirs; a pod's /tmp is its own, so
 * every pid named there is of its pid namespace); returns how many.
 */
export function removeStaleShellDirs(dir = tmpdir()): number {
  let removed = 0;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const pid = Number(SHELL_DIR.exec(name)?.[1]);
    if (!pid || pid === process.pid || programOf(pid) !== undefined) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/** Removes a command's input file (at once when small); should that fail, the next command's input replaces it. */
const removeInput = async (path: string, bytes: number): Promise<void> => {
  try {
    if (bytes > SYNC_INPUT_MAX) await rm(path, { force: true });
    else rmSync(path, { force: true });
  } catch {
    // the shell's directory goes with the shell
  }
};

/**
 * One long-lived /bin/sh that starts the agent's sandbox commands (isolate
 * --init, --run and --cleanup, mount, umount) one at a time (issue 17). fork()
 * copies the forking process's page tables, so a fork from the agent's large
 * heap costs it 2–4 ms of CPU where the shell's costs about 0.3 ms
 * (bench:spawn). The agent writes one command line and reads back the
 * command's pid and exit status; run() sends the command's stdout and stderr
 * to two files in a private directory, read back afterwards, stream() through
 * two FIFOs there, read as they come. Commands are the agent's own (isolate,
 * never a box's program directly), every argument single-quoted. The shell
 * has the agent's environment as at its start, PATH kept in step with the
 * agent's.
 */
export class CommandShell {
  private readonly sh: ChildProcessWithoutNullStreams;
  private readonly dir: string;
  private pending: Pending | undefined;
  /** Taken by stream() while it prepares its command (before it is pending). */
  private claimed = false;
  /** The FIFOs stream() redirects output to exist (made once per shell, by the shell). */
  private fifos = false;
  private path: string | undefined;
  private dead = false;

  constructor(shell = "/bin/sh") {
    this.dir = mkdtempSync(join(tmpdir(), `envicutor-cmd-${process.pid}-`));
    this.sh = spawn(shell, [], { stdio: ["pipe", "pipe", "pipe"] });
    this.path = process.env.PATH;
    // Idle shells do not keep the agent alive; a running command's timer does.
    this.sh.unref();
    for (const s of [this.sh.stdin, this.sh.stdout, this.sh.stderr]) (s as { unref?(): void }).unref?.();
    this.sh.stderr.resume();
    this.sh.stdin.on("error", () => undefined); // a dead shell is reported by "close"
    createInterface({ input: this.sh.stdout }).on("line", (line) => this.onLine(line));
    this.sh.once("error", (err) => this.die(`the agent's command shell failed: ${err.message}`));
    this.sh.once("close", (code, signal) => this.die(`the agent's command shell exited (${code ?? signal})`));
  }

  get busy(): boolean {
    return this.pending !== undefined || this.claimed;
  }

  /** The shell's pid (bench:spawn counts its CPU with the agent's). */
  get pid(): number | undefined {
    return this.sh.pid;
  }

  get alive(): boolean {
    return !this.dead;
  }

  /**
   * Runs one command; never rejects. Only when not busy: the shell stays busy
   * until the command's output files are read. Undefined when the command
   * never started (the shell was gone first): the caller starts it elsewhere.
   */
  run(
    bin: string,
    args: string[],
    timeoutMs: number,
    kept: OutputKept = "all",
  ): Promise<CommandResult | undefined> {
    if (this.pending) throw new Error("CommandShell.run while a command runs");
    return this.runNow(bin, args, timeoutMs, kept);
  }

  private runNow(
    bin: string,
    args: string[],
    timeoutMs: number,
    kept: OutputKept,
  ): Promise<CommandResult | undefined> {
    return new Promise((resolve) => {
      let pid: number | undefined;
      let killed = false;
      let late = false;
      // Killed only while the pid is still the shell's child: once the shell has reaped it, not at all.
      const killNow = () => {
        if (pid && this.ownChild(pid)) killed = kill(pid);
      };
      const timer = setTimeout(() => {
        late = true;
        killNow();
      }, timeoutMs);
      this.ref(true);
      this.pending = {
        onPid: (p) => {
          pid = p;
          if (late) killNow();
        },
        onExit: (code, why) => {
          clearTimeout(timer);
          if (pid === undefined && this.dead) return this.settle(undefined, resolve);
          if (this.dead && pid && this.ownChild(pid)) kill(pid); // nothing of a dead shell's runs on
          const reason = killed ? `timed out after ${timeoutMs} ms` : why;
          void this.result(code, reason, kept).then((r) => this.settle(r, resolve));
        },
      };
      if (this.dead) return this.pending.onExit(null, "the agent's command shell is not running");
      this.sh.stdin.write(this.commandLine(bin, args));
    });
  }

  /**
   * Starts one command whose stdout and stderr the agent reads as they come
   * (isolate --run, issue 17: no fork from the agent's heap per test case),
   * through two FIFOs of the shell's private directory (mode 0600, made once),
   * stdin from a file there (mode 0600). The readers are opened before the
   * shell's redirect, which would block without them. Only when not busy;
   * undefined when the shell cannot start it (the caller spawns it instead).
   */
  async stream(bin: string, args: string[], stdin: Buffer | string): Promise<StreamedCommand | undefined> {
    if (this.busy) throw new Error("CommandShell.stream while a command runs");
    this.claimed = true;
    try {
      const [out, err, input] = ["o", "e", "in"].map((n) => join(this.dir, n)) as [string, string, string];
      if (!this.fifos) {
        const made = await this.runNow("mkfifo", ["-m", "600", out, err], 10_000, "all");
        if (made?.exitCode !== 0) return undefined;
        this.fifos = true;
      }
      if (stdin.length > SYNC_INPUT_MAX) await writeFile(input, stdin, { mode: 0o600 });
      else if (stdin.length > 0) writeFileSync(input, stdin, { mode: 0o600 });
      if (this.dead) return undefined;
      return this.startStreamed(bin, args, {
        out,
        err,
        input: stdin.length > 0 ? input : "/dev/null",
        inputLength: stdin.length,
      });
    } catch {
      return undefined; // no FIFO or input file here: spawned instead
    } finally {
      this.claimed = false;
    }
  }

  private startStreamed(
    bin: string,
    args: string[],
    io: { out: string; err: string; input: string; inputLength: number },
  ) {
    const stdout = fifoReader(io.out);
    let stderr: Socket;
    try {
      stderr = fifoReader(io.err);
    } catch (err) {
      stdout.destroy();
      throw err;
    }
    let pid: number | undefined;
    let wanted: NodeJS.Signals | undefined;
    // The shell's child, or once the shell is gone the same program orphaned (no longer its child).
    const mine = (p: number) =>
      this.ownChild(p) || (this.dead && programOf(p) === basename(bin).slice(0, 15));
    const signal = (sig: NodeJS.Signals) => {
      try {
        if (pid && mine(pid)) process.kill(pid, sig);
      } catch {
        // gone meanwhile
      }
    };
    let onExit!: (e: StreamedExit) => void;
    const exited = new Promise<StreamedExit>((r) => {
      onExit = r;
    });
    this.ref(true);
    this.pending = {
      onPid: (p) => {
        pid = p;
        if (wanted) signal(wanted);
      },
      onExit: (code, why) => {
        if (this.dead && pid && mine(pid)) kill(pid); // nothing of a dead shell's runs on
        for (const path of [io.out, io.err]) endFifo(path);
        if (why && this.dead) onExit({ code: null, signal: null, error: new Error(why) });
        else if (code !== null && code > 128) onExit({ code: null, signal: signalName(code - 128) });
        else onExit({ code, signal: null });
      },
    };
    const ended = (s: Readable) => new Promise<void>((r) => s.once("close", () => r()));
    const closed = Promise.all([exited, ended(stdout), ended(stderr)]).then(async ([e]) => {
      // The input is not kept: the next command writes its own, and test data stays nowhere else.
      if (io.input !== "/dev/null") await removeInput(io.input, io.inputLength);
      this.pending = undefined;
      this.ref(false);
      return e;
    });
    this.sh.stdin.write(this.commandLine(bin, args, io));
    const killCommand = (sig: NodeJS.Signals) => {
      wanted = sig;
      signal(sig);
    };
    return { stdout, stderr, kill: killCommand, exited, closed };
  }

  private settle(r: CommandResult | undefined, resolve: (r: CommandResult | undefined) => void): void {
    this.pending = undefined;
    this.ref(false);
    resolve(r);
  }

  /** A running command keeps the agent's event loop alive (its answer comes through stdout); an idle shell does not. */
  private ref(on: boolean): void {
    const out = this.sh.stdout as { ref?(): void; unref?(): void };
    if (on) out.ref?.();
    else out.unref?.();
  }

  /** Whether `pid` is a child of this shell (/proc/<pid>/stat's ppid): not yet reaped, so not reused. */
  private ownChild(pid: number): boolean {
    return parentPid(pid) === this.sh.pid;
  }

  close(): void {
    this.dead = true;
    this.sh.kill("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** In the background so the shell prints its pid (for the timeout), then waits for it. */
  private commandLine(
    bin: string,
    args: string[],
    io = { out: join(this.dir, "out"), err: join(this.dir, "err"), input: "/dev/null" },
  ): string {
    const env = process.env.PATH !== this.path ? `export PATH=${quote(process.env.PATH ?? "")}; ` : "";
    this.path = process.env.PATH;
    const cmd = [bin, ...args].map(quote).join(" ");
    const redirects = `>${quote(io.out)} 2>${quote(io.err)} <${quote(io.input)}`;
    return `${env}${cmd} ${redirects} & echo "p $!"; wait $!; echo "x $?"\n`;
  }

  private onLine(line: string): void {
    const [kind, value] = line.split(" ");
    if (kind === "p") this.pending?.onPid(Number(value));
    else if (kind === "x") {
      // 128 + n: ended by signal n, which execFile reports as no exit code.
      const code = Number(value);
      this.pending?.onExit(code, code > 128 ? `killed by signal ${code - 128}` : undefined);
    }
  }

  private die(why: string): void {
    if (this.dead && !this.pending) return;
    this.dead = true;
    this.pending?.onExit(null, why);
    if (!this.pending) rmSync(this.dir, { recursive: true, force: true });
  }

  private async result(
    code: number | null,
    why: string | undefined,
    kept: OutputKept,
  ): Promise<CommandResult> {
    if (kept === "failure" && code === 0 && !why) return { exitCode: 0, stdout: "", stderr: "" };
    const [stdout, stderr] = await Promise.all([this.read("out"), this.read("err")]);
    return { exitCode: why ? null : code, stdout, stderr: (stderr || why || "").trim() };
  }

  private read(name: string): Promise<string> {
    return readFile(join(this.dir, name), "utf8").then(
      (text) => text.slice(0, OUTPUT_CAP_CHARS).trim(),
      () => "",
    );
  }
}
