import type { OUTPUT_COMPARISONS } from "../../api/execution.ts";

export type OutputComparison = (typeof OUTPUT_COMPARISONS)[number];

/** Tolerances of the Float comparison; unset ones do not apply, both unset mean 1e-6 each. */
export interface FloatTolerance {
  absolute?: number;
  relative?: number;
}

export const DEFAULT_FLOAT_TOLERANCE = 1e-6;

/** Trailing whitespace of every line and trailing empty lines removed; \r\n counts as \n. */
export function normalizeTrailingWhitespace(text: string): string {
  return text
    .replace(/\r\n/g, "\n")
    .split("\n")
    .map((line) => line.replace(/[ \t\r\f\v]+$/, ""))
    .join("\n")
    .replace(/\n+$/, "");
}

/** Whitespace-separated tokens (any run of spaces, tabs, newlines is one separator). */
export function tokens(text: string): string[] {
  return text.split(/\s+/).filter((t) => t !== "");
}

/** A decimal or scientific number as a judge reads one: no hex, no Infinity, no empty string. */
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** One token of a Float comparison: numbers within either tolerance, everything else exactly. */
export function floatTokenMatches(actual: string, expected: string, tol: FloatTolerance): boolean {
  if (actual === expected) return true;
  if (!NUMBER.test(actual) || !NUMBER.test(expected)) return false;
  const a = Number(actual);
  const e = Number(expected);
  const bothUnset = tol.absolute === undefined && tol.relative === undefined;
  const abs = bothUnset ? DEFAULT_FLOAT_TOLERANCE : tol.absolute;
  const rel = bothUnset ? DEFAULT_FLOAT_TOLERANCE : tol.relative;
  const diff = Math.abs(a - e);
  // A little slack for the binary representation of the tolerance itself (0.1 + 0.2 vs 0.3 at 1e-17).
  const eps = 1e-15 * Math.max(1, Math.abs(e));
  if (abs !== undefined && diff <= abs + eps) return true;
  return rel !== undefined && diff <= rel * Math.abs(e) + eps;
}

const sameTokens = (a: string[], e: string[], eq: (x: string, y: string) => boolean): boolean =>
  a.length === e.length && a.every((t, i) => eq(t, e[i]!));

/** Lines as a multiset: trailing whitespace and trailing empty lines do not count, order does not. */
function unorderedLinesMatch(actual: string, expected: string): boolean {
  const lines = (t: string) => {
    const n = normalizeTrailingWhitespace(t);
    return n === "" ? [] : n.split("\n").sort();
  };
  const a = lines(actual);
  const e = lines(expected);
  return a.length === e.length && a.every((l, i) => l === e[i]);
}

/** Compares the program's full stdout (never a truncated copy) with the expected output. */
export function outputMatches(
  actual: Buffer | string,
  expected: string,
  mode: OutputComparison,
  tolerance: FloatTolerance = {},
): boolean {
  const text = typeof actual === "string" ? actual : actual.toString("utf8");
  switch (mode) {
    case "Exact":
      return text === expected;
    case "IgnoreTrailingWhitespace":
      return normalizeTrailingWhitespace(text) === normalizeTrailingWhitespace(expected);
    case "Tokens":
      return sameTokens(tokens(text), tokens(expected), (x, y) => x === y);
    case "CaseInsensitive":
      return sameTokens(tokens(text), tokens(expected), (x, y) => x.toLowerCase() === y.toLowerCase());
    case "Float":
      return sameTokens(tokens(text), tokens(expected), (x, y) => floatTokenMatches(x, y, tolerance));
    case "UnorderedLines":
      return unorderedLinesMatch(text, expected);
  }
}
