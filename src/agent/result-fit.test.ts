import { describe, expect, it } from "vitest";
import type { ExecutionStatus } from "../api/execution.ts";
import { ApiError, ConflictError } from "../k8s/errors.ts";
import { encodedLength } from "./encoded-size.ts";
import { fitOutputs, isTooLarge, outputBytes } from "./result-fit.ts";

describe("isTooLarge", () => {
  it("knows what kube-apiserver 1.36 with etcd 3.6 returns, and nothing else", () => {
    // Both messages as seen in e2e/hostile-results.e2e.test.ts.
    expect(isTooLarge(new ApiError(500, undefined, "etcdserver: request is too large", {}))).toBe(true);
    expect(
      isTooLarge(
        new ApiError(
          500,
          undefined,
          "rpc error: code = ResourceExhausted desc = trying to send message larger than max (2098356 vs. 2097152)",
          {},
        ),
      ),
    ).toBe(true);
    expect(isTooLarge(new ApiError(413, "RequestEntityTooLarge", "", {}))).toBe(true);
    expect(isTooLarge(new ApiError(500, "InternalError", "etcd leader changed", {}))).toBe(false);
    expect(isTooLarge(new ApiError(422, "Invalid", "status.message: Too long", {}))).toBe(false);
    expect(isTooLarge(new ConflictError("too large? no, a conflict", {}))).toBe(false);
    expect(isTooLarge(new Error("request is too large"))).toBe(false);
  });
});

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
