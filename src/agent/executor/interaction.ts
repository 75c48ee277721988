import { PassThrough } from "node:stream";
import type { IsolateBox, RunResult } from "../sandbox/isolate-box.ts";
import { judgeArgv } from "./checker-run.ts";
import { type Program, programEnv } from "./program.ts";
import { networkOf } from "./stage.ts";

/** How long a submission may go on after its interactor ended before it is ended too. */
export const INTERACTION_GRACE_MS = 1000;

export interface InteractionRuns {
  submission: RunResult;
  interactor: RunResult;
  /** The interactor ended while the submission still ran. */
  interactorFirst: boolean;
}

/** Stops passing data on and throws away whatever else comes: the reader is gone. */
function drain(stream: PassThrough): void {
  stream.unpipe();
  stream.resume();
}

/**
 * Runs a submission and its interactor at once, each in its own (seeded)
 * box, the submission's stdout piped to the interactor's stdin and back,
 * through the agent with backpressure (a flood fills the pipe and blocks the
 * writer, never the agent's memory). When one side's program exits, what it
 * would still have read is thrown away so the other never blocks on it (what
 * it wrote still reaches the other side); when the interactor ends first, the submission gets INTERACTION_GRACE_MS to finish
 * and is then ended. A deadlock ends at the wall-time limits.
 */
export async function runInteraction(
  subBox: IsolateBox,
  sub: Program,
  interBox: IsolateBox,
  inter: Program,
  graceMs = INTERACTION_GRACE_MS,
): Promise<InteractionRuns> {
  const toInteractor = new PassThrough();
  const toSubmission = new PassThrough();
  const endSubmission = new AbortController();
  let first: "submission" | "interactor" | undefined;
  let grace: NodeJS.Timeout | undefined;
  const subRun = subBox
    .run({
      argv: [...sub.rt.spec.runCommand, ...sub.args],
      env: programEnv(sub.rt),
      stdin: toSubmission,
      stdoutTo: toInteractor,
      signal: endSubmission.signal,
      onExit: () => {
        first ??= "submission";
        drain(toSubmission); // it reads nothing more: the interactor must not block writing to it
      },
      limits: sub.rt.limits.run,
      allowNetwork: sub.rt.spec.allowNetwork ?? false,
      network: networkOf(sub.rt.limits.run, "run"),
    })
    .finally(() => drain(toSubmission));
  const interRun = interBox
    .run({
      argv: judgeArgv(inter),
      env: programEnv(inter.rt),
      stdin: toInteractor,
      stdoutTo: toSubmission,
      // On its exit, not once its output is all read: a submission that never reads must not hold it.
      onExit: () => {
        first ??= "interactor";
        drain(toInteractor); // its stdout's end reaches the submission as EOF through the pipe
        grace = setTimeout(() => endSubmission.abort(), graceMs);
      },
      limits: inter.rt.limits.run,
      allowNetwork: inter.rt.spec.allowNetwork ?? false,
      network: networkOf(inter.rt.limits.run, "run"),
    })
    .finally(() => {
      drain(toInteractor);
      // isolate could not even start it: the submission must not wait for its wall time either.
      grace ??= setTimeout(() => endSubmission.abort(), graceMs);
    });
  try {
    const [submission, interactor] = await Promise.all([subRun, interRun]);
    return { submission, interactor, interactorFirst: first === "interactor" };
  } finally {
    clearTimeout(grace);
  }
}
