import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { requestToken } from "./auth.ts";
import { compareVersions, findPiston, judge0Languages, pistonRuntimes } from "./runtime-index.ts";
import { shellWords } from "./shell-words.ts";
import { parseSecret } from "./tenants.ts";
import { readyRuntime } from "./test-fixtures.ts";
import { RateLimiter } from "./token-bucket.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("runtime lookups", () => {
  const rts = [
    readyRuntime("py-3", { version: "3.9", aliases: ["py"], judge0: { languageId: 71 } }),
    readyRuntime("py-3-12", { version: "3.12", judge0: { languageId: 71 } }, "2026-02-01T00:00:00Z"),
    readyRuntime("cpp", {
      language: "cpp",
      version: "gcc",
      piston: { language: "c++", aliases: ["g++"] },
      judge0: { languageId: 54 },
    }),
    { ...readyRuntime("not-ready", { language: "go", judge0: { languageId: 60 } }), status: {} },
  ];

  it("finds Piston runtimes by name or alias, exact version or range, highest first", () => {
    expect(findPiston(rts, "python", "3.9")?.runtime.metadata.name).toBe("py-3");
    expect(findPiston(rts, "python", "*")?.runtime.metadata.name).toBe("py-3-12");
    expect(findPiston(rts, "python", "3.x")?.runtime.metadata.name).toBe("py-3-12");
    expect(findPiston(rts, "py", "3.9")?.runtime.metadata.name).toBe("py-3");
    expect(findPiston(rts, "c++", "gcc")?.runtime.metadata.name).toBe("cpp");
    expect(findPiston(rts, "go", "*")).toBeUndefined();
    expect(pistonRuntimes(rts).map((p) => `${p.language}-${p.version}`)).toEqual([
      "c++-gcc",
      "python-3.9",
      "python-3.12",
    ]);
  });

  it("lists Judge0 languages once per id (the oldest Runtime wins), Ready ones only", () => {
    expect(judge0Languages(rts).map((l) => [l.id, l.runtime.metadata.name, l.name])).toEqual([
      [54, "cpp", "Cpp (gcc)"],
      [71, "py-3", "Python (3.9)"],
    ]);
  });

  it("compares versions part by part", () => {
    expect(compareVersions("3.10", "3.9")).toBeGreaterThan(0);
    expect(compareVersions("1.2.0", "1.2")).toBeGreaterThan(0);
  });
});

describe("tokens", () => {
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
  it("reads Bearer, X-Auth-Token and Basic (token as password or user)", () => {
    expect(requestToken(req({ authorization: "Bearer abc" }))).toBe("abc");
    expect(requestToken(req({ "x-auth-token": "abc" }))).toBe("abc");
    expect(requestToken(req({ authorization: `Basic ${b64("user:abc")}` }))).toBe("abc");
    expect(requestToken(req({ authorization: `Basic ${b64("abc:")}` }))).toBe("abc");
    expect(requestToken(req({}))).toBeUndefined();
  });

  it("reads a token Secret, and says what is wrong with a bad one", () => {
    const secret = (data: Record<string, string>) => ({
      metadata: { name: "team-a" },
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
    });
    expect(parseSecret(secret({ token: "0123456789abcdef", namespace: "team-a", queueMax: "5" }))).toEqual({
      token: "0123456789abcdef",
      tenant: { name: "team-a", namespace: "team-a", queueMax: 5 },
    });
    expect(parseSecret(secret({ token: "short", namespace: "team-a" }))).toMatch(/16 characters/);
    expect(parseSecret(secret({ token: "0123456789abcdef", namespace: "Not/A/Namespace" }))).toMatch(
      /namespace/,
    );
    expect(parseSecret(secret({ token: "0123456789abcdef", namespace: "a", burst: "many" }))).toMatch(
      /burst/,
    );
  });
});

describe("rate limit", () => {
  it("lets a burst through, then one per 1/rate seconds, per key", () => {
    let t = 0;
    const rl = new RateLimiter(() => t);
    expect([rl.take("a", 2, 3), rl.take("a", 2, 3), rl.take("a", 2, 3)]).toEqual([0, 0, 0]);
    expect(rl.take("a", 2, 3)).toBe(1);
    expect(rl.take("b", 2, 3)).toBe(0);
    t += 500;
    expect(rl.take("a", 2, 3)).toBe(0);
    t += 60_000;
    rl.sweep(2, 3);
    expect(rl.size).toBe(0);
  });
});

describe("command line arguments", () => {
  it("splits like a shell without expansions", () => {
    expect(shellWords(` a  "b c" 'd "e"' f\\ g ""`)).toEqual(["a", "b c", 'd "e"', "f g", ""]);
    expect(() => shellWords("'x")).toThrow(/unclosed/);
  });
});
