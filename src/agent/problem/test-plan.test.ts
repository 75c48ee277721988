import { describe, expect, it } from "vitest";
import type { TestResult } from "../../api/execution.ts";
import { inlineTests, TestPlan } from "./test-plan.ts";

const tests = (n: number) =>
  inlineTests({
    testCases: Array.from({ length: n }, () => ({ stdin: "" })),
    outputComparison: "Exact",
    showJudgeMessages: false,
  });
const r = (name: string, verdict: TestResult["verdict"]): TestResult => ({ name, verdict });

describe("TestPlan", () => {
  it("skips the rest of a group that stops at its first failure, and scores groups all or nothing", () => {
    const plan = new TestPlan(tests(6), [
      { name: "a", tests: 2, points: 20, stopAtFirstFailure: true },
      { name: "b", tests: 3, points: 30, stopAtFirstFailure: true },
      { name: "c", tests: 1, points: 50, stopAtFirstFailure: false },
    ]);
    const run: number[] = [];
    const verdicts: TestResult["verdict"][] = [
      "Accepted",
      "Accepted",
      "WrongAnswer",
      "Accepted",
      "Accepted",
      "Accepted",
    ];
    for (let i = 0; i < 6; i++) {
      if (plan.skip(i)) continue;
      run.push(i);
      plan.record(i, r(String(i + 1), verdicts[i]));
    }
    expect(run).toEqual([0, 1, 2, 5]);
    expect(plan.score()).toEqual({
      points: 70,
      maxPoints: 100,
      groups: [
        { name: "a", points: 20, maxPoints: 20, verdict: "Accepted", tests: 2 },
        { name: "b", points: 0, maxPoints: 30, verdict: "WrongAnswer", tests: 3, skipped: 2 },
        { name: "c", points: 50, maxPoints: 50, verdict: "Accepted", tests: 1 },
      ],
    });
  });

  it("without groups: one group of 100 points that runs every test", () => {
    const plan = new TestPlan(tests(3), undefined);
    plan.record(0, r("1", "TimeLimitExceeded"));
    expect(plan.skip(1)).toBe(false);
    plan.record(1, r("2", "Accepted"));
    plan.record(2, r("3", "Accepted"));
    expect(plan.score()).toMatchObject({
      points: 0,
      maxPoints: 100,
      groups: [{ verdict: "TimeLimitExceeded" }],
    });
  });

  it("refuses groups that do not take every test", () => {
    expect(
      () => new TestPlan(tests(3), [{ name: "a", tests: 2, points: 1, stopAtFirstFailure: true }]),
    ).toThrow(/take 2 tests, its test data has 3/);
  });
});
