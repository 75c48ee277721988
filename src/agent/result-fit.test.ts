import { describe, expect, it } from "vitest";
import type { ExecutionStatus } from "../api/execution.ts";
import { encodedLength } from "./encoded-size.ts";
import { fitOutputs, outputBytes } from "./result-fit.ts";

describe("fitOutputs", () => {
  const status = (outs: string[]): ExecutionStatus => ({
    tests: outs.map((o, i) => ({ name: String(i), stdout: o, stderr: "" })),
  });

  it("keeps small streams whole and shares the rest equally", () => {
    const { status: s, cut } = fitOutputs(status(["short", "\0".repeat(10_000), "x".repeat(10_000)]), 3005);
    expect(cut).toBe(true);
    expect(s.tests?.[0]?.stdout).toBe("short");
    expect(s.tests?.[0]?.stdoutTruncated).toBeUndefined();
    expect(encodedLength(s.tests?.[1]?.stdout ?? "")).toBeLessThanOrEqual(1500);
    expect(s.tests?.[1]?.stdoutTruncated).toBe(true);
    expect(s.tests?.[2]?.stdout).toBe("x".repeat(1500));
    expect(outputBytes(s)).toBeLessThanOrEqual(3005);
  });

  it("leaves a status that fits untouched, and empties every stream at room 0", () => {
    const st = status(["a", "b"]);
    expect(fitOutputs(st, 2)).toEqual({ status: st, cut: false });
    const none = fitOutputs(st, 0).status;
    expect(outputBytes(none)).toBe(0);
    expect(none.tests?.every((t) => t.stdoutTruncated)).toBe(true);
  });
});
