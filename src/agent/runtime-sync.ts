import type { ExecutionSpec } from "../api/execution.ts";
import { resolveExecutionLimits } from "../api/limits.ts";
import { type Runtime, type RuntimeSpec, runtimeEligibleOn } from "../api/runtime.ts";
import type { RuntimeInstall } from "../api/worker.ts";
import { backoffDelay } from "../k8s/backoff.ts";
import { errText } from "../k8s/errors.ts";
import { isDeleting } from "../k8s/finalizers.ts";
import type { ProcessResult } from "../k8s/work-queue.ts";
import type { Logger } from "../logging.ts";
import { DEFAULT_PACKAGE_SET, type PackageSets, resolvePackageSet } from "./nix/package-sets.ts";
import {
  type ExecutionOutcome,
  type ExecutionRunner,
  type InstalledRuntime,
  ReasonedError,
  type RuntimeInstaller,
} from "./ports.ts";
import type { SpecStore } from "./spec-store.ts";
import type { WorkerReporter } from "./worker-reporter.ts";

export interface RuntimeSyncOptions {
  nodeName: string;
  /** The package sets this node has; a Runtime naming another fails without an install. Unset: the installer decides. */
  packageSets?: PackageSets;
  installer: RuntimeInstaller;
  runner: ExecutionRunner;
  reporter: WorkerReporter;
  specs: SpecStore;
  logger: Logger;
  /** Current Runtime object by name (from the informer's cache). */
  getRuntime: (name: string) => Runtime | undefined;
  /** This node's labels, for spec.nodeSelector. */
  nodeLabels: () => Record<string, string> | undefined;
  /** Retry delays of failed installs. */
  retryBackoff?: { baseMs: number; maxMs: number };
  onInstallResult?: (result: "success" | "failure", seconds: number, reason?: string) => void;
}

/** One install attempt of a Runtime generation, as the Worker reports it. */
interface InstallAttempt {
  name: string;
  generation: number;
  uid: string;
  attempts: number;
}

/**
 * Level-triggered install loop of one node, keyed by Runtime name. Wanted:
 * the Runtime's current generation, plus the generation Executions still run
 * with (status.activeGeneration) while a new one rolls out. Everything else of
 * that name — old generations, a deleted or re-created Runtime, one whose node
 * selector no longer matches — has its GC roots removed and is collected.
 */
export class RuntimeSync {
  private readonly o: RuntimeSyncOptions;
  private readonly installed = new Map<string, InstalledRuntime>();
  private readonly inflight = new Map<string, { generation: number; abort: AbortController }>();
  private gcTimer: NodeJS.Timeout | undefined;

  constructor(opts: RuntimeSyncOptions) {
    this.o = opts;
  }

  /** Loads what Nix already has (after a restart) and returns every Runtime name to reconcile. */
  async recover(): Promise<string[]> {
    const names = new Set<string>();
    const onDisk = await this.o.installer.listInstalled();
    this.installed.clear();
    for (const r of onDisk) {
      this.installed.set(`${r.runtimeName}@${r.generation}`, r);
      names.add(r.runtimeName);
    }
    for (const e of this.o.reporter.all()) {
      names.add(e.name);
      // A status that says Installed without a GC root on disk (state wiped) is not true any more.
      if (e.phase === "Installed" && !this.installed.has(`${e.name}@${e.generation}`))
        this.o.reporter.delete(e.name, e.generation);
    }
    return [...names];
  }

  /** What an Execution assigned to this node runs with, or undefined if that generation is not here. */
  async runtimeFor(
    name: string,
    generation: number,
  ): Promise<
    { spec: RuntimeSpec; env: Record<string, string>; closure?: string[]; closureHash: string } | undefined
  > {
    const inst = this.installed.get(`${name}@${generation}`);
    if (!inst || this.o.reporter.entry(name, generation)?.phase !== "Installed") return undefined;
    const current = this.o.getRuntime(name);
    const spec =
      (await this.o.specs.load(name, generation)) ??
      (current?.metadata.generation === generation ? current.spec : undefined);
    if (!spec) return undefined;
    return {
      spec,
      env: inst.env,
      closureHash: inst.closureHash,
      ...(inst.closure ? { closure: inst.closure } : {}),
    };
  }

  /** The Runtime's active generation, if installed here: what a checker or interactor written for it runs with. */
  async activeRuntime(name: string): Promise<Awaited<ReturnType<RuntimeSync["runtimeFor"]>>> {
    const rt = this.o.getRuntime(name);
    const generation = rt?.status?.activeGeneration ?? rt?.metadata.generation;
    return generation === undefined ? undefined : this.runtimeFor(name, generation);
  }

  /** Aborts an install whose generation is no longer the Runtime's current one. */
  runtimeChanged(name: string): void {
    const job = this.inflight.get(name);
    const rt = this.o.getRuntime(name);
    if (job && (!rt || isDeleting(rt) || rt.metadata.generation !== job.generation)) job.abort.abort();
  }

  async reconcile(name: string): Promise<ProcessResult | undefined> {
    const rt = this.o.getRuntime(name);
    const wanted = new Set<number>();
    const current = rt && !isDeleting(rt) && runtimeEligibleOn(rt.spec, this.o.nodeLabels()) ? rt : undefined;
    if (current) {
      wanted.add(current.metadata.generation ?? 1);
      if (current.status?.activeGeneration) wanted.add(current.status.activeGeneration);
    }

    const generations = new Set<number>([
      ...this.o.reporter.entriesFor(name).map((e) => e.generation),
      ...[...this.installed.values()].filter((r) => r.runtimeName === name).map((r) => r.generation),
    ]);
    let removed = false;
    for (const gen of generations) {
      const entry = this.o.reporter.entry(name, gen);
      const recreated = current && entry?.uid && entry.uid !== current.metadata.uid;
      if (wanted.has(gen) && !recreated) continue;
      await this.remove(name, gen, entry);
      removed = true;
    }
    if (removed) this.scheduleGc();
    if (!current) return undefined;

    const generation = current.metadata.generation ?? 1;
    const entry = this.o.reporter.entry(name, generation);
    if (entry?.phase === "Installed" && this.installed.has(`${name}@${generation}`)) return undefined;
    if (this.refuseUnknownPackageSet(current, entry)) return undefined;
    if (entry?.phase === "Failed") {
      const since = Date.now() - Date.parse(entry.lastTransitionTime ?? "0");
      const wait = this.retryDelay(entry.attempts ?? 1) - since;
      if (wait > 0) return { requeueAfterMs: wait };
    }
    return this.install(current, (entry?.phase === "Failed" ? (entry.attempts ?? 0) : 0) + 1);
  }

  /**
   * A package set this node was not configured with: Failed once, with the
   * reason, and no retries (only a new agent configuration, i.e. a restart,
   * can add a set; the next reconcile after that installs).
   */
  private refuseUnknownPackageSet(rt: Runtime, entry: RuntimeInstall | undefined): boolean {
    if (!this.o.packageSets) return false;
    try {
      resolvePackageSet(this.o.packageSets, rt.spec.packageSet);
      return false;
    } catch (err) {
      if (entry?.phase === "Failed" && entry.reason === "UnknownPackageSet") return true;
      const name = rt.metadata.name!;
      const generation = rt.metadata.generation ?? 1;
      const message = errText(err);
      this.o.reporter.set({
        name,
        generation,
        uid: rt.metadata.uid ?? "",
        attempts: (entry?.attempts ?? 0) + 1,
        phase: "Failed",
        reason: "UnknownPackageSet",
        message,
      });
      this.o.onInstallResult?.("failure", 0, "UnknownPackageSet");
      this.o.logger.warn({ runtime: name, generation, packageSet: rt.spec.packageSet }, message);
      return true;
    }
  }

  private retryDelay(attempts: number): number {
    return backoffDelay(attempts - 1, this.o.retryBackoff ?? { baseMs: 5_000, maxMs: 300_000 });
  }

  private async remove(name: string, generation: number, entry: RuntimeInstall | undefined): Promise<void> {
    if (entry)
      this.o.reporter.set({ ...entry, phase: "Removing", reason: "Removing", message: "removing GC roots" });
    await this.o.installer.remove(name, generation);
    await this.o.specs.delete(name, generation);
    this.installed.delete(`${name}@${generation}`);
    this.o.reporter.delete(name, generation);
    this.o.logger.info({ runtime: name, generation }, "removed runtime generation");
  }

  private scheduleGc(): void {
    if (this.gcTimer) return;
    this.gcTimer = setTimeout(() => {
      this.gcTimer = undefined;
      this.o.installer
        .gc()
        .catch((err: unknown) => this.o.logger.warn({ err: errText(err) }, "nix garbage collection failed"));
    }, 500);
  }

  /** Runs a collection that is still pending (graceful shutdown: nothing removed stays on disk). */
  async flushGc(): Promise<void> {
    if (this.gcTimer) await this.gcNow();
  }

  /** Runs garbage collection now (tests and shutdown). */
  async gcNow(): Promise<void> {
    if (this.gcTimer) clearTimeout(this.gcTimer);
    this.gcTimer = undefined;
    await this.o.installer.gc();
  }

  private async install(rt: Runtime, attempts: number): Promise<ProcessResult | undefined> {
    const name = rt.metadata.name!;
    const generation = rt.metadata.generation ?? 1;
    const abort = new AbortController();
    this.inflight.set(name, { generation, abort });
    const started = Date.now();
    const base: InstallAttempt = { name, generation, uid: rt.metadata.uid ?? "", attempts };
    this.o.reporter.set({
      ...base,
      phase: "Installing",
      reason: "Installing",
      message: `installing ${rt.spec.packages.join(" ")}`,
    });
    try {
      const inst = await this.installAndSmokeTest(rt, base, abort.signal);
      this.o.onInstallResult?.("success", (Date.now() - started) / 1000);
      this.o.logger.info(
        { runtime: name, generation, closureHash: inst.closureHash, seconds: (Date.now() - started) / 1000 },
        "runtime installed",
      );
      return undefined;
    } catch (err) {
      return this.installFailed(err, base, abort.signal, started);
    } finally {
      this.inflight.delete(name);
    }
  }

  /** Install, smoke test, save the spec: only then is the generation Installed on this node. */
  private async installAndSmokeTest(
    rt: Runtime,
    base: InstallAttempt,
    signal: AbortSignal,
  ): Promise<InstalledRuntime> {
    const { name, generation, uid } = base;
    // A node that can run nothing cannot smoke-test: say so now, not after a Nix build of minutes.
    if (this.o.runner.unavailable) throw new ReasonedError("SandboxUnavailable", this.o.runner.unavailable);
    const inst = await this.o.installer.install(
      {
        runtimeName: name,
        generation,
        uid,
        packages: rt.spec.packages,
        packageSet: rt.spec.packageSet ?? DEFAULT_PACKAGE_SET,
      },
      signal,
    );
    this.installed.set(`${name}@${generation}`, inst);
    const built = { storePaths: inst.storePaths, closureHash: inst.closureHash };
    this.o.reporter.set({
      ...base,
      phase: "Installing",
      reason: "SmokeTesting",
      message: "running the smoke test",
      ...built,
    });
    const outcome = await this.smokeTest(rt.spec, inst, signal);
    if (outcome.verdict !== "Accepted") {
      throw Object.assign(new Error(describeSmokeFailure(outcome)), { reason: "SmokeTestFailed" });
    }
    await this.o.specs.save(name, generation, rt.spec);
    this.o.reporter.set({
      ...base,
      phase: "Installed",
      reason: "Installed",
      message: "installed and smoke-tested",
      ...built,
    });
    return inst;
  }

  private installFailed(
    err: unknown,
    base: InstallAttempt,
    signal: AbortSignal,
    started: number,
  ): ProcessResult {
    const { name, generation, attempts } = base;
    if (signal.aborted) {
      // Superseded by a newer generation or deleted: the next reconcile decides what to keep.
      this.o.reporter.delete(name, generation);
      return { requeueAfterMs: 0 };
    }
    const reason = (err as { reason?: string }).reason ?? "InstallFailed";
    const message = errText(err).slice(0, 4000);
    this.o.reporter.set({ ...base, phase: "Failed", reason, message });
    this.o.onInstallResult?.("failure", (Date.now() - started) / 1000, reason);
    this.o.logger.warn(
      { runtime: name, generation, reason, err: message, attempts },
      "runtime install failed",
    );
    return { requeueAfterMs: this.retryDelay(attempts) };
  }

  private smokeTest(
    spec: RuntimeSpec,
    inst: InstalledRuntime,
    signal: AbortSignal,
  ): Promise<ExecutionOutcome> {
    const exec: ExecutionSpec = {
      runtime: "smoke-test",
      files: [{ name: spec.sourceFile, content: spec.smokeTest.source, encoding: "utf8" }],
      ...(spec.smokeTest.stdin !== undefined ? { stdin: spec.smokeTest.stdin } : {}),
      expectedOutput: spec.smokeTest.expectedOutput,
      outputComparison: "IgnoreTrailingWhitespace",
      priority: 0,
    };
    const { limits } = resolveExecutionLimits(spec, {});
    return this.o.runner.run(
      exec,
      { spec, limits, env: inst.env, ...(inst.closure ? { closure: inst.closure } : {}) },
      signal,
    );
  }
}

function describeSmokeFailure(outcome: ExecutionOutcome): string {
  const stage = outcome.verdict === "CompilationError" ? outcome.compile : outcome.tests[0];
  const detail = [
    stage?.message,
    stage?.stderr?.trim().slice(0, 1000),
    stage?.stdout !== undefined ? `stdout: ${JSON.stringify(stage.stdout.slice(0, 200))}` : undefined,
  ]
    .filter(Boolean)
    .join("; ");
  return `smoke test ${outcome.verdict}${outcome.message ? `: ${outcome.message}` : ""}${detail ? ` (${detail})` : ""}`;
}
