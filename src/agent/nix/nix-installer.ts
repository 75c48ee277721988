import { readdir, rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../logging.ts";
import type { InstalledRuntime, InstallRequest, RuntimeInstaller } from "../ports.ts";
import { closureHash, isStorePath, parseBuildOutputs, parseStorePaths } from "./closure.ts";
import { classifyNixFailure, NixInstallError } from "./errors.ts";
import { collectGarbage, type GcOptions, type GcResult } from "./gc.ts";
import { runSetupHooksInSandbox } from "./hook-sandbox.ts";
import type { NixMetrics } from "./metrics.ts";
import { computeEnv } from "./nix-env.ts";
import { nixBuildVersion } from "./nix-version.ts";
import {
  checkPackageSets,
  DEFAULT_PACKAGE_SET,
  type PackageSets,
  resolvePackageSet,
} from "./package-sets.ts";
import { type RunResult, runCommand } from "./run.ts";
import { checkGeneration, checkRuntimeName, type InstallRecord, StateDir } from "./state-dir.ts";

/**
 * Installs Runtime generations with Nix, the way the agent does on every node:
 *
 *   nix-build <packageSet> -A <pkg>... --out-link <partial>/result [--option ...]
 *
 * builds or substitutes the packages; each output gets a GC root
 * `<stateDir>/gcroots/<runtime>/<generation>/<i>` (an indirect root, like
 * nix-build's own out-links); the closure (`nix-store -qR`) gives the closure
 * hash; the environment is computed as in nix-env.ts, setup hooks in Nix's
 * build sandbox (hook-sandbox.ts; its output is rooted as `<generation>/env`).
 * See state-dir.ts for the atomic layout, errors.ts for failure reasons.
 *
 * A request names its package set; only the sets configured here exist
 * (package-sets.ts). Every nix-build runs with the sandbox forced on, no
 * fallback to building unsandboxed, and build users.
 */
export interface NixInstallerOptions {
  /** Agent state directory (ENVICUTOR_STATE_DIR). */
  stateDir: string;
  /** The package sets requests may name (name → absolute path, <channel> or URL); "default" when a request names none. */
  packageSets: PackageSets;
  /** Binary caches; when unset Nix's own configuration decides. */
  substituters?: string[];
  trustedPublicKeys?: string[];
  /** Further `--option NAME VALUE` pairs, e.g. { "max-jobs": "0", sandbox: "true" }. */
  nixOptions?: Record<string, string>;
  /** Whole install (evaluation, build or substitution, roots, environment); default 15 minutes. */
  timeoutMs?: number;
  /** Setup hooks of the packages (Nix's own build timeout); default 10 s. */
  hookTimeoutMs?: number;
  /** Attribute of each package set whose bin/bash runs setup hooks in the sandbox; default "bash". */
  shellAttribute?: string;
  /** Group of Nix's build users (builds never run as root); default "nixbld". */
  buildUsersGroup?: string;
  /** SIGTERM → SIGKILL grace for a Nix process that overran; default 5 s. */
  killGraceMs?: number;
  /** Directory holding nix-build and nix-store; PATH when unset. */
  nixBinDir?: string;
  logger?: Logger;
  metrics?: NixMetrics;
}

/** What an install produced (also what listInstalled reads back after a restart). */
export interface NixInstalledRuntime extends InstalledRuntime {
  uid: string;
  packages: string[];
  /** Location of the package set (packageSetName says which configured set it was). */
  packageSet: string;
  packageSetName?: string;
  /** The environment file computed in the sandbox, when a package had setup hooks. */
  envPath?: string;
  /** Sorted store paths of the closure. */
  closure: string[];
  installedAt: string;
}

/** A Nix attribute path, as in the Runtime API (never an option). */
const ATTR_PATH = /^[A-Za-z_][A-Za-z0-9_'-]*([.][A-Za-z_][A-Za-z0-9_'-]*)*$/;

const toResult = (r: InstallRecord): NixInstalledRuntime => ({
  runtimeName: r.runtimeName,
  generation: r.generation,
  uid: r.uid,
  packages: r.packages,
  packageSet: r.packageSet,
  ...(r.packageSetName ? { packageSetName: r.packageSetName } : {}),
  ...(r.envPath ? { envPath: r.envPath } : {}),
  storePaths: r.storePaths,
  closure: r.closure,
  closureHash: r.closureHash,
  env: r.env,
  installedAt: r.installedAt,
});

/** One install in progress: its request, partial directory and shared deadline. */
interface InstallRun {
  req: InstallRequest;
  packageSet: string;
  partial: string;
  signal: AbortSignal | undefined;
  remaining: () => number;
}

function installRecord(
  run: InstallRun,
  built: Pick<InstallRecord, "storePaths" | "closure" | "env"> & { envPath: string | undefined },
): InstallRecord {
  const { req } = run;
  return {
    version: 1,
    runtimeName: req.runtimeName,
    generation: req.generation,
    uid: req.uid,
    packages: [...req.packages],
    packageSet: run.packageSet,
    packageSetName: req.packageSet || DEFAULT_PACKAGE_SET,
    ...(built.envPath ? { envPath: built.envPath } : {}),
    storePaths: built.storePaths,
    closure: built.closure,
    closureHash: closureHash(built.closure),
    env: built.env,
    installedAt: new Date().toISOString(),
  };
}

export class NixInstaller implements RuntimeInstaller {
  readonly state: StateDir;
  private readonly opts: NixInstallerOptions;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(opts: NixInstallerOptions) {
    this.opts = opts;
    this.state = new StateDir(opts.stateDir);
    checkPackageSets(opts.packageSets);
  }

  /** `--option` arguments shared by every Nix command of an install. */
  nixOptionArgs(): string[] {
    const args: string[] = [];
    const o = this.opts;
    if (o.substituters) args.push("--option", "substituters", o.substituters.join(" "));
    if (o.trustedPublicKeys) args.push("--option", "trusted-public-keys", o.trustedPublicKeys.join(" "));
    for (const [k, v] of Object.entries(o.nixOptions ?? {})) args.push("--option", k, v);
    // Last, so nothing above turns them off: package builds and setup hooks run sandboxed, as build users.
    args.push("--option", "sandbox", "true", "--option", "sandbox-fallback", "false");
    args.push("--option", "build-users-group", o.buildUsersGroup ?? "nixbld");
    return args;
  }

  private bin(name: string): string {
    return this.opts.nixBinDir ? join(this.opts.nixBinDir, name) : name;
  }

  /** Serialises work on one Runtime generation within this process. */
  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }

  async install(req: InstallRequest, signal?: AbortSignal): Promise<NixInstalledRuntime> {
    checkRuntimeName(req.runtimeName);
    checkGeneration(req.generation);
    const packageSet = resolvePackageSet(this.opts.packageSets, req.packageSet);
    if (req.packages.length === 0) throw new NixInstallError("UnknownPackage", "no packages to install");
    for (const p of req.packages) {
      if (!ATTR_PATH.test(p))
        throw new NixInstallError("UnknownPackage", `invalid package attribute ${JSON.stringify(p)}`);
    }
    const started = Date.now();
    const observe = (result: string) => {
      this.opts.metrics?.installs.inc({ result });
      this.opts.metrics?.installDuration.observe({ result }, (Date.now() - started) / 1000);
    };
    try {
      const { result, fresh } = await this.locked(`${req.runtimeName}/${req.generation}`, () =>
        this.installLocked(req, packageSet, signal),
      );
      observe(fresh ? "Installed" : "AlreadyInstalled");
      await this.refreshGauge();
      return result;
    } catch (err) {
      observe(err instanceof NixInstallError ? err.reason : "NixError");
      throw err;
    }
  }

  private async installLocked(
    req: InstallRequest,
    packageSet: string,
    signal: AbortSignal | undefined,
  ): Promise<{ result: NixInstalledRuntime; fresh: boolean }> {
    const log = this.opts.logger?.child({ runtime: req.runtimeName, generation: req.generation });
    const existing = await this.existingInstall(req, packageSet);
    if (existing) {
      log?.debug("already installed");
      return { result: toResult(existing), fresh: false };
    }

    const stale = await this.state.cleanPartial(req.runtimeName, req.generation);
    if (stale.length) log?.warn({ stale }, "removed leftovers of an interrupted install");

    // One deadline for the whole install: every step gets only what is left of it.
    const deadline = Date.now() + (this.opts.timeoutMs ?? 15 * 60_000);
    const partial = await this.state.createPartial(req.runtimeName, req.generation);
    const run: InstallRun = {
      req,
      packageSet,
      partial,
      signal,
      remaining: () => Math.max(1, deadline - Date.now()),
    };
    try {
      log?.info({ packages: req.packages, packageSet }, "installing");
      const storePaths = await this.buildOutputs(run);
      await this.rootOutputs(run, storePaths);
      const closure = parseStorePaths(
        (await this.nix("nix-store", ["-qR", ...storePaths], run.remaining(), signal)).stdout,
      );
      const { env, envPath } = await this.environment(run, storePaths);
      const record = installRecord(run, { storePaths, closure, env, envPath });
      await this.state.commit(partial, record);
      log?.info({ storePaths, closureHash: record.closureHash, paths: closure.length }, "installed");
      return { result: toResult(record), fresh: true };
    } catch (err) {
      throw await this.abandon(run, err, log);
    }
  }

  /** A committed install of exactly this request whose store paths are still valid. */
  private async existingInstall(req: InstallRequest, packageSet: string): Promise<InstallRecord | undefined> {
    const existing = await this.state.read(req.runtimeName, req.generation);
    if (
      existing &&
      existing.uid === req.uid &&
      existing.packageSet === packageSet &&
      existing.packages.join("\0") === req.packages.join("\0") &&
      (await this.valid([...existing.storePaths, ...(existing.envPath ? [existing.envPath] : [])]))
    ) {
      return existing;
    }
    return undefined;
  }

  private async buildOutputs(run: InstallRun): Promise<string[]> {
    const build = await this.nix(
      "nix-build",
      [
        run.packageSet,
        ...run.req.packages.flatMap((p) => ["-A", p]),
        "--out-link",
        join(run.partial, "result"),
        ...this.nixOptionArgs(),
      ],
      run.remaining(),
      run.signal,
    );
    const storePaths = parseBuildOutputs(build.stdout);
    if (storePaths.length === 0 || !storePaths.every(isStorePath)) {
      throw new NixInstallError(
        "NixError",
        `nix-build printed no store paths: ${build.stdout.slice(0, 300)}`,
      );
    }
    return storePaths;
  }

  /** One root per output under its final name, then drop nix-build's result* links. */
  private async rootOutputs(run: InstallRun, storePaths: string[]): Promise<void> {
    for (const [i, p] of storePaths.entries()) {
      await this.nix(
        "nix-store",
        ["--add-root", join(run.partial, String(i)), "--realise", p],
        run.remaining(),
        run.signal,
      );
    }
    for (const e of await readdir(run.partial)) {
      if (e.startsWith("result")) await rm(join(run.partial, e), { force: true });
    }
  }

  private async environment(
    run: InstallRun,
    storePaths: string[],
  ): Promise<{ env: InstallRecord["env"]; envPath: string | undefined }> {
    let envPath: string | undefined;
    const env = await computeEnv(storePaths, {
      runSetupHooks: async (paths, base) => {
        const r = await runSetupHooksInSandbox({
          packageSetLocation: run.packageSet,
          storePaths: paths,
          base,
          outLink: join(run.partial, "env"),
          shellLink: join(run.partial, "result-shell"),
          hookTimeoutMs: Math.min(this.opts.hookTimeoutMs ?? 10_000, run.remaining()),
          timeoutMs: run.remaining(),
          nixBuild: this.bin("nix-build"),
          nixOptionArgs: this.nixOptionArgs(),
          ...(this.opts.shellAttribute ? { shellAttribute: this.opts.shellAttribute } : {}),
          ...(this.opts.killGraceMs ? { killGraceMs: this.opts.killGraceMs } : {}),
          ...(run.signal ? { signal: run.signal } : {}),
        });
        envPath = r.envPath;
        return r.env;
      },
    });
    return { env, envPath };
  }

  /** Removes the partial install and returns the error to throw, classified. */
  private async abandon(run: InstallRun, err: unknown, log: Logger | undefined): Promise<NixInstallError> {
    await rm(run.partial, { recursive: true, force: true });
    // no empty directory for a Runtime that never installed
    await rmdir(this.state.runtimeDir(run.req.runtimeName)).catch(() => undefined);
    if (err instanceof NixInstallError) {
      log?.warn({ reason: err.reason, detail: err.detail || undefined }, err.message);
      return err;
    }
    return new NixInstallError("NixError", err instanceof Error ? err.message : String(err));
  }

  /** Runs a Nix command; a failure becomes a classified NixInstallError. */
  private async nix(
    cmd: string,
    args: string[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<RunResult> {
    const res = await runCommand(this.bin(cmd), args, {
      timeoutMs,
      killGraceMs: this.opts.killGraceMs ?? 5_000,
      ...(signal ? { signal } : {}),
    });
    if (res.timedOut) {
      throw new NixInstallError(
        "Timeout",
        `install did not finish within ${Math.round((this.opts.timeoutMs ?? 15 * 60_000) / 1000)}s (${cmd} killed)`,
        res.stderr,
      );
    }
    if (res.aborted) throw new NixInstallError("NixError", `${cmd} aborted`, res.stderr);
    if (res.exitCode !== 0) throw classifyNixFailure(res.stderr, res.exitCode);
    return res;
  }

  /** Whether all paths are valid in the local store (a root could have been removed behind our back). */
  private async valid(paths: string[]): Promise<boolean> {
    const res = await runCommand(this.bin("nix-store"), ["--check-validity", ...paths], {
      timeoutMs: 60_000,
    });
    return res.exitCode === 0;
  }

  /** Removes the GC roots of one generation, or of every generation; gc() then frees the store paths. */
  async remove(runtimeName: string, generation?: number): Promise<void> {
    checkRuntimeName(runtimeName);
    if (generation === undefined) {
      for (const g of await this.state.generations(runtimeName)) {
        await this.locked(`${runtimeName}/${g}`, () => this.state.remove(runtimeName, g));
      }
      await this.state.removeAll(runtimeName);
    } else {
      checkGeneration(generation);
      await this.locked(`${runtimeName}/${generation}`, () => this.state.remove(runtimeName, generation));
    }
    this.opts.logger?.info({ runtime: runtimeName, generation }, "removed GC roots");
    await this.refreshGauge();
  }

  /** Collects store paths no GC root holds any more (RuntimeInstaller.gc). */
  async gc(): Promise<void> {
    await this.collect();
  }

  /** Collects unreferenced store paths: all of them, or only `paths` (see GcOptions). */
  async collect(opts: Pick<GcOptions, "paths" | "signal"> = {}): Promise<GcResult> {
    const res = await collectGarbage({
      ...opts,
      ...(this.opts.nixBinDir ? { nixBinDir: this.opts.nixBinDir } : {}),
      timeoutMs: this.opts.timeoutMs ?? 15 * 60_000,
    });
    this.opts.logger?.info({ summary: res.summary, deleted: res.deleted.length }, "garbage collected");
    return res;
  }

  /** Installed generations, from the state directory (the agent catches up from this after a restart). */
  async listInstalled(): Promise<NixInstalledRuntime[]> {
    return (await this.state.list()).map(toResult);
  }

  /** Removes leftovers of installs interrupted by a crash; call once at start-up. */
  async recover(): Promise<string[]> {
    const removed: string[] = [];
    const names = await readdir(this.state.root).catch(() => [] as string[]);
    for (const name of names) {
      try {
        removed.push(...(await this.state.cleanPartial(name)));
      } catch {
        // not a runtime directory
      }
    }
    await this.refreshGauge();
    return removed;
  }

  /** `nix-build --version`, e.g. "2.8.0" (for the Worker status). */
  nixVersion(): Promise<string> {
    return nixBuildVersion(this.bin("nix-build"));
  }

  private async refreshGauge(): Promise<void> {
    if (!this.opts.metrics) return;
    this.opts.metrics.installedRuntimes.set((await this.state.list()).length);
  }
}
