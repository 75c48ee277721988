import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { CommandShell, isShellBuiltin, type StreamedCommand } from "./command-shell.ts";

/** What a finished command left: its exit code (null when killed or not started) and output, trimmed. */
export interface CommandResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** More commands at once than this (the agent runs one per slot) start from the agent itself. */
const MAX_SHELLS = 16;
const SHELL = "/bin/sh";
const shells: CommandShell[] = [];
let closeOnExit = false;

/**
 * Which of a command's output runCommand reads back through a shell: "all",
 * or "failure" (only a failed command's: its output files are not read after
 * a success, two file reads fewer per command).
 */
export type OutputKept = "all" | "failure";

/**
 * Runs a command of the sandbox's hot path (isolate --init and --cleanup,
 * mount, umount; isolate --run goes through streamCommand) through an idle CommandShell, one
 * made when none is idle: a fork from a small shell instead of from the
 * agent's heap (bench:spawn). Never rejects: the caller judges the exit code.
 * ENVICUTOR_COMMAND_SHELL=off starts each command from the agent instead.
 */
export function runCommand(
  bin: string,
  args: string[],
  timeoutMs: number,
  kept: OutputKept = "all",
): Promise<CommandResult> {
  const shell = shellServes(bin, args) ? idleShell() : undefined;
  if (!shell) return execFileCommand(bin, args, timeoutMs);
  // A shell that was gone before the command started: the command starts from the agent.
  return shell.run(bin, args, timeoutMs, kept).then((r) => r ?? execFileCommand(bin, args, timeoutMs));
}

/**
 * Starts a command with its output streamed (isolate --run) through an idle
 * CommandShell; undefined when none can start it (shells off, none to be
 * had, a name the shell would take for a builtin): the caller spawns it.
 */
export async function streamCommand(
  bin: string,
  args: string[],
  stdin: Buffer | string,
): Promise<StreamedCommand | undefined> {
  return shellServes(bin, args) ? idleShell()?.stream(bin, args, stdin) : undefined;
}

/**
 * Whether a command shell may start this command: shells not turned off
 * (ENVICUTOR_COMMAND_SHELL=off), not a name the shell would take for its
 * builtin, and no NUL byte (dash drops them from its input, where execFile
 * refuses such an argument).
 */
function shellServes(bin: string, args: string[]): boolean {
  return (
    process.env.ENVICUTOR_COMMAND_SHELL !== "off" &&
    !isShellBuiltin(bin) &&
    ![bin, ...args].some((a) => a.includes("\0"))
  );
}

/** An idle live shell, made when there is none (dead idle ones are dropped); undefined when none can be had. */
function idleShell(): CommandShell | undefined {
  for (let i = shells.length - 1; i >= 0; i--)
    if (!shells[i]!.alive && !shells[i]!.busy) shells.splice(i, 1)[0]!.close();
  return shells.find((s) => !s.busy && s.alive) ?? newShell();
}

/** A new shell, or none when there are enough or none can be made (no /bin/sh or /tmp): then execFile serves. */
function newShell(): CommandShell | undefined {
  if (shells.length >= MAX_SHELLS || !existsSync(SHELL)) return undefined;
  try {
    const shell = new CommandShell(SHELL);
    shells.push(shell);
    if (!closeOnExit) process.once("exit", closeCommandShells);
    closeOnExit = true;
    return shell;
  } catch {
    return undefined;
  }
}

/** Ends the command shells (tests, and an agent that stops). */
export function closeCommandShells(): void {
  for (const s of shells.splice(0)) s.close();
}

/**
 * The command started from the agent with child_process.execFile (not execa,
 * which costs about twice the CPU per command).
 */
export function execFileCommand(bin: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      bin,
      args,
      { timeout: timeoutMs, encoding: "utf8", maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        resolve({
          exitCode: typeof code === "number" ? code : null,
          stdout: stdout.trim(),
          stderr: (stderr || (err && typeof code !== "number" ? err.message : "")).trim(),
        });
      },
    );
  });
}
