import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Runtime } from "../api/runtime.ts";
import { validRuntime } from "../api/test-fixtures.ts";
import type { KubeClient } from "../k8s/client.ts";
import type {
  ExecutionOutcome,
  ExecutionRunner,
  InstalledRuntime,
  InstallRequest,
  RuntimeInstaller,
} from "./ports.ts";
import { RuntimeSync } from "./runtime-sync.ts";
import { SpecStore } from "./spec-store.ts";
import { WorkerReporter } from "./worker-reporter.ts";

const logger = pino({ level: "silent" });

class FakeInstaller implements RuntimeInstaller {
  roots = new Map<string, InstalledRuntime>();
  installs: InstallRequest[] = [];
  gcs = 0;
  fail: string | undefined;
  async install(req: InstallRequest): Promise<InstalledRuntime> {
    this.installs.push(req);
    if (this.fail) throw Object.assign(new Error(this.fail), { reason: "UnknownPackage" });
    const r = {
      runtimeName: req.runtimeName,
      generation: req.generation,
      storePaths: [`/nix/store/x-${req.packages[0]}`],
      closureHash: "h1",
      env: { PATH: "/nix/store/x/bin" },
    };
    this.roots.set(`${req.runtimeName}@${req.generation}`, r);
    return r;
  }
  async remove(name: string, generation?: number): Promise<void> {
    for (const k of [...this.roots.keys()])
      if (k.startsWith(`${name}@`) && (generation === undefined || k === `${name}@${generation}`))
        this.roots.delete(k);
  }
  async gc(): Promise<void> {
    this.gcs++;
  }
  async listInstalled(): Promise<InstalledRuntime[]> {
    return [...this.roots.values()];
  }
}

class FakeRunner implements ExecutionRunner {
  verdict: ExecutionOutcome["verdict"] = "Accepted";
  runs = 0;
  async run(): Promise<ExecutionOutcome> {
    this.runs++;
    return { verdict: this.verdict, tests: [{ name: "1", verdict: this.verdict, stdout: "nope\n" }] };
  }
}

function setup() {
  const patches: unknown[] = [];
  const client = {
    patchStatus: async (_r: unknown, _n: string, p: unknown) => patches.push(p),
  } as unknown as KubeClient;
  const reporter = new WorkerReporter({ client, nodeName: "n1", logger, debounceMs: 1 });
  const installer = new FakeInstaller();
  const runner = new FakeRunner();
  const runtimes = new Map<string, Runtime>();
  let labels: Record<string, string> = { zone: "a" };
  const sync = new RuntimeSync({
    nodeName: "n1",
    packageSets: { default: "/pkgs" },
    installer,
    runner,
    reporter,
    specs: new SpecStore(mkdtempSync(join(tmpdir(), "specs-"))),
    logger,
    getRuntime: (n) => runtimes.get(n),
    nodeLabels: () => labels,
    retryBackoff: { baseMs: 60_000, maxMs: 60_000 },
  });
  const put = (generation: number, mutate: (r: Runtime) => void = () => {}) => {
    const r = validRuntime("py") as unknown as Runtime;
    r.metadata = { name: "py", uid: "u1", generation };
    mutate(r);
    runtimes.set("py", r);
  };
  return {
    sync,
    reporter,
    installer,
    runner,
    runtimes,
    put,
    setLabels: (l: Record<string, string>) => (labels = l),
  };
}

describe("RuntimeSync", () => {
  it("installs, smoke-tests and reports the current generation", async () => {
    const t = setup();
    t.put(1);
    expect(await t.sync.reconcile("py")).toBeUndefined();
    expect(t.reporter.entry("py", 1)).toMatchObject({ phase: "Installed", closureHash: "h1", uid: "u1" });
    expect(t.runner.runs).toBe(1);
    expect(await t.sync.runtimeFor("py", 1)).toMatchObject({ env: { PATH: "/nix/store/x/bin" } });
    // Level-triggered: nothing more to do.
    await t.sync.reconcile("py");
    expect(t.installer.installs).toHaveLength(1);
  });

  it("reports a failing smoke test with its output, and retries after a backoff", async () => {
    const t = setup();
    t.runner.verdict = "WrongAnswer";
    t.put(1);
    const r = await t.sync.reconcile("py");
    expect(r?.requeueAfterMs).toBeGreaterThan(0);
    const e = t.reporter.entry("py", 1)!;
    expect(e).toMatchObject({ phase: "Failed", reason: "SmokeTestFailed", attempts: 1 });
    expect(e.message).toContain("smoke test WrongAnswer");
    expect(e.message).toContain("nope");
    // Within the backoff: no new attempt.
    expect((await t.sync.reconcile("py"))?.requeueAfterMs).toBeGreaterThan(0);
    expect(t.installer.installs).toHaveLength(1);
  });

  it("on a node without a sandbox, fails at once with the runner's reason and builds nothing", async () => {
    const t = setup();
    Object.assign(t.runner, { unavailable: "isolate (isolate) is not installed on node n1" });
    t.put(1);
    expect((await t.sync.reconcile("py"))?.requeueAfterMs).toBeGreaterThan(0);
    expect(t.reporter.entry("py", 1)).toMatchObject({
      phase: "Failed",
      reason: "SandboxUnavailable",
      message: expect.stringContaining("isolate (isolate) is not installed on node n1"),
    });
    expect(t.installer.installs).toHaveLength(0);
    expect(t.runner.runs).toBe(0);
  });

  it("keeps the active generation while a new one installs, then drops it", async () => {
    const t = setup();
    t.put(1);
    await t.sync.reconcile("py");
    t.put(2, (r) => (r.status = { activeGeneration: 1 }));
    await t.sync.reconcile("py");
    expect(t.reporter.entry("py", 1)?.phase).toBe("Installed");
    expect(t.reporter.entry("py", 2)?.phase).toBe("Installed");
    t.put(2, (r) => (r.status = { activeGeneration: 2 }));
    await t.sync.reconcile("py");
    expect(t.reporter.entry("py", 1)).toBeUndefined();
    expect([...t.installer.roots.keys()]).toEqual(["py@2"]);
    await t.sync.gcNow();
    expect(t.installer.gcs).toBeGreaterThan(0);
  });

  it("removes everything when the Runtime is deleted or the node stops matching", async () => {
    const t = setup();
    t.put(1, (r) => (r.spec.nodeSelector = { zone: "a" }));
    await t.sync.reconcile("py");
    t.setLabels({ zone: "b" });
    await t.sync.reconcile("py");
    expect(t.reporter.entriesFor("py")).toEqual([]);
    t.setLabels({ zone: "a" });
    await t.sync.reconcile("py");
    expect(t.reporter.entry("py", 1)?.phase).toBe("Installed");
    t.runtimes.delete("py");
    await t.sync.reconcile("py");
    expect(t.reporter.entriesFor("py")).toEqual([]);
    expect(t.installer.roots.size).toBe(0);
  });

  it("recovers what is on disk after a restart and drops status entries without roots", async () => {
    const t = setup();
    t.put(1);
    await t.sync.reconcile("py");
    t.installer.roots.clear();
    expect(await t.sync.recover()).toEqual(["py"]);
    expect(t.reporter.entry("py", 1)).toBeUndefined();
  });

  it("marks unknown packages failed with the installer's reason", async () => {
    const t = setup();
    t.installer.fail = "attribute 'nope' missing";
    t.put(1);
    await t.sync.reconcile("py");
    expect(t.reporter.entry("py", 1)).toMatchObject({ phase: "Failed", reason: "UnknownPackage" });
  });

  it("a package set this node does not have fails once, without an install and without retries", async () => {
    const t = setup();
    t.put(1, (r) => {
      r.spec.packageSet = "not-configured";
    });
    expect(await t.sync.reconcile("py")).toBeUndefined();
    const e = t.reporter.entry("py", 1);
    expect(e).toMatchObject({ phase: "Failed", reason: "UnknownPackageSet", attempts: 1 });
    expect(e?.message).toContain('"not-configured" is not configured on this node (known: default)');
    expect(await t.sync.reconcile("py")).toBeUndefined();
    expect(t.reporter.entry("py", 1)?.attempts).toBe(1);
    expect(t.installer.installs).toHaveLength(0);
    // The next generation names a configured set and installs.
    t.put(2, (r) => {
      r.spec.packageSet = "default";
    });
    await t.sync.reconcile("py");
    expect(t.installer.installs.map((i) => i.packageSet)).toEqual(["default"]);
  });
  it("gives a checker's Runtime by name: its active generation here, with its closure hash", async () => {
    const t = setup();
    t.put(1);
    await t.sync.reconcile("py");
    expect(await t.sync.activeRuntime("py")).toMatchObject({
      closureHash: "h1",
      env: { PATH: "/nix/store/x/bin" },
    });
    t.put(2, (r) => (r.status = { activeGeneration: 1 })); // generation 2 not everywhere yet: 1 is active
    expect(await t.sync.activeRuntime("py")).toMatchObject({ closureHash: "h1" });
    t.put(3, (r) => (r.status = { activeGeneration: 3 })); // active, but not installed on this node
    expect(await t.sync.activeRuntime("py")).toBeUndefined();
    expect(await t.sync.activeRuntime("rust")).toBeUndefined();
  });
});
