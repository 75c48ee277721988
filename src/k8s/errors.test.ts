import { describe, expect, it } from "vitest";
import { ApiError, ConflictError, isTooLarge } from "./errors.ts";

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
