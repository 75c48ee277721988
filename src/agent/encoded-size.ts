/**
 * Size of text once stored: the apiserver keeps custom resources as JSON in
 * etcd, and escaping can grow text sixfold (a NUL or a control byte is
 * `\u0000`, and Go's encoder also writes `<`, `>`, `&`, U+2028 and U+2029 as
 * `\u003c`...). Every count here is the larger of JavaScript's and Go's
 * encoding, so a budget computed with it holds on both sides of the wire.
 */

/** Encoded bytes of each ASCII code unit inside a JSON string. */
const ASCII_COST = Array.from({ length: 128 }, (_, c) => {
  if (c === 0x0a || c === 0x0d || c === 0x09 || c === 0x22 || c === 0x5c) return 2; // \n \r \t \" \\
  if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26) return 6; // \u00XX
  return 1;
});

/** Encoded bytes of the code point starting at s[i], and how many code units it spans. */
function costAt(s: string, i: number): [bytes: number, units: number] {
  const c = s.charCodeAt(i);
  if (c < 0x80) return [ASCII_COST[c]!, 1];
  if (c < 0x800) return [2, 1];
  if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) return [4, 2];
  if ((c >= 0xd800 && c <= 0xdfff) || c === 0x2028 || c === 0x2029) return [6, 1]; // lone surrogate: \udXXX
  return [3, 1];
}

/** Bytes of `s` inside a JSON string, quotes not counted. */
export function encodedLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; ) {
    const [bytes, units] = costAt(s, i);
    n += bytes;
    i += units;
  }
  return n;
}

/** The longest prefix of `s` whose encoded length is at most `cap`, never splitting a character. */
export function truncateEncoded(s: string, cap: number): { text: string; truncated: boolean } {
  let n = 0;
  for (let i = 0; i < s.length; ) {
    const [bytes, units] = costAt(s, i);
    if (n + bytes > cap) return { text: s.slice(0, i), truncated: true };
    n += bytes;
    i += units;
  }
  return { text: s, truncated: false };
}

/** Bytes of a JSON value once encoded (compact, as the apiserver stores it). */
export function encodedSize(value: unknown): number {
  if (typeof value === "string") return encodedLength(value) + 2;
  if (value === null || value === undefined || (typeof value === "number" && !Number.isFinite(value)))
    return 4;
  if (typeof value !== "object") return String(value).length;
  if (Array.isArray(value))
    return 2 + Math.max(0, value.length - 1) + value.reduce((n: number, v) => n + encodedSize(v), 0);
  let n = 2;
  let fields = 0;
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue; // JSON.stringify drops it
    n += encodedLength(k) + 3 + encodedSize(v); // "k":v
    fields++;
  }
  return n + Math.max(0, fields - 1);
}
