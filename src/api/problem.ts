import { z } from "zod";
import { checker, outputComparison } from "./checker.ts";
import { conditions, resourceSchema, stageOverrides } from "./common.ts";
import { MAX_PROBLEM_TESTS, testCase } from "./execution.ts";
import { interactor } from "./interactor.ts";
import { withRules } from "./rules.ts";

/** Inline tests: small sets only, the Problem object must stay within etcd's 1.5 MiB. */
export const MAX_INLINE_TESTS = 256;
export const MAX_GROUPS = 64;

const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/**
 * Test data by reference: a tar archive (ustar, as `tar -cf` writes) of
 * `<name>.in` and `<name>.ans` files (`.ans` optional; other files ignored),
 * fetched by each node once and kept if its sha256 is the one given. Tests
 * run in the order of their names, numbers compared as numbers (1, 2, 10).
 */
export const testData = withRules(
  z.object({
    url: z
      .string()
      .min(1)
      .max(2048)
      .regex(/^https?:\/\/[^\s]+$/, "must be an http or https URL")
      .optional()
      .describe("Where the archive is served (http or https); sha256 is then required."),
    sha256: z
      .string()
      .regex(SHA256_PATTERN, "must be 64 lowercase hex digits")
      .optional()
      .describe("sha256 of the archive, lowercase hex: the node refuses any other bytes."),
    configMap: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be the name of a ConfigMap")
      .optional()
      .describe(
        "A small set instead: a ConfigMap in the Problem's namespace whose keys are NN.in and NN.ans (data or binaryData). Its content's sha256 keys the node's cache.",
      ),
  }),
  [
    {
      rule: "has(self.url) != has(self.configMap)",
      message: "set exactly one of url and configMap",
      check: (d) => (d.url !== undefined) !== (d.configMap !== undefined),
    },
    {
      rule: "has(self.url) == has(self.sha256)",
      message: "an archive by url needs its sha256 (and only an archive has one)",
      check: (d) => (d.url !== undefined) === (d.sha256 !== undefined),
    },
  ],
).describe(
  "Test data by reference: a content-addressed tar archive of NN.in / NN.ans files, or a ConfigMap.",
);
export type TestData = z.infer<typeof testData>;

export const testGroup = z
  .object({
    name: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be letters, digits, '.', '_' or '-'")
      .describe("Name of the group (a subtask)."),
    tests: z
      .int()
      .min(1)
      .max(MAX_PROBLEM_TESTS)
      .describe("How many tests it takes, in order, after the previous groups'."),
    points: z.int().min(0).max(1_000_000).describe("Points for the group when every test of it is Accepted."),
    stopAtFirstFailure: z
      .boolean()
      .default(true)
      .describe(
        "Skip the group's remaining tests after its first failure (DMOJ's short-circuit); true when unset.",
      ),
  })
  .describe("A group of consecutive tests scored all or nothing.");
export type TestGroup = z.infer<typeof testGroup>;

export const problemSpec = withRules(
  z.object({
    testCases: z
      .array(testCase)
      .min(1)
      .max(MAX_INLINE_TESTS)
      .optional()
      .describe("Tests inline, for small sets; set either this or testData."),
    testData: testData.optional(),
    groups: withRules(z.array(testGroup).min(1).max(MAX_GROUPS), [
      {
        rule: "self.all(g, self.exists_one(h, h.name == g.name))",
        message: "group names must be unique",
        check: (gs) => new Set(gs.map((g) => g.name)).size === gs.length,
      },
    ])
      .optional()
      .describe(
        "Scoring: groups take the tests in order and together take all of them. Unset: one group 'all' of 100 points, not stopping at a failure.",
      ),
    limits: stageOverrides
      .optional()
      .describe("Limits of submissions, within the Runtime's maxLimits; the Runtime's defaults when unset."),
    outputComparison: outputComparison
      .default("IgnoreTrailingWhitespace")
      .describe("How output is compared with each test's answer when neither checker nor interactor is set."),
    checker: checker.optional(),
    interactor: interactor.optional(),
    showJudgeMessages: z
      .boolean()
      .default(false)
      .describe(
        "Show submitters what the checker or interactor said for each test. Off by default: testlib's checkers print the expected answer.",
      ),
  }),
  [
    {
      rule: "has(self.testCases) != has(self.testData)",
      message: "set exactly one of testCases and testData",
      check: (s) => (s.testCases !== undefined) !== (s.testData !== undefined),
    },
    {
      rule: "!(has(self.checker) && has(self.interactor))",
      message: "set either checker or interactor, not both",
      check: (s) => !(s.checker !== undefined && s.interactor !== undefined),
    },
    {
      rule: "!has(self.groups) || !has(self.testCases) || self.groups.map(g, g.tests).sum() == size(self.testCases)",
      message: "groups must take every test case exactly once",
      check: (s) =>
        !s.groups || !s.testCases || s.groups.reduce((n, g) => n + g.tests, 0) === s.testCases.length,
    },
  ],
).describe("ProblemSpec is a judge's problem: its tests, limits, checker or interactor, and scoring.");
export type ProblemSpec = z.infer<typeof problemSpec>;

export const problemStatus = z
  .object({
    observedGeneration: z.int().optional(),
    conditions: conditions.optional(),
  })
  .describe("ProblemStatus is unused for now; Problems are read by the agents.");

export const problem = resourceSchema("Problem", problemSpec, problemStatus);
export type Problem = z.infer<typeof problem>;
