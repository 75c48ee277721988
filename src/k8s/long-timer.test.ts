import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_TIMEOUT_MS, setLongTimeout } from "./long-timer.ts";

const DAY = 24 * 3600 * 1000;

describe("setLongTimeout", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("a 30-day delay does not fire early and fires once at the end", async () => {
    let fired = 0;
    setLongTimeout(() => fired++, 30 * DAY);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toBe(0);
    await vi.advanceTimersByTimeAsync(MAX_TIMEOUT_MS + 10); // past the first chunk
    expect(fired).toBe(0);
    await vi.advanceTimersByTimeAsync(30 * DAY - MAX_TIMEOUT_MS - 12);
    expect(fired).toBe(0);
    const before = fired;
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toBe(1);
    console.log(`30-day timer: fired ${before} times up to 30 d - 1 ms, ${fired} at 30 d`);
    await vi.advanceTimersByTimeAsync(60 * DAY);
    expect(fired).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("never arms a native timer above 2^31-1 ms", () => {
    const spy = vi.spyOn(globalThis, "setTimeout");
    setLongTimeout(() => undefined, 365 * DAY);
    expect(spy.mock.calls.every(([, ms]) => (ms ?? 0) <= MAX_TIMEOUT_MS)).toBe(true);
    spy.mockRestore();
  });

  it("short, zero, negative and NaN delays fire once; cancel stops it, even between chunks", async () => {
    const hits: string[] = [];
    setLongTimeout(() => hits.push("short"), 10);
    setLongTimeout(() => hits.push("zero"), 0);
    setLongTimeout(() => hits.push("negative"), -5);
    setLongTimeout(() => hits.push("nan"), Number.NaN);
    const long = setLongTimeout(() => hits.push("cancelled"), 40 * DAY);
    await vi.advanceTimersByTimeAsync(MAX_TIMEOUT_MS + 1);
    long.cancel();
    await vi.advanceTimersByTimeAsync(60 * DAY);
    expect(hits.sort()).toEqual(["nan", "negative", "short", "zero"]);
  });

  it("Infinity never fires", async () => {
    let fired = false;
    setLongTimeout(() => {
      fired = true;
    }, Number.POSITIVE_INFINITY);
    await vi.advanceTimersByTimeAsync(100 * DAY);
    expect(fired).toBe(false);
  });
});
