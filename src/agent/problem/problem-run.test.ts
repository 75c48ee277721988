import { describe, expect, it } from "vitest";
import type { ExecutionSpec, ExecutionStatus } from "../../api/execution.ts";
import type { ExecutionOutcome } from "../ports.ts";
import { hideTestOutput, runResult } from "./problem-run.ts";
import type { ResolvedProblem } from "./resolve-problem.ts";
import { TestPlan } from "./test-plan.ts";

type Test = ExecutionOutcome["tests"][number];
const judge = { exitCode: 1, message: "wrong answer: expected '42', found '41'" };

describe("hideTestOutput (a Problem's results)", () => {
  it.each<[string, Test, Test]>([
    [
      "drops the submission's output of a test",
      { name: "1", verdict: "Accepted", stdout: "42\n", stderr: "debug", stdoutTruncated: true },
      { name: "1", verdict: "Accepted" },
    ],
    [
      "drops what a checker said on a wrong answer: testlib's checkers print the expected answer",
      { name: "2", verdict: "WrongAnswer", message: judge.message, judge },
      { name: "2", verdict: "WrongAnswer", message: "wrong answer (the judge's message is hidden)" },
    ],
    [
      "drops what a checker said on an accepted test, points kept",
      {
        name: "3",
        verdict: "Accepted",
        points: 0.5,
        message: "ok 42",
        judge: { exitCode: 7, message: "points 0.5" },
      },
      { name: "3", verdict: "Accepted", points: 0.5, message: "accepted (the judge's message is hidden)" },
    ],
    [
      "keeps the sandbox's own message of a limit",
      { name: "4", verdict: "TimeLimitExceeded", message: "CPU time limit of 1000 ms exceeded", stdout: "x" },
      { name: "4", verdict: "TimeLimitExceeded", message: "CPU time limit of 1000 ms exceeded" },
    ],
  ])("%s", (_case, test, hidden) => {
    const o: ExecutionOutcome = { verdict: test.verdict ?? "Accepted", tests: [test] };
    expect(hideTestOutput(o).tests).toEqual([hidden]);
  });

  it("keeps the checker's message and run where the Problem shows judge messages", () => {
    const test: Test = { name: "2", verdict: "WrongAnswer", message: judge.message, judge, stdout: "41\n" };
    expect(hideTestOutput({ verdict: "WrongAnswer", tests: [test] }, true).tests).toEqual([
      { name: "2", verdict: "WrongAnswer", message: judge.message, judge },
    ]);
  });
});

describe("runResult (what the finish write adds: the Done and Tests columns)", () => {
  const spec = (testCases?: number): ExecutionSpec => ({
    runtime: "python-3",
    files: [{ name: "main.py", content: "print(1)", encoding: "utf8" }],
    outputComparison: "IgnoreTrailingWhitespace",
    priority: 0,
    ...(testCases !== undefined
      ? { testCases: Array.from({ length: testCases }, () => ({ stdin: "" })) }
      : {}),
  });
  const ran = (verdicts: Test["verdict"][], verdict: Test["verdict"] = "Accepted"): ExecutionOutcome => ({
    verdict,
    tests: verdicts.map((v, i) => ({ name: String(i + 1), verdict: v })),
  });
  const problem = (tests: number): ResolvedProblem => ({
    spec: spec(),
    plan: new TestPlan(
      Array.from({ length: tests }, (_, i) => ({ name: String(i + 1), load: async () => ({ stdin: "" }) })),
      undefined,
    ),
    judgedWith: { problemGeneration: 2 },
    showJudgeMessages: false,
    release: () => {},
  });

  it.each<[string, ResolvedProblem | undefined, ExecutionSpec, ExecutionOutcome, Partial<ExecutionStatus>]>([
    [
      "three inline test cases that all ran show 3 of 3",
      undefined,
      spec(3),
      ran(["Accepted", "WrongAnswer", "Accepted"], "WrongAnswer"),
      { progress: { completed: 3, total: 3 } },
    ],
    [
      "an Execution with only stdin is one test: 1 of 1",
      undefined,
      spec(),
      ran(["Accepted"]),
      { progress: { completed: 1, total: 1 } },
    ],
    [
      "a compile error ran none of the three inline tests: 0 of 3",
      undefined,
      spec(3),
      { verdict: "CompilationError", tests: [] },
      { progress: { completed: 0, total: 3 } },
    ],
    [
      "a judge error that stopped after the second of four inline tests: 2 of 4",
      undefined,
      spec(4),
      ran(["Accepted", "InternalError"], "InternalError"),
      { progress: { completed: 2, total: 4 } },
    ],
    [
      "a Problem counts its plan's tests, done or skipped, beside its score",
      problem(5),
      spec(),
      ran(["Accepted", "TimeLimitExceeded"], "TimeLimitExceeded"),
      { judgedWith: { problemGeneration: 2 }, progress: { completed: 5, total: 5 } },
    ],
  ])("%s", (_case, p, s, outcome, expected) => {
    const got = runResult(p, s, outcome, undefined);
    expect(got).toMatchObject(expected);
    expect(got.score !== undefined).toBe(p !== undefined);
  });

  it("says which closure judged it, inline tests or not", () => {
    expect(runResult(undefined, spec(2), ran(["Accepted", "Accepted"]), "abc")).toEqual({
      judgedWith: { closureHash: "abc" },
      progress: { completed: 2, total: 2 },
    });
  });
});
