import { describe, expect, it } from "vitest";
import { Backoff, backoffDelay } from "./backoff.ts";

describe("backoff", () => {
  it("doubles from base and caps at max", () => {
    const o = { baseMs: 200, maxMs: 30_000 };
    expect([0, 1, 2, 3, 4, 7, 8, 100].map((a) => backoffDelay(a, o))).toEqual([
      200, 400, 800, 1600, 3200, 25_600, 30_000, 30_000,
    ]);
  });

  it("applies jitter within ±fraction", () => {
    const o = { baseMs: 1000, maxMs: 1000, jitter: 0.2 };
    expect(backoffDelay(0, o, () => 0)).toBe(800);
    expect(backoffDelay(0, o, () => 1)).toBe(1200);
    expect(backoffDelay(0, o, () => 0.5)).toBe(1000);
  });

  it("Backoff grows with next() and restarts after reset()", () => {
    const b = new Backoff({ baseMs: 10, maxMs: 100 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([10, 20, 40, 80, 100]);
    b.reset();
    expect(b.next()).toBe(10);
  });
});
