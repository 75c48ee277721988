import { z } from "zod";
import { stageOverrides } from "./common.ts";
import { withRules } from "./rules.ts";
import { sourceFile } from "./source-file.ts";

export const MAX_JUDGE_FILES = 8;
export const MAX_JUDGE_FILE_BYTES_TOTAL = 256 * 1024;

/**
 * A program of the problem's author (a checker or an interactor): its sources
 * in a Runtime, compiled once per Execution (and kept in the node's compile
 * cache), run in a box of its own with limits of its own.
 */
export const judgeProgram = z
  .object({
    runtime: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be the name of a Runtime")
      .optional()
      .describe(
        "Runtime the program is written for; the Execution's own when unset. It must be installed on the node that runs the Execution.",
      ),
    files: withRules(
      z
        .array(sourceFile)
        .min(1)
        .max(MAX_JUDGE_FILES)
        .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] }),
      [
        {
          rule: `self.map(f, size(f.content)).sum() <= ${MAX_JUDGE_FILE_BYTES_TOTAL}`,
          message: `files must not exceed ${MAX_JUDGE_FILE_BYTES_TOTAL} bytes in total`,
          check: (files) => files.reduce((n, f) => n + f.content.length, 0) <= MAX_JUDGE_FILE_BYTES_TOTAL,
        },
        {
          rule: "self.all(f, self.exists_one(g, g.name == f.name))",
          message: "file names must be unique",
          check: (files) => new Set(files.map((f) => f.name)).size === files.length,
        },
      ],
    ).describe(
      "Source files of the program; the first is the main source unless one is named like the Runtime's sourceFile.",
    ),
    limits: stageOverrides
      .optional()
      .describe("Limit overrides within its Runtime's maxLimits; that Runtime's defaults when unset."),
  })
  .describe("A checker or interactor program written by the problem's author.");
export type JudgeProgram = z.infer<typeof judgeProgram>;
