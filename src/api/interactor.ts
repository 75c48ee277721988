import { judgeProgram } from "./judge-program.ts";

/**
 * An interactive problem's interactor: it and the submission run at once in
 * two boxes, the submission's stdout feeding the interactor's stdin and the
 * interactor's stdout feeding the submission's stdin.
 */
export const interactor = judgeProgram.describe(
  "An interactor (testlib's convention): run as `<run command> input output answer` in a box of its own, its stdin and stdout connected by pipes to the submission's stdout and stdin; input is the test's stdin, answer its expected output (empty when unset), output a file it may write. Its exit code decides the verdict as a checker's does (0 Accepted, 1 and 2 WrongAnswer, 7 points, anything else or a crash is a judge error), but the submission's own failures come first: time, memory, a signal other than SIGPIPE after the interactor ended, a non-zero exit. A deadlock ends at the wall-time limit; when the interactor ends, the submission is ended after a grace second.",
);
