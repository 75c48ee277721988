import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parentPid } from "./proc-stat.ts";
import type { CommandResult } from "./run-command.ts";

/** What runCommand keeps of a command's output, as execFile's maxBuffer did. */
const OUTPUT_CAP_CHARS = 1 << 20;

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

/**
 * One long-lived /bin/sh that starts the agent's sandbox commands (isolate
 * --init and --cleanup, mount, umount) one at a time (issue 17). fork() copies
 * the forking process's page tables, so a fork from the agent's large heap
 * costs it 2–4 ms of CPU where the shell's costs about 0.3 ms (bench:spawn).
 * The agent writes one command line and reads back the command's pid and
 * exit status; the command's stdout and stderr go to two files in a private
 * directory, read back afterwards. Commands are the agent's own (never a
 * box's program), every argument single-quoted. The shell has the agent's
 * environment as at its start, PATH kept in step with the agent's.
 */
export class CommandShell {
  private readonly sh: ChildProcessWithoutNullStreams;
  private readonly dir: string;
  private pending: Pending | undefined;
  private path: string | undefined;
  private dead = false;

  constructor(shell = "/bin/sh") {
    this.dir = mkdtempSync(join(tmpdir(), "envicutor-cmd-"));
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
    return this.pending !== undefined;
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
  run(bin: string, args: string[], timeoutMs: number): Promise<CommandResult | undefined> {
    if (this.pending) throw new Error("CommandShell.run while a command runs");
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
          void this.result(code, reason).then((r) => this.settle(r, resolve));
        },
      };
      if (this.dead) return this.pending.onExit(null, "the agent's command shell is not running");
      this.sh.stdin.write(this.commandLine(bin, args));
    });
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
  private commandLine(bin: string, args: string[]): string {
    const env = process.env.PATH !== this.path ? `export PATH=${quote(process.env.PATH ?? "")}; ` : "";
    this.path = process.env.PATH;
    const cmd = [bin, ...args].map(quote).join(" ");
    const [out, err] = [quote(join(this.dir, "out")), quote(join(this.dir, "err"))];
    return `${env}${cmd} >${out} 2>${err} </dev/null & echo "p $!"; wait $!; echo "x $?"\n`;
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

  private async result(code: number | null, why?: string): Promise<CommandResult> {
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
