import { describe, expect, it } from "vitest";
import type { ExecutionOutcome } from "../ports.ts";
import { hideTestOutput } from "./problem-run.ts";

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
