import { describe, expect, it } from "vitest";
import type { Execution } from "../api/execution.ts";
import { GatewayCore } from "./core.ts";
import type { Tenant } from "./tenants.ts";

/** A core whose watch has not shown anything yet: every create is answered before its watch event. */
function laggingCore(queueMax: number) {
  const created: string[] = [];
  const seen = new Set<string>();
  const core = new GatewayCore({
    config: { queueMax, maxWaiting: 100, ttlSecondsAfterFinished: 60, callbacks: { enabled: false } },
    client: {
      create: async (_r: unknown, obj: Execution) => {
        created.push(obj.metadata.name!);
        return obj;
      },
    },
    runtimes: {},
    watches: {
      synced: async () => {},
      unfinished: () => [...seen].length,
      get: (_ns: string, name: string) => (seen.has(name) ? ({} as Execution) : undefined),
      waitingCount: () => 0,
    },
    callbacks: { hasRoom: () => true, forget: () => {} },
    metrics: { rejected: { inc: () => {} } },
    log: { error: () => {} },
  } as never);
  return { core, created, seen };
}

const tenant: Tenant = { name: "beta", namespace: "beta-ns" } as Tenant;
const submit = (core: GatewayCore) => {
  core.admit(tenant, 1, false, false);
  return core.submit(tenant, { api: "judge0", spec: {} as never, wait: false });
};

describe("GatewayCore queue cap", () => {
  it("counts Executions it created that the watch has not shown yet, so quick submissions cannot pass the cap", async () => {
    const { core, created } = laggingCore(2);
    await submit(core);
    await submit(core);
    expect(() => submit(core)).toThrow(/queue is full/);
    expect(created).toHaveLength(2);
  });

  it("counts a created Execution once: from the watch once it shows it", async () => {
    const { core, created, seen } = laggingCore(2);
    await submit(core);
    seen.add(created[0]!);
    expect(core.queued(tenant)).toBe(1);
  });
});
