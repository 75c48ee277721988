import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { execution } from "../api/execution.ts";
import { formatReport } from "./report.ts";
import { buildExecution } from "./run-command.ts";
import { readTestDir } from "./test-dir.ts";

describe("cli", () => {
  it("reads judge-style test directories in natural order", () => {
    const dir = mkdtempSync(join(tmpdir(), "tests-"));
    for (const n of [1, 2, 10]) writeFileSync(join(dir, `${n}.in`), `${n}\n`);
    writeFileSync(join(dir, "1.out"), "one\n");
    writeFileSync(join(dir, "10.ans"), "ten\n");
    expect(readTestDir(dir)).toEqual([
      { name: "1", stdin: "1\n", expectedOutput: "one\n" },
      { name: "2", stdin: "2\n" },
      { name: "10", stdin: "10\n", expectedOutput: "ten\n" },
    ]);
  });

  it("builds an Execution the API accepts", () => {
    const dir = mkdtempSync(join(tmpdir(), "src-"));
    mkdirSync(join(dir, "t"));
    writeFileSync(join(dir, "t", "a.in"), "x");
    const file = join(dir, "Main Program.py");
    writeFileSync(file, "print(input())");
    const ex = buildExecution({
      file,
      runtime: "python-3",
      namespace: "ns",
      testsDir: join(dir, "t"),
      timeoutSeconds: 5,
      keep: false,
    });
    const parsed = execution.safeParse({ ...ex, metadata: { ...(ex.metadata as object), name: "x" } });
    // A space is not a safe file name: the CLI passes the name through, and the API rejects it clearly.
    expect(parsed.success).toBe(false);
    const ok = buildExecution({
      file: join(dir, "t", "a.in"),
      runtime: "python-3",
      namespace: "ns",
      stdin: "1",
      timeoutSeconds: 5,
      keep: false,
    });
    expect(execution.safeParse({ ...ok, metadata: { name: "y" } }).success).toBe(true);
  });

  it("prints a verdict table", () => {
    const text = formatReport({
      apiVersion: "envicutor.io/v1alpha1",
      kind: "Execution",
      metadata: { name: "e1" },
      spec: execution.shape.spec.parse({ runtime: "c", files: [{ name: "a.c", content: "" }] }),
      status: {
        phase: "Succeeded",
        verdict: "WrongAnswer",
        nodeName: "n1",
        compile: { exitCode: 0 },
        tests: [
          {
            name: "1",
            verdict: "Accepted",
            cpuTimeMillis: 3,
            wallTimeMillis: 10,
            memoryKiB: 900,
            exitCode: 0,
          },
          {
            name: "2",
            verdict: "WrongAnswer",
            cpuTimeMillis: 4,
            wallTimeMillis: 11,
            memoryKiB: 901,
            exitCode: 0,
          },
        ],
      },
    });
    expect(text).toContain("e1: WrongAnswer (node n1)");
    expect(text).toMatch(/2\s+WrongAnswer\s+4ms\s+11ms\s+901KiB\s+0/);
  });
});
