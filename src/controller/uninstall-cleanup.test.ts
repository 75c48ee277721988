import { describe, expect, it } from "vitest";
import { postDelete, preDelete, type Target, type UninstallPort } from "./uninstall-cleanup.ts";

/** A cluster where a deleted Runtime stays (finalizer) for `holdPolls` more lists. */
function fakeCluster(opts: { executions: string[]; runtimes: string[]; holdPolls: number; pods?: number }) {
  const executions = new Map(opts.executions.map((n) => [n, true]));
  const runtimes = new Map<string, { deleting: boolean; polls: number }>(
    opts.runtimes.map((n) => [n, { deleting: false, polls: 0 }]),
  );
  let pods = opts.pods ?? 0;
  const runTime = new Set(["Worker node-a", "Lease envicutor-agent-node-a"]);
  const deleted: string[] = [];
  const port: UninstallPort = {
    executions: async () =>
      [...executions.keys()].map((name) => ({
        kind: "Execution",
        name,
        namespace: "app",
        deleting: false,
        finalizers: [],
      })),
    runtimes: async () => {
      for (const [n, r] of runtimes) if (r.deleting && r.polls++ >= opts.holdPolls) runtimes.delete(n); // the controller lifted it
      return [...runtimes].map(([name, r]) => ({
        kind: "Runtime",
        name,
        deleting: r.deleting,
        finalizers: ["envicutor.io/runtime-cleanup"],
        ...(r.deleting ? { note: "waiting for 1 node(s) to remove it: node-a" } : {}),
      }));
    },
    runTimeObjects: async () =>
      [...runTime].map((k) => {
        const [kind, name] = k.split(" ") as [Target["kind"], string];
        return { kind, name, deleting: false, finalizers: [] };
      }),
    releasePods: async () => (pods-- > 0 ? ["envicutor-agent-x"] : []),
    delete: async (t) => {
      deleted.push(`${t.kind} ${t.name}`);
      if (t.kind === "Execution") executions.delete(t.name);
      else if (t.kind === "Runtime") runtimes.get(t.name)!.deleting = true;
      else runTime.delete(`${t.kind} ${t.name}`);
    },
  };
  return { port, deleted, runTime };
}

const fastClock = () => {
  let t = 0;
  const sleep = async (ms: number) => {
    t += ms;
  };
  return { now: () => t, sleep };
};

describe("uninstall clean-up", () => {
  it("pre-delete: deletes the Executions, then the Runtimes, and waits until their finalizers are lifted", async () => {
    const c = fakeCluster({ executions: ["e1", "e2"], runtimes: ["py"], holdPolls: 3 });
    const logs: string[] = [];
    await preDelete(c.port, { timeoutMs: 60_000, log: (m) => logs.push(m), ...fastClock() });
    expect(c.deleted).toEqual(["Execution e1", "Execution e2", "Runtime py"]);
    expect(await c.port.runtimes()).toEqual([]);
    expect(logs.at(-1)).toMatch(/no Execution or Runtime is left/);
  });

  it("pre-delete: past the timeout, fails naming each held Runtime and why", async () => {
    const c = fakeCluster({ executions: [], runtimes: ["py"], holdPolls: 1e9 });
    await expect(preDelete(c.port, { timeoutMs: 10_000, log: () => {}, ...fastClock() })).rejects.toThrow(
      /after 10 s, 1 object\(s\) are still there:\n {2}Runtime py \(finalizers: envicutor.io\/runtime-cleanup\): waiting for 1 node\(s\) to remove it: node-a\n.*agent DaemonSet/s,
    );
    expect(c.deleted).toEqual(["Runtime py"]); // deleted once, not on every pass
  });

  it("post-delete: waits for the release's pods, then deletes the Workers and Leases they made", async () => {
    const c = fakeCluster({ executions: [], runtimes: [], holdPolls: 0, pods: 2 });
    await postDelete(c.port, { timeoutMs: 60_000, log: () => {}, ...fastClock() });
    expect(c.runTime.size).toBe(0);
  });

  it("post-delete: if the release's pods stay, says so and deletes anyway (a failed hook would leave the release half uninstalled)", async () => {
    const c = fakeCluster({ executions: [], runtimes: [], holdPolls: 0, pods: 1e9 });
    const logs: string[] = [];
    await postDelete(c.port, { timeoutMs: 5_000, log: (m) => logs.push(m), ...fastClock() });
    expect(logs[0]).toMatch(/pods are still there \(envicutor-agent-x\)/);
    expect(c.runTime.size).toBe(0);
  });
});
