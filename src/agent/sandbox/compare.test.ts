import { describe, expect, it } from "vitest";
import { normalizeTrailingWhitespace, outputMatches } from "./compare.ts";

describe("outputMatches", () => {
  it("Exact compares byte for byte", () => {
    expect(outputMatches("hello\n", "hello\n", "Exact")).toBe(true);
    expect(outputMatches("hello\n", "hello", "Exact")).toBe(false);
    expect(outputMatches("hello \n", "hello\n", "Exact")).toBe(false);
    expect(outputMatches("a\r\nb\r\n", "a\nb\n", "Exact")).toBe(false);
    expect(outputMatches(Buffer.from("héllo\n"), "héllo\n", "Exact")).toBe(true);
  });

  it("IgnoreTrailingWhitespace: trailing newline and blank lines", () => {
    const m = (a: string | Buffer, e: string) => outputMatches(a, e, "IgnoreTrailingWhitespace");
    expect(m("hello\n", "hello")).toBe(true);
    expect(m("hello", "hello\n\n\n")).toBe(true);
    expect(m("hello\n\n  \n\t\n", "hello")).toBe(true);
    expect(m("", "\n\n")).toBe(true);
  });

  it("IgnoreTrailingWhitespace: trailing spaces and tabs on every line", () => {
    const m = (a: string | Buffer, e: string) => outputMatches(a, e, "IgnoreTrailingWhitespace");
    expect(m("1 2 3 \n4 5 6\t\n", "1 2 3\n4 5 6")).toBe(true);
    expect(m("a   \nb", "a\nb   ")).toBe(true);
  });

  it("IgnoreTrailingWhitespace: \\r\\n counts as \\n", () => {
    const m = (a: string | Buffer, e: string) => outputMatches(a, e, "IgnoreTrailingWhitespace");
    expect(m("a\r\nb\r\n", "a\nb\n")).toBe(true);
    expect(m("a\nb", "a\r\nb\r\n\r\n")).toBe(true);
    expect(m(Buffer.from("x \r\ny\r\n"), "x\ny")).toBe(true);
  });

  it("IgnoreTrailingWhitespace still sees leading and inner whitespace, and blank lines inside", () => {
    const m = (a: string | Buffer, e: string) => outputMatches(a, e, "IgnoreTrailingWhitespace");
    expect(m(" hello", "hello")).toBe(false);
    expect(m("a  b", "a b")).toBe(false);
    expect(m("a\n\nb", "a\nb")).toBe(false);
    expect(m("hello", "hellO")).toBe(false);
    expect(m("12", "1")).toBe(false);
  });

  it("normalizeTrailingWhitespace", () => {
    expect(normalizeTrailingWhitespace("a \r\n b\t\r\n\r\n \n")).toBe("a\n b");
    expect(normalizeTrailingWhitespace("")).toBe("");
  });
});
