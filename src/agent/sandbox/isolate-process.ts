import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import type { StreamedCommand, StreamedExit } from "./command-shell.ts";
import { OutputCapture } from "./output-capture.ts";
import { streamCommand } from "./run-command.ts";

/** One isolate --run as the box sees it: its output as it comes, a way to signal it, and its end. */
export type IsolateProcess = StreamedCommand;

/** What a run feeds isolate and where its stdout goes (see RunRequest). */
export interface IsolateIo {
  stdin: Buffer | string | Readable;
  stdoutTo?: Writable;
}

/**
 * Starts isolate --run. A run with its whole input at hand and its output
 * captured starts from one of the agent's command shells (issue 17: a fork
 * from the agent's heap costs it 2–4 ms of CPU), output through FIFOs and
 * input from a file; an interactive run (streams between boxes), or
 * `viaShell` false (nsenter into a box's network), or no shell to be had,
 * is spawned from the agent with pipes.
 */
export async function startIsolate(
  bin: string,
  argv: string[],
  io: IsolateIo,
  viaShell: boolean,
): Promise<IsolateProcess> {
  const whole = typeof io.stdin === "string" || Buffer.isBuffer(io.stdin);
  if (viaShell && whole && !io.stdoutTo) {
    const streamed = await streamCommand(bin, argv, io.stdin as Buffer | string);
    if (streamed) return streamed;
  }
  return spawnIsolate(bin, argv, io);
}

function spawnIsolate(bin: string, argv: string[], io: IsolateIo): IsolateProcess {
  const child = spawn(bin, argv, { stdio: ["pipe", "pipe", "pipe"] });
  connectStreams(child, io);
  const failed = new Promise<StreamedExit>((r) =>
    child.once("error", (error) => r({ code: null, signal: null, error })),
  );
  const on = (event: "exit" | "close") =>
    Promise.race([
      failed,
      new Promise<StreamedExit>((r) => child.once(event, (code, signal) => r({ code, signal }))),
    ]);
  return {
    stdout: child.stdout,
    stderr: child.stderr,
    kill: (signal) => child.kill(signal),
    exited: on("exit"),
    closed: on("close"),
  };
}

/**
 * The run's stdin and (interactive runs) stdout. Errors on either side are
 * expected, not failures: the program may exit without reading its input, and
 * the other box of an interaction may be gone (EPIPE).
 */
function connectStreams(child: ChildProcessWithoutNullStreams, io: IsolateIo): void {
  child.stdin.on("error", () => undefined);
  if (io.stdoutTo) {
    io.stdoutTo.on("error", () => undefined);
    child.stdout.pipe(io.stdoutTo);
  }
  if (typeof io.stdin === "string" || Buffer.isBuffer(io.stdin)) child.stdin.end(io.stdin);
  else {
    io.stdin.on("error", () => undefined);
    io.stdin.pipe(child.stdin);
  }
}

/** How isolate's process ended, and whether we ended it (abort) or it hung past the wall time. */
export interface IsolateExit extends StreamedExit {
  ended: boolean;
  hung: boolean;
}

/**
 * stdout (unless it goes to another box) and stderr, with one budget shared by
 * both streams: whichever pushes the sum past the limit trips it.
 */
export function captureOutput(proc: IsolateProcess, outputBytes: number, withStdout: boolean) {
  let exceeded = false;
  const budget = { left: outputBytes };
  const onExceeded = () => {
    exceeded = true;
    // Closing our ends makes further writes fail (SIGPIPE/EPIPE); a program that ignores
    // that would still hold the slot until its time limit, so isolate is told to end the run:
    // on SIGTERM it kills the whole box and writes its meta file.
    proc.kill("SIGTERM");
    proc.stdout.destroy();
    proc.stderr.destroy();
  };
  return {
    stdout: withStdout ? new OutputCapture(proc.stdout, outputBytes, onExceeded, budget) : undefined,
    stderr: new OutputCapture(proc.stderr, outputBytes, onExceeded, budget),
    exceeded: () => exceeded,
  };
}

/** Waits for isolate to end; an abort ends the run, and a guard catches isolate itself hanging. */
export async function awaitIsolate(
  proc: IsolateProcess,
  wallTimeMillis: number,
  signal: AbortSignal | undefined,
): Promise<IsolateExit> {
  let ended = false;
  const end = () => {
    ended = true;
    proc.kill("SIGTERM");
  };
  if (signal?.aborted) end();
  else signal?.addEventListener("abort", end, { once: true });
  // Belt and braces: isolate enforces the wall time. SIGTERM lets isolate kill
  // the box first; SIGKILL only if isolate does not react.
  let guardKill: NodeJS.Timeout | undefined;
  let hung = false;
  const guard = setTimeout(() => {
    hung = true;
    proc.kill("SIGTERM");
    guardKill = setTimeout(() => proc.kill("SIGKILL"), 5_000);
  }, wallTimeMillis + 30_000);
  const exit = await proc.closed;
  clearTimeout(guard);
  clearTimeout(guardKill);
  signal?.removeEventListener("abort", end);
  return { ...exit, ended, hung };
}
