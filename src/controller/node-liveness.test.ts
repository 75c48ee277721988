import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.ts";
import { leaseExpiry, leaseNode } from "./node-liveness.ts";

describe("agent leases", () => {
  const now = Date.parse("2025-01-01T00:00:30Z");
  it("expire renewTime + duration after renewal, never later than now + duration", () => {
    const lease = (renewTime: string) => ({
      metadata: { name: "envicutor-agent-n1" },
      spec: { renewTime, leaseDurationSeconds: 40 },
    });
    expect(leaseExpiry(lease("2025-01-01T00:00:20.000000Z"), now)).toBe(Date.parse("2025-01-01T00:01:00Z"));
    expect(leaseExpiry(lease("2025-01-01T00:10:00.000000Z"), now)).toBe(now + 40_000); // agent clock ahead
    expect(leaseExpiry(lease("1970-01-01T00:00:00.000000Z"), now)).toBeLessThan(now); // released
    expect(leaseExpiry({ metadata: { name: "x" }, spec: {} }, now)).toBeUndefined();
  });
  it("name their node by label, else by name prefix", () => {
    expect(leaseNode({ metadata: { name: "envicutor-agent-n1" } })).toBe("n1");
    expect(leaseNode({ metadata: { name: "whatever", labels: { "envicutor.io/node": "n2" } } })).toBe("n2");
    expect(leaseNode({ metadata: { name: "envicutor-controller" } })).toBeUndefined();
  });
});

describe("config", () => {
  it("reads flags over env over defaults and validates", () => {
    const c = loadConfig(["--namespace", "x", "--max-attempts", "5"], {
      ENVICUTOR_DEFAULT_TTL_SECONDS: "60",
      ENVICUTOR_METRICS_PORT: "-1",
    });
    expect(c).toMatchObject({
      namespace: "x",
      maxAttempts: 5,
      defaultTtlSeconds: 60,
      metricsPort: undefined,
      leaderElect: true,
    });
    expect(() => loadConfig(["--max-attempts", "0"], {})).toThrow(/max-attempts/);
    expect(() => loadConfig(["--lease-duration-seconds", "5", "--renew-deadline-seconds", "10"], {})).toThrow(
      /renew deadline/,
    );
  });
});
