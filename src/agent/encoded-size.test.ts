import { describe, expect, it } from "vitest";
import { encodedLength, encodedSize, truncateEncoded } from "./encoded-size.ts";

/** What JavaScript sends: bytes of JSON.stringify, quotes not counted. */
const jsBytes = (s: string) => Buffer.byteLength(JSON.stringify(s)) - 2;

/** What Go's encoding/json stores (HTML-safe escapes), quotes not counted. */
function goBytes(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === "\n" || ch === "\r" || ch === "\t" || ch === '"' || ch === "\\") n += 2;
    else if (c < 0x20 || ch === "<" || ch === ">" || ch === "&" || c === 0x2028 || c === 0x2029) n += 6;
    else if (c >= 0xd800 && c <= 0xdfff)
      n += 3; // a lone surrogate becomes U+FFFD
    else n += Buffer.byteLength(ch);
  }
  return n;
}

const hostile = [
  "",
  "plain ascii",
  "\0".repeat(100),
  "\x01\x02\x1b[31m\x7f",
  'quote " backslash \\ newline \n tab \t',
  "<script>&amp;</script>",
  "é€😀\u2028\u2029",
  Buffer.from([0xff, 0xfe, 0x80, 0xc3, 0x28, 0xe2, 0x82]).toString("utf8"), // invalid UTF-8 → U+FFFD
  "lone \ud800 surrogate \udfff",
];

describe("encodedLength", () => {
  it("is at least what JavaScript and Go encode, for hostile text", () => {
    for (const s of hostile) {
      const n = encodedLength(s);
      expect(n, JSON.stringify(s)).toBeGreaterThanOrEqual(jsBytes(s));
      expect(n, JSON.stringify(s)).toBeGreaterThanOrEqual(goBytes(s));
    }
  });

  it("counts a NUL or a control byte six times, valid UTF-8 by its bytes", () => {
    expect(encodedLength("\0")).toBe(6);
    expect(encodedLength("\x1b")).toBe(6);
    expect(encodedLength("\n")).toBe(2);
    expect(encodedLength("é€😀")).toBe(2 + 3 + 4);
    expect(encodedLength("a".repeat(1000))).toBe(1000);
    console.log(
      `encoded sizes: 400000 NULs → ${encodedLength("\0".repeat(400_000))} B; 400000 invalid bytes → ${encodedLength(Buffer.alloc(400_000, 0xff).toString("utf8"))} B`,
    );
  });
});

describe("truncateEncoded", () => {
  it("keeps the longest prefix within the cap, never splitting a character or a surrogate pair", () => {
    const text = hostile.join("|");
    for (let cap = 0; cap <= encodedLength(text) + 1; cap++) {
      const { text: out, truncated } = truncateEncoded(text, cap);
      expect(encodedLength(out)).toBeLessThanOrEqual(cap);
      expect(text.startsWith(out)).toBe(true);
      expect(truncated).toBe(out.length < text.length);
      if (truncated) {
        // as much as fits: the next character (a pair of surrogates counts as one) would not
        const cp = text.codePointAt(out.length)!;
        const next = cp > 0xffff ? text.slice(out.length, out.length + 2) : text[out.length]!;
        expect(encodedLength(out) + encodedLength(next)).toBeGreaterThan(cap);
      }
    }
  });
});

describe("encodedSize", () => {
  it("is at least JSON.stringify's byte length, and equal for plain ASCII objects", () => {
    const plain = { a: 1, b: [true, null, "x"], c: { d: "text", e: -2.5 }, u: undefined };
    expect(encodedSize(plain)).toBe(Buffer.byteLength(JSON.stringify(plain)));
    const bad = { out: hostile, nested: [{ s: "\0<>&" }], n: Number.NaN };
    expect(encodedSize(bad)).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(bad)));
    expect(encodedSize([])).toBe(2);
    expect(encodedSize({})).toBe(2);
  });
});
