import { z } from "zod";
import { safeFileName } from "./common.ts";
import { withRules } from "./rules.ts";

/** Per file; with at most MAX_FILES files this keeps the CEL rules within the apiserver's cost budget. */
export const MAX_FILE_BYTES = 192 * 1024;

const BASE64_PATTERN = "^[A-Za-z0-9+/]*={0,2}$";

export const sourceFile = withRules(
  z.object({
    name: safeFileName.describe(
      "File name inside the sandbox; the first file is the main source unless one is named like the Runtime's sourceFile.",
    ),
    content: z.string().max(MAX_FILE_BYTES).describe("File content, as text or base64 per encoding."),
    encoding: z
      .enum(["utf8", "base64"])
      .default("utf8")
      .describe("How content is encoded: utf8 (default) or base64."),
  }),
  [
    {
      rule: `self.encoding != 'base64' || self.content.matches('${BASE64_PATTERN}')`,
      message: "content is not valid base64",
      fieldPath: ".content",
      path: ["content"],
      check: (f) =>
        f.encoding !== "base64" || (new RegExp(BASE64_PATTERN).test(f.content) && f.content.length % 4 === 0),
    },
  ],
).describe("A source file of the submission.");
export type SourceFile = z.infer<typeof sourceFile>;
