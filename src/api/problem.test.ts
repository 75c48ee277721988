import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { execution } from "./execution.ts";
import { API_VERSION } from "./group.ts";
import { problem } from "./problem.ts";

const sha = "a".repeat(64);
const prob = (spec: Record<string, unknown>) => ({
  apiVersion: API_VERSION,
  kind: "Problem",
  metadata: { name: "p", namespace: "ns" },
  spec,
});
const exec = (spec: Record<string, unknown>) => ({
  apiVersion: API_VERSION,
  kind: "Execution",
  metadata: { name: "e", namespace: "ns" },
  spec: { runtime: "c", files: [{ name: "main.c", content: "" }], ...spec },
});
const issues = (r: { success: boolean; error?: { issues: { message: string }[] } }) =>
  r.error?.issues.map((i) => i.message) ?? [];

describe("Problem schema", () => {
  it("accepts data by reference with scored groups, defaults stopAtFirstFailure", () => {
    const p = problem.parse(
      prob({
        testData: { url: "http://127.0.0.1:1/set.tar", sha256: sha },
        groups: [{ name: "small", tests: 10, points: 40 }],
        checker: { comparison: "Tokens" },
      }),
    );
    expect(p.spec.groups?.[0]?.stopAtFirstFailure).toBe(true);
    expect(p.spec.outputComparison).toBe("IgnoreTrailingWhitespace");
    expect(problem.safeParse(prob({ testData: { configMap: "small-set" } })).success).toBe(true);
  });

  it.each([
    ["neither tests nor data", {}, /exactly one of testCases and testData/],
    [
      "both tests and data",
      { testCases: [{ stdin: "" }], testData: { url: "https://x/y", sha256: sha } },
      /exactly one/,
    ],
    ["a bad hash", { testData: { url: "https://x/y", sha256: "ABC" } }, /64 lowercase hex/],
    ["a file URL", { testData: { url: "file:///etc/passwd", sha256: sha } }, /http or https/],
    ["a URL without its sha256", { testData: { url: "https://x/y" } }, /needs its sha256/],
    [
      "a URL and a ConfigMap",
      { testData: { url: "https://x/y", sha256: sha, configMap: "c" } },
      /exactly one of url and configMap/,
    ],
    [
      "groups not taking every inline test",
      { testCases: [{ stdin: "" }, { stdin: "" }], groups: [{ name: "a", tests: 1, points: 1 }] },
      /every test case exactly once/,
    ],
    [
      "a checker and an interactor",
      {
        testCases: [{ stdin: "" }],
        checker: { comparison: "Exact" },
        interactor: { files: [{ name: "i.c", content: "" }] },
      },
      /either checker or interactor/,
    ],
  ])("rejects %s", (_name, spec, message) => {
    expect(issues(problem.safeParse(prob(spec))).join("; ")).toMatch(message);
  });
});

describe("Execution of a Problem", () => {
  it("names the Problem and carries only its source", () => {
    expect(execution.parse(exec({ problem: "sum" })).spec.problem).toBe("sum");
  });

  it.each([
    ["testCases", { testCases: [{ stdin: "" }] }],
    ["stdin", { stdin: "1" }],
    ["limits", { limits: { run: { cpuTimeMillis: 1 } } }],
    ["a checker", { checker: { comparison: "Exact" } }],
  ])("with %s is refused", (_name, spec) => {
    expect(issues(execution.safeParse(exec({ problem: "sum", ...spec }))).join("; ")).toMatch(
      /the Problem gives the tests/,
    );
  });
});

describe("examples/problems", () => {
  const dir = join(import.meta.dirname, "..", "..", "examples", "problems");
  const docs = readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => [f, d.toJS()] as const));
  it.each(docs.map(([f, o]) => [`${f}: ${o.kind} ${o.metadata.name}`, o] as const))(
    "%s is valid",
    (_n, o) => {
      const r = (o.kind === "Problem" ? problem : execution).safeParse(o);
      expect(r.error?.issues ?? []).toEqual([]);
    },
  );
});
