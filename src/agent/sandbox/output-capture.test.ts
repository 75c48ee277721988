import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { encodedLength } from "../encoded-size.ts";
import { OutputCapture, truncateUtf8 } from "./output-capture.ts";

describe("truncateUtf8", () => {
  it("leaves short text alone", () => {
    expect(truncateUtf8(Buffer.from("hello"), 5)).toEqual({ text: "hello", truncated: false });
    expect(truncateUtf8(Buffer.from(""), 0)).toEqual({ text: "", truncated: false });
  });

  it("cuts ASCII at the cap", () => {
    expect(truncateUtf8(Buffer.from("hello world"), 5)).toEqual({ text: "hello", truncated: true });
  });

  it("never splits a multi-byte character, at any cap", () => {
    // 1-, 2-, 3- and 4-byte characters
    const text = "aé€😀b😀€éa";
    const buf = Buffer.from(text);
    for (let cap = 0; cap <= buf.length; cap++) {
      const { text: out, truncated } = truncateUtf8(buf, cap);
      expect(truncated).toBe(cap < buf.length);
      expect(out).not.toContain("\uFFFD");
      expect(Buffer.byteLength(out)).toBeLessThanOrEqual(cap);
      expect(text.startsWith(out)).toBe(true);
      // as much as fits: the next character would not
      const next = text.slice(out.length).codePointAt(0);
      if (next !== undefined)
        expect(Buffer.byteLength(out) + Buffer.byteLength(String.fromCodePoint(next))).toBeGreaterThan(cap);
    }
  });

  it("counts the JSON-encoded size: control bytes, NULs, invalid UTF-8, multi-byte text", () => {
    const cap = 1000;
    const inputs: [string, Buffer][] = [
      ["NULs", Buffer.alloc(400_000, 0)],
      ["control bytes", Buffer.from(Array.from({ length: 400_000 }, (_, i) => i % 32))],
      ["invalid UTF-8", Buffer.alloc(400_000, 0xff)],
      ["lone continuation bytes", Buffer.alloc(400_000, 0x80)],
      ["multi-byte", Buffer.from("€😀é".repeat(50_000))],
      ["HTML-escaped by Go", Buffer.from("<>&".repeat(100_000))],
    ];
    for (const [what, buf] of inputs) {
      const { text, truncated } = truncateUtf8(buf, cap);
      const stored = Buffer.byteLength(JSON.stringify(text)) - 2;
      console.log(
        `${what}: ${buf.length} B of output, cap ${cap} → ${text.length} chars kept, ${stored} B as JSON from JavaScript, ${encodedLength(text)} B counted (Go's escapes included)`,
      );
      expect(truncated).toBe(true);
      expect(stored).toBeLessThanOrEqual(cap);
      expect(encodedLength(text)).toBeLessThanOrEqual(cap);
      // and not needlessly short: within one character (6 bytes) of the cap
      expect(encodedLength(text)).toBeGreaterThan(cap - 7);
    }
  });

  it("an invalid sequence cut by the read-ahead is not turned into a spurious U+FFFD", () => {
    // "a" then a 3-byte character whose last byte lies beyond cap + 4
    const buf = Buffer.concat([Buffer.from("abcd"), Buffer.from("€"), Buffer.from("xyz")]);
    for (let cap = 0; cap <= buf.length; cap++) {
      const { text } = truncateUtf8(buf, cap);
      expect(text).not.toContain("\uFFFD");
      expect(buf.toString("utf8").startsWith(text)).toBe(true);
    }
  });

  it("cap inside the first character gives the empty string", () => {
    expect(truncateUtf8(Buffer.from("😀"), 3)).toEqual({ text: "", truncated: true });
  });
});

describe("OutputCapture", () => {
  it("keeps everything under the limit", async () => {
    const s = new PassThrough();
    let exceeded = 0;
    const c = new OutputCapture(s, 10, () => exceeded++);
    s.write("abc");
    s.end("def");
    await new Promise((r) => s.on("end", r));
    expect(c.buffer().toString()).toBe("abcdef");
    expect(c.exceeded).toBe(false);
    expect(exceeded).toBe(0);
  });

  it("exactly at the limit is not exceeded", async () => {
    const s = new PassThrough();
    const c = new OutputCapture(s, 6, () => undefined);
    s.end("abcdef");
    await new Promise((r) => s.on("end", r));
    expect(c.exceeded).toBe(false);
    expect(c.buffer().length).toBe(6);
  });

  it("stops at the limit, keeps the first bytes, calls back once and destroys the stream", async () => {
    const s = new PassThrough();
    let calls = 0;
    const c = new OutputCapture(s, 5, () => calls++);
    s.write("abc");
    s.write("defgh");
    s.write("ijk");
    await new Promise((r) => setImmediate(r));
    expect(c.buffer().toString()).toBe("abcde");
    expect(c.exceeded).toBe(true);
    expect(calls).toBe(1);
    expect(s.destroyed).toBe(true);
  });

  it("a shared budget counts both streams together", async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const budget = { left: 8 };
    let calls = 0;
    const a = new OutputCapture(out, 8, () => calls++, budget);
    const b = new OutputCapture(err, 8, () => calls++, budget);
    out.write("12345");
    await new Promise((r) => setImmediate(r));
    err.write("6789");
    await new Promise((r) => setImmediate(r));
    expect(a.buffer().toString()).toBe("12345");
    expect(b.buffer().toString()).toBe("678");
    expect(b.exceeded).toBe(true);
    expect(a.exceeded).toBe(false);
    expect(calls).toBe(1);
    expect(budget.left).toBe(0);
  });
});
