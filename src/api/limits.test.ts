import { describe, expect, it } from "vitest";
import { resolveExecutionLimits } from "./limits.ts";
import { DEFAULT_LIMITS, DEFAULT_MAX_LIMITS } from "./runtime.ts";

describe("resolveExecutionLimits", () => {
  it("uses the Runtime's defaults when nothing is requested", () => {
    expect(resolveExecutionLimits({}, {})).toEqual({ limits: DEFAULT_LIMITS, violations: [] });
  });

  it("applies overrides within the bounds", () => {
    const { limits, violations } = resolveExecutionLimits({}, { limits: { run: { cpuTimeMillis: 5000 } } });
    expect(violations).toEqual([]);
    expect(limits.run.cpuTimeMillis).toBe(5000);
    expect(limits.run.memoryKiB).toBe(DEFAULT_LIMITS.run.memoryKiB);
  });

  it("names every field over its bound", () => {
    const { violations } = resolveExecutionLimits(
      {},
      {
        limits: { run: { memoryKiB: DEFAULT_MAX_LIMITS.run.memoryKiB + 1 }, compile: { processes: 100_000 } },
      },
    );
    expect(violations.map((v) => v.field)).toEqual([
      "spec.limits.compile.processes",
      "spec.limits.run.memoryKiB",
    ]);
    expect(violations[1]!.message).toContain("exceeds the Runtime's bound");
  });

  it("fills storage limits a Runtime's stage leaves out from the built-in defaults and bounds", () => {
    const { storageKiB: _a, storageFiles: _b, ...run } = DEFAULT_LIMITS.run;
    const runtime = {
      limits: { compile: DEFAULT_LIMITS.compile, run },
      maxLimits: { compile: DEFAULT_MAX_LIMITS.compile, run },
    };
    const ok = resolveExecutionLimits(runtime, { limits: { run: { storageKiB: 1024 } } });
    expect(ok.violations).toEqual([]);
    expect(ok.limits.run.storageKiB).toBe(1024);
    expect(ok.limits.run.storageFiles).toBe(DEFAULT_LIMITS.run.storageFiles);
    const over = resolveExecutionLimits(runtime, {
      limits: { run: { storageKiB: (DEFAULT_MAX_LIMITS.run.storageKiB ?? 0) + 1 } },
    });
    expect(over.violations.map((v) => v.field)).toEqual(["spec.limits.run.storageKiB"]);
  });
});
