import { z } from "zod";
import { checker, outputComparison } from "./checker.ts";
import { conditions, MAX_TEXT_BYTES, resourceSchema, stageOverrides, verdict } from "./common.ts";
import { interactor } from "./interactor.ts";
import { withRules } from "./rules.ts";
import { sourceFile } from "./source-file.ts";

export const MAX_TOTAL_FILE_BYTES = 1024 * 1024;
export const MAX_FILES = 16;
export const MAX_TEST_CASES = 64;
/** Tests of one Problem; each has a result in the Execution's status. */
export const MAX_PROBLEM_TESTS = 1000;

export { MAX_FILE_BYTES, type SourceFile, sourceFile } from "./source-file.ts";

export const testCase = z
  .object({
    name: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be letters, digits, '.', '_' or '-'")
      .optional()
      .describe("Name of the test case; its 1-based index when unset."),
    stdin: z.string().max(MAX_TEXT_BYTES).default("").describe("Standard input."),
    expectedOutput: z
      .string()
      .max(MAX_TEXT_BYTES)
      .optional()
      .describe("Expected stdout; when set, a different output is WrongAnswer."),
  })
  .describe("One test case: input and optional expected output.");
export type TestCase = z.infer<typeof testCase>;

export { OUTPUT_COMPARISONS } from "./checker.ts";

export const executionSpec = withRules(
  z.object({
    runtime: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be the name of a Runtime")
      .describe("Name of the Runtime to run with."),
    problem: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be the name of a Problem")
      .optional()
      .describe(
        "Name of a Problem in the Execution's namespace: its tests, limits, checker or interactor and scoring judge the submission. Then stdin, expectedOutput, testCases, limits, checker and interactor stay unset.",
      ),
    files: withRules(
      z
        .array(sourceFile)
        .min(1)
        .max(MAX_FILES)
        .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] }),
      [
        {
          rule: `self.map(f, size(f.content)).sum() <= ${MAX_TOTAL_FILE_BYTES}`,
          message: `files must not exceed ${MAX_TOTAL_FILE_BYTES} bytes in total`,
          check: (files) => files.reduce((n, f) => n + f.content.length, 0) <= MAX_TOTAL_FILE_BYTES,
        },
        {
          rule: "self.all(f, self.exists_one(g, g.name == f.name))",
          message: "file names must be unique",
          check: (files) => new Set(files.map((f) => f.name)).size === files.length,
        },
      ],
    ).describe("Source files; names are unique."),
    args: z
      .array(z.string().max(4096))
      .max(64)
      .optional()
      .describe("Arguments appended to the Runtime's run command."),
    stdin: z
      .string()
      .max(MAX_TEXT_BYTES)
      .optional()
      .describe("Standard input of a single run; use testCases for several."),
    expectedOutput: z.string().max(MAX_TEXT_BYTES).optional().describe("Expected stdout of a single run."),
    testCases: z
      .array(testCase)
      .min(1)
      .max(MAX_TEST_CASES)
      .optional()
      .describe("Test cases, each run in a fresh sandbox seeded with the compiled files."),
    limits: stageOverrides.optional().describe("Limit overrides within the Runtime's maxLimits."),
    outputComparison: outputComparison
      .default("IgnoreTrailingWhitespace")
      .describe(
        "How stdout is compared with expected output (IgnoreTrailingWhitespace when unset): Exact, IgnoreTrailingWhitespace, Tokens, Float (1e-6; checker sets other tolerances), CaseInsensitive or UnorderedLines. checker, when set, replaces it.",
      ),
    checker: checker.optional(),
    interactor: interactor.optional(),
    ttlSecondsAfterFinished: z
      .int()
      .min(0)
      .max(30 * 24 * 3600)
      .optional()
      .describe(
        "Seconds after completion before the Execution is deleted; the controller's default when unset.",
      ),
    priority: z.int().min(-1000).max(1000).default(0).describe("Higher runs first; ties run oldest first."),
  }),
  [
    {
      rule: "!(has(self.stdin) && has(self.testCases))",
      message: "set either stdin or testCases, not both",
      check: (s) => !(s.stdin !== undefined && s.testCases !== undefined),
    },
    {
      rule: "!(has(self.expectedOutput) && has(self.testCases))",
      message: "set either expectedOutput or testCases, not both",
      check: (s) => !(s.expectedOutput !== undefined && s.testCases !== undefined),
    },
    {
      rule: "!(has(self.checker) && has(self.interactor))",
      message: "set either checker or interactor, not both (the interactor decides the verdict)",
      check: (s) => !(s.checker !== undefined && s.interactor !== undefined),
    },
    {
      rule: "!has(self.problem) || !(has(self.stdin) || has(self.expectedOutput) || has(self.testCases) || has(self.limits) || has(self.checker) || has(self.interactor))",
      message: "with problem set, the Problem gives the tests, limits, checker and interactor",
      check: (s) =>
        s.problem === undefined ||
        [s.stdin, s.expectedOutput, s.testCases, s.limits, s.checker, s.interactor].every(
          (v) => v === undefined,
        ),
    },
    {
      rule: "self == oldSelf",
      message: "spec is immutable; create a new Execution",
      check: () => true, // a transition rule: only the apiserver sees the old object
    },
  ],
).describe("ExecutionSpec is a submission: source, input, limits and how to judge it.");
export type ExecutionSpec = z.infer<typeof executionSpec>;

export const stageResult = z
  .object({
    verdict: verdict.optional(),
    exitCode: z.int().optional().describe("Exit code of the program."),
    signal: z.int().optional().describe("Signal that killed the program."),
    cpuTimeMillis: z.int().optional().describe("CPU time used, in milliseconds."),
    wallTimeMillis: z.int().optional().describe("Wall-clock time used, in milliseconds."),
    memoryKiB: z.int().optional().describe("Peak memory, in KiB."),
    stdout: z.string().optional().describe("Standard output, truncated to the agent's cap."),
    stderr: z.string().optional().describe("Standard error, truncated to the agent's cap."),
    stdoutTruncated: z.boolean().optional().describe("Whether stdout was cut."),
    stderrTruncated: z.boolean().optional().describe("Whether stderr was cut."),
    message: z.string().max(4096).optional().describe("Sandbox's message, e.g. 'Time limit exceeded'."),
    cacheHit: z
      .boolean()
      .optional()
      .describe("Compile stage only: true when the node's compile cache had the result and no compiler ran."),
  })
  .describe("Result of one sandboxed stage.");
export type StageResult = z.infer<typeof stageResult>;

export const judgeRun = z
  .object({
    exitCode: z.int().optional().describe("Exit code of the checker or interactor."),
    signal: z.int().optional().describe("Signal that killed it."),
    cpuTimeMillis: z.int().optional().describe("CPU time used, in milliseconds."),
    wallTimeMillis: z.int().optional().describe("Wall-clock time used, in milliseconds."),
    memoryKiB: z.int().optional().describe("Peak memory, in KiB."),
    message: z
      .string()
      .max(1024)
      .optional()
      .describe("Its message (stderr, else stdout), cut to 1024 bytes."),
  })
  .describe("The run of a checker or interactor for one test.");
export type JudgeRun = z.infer<typeof judgeRun>;

export const testResult = stageResult
  .extend({
    name: z.string().describe("Test case name."),
    points: z
      .number()
      .optional()
      .describe("Points a checker or interactor gave this test (testlib's quitp); unset for all or nothing."),
    judge: judgeRun.optional().describe("The checker's or interactor's own run for this test."),
  })
  .describe("Result of one test case.");
export type TestResult = z.infer<typeof testResult>;

export const testProgress = z
  .object({
    completed: z.int().min(0).describe("Tests judged (or skipped) so far."),
    total: z.int().min(0).describe("Tests of the Execution."),
  })
  .describe("How far the run is: completed of total tests, updated while it runs.");

export const groupScore = z
  .object({
    name: z.string().describe("Group name."),
    points: z.number().describe("Points earned: all of maxPoints when every test is Accepted, else 0."),
    maxPoints: z.number().describe("The group's points."),
    verdict: verdict.optional(),
    tests: z.int().describe("Tests of the group."),
    skipped: z.int().optional().describe("Tests not run after the group's first failure."),
  })
  .describe("Score of one test group.");

export const score = z
  .object({
    points: z.number().describe("Points earned over every group."),
    maxPoints: z.number().describe("Points of every group."),
    groups: z.array(groupScore).max(64).describe("Per-group points, in the Problem's order."),
  })
  .describe("A Problem's scoring of the submission.");
export type Score = z.infer<typeof score>;

export const judgedWith = z
  .object({
    problem: z.string().optional().describe("The Problem's name."),
    problemGeneration: z.int().optional().describe("metadata.generation of the Problem judged with."),
    testDataSha256: z.string().optional().describe("sha256 of the test data judged with."),
    closureHash: z.string().optional().describe("Nix closure hash of the Runtime generation that ran it."),
  })
  .describe("What the result was judged with, to tell results of different test data or Runtimes apart.");

export const EXECUTION_PHASES = ["Pending", "Scheduled", "Running", "Succeeded", "Failed"] as const;
export type ExecutionPhase = (typeof EXECUTION_PHASES)[number];

export const executionStatus = z
  .object({
    phase: z
      .enum(EXECUTION_PHASES)
      .optional()
      .describe(
        "Pending, Scheduled (node chosen), Running, Succeeded (judged) or Failed (could not be judged).",
      ),
    nodeName: z.string().optional().describe("Node the Execution is assigned to; agents watch this field."),
    runtimeGeneration: z.int().optional().describe("Runtime generation the Execution runs with."),
    attempts: z.int().optional().describe("How many times it was assigned to a node."),
    excusedAttempts: z
      .int()
      .min(0)
      .optional()
      .describe(
        "Attempts that do not count against maxAttempts: handed back unstarted by a draining (cordoned) node. Written by the controller.",
      ),
    handBack: z
      .object({
        attempt: z.int().describe("The attempt (status.attempts) the node gave back."),
        reason: z.string().max(1024).describe("Why, e.g. RuntimeUnavailable or AgentRestarted."),
        message: z.string().max(4096).optional().describe("Human readable detail."),
        time: z.string().optional().describe("When the node gave it back."),
      })
      .optional()
      .describe(
        "Written by the node agent: it gives this attempt back without running it; the controller requeues it or, past maxAttempts, fails it.",
      ),
    verdict: verdict.optional(),
    compile: stageResult.optional().describe("Compile stage result."),
    tests: z
      .array(testResult)
      .max(MAX_PROBLEM_TESTS)
      .optional()
      .describe(
        "Per-test results. A Problem's tests carry no stdout or stderr: they would show its hidden data.",
      ),
    progress: testProgress.optional(),
    score: score.optional(),
    judgedWith: judgedWith.optional(),
    message: z.string().max(4096).optional().describe("Human readable summary."),
    scheduledTime: z.string().optional().describe("When it was assigned to a node."),
    startTime: z.string().optional().describe("When the agent started it."),
    completionTime: z.string().optional().describe("When it finished."),
    observedGeneration: z.int().optional(),
    conditions: conditions.optional(),
  })
  .describe("ExecutionStatus is the verdict and per-stage results.");
export type ExecutionStatus = z.infer<typeof executionStatus>;

export const execution = resourceSchema("Execution", executionSpec, executionStatus);
export type Execution = z.infer<typeof execution>;

/** Conditions of an Execution; Complete is True for every finished Execution. */
export const ExecutionConditions = {
  Scheduled: "Scheduled",
  Running: "Running",
  Complete: "Complete",
  Failed: "Failed",
} as const;

export function isFinished(status: ExecutionStatus | undefined): boolean {
  return status?.phase === "Succeeded" || status?.phase === "Failed";
}
