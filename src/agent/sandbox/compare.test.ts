import { describe, expect, it } from "vitest";
import {
  type FloatTolerance,
  floatTokenMatches,
  normalizeTrailingWhitespace,
  type OutputComparison,
  outputMatches,
  tokens,
} from "./compare.ts";

type Row = [
  name: string,
  mode: OutputComparison,
  actual: string | Buffer,
  expected: string,
  matches: boolean,
];

const CASES: Row[] = [
  ["Exact accepts the same bytes", "Exact", "hello\n", "hello\n", true],
  ["Exact refuses a missing final newline", "Exact", "hello\n", "hello", false],
  ["Exact refuses a trailing space", "Exact", "hello \n", "hello\n", false],
  ["Exact refuses \\r\\n for \\n", "Exact", "a\r\nb\r\n", "a\nb\n", false],
  ["Exact reads a Buffer as UTF-8", "Exact", Buffer.from("héllo\n"), "héllo\n", true],

  [
    "IgnoreTrailingWhitespace ignores a trailing newline",
    "IgnoreTrailingWhitespace",
    "hello\n",
    "hello",
    true,
  ],
  [
    "IgnoreTrailingWhitespace ignores trailing blank lines",
    "IgnoreTrailingWhitespace",
    "hello\n\n  \n\t\n",
    "hello",
    true,
  ],
  ["IgnoreTrailingWhitespace takes empty as blank lines", "IgnoreTrailingWhitespace", "", "\n\n", true],
  [
    "IgnoreTrailingWhitespace ignores spaces and tabs ending lines",
    "IgnoreTrailingWhitespace",
    "1 2 3 \n4 5 6\t\n",
    "1 2 3\n4 5 6",
    true,
  ],
  [
    "IgnoreTrailingWhitespace reads \\r\\n as \\n",
    "IgnoreTrailingWhitespace",
    Buffer.from("x \r\ny\r\n"),
    "x\ny",
    true,
  ],
  ["IgnoreTrailingWhitespace sees leading whitespace", "IgnoreTrailingWhitespace", " hello", "hello", false],
  ["IgnoreTrailingWhitespace sees inner whitespace", "IgnoreTrailingWhitespace", "a  b", "a b", false],
  ["IgnoreTrailingWhitespace sees a blank line inside", "IgnoreTrailingWhitespace", "a\n\nb", "a\nb", false],
  ["IgnoreTrailingWhitespace sees letter case", "IgnoreTrailingWhitespace", "hello", "hellO", false],

  ["Tokens accepts other whitespace between the same tokens", "Tokens", "1  2\n\n3\t4\r\n", "1 2 3 4", true],
  ["Tokens accepts leading whitespace and blank lines", "Tokens", "\n\n  yes\n", "yes", true],
  ["Tokens takes empty output as no tokens", "Tokens", " \n\t", "", true],
  ["Tokens refuses a missing token", "Tokens", "1 2", "1 2 3", false],
  ["Tokens refuses an extra token", "Tokens", "1 2 3 4", "1 2 3", false],
  ["Tokens refuses tokens glued together", "Tokens", "12 3", "1 2 3", false],
  ["Tokens sees letter case", "Tokens", "YES", "yes", false],
  ["Tokens compares numbers as text", "Tokens", "1.0", "1", false],

  ["CaseInsensitive accepts other letter case", "CaseInsensitive", "YES\nNo", "yes no", true],
  ["CaseInsensitive folds letters outside ASCII", "CaseInsensitive", "ÉCOLE", "école", true],
  ["CaseInsensitive still refuses other words", "CaseInsensitive", "yes", "no", false],
  ["CaseInsensitive still counts tokens", "CaseInsensitive", "yes yes", "YES", false],

  ["Float accepts a number within 1e-6 by default", "Float", "3.1415930", "3.1415926", true],
  ["Float refuses a number off by more than 1e-6 by default", "Float", "3.1416", "3.1415926", false],
  ["Float accepts 1 for 1.000000", "Float", "1", "1.000000", true],
  ["Float accepts scientific notation", "Float", "1e-3 2.5E2", "0.001 250", true],
  ["Float compares words beside numbers exactly", "Float", "Case #1: 0.5", "Case #1: 0.5000001", true],
  ["Float refuses another word beside numbers", "Float", "case #1: 0.5", "Case #1: 0.5", false],
  ["Float refuses a number for a word", "Float", "0", "NaN", false],
  ["Float refuses NaN for NaN (no number is NaN)", "Float", "nan", "NaN", false],
  ["Float refuses Infinity for a large number", "Float", "Infinity", "1e308", false],
  ["Float refuses a hex number", "Float", "0x10", "16", false],
  ["Float refuses a missing number", "Float", "1.0", "1.0 2.0", false],
  ["Float accepts any whitespace between numbers", "Float", "1.0\n2.0\n", "1 2", true],

  ["UnorderedLines accepts the same lines in another order", "UnorderedLines", "b\nc\na\n", "a\nb\nc", true],
  ["UnorderedLines ignores trailing whitespace of lines", "UnorderedLines", "b \na\t\n\n", "a\nb", true],
  ["UnorderedLines counts repeated lines", "UnorderedLines", "a\na\nb", "a\nb\nb", false],
  ["UnorderedLines refuses a missing line", "UnorderedLines", "a\nb", "a\nb\nc", false],
  ["UnorderedLines keeps the order inside a line", "UnorderedLines", "2 1\n", "1 2\n", false],
  ["UnorderedLines takes empty as no lines", "UnorderedLines", "\n\n", "", true],
  ["UnorderedLines sees a blank line inside", "UnorderedLines", "a\n\nb", "a\nb", false],
];

describe("outputMatches", () => {
  it.each(CASES)("%s", (_name, mode, actual, expected, matches) => {
    expect(outputMatches(actual, expected, mode)).toBe(matches);
  });
});

type FloatRow = [name: string, actual: string, expected: string, tol: FloatTolerance, matches: boolean];

const FLOAT_CASES: FloatRow[] = [
  ["an absolute tolerance accepts a difference at the bound", "1.5", "1.0", { absolute: 0.5 }, true],
  ["an absolute tolerance refuses a difference past the bound", "1.51", "1.0", { absolute: 0.5 }, false],
  ["a relative tolerance scales with the answer", "1000100", "1000000", { relative: 1e-4 }, true],
  [
    "a relative tolerance refuses the same difference on a small answer",
    "100.1",
    "0.1",
    { relative: 1e-4 },
    false,
  ],
  ["a relative tolerance alone refuses anything but about 0 for 0", "1e-10", "0", { relative: 1e-4 }, false],
  ["an absolute tolerance alone does not scale", "1000100", "1000000", { absolute: 1e-4 }, false],
  [
    "either tolerance is enough when both are set",
    "1000100",
    "1000000",
    { absolute: 1e-9, relative: 1e-4 },
    true,
  ],
  ["a zero tolerance still accepts the same value written otherwise", "0.50", "0.5", { absolute: 0 }, true],
  ["a zero tolerance accepts 0.1 + 0.2 for 0.3", String(0.1 + 0.2), "0.3", { absolute: 0 }, true],
  ["a zero tolerance refuses a real difference", "0.3000001", "0.3", { absolute: 0 }, false],
  ["signs count", "-1", "1", { absolute: 1 }, false],
  ["a leading plus sign is a number", "+2", "2", {}, true],
  ["a number with a trailing dot is a number", "2.", "2", {}, true],
];

describe("floatTokenMatches", () => {
  it.each(FLOAT_CASES)("%s", (_name, actual, expected, tol, matches) => {
    expect(floatTokenMatches(actual, expected, tol)).toBe(matches);
  });

  it("tolerances reach outputMatches", () => {
    expect(outputMatches("1.4 2", "1 2", "Float", { absolute: 0.5 })).toBe(true);
    expect(outputMatches("1.4 2", "1 2", "Float")).toBe(false);
  });
});

describe("helpers", () => {
  it("normalizeTrailingWhitespace cuts line ends and trailing blank lines", () => {
    expect(normalizeTrailingWhitespace("a \r\n b\t\r\n\r\n \n")).toBe("a\n b");
    expect(normalizeTrailingWhitespace("")).toBe("");
  });

  it("tokens splits on any whitespace and drops empty tokens", () => {
    expect(tokens("  a\tb\r\n\nc  ")).toEqual(["a", "b", "c"]);
    expect(tokens("")).toEqual([]);
  });
});
