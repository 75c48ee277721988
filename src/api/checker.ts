import { z } from "zod";
import { judgeProgram } from "./judge-program.ts";
import { withRules } from "./rules.ts";

/** Built-in comparisons of a program's stdout with the expected output. */
export const OUTPUT_COMPARISONS = [
  "Exact",
  "IgnoreTrailingWhitespace",
  "Tokens",
  "Float",
  "CaseInsensitive",
  "UnorderedLines",
] as const;

export const outputComparison = z
  .enum(OUTPUT_COMPARISONS)
  .describe(
    "Exact (byte for byte); IgnoreTrailingWhitespace (trailing spaces of lines and trailing blank lines ignored, \\r\\n as \\n); Tokens (whitespace-separated tokens, any whitespace between them); Float (tokens, numbers equal within absoluteTolerance or relativeTolerance); CaseInsensitive (tokens, letter case ignored); UnorderedLines (the same lines in any order, trailing whitespace ignored).",
  );

const tolerance = (what: string) => z.number().min(0).max(1e9).optional().describe(what);

/**
 * How a test's output is judged: a built-in comparison, or a program of the
 * problem's author run in a box of its own (testlib's convention).
 */
export const checker = withRules(
  z.object({
    comparison: outputComparison.optional(),
    absoluteTolerance: tolerance(
      "Float only: a number is right when |output - answer| <= this. With neither tolerance set both are 1e-6.",
    ),
    relativeTolerance: tolerance(
      "Float only: a number is right when |output - answer| <= this * |answer|. With neither tolerance set both are 1e-6.",
    ),
    program: judgeProgram
      .optional()
      .describe(
        "A testlib-style checker: run as `<run command> input output answer` in a box of its own, where output is a copy of the submission's stdout. Exit 0 accepts, 1 is WrongAnswer, 2 a presentation error (WrongAnswer), 3 a checker failure, 7 partial points (testlib's quitp: 'points <value>' on stderr). Its stderr (else stdout) is the message. A checker that crashes, runs out of limits or exits otherwise is a judge error (InternalError), never the submission's fault. It runs for every test, also when the test has no expected output (answer is then empty).",
      ),
  }),
  [
    {
      rule: "has(self.comparison) != has(self.program)",
      message: "set exactly one of comparison and program",
      check: (c) => (c.comparison !== undefined) !== (c.program !== undefined),
    },
    {
      rule: "!(has(self.absoluteTolerance) || has(self.relativeTolerance)) || (has(self.comparison) && self.comparison == 'Float')",
      message: "absoluteTolerance and relativeTolerance apply only to the Float comparison",
      check: (c) =>
        (c.absoluteTolerance === undefined && c.relativeTolerance === undefined) || c.comparison === "Float",
    },
  ],
).describe("How each test's output is judged; replaces outputComparison when set.");
export type Checker = z.infer<typeof checker>;
