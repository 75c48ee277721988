import { readFile } from "node:fs/promises";
import type { Score, TestResult } from "../../api/execution.ts";
import type { ProblemSpec } from "../../api/problem.ts";
import type { TestFiles } from "../testdata/test-data-cache.ts";

/** One test as the executor runs it: read only when its turn comes. */
export interface PlannedTest {
  name: string;
  load(): Promise<{ stdin: Buffer | string; expectedOutput?: string }>;
}

/** A group with the indices of its tests. */
interface PlanGroup {
  name: string;
  points: number;
  stopAtFirstFailure: boolean;
  from: number;
  to: number; // exclusive
}

/**
 * A Problem's tests in order and its scoring. The executor asks skip(i)
 * before each test (a group stopped at its first failure), reports each
 * result with record(), and progress() after each test; score() sums groups.
 */
export class TestPlan {
  readonly tests: PlannedTest[];
  private readonly groups: PlanGroup[];
  private readonly failed = new Set<number>();
  private readonly results = new Map<number, TestResult>();
  private readonly groupOf: number[] = [];
  /** Called with the tests done so far after each test (the agent writes status.progress). */
  onProgress?: (completed: number, total: number) => Promise<void>;

  constructor(tests: PlannedTest[], groups: ProblemSpec["groups"]) {
    this.tests = tests;
    const gs = groups ?? [{ name: "all", tests: tests.length, points: 100, stopAtFirstFailure: false }];
    const sum = gs.reduce((n, g) => n + g.tests, 0);
    if (sum !== tests.length)
      throw new Error(`the Problem's groups take ${sum} tests, its test data has ${tests.length}`);
    let from = 0;
    this.groups = gs.map((g, gi) => {
      for (let i = from; i < from + g.tests; i++) this.groupOf[i] = gi;
      const pg = {
        name: g.name,
        points: g.points,
        stopAtFirstFailure: g.stopAtFirstFailure,
        from,
        to: from + g.tests,
      };
      from += g.tests;
      return pg;
    });
  }

  /** Whether test i is not run: its group stops at its first failure and has failed. */
  skip(i: number): boolean {
    const g = this.groupOf[i]!;
    return this.groups[g]!.stopAtFirstFailure && this.failed.has(g);
  }

  async progress(completed: number): Promise<void> {
    await this.onProgress?.(completed, this.tests.length);
  }

  record(i: number, r: TestResult): void {
    this.results.set(i, r);
    if (r.verdict !== "Accepted") this.failed.add(this.groupOf[i]!);
  }

  score(): Score {
    const groups = this.groups.map((g) => {
      let verdict: TestResult["verdict"] = "Accepted";
      let skipped = 0;
      for (let i = g.from; i < g.to; i++) {
        const r = this.results.get(i);
        if (!r) skipped++;
        else if (verdict === "Accepted" && r.verdict !== "Accepted") verdict = r.verdict;
      }
      const all = verdict === "Accepted" && skipped === 0;
      return {
        name: g.name,
        points: all ? g.points : 0,
        maxPoints: g.points,
        ...(skipped < g.to - g.from ? { verdict } : {}),
        tests: g.to - g.from,
        ...(skipped > 0 ? { skipped } : {}),
      };
    });
    const sum = (f: (g: (typeof groups)[number]) => number) => groups.reduce((n, g) => n + f(g), 0);
    return { points: sum((g) => g.points), maxPoints: sum((g) => g.maxPoints), groups };
  }
}

/** Inline tests of a Problem. */
export function inlineTests(spec: ProblemSpec): PlannedTest[] {
  return (spec.testCases ?? []).map((tc, i) => ({
    name: tc.name ?? String(i + 1),
    load: async () => ({
      stdin: tc.stdin ?? "",
      ...(tc.expectedOutput !== undefined ? { expectedOutput: tc.expectedOutput } : {}),
    }),
  }));
}

/** Tests of a set in the node's cache: each file is read when its test runs, and only then. */
export function fileTests(files: TestFiles[]): PlannedTest[] {
  return files.map((f) => ({
    name: f.name,
    load: async () => ({
      stdin: await readFile(f.input),
      ...(f.answer ? { expectedOutput: await readFile(f.answer, "utf8") } : {}),
    }),
  }));
}
