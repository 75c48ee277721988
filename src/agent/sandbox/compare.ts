import type { OUTPUT_COMPARISONS } from "../../api/execution.ts";

export type OutputComparison = (typeof OUTPUT_COMPARISONS)[number];

/** Trailing whitespace of every line and trailing empty lines removed; \r\n counts as \n. */
export function normalizeTrailingWhitespace(text: string): string {
  return text
    .replace(/\r\n/g, "\n")
    .split("\n")
    .map((line) => line.replace(/[ \t\r\f\v]+$/, ""))
    .join("\n")
    .replace(/\n+$/, "");
}

/** Compares the program's full stdout (never a truncated copy) with the expected output. */
export function outputMatches(actual: Buffer | string, expected: string, mode: OutputComparison): boolean {
  const text = typeof actual === "string" ? actual : actual.toString("utf8");
  if (mode === "Exact") return text === expected;
  return normalizeTrailingWhitespace(text) === normalizeTrailingWhitespace(expected);
}
