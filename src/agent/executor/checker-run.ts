import type { JudgeRun } from "../../api/execution.ts";
import type { BoxFile, IsolateBox } from "../sandbox/isolate-box.ts";
import { type Prepared, type Program, programEnv, seedRunBox } from "./program.ts";
import { networkOf, usageOf } from "./stage.ts";
import { readTestlibRun, type TestlibOutcome } from "./testlib-verdict.ts";

/** Where a judge program finds a test's files in its box (relative to /box, its working directory). */
export const JUDGE_IO = { input: "judge-io/input", output: "judge-io/output", answer: "judge-io/answer" };

/** The test a checker judges: its input, a copy of the submission's stdout, the expected answer. */
export interface CheckedTest {
  input: string | Buffer;
  output: Buffer;
  answer: string;
}

/** The files of a test in a judge program's box, readable by it. */
export function judgeFiles(t: { input: string | Buffer; output?: Buffer; answer: string }): BoxFile[] {
  return [
    { path: JUDGE_IO.input, data: typeof t.input === "string" ? Buffer.from(t.input, "utf8") : t.input },
    ...(t.output ? [{ path: JUDGE_IO.output, data: t.output }] : []),
    { path: JUDGE_IO.answer, data: Buffer.from(t.answer, "utf8") },
  ];
}

/** testlib's argument order: input, output, answer. */
export const judgeArgv = (p: Program): string[] => [
  ...p.rt.spec.runCommand,
  ...p.args,
  JUDGE_IO.input,
  JUDGE_IO.output,
  JUDGE_IO.answer,
];

/**
 * Runs the checker for one test in a fresh box of its own: it sees the
 * submission's output only as the file judge-io/output (a copy made by the
 * agent), never the submission's box.
 */
export async function runChecker(
  box: IsolateBox,
  checker: Program,
  prepared: Extract<Prepared, { ok: true }>,
  test: CheckedTest,
): Promise<{ outcome: TestlibOutcome; run: JudgeRun }> {
  const full = await seedRunBox(box, checker, prepared, judgeFiles(test));
  if (full) return { outcome: { judged: false, message: full }, run: { message: full } };
  const limits = checker.rt.limits.run;
  const r = await box.run({
    argv: judgeArgv(checker),
    env: programEnv(checker.rt),
    stdin: "",
    limits,
    allowNetwork: checker.rt.spec.allowNetwork ?? false,
    network: networkOf(limits, "run"),
  });
  const outcome = readTestlibRun(r, limits);
  const message = outcome.message.slice(0, 1024);
  return { outcome, run: { ...usageOf(r), ...(message ? { message } : {}) } };
}
