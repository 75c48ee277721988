// The sandbox of the e2e files that judge without Kubernetes: setUpSandbox as
// the agent runs it, on one isolate installation (isolate-installs.ts) and a
// box id range of the file's own, the executor on it, and the Runtimes and
// Executions those files run. The host's programs are mounted read-only (no
// Nix there); each file gives its own limits and environment.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ExecutorOptions, IsolateExecutor } from "../../src/agent/executor/executor.ts";
import type { ExecutionRuntime, ExecutorContext } from "../../src/agent/executor/run-execution.ts";
import type { BoxNetworkConfig } from "../../src/agent/network/network-config.ts";
import type { RuntimeForExecution } from "../../src/agent/ports.ts";
import { type Sandbox, setUpSandbox } from "../../src/agent/sandbox/setup.ts";
import type { StageLimits } from "../../src/api/common.ts";
import type { ExecutionSpec } from "../../src/api/execution.ts";
import type { RuntimeLimits, RuntimeSpec } from "../../src/api/runtime.ts";
import { PYTHON_3_SPEC } from "../../src/api/test-fixtures.ts";
import type { Logger } from "../../src/logging.ts";
import type { IsolateInstall } from "./isolate-installs.ts";

/** The host directories a box sees, read-only. */
export const HOST_DIRS = ["/usr", "/bin", "/lib", "/lib64"];
export const PATH_ENV = { PATH: "/usr/bin:/bin" };
/** Stored stdout/stderr per stage, unless a file says otherwise. */
const OUTPUT_CAP_BYTES = 64 * 1024;

/** One isolate installation and the box ids a file owns on it. */
export type Boxes = IsolateInstall & { ids: number[] };

export interface BoxesOptions {
  logger: Logger;
  /** Host directories isolate binds into every box itself (setUpSandbox's extraDirs); none when unset. */
  extraDirs?: string[];
  network?: BoxNetworkConfig;
}

/** setUpSandbox on these boxes, its state in stateDir; throws where it finds no isolate. */
export async function setUpBoxes(o: Boxes, stateDir: string, opts: BoxesOptions): Promise<Sandbox> {
  const sb = await setUpSandbox({
    isolateBin: o.bin,
    isolateConfigPath: o.config,
    boxRoot: o.boxRoot,
    boxIdBase: o.ids[0]!,
    boxCount: o.ids.length,
    stateDir,
    extraDirs: opts.extraDirs ?? [],
    ...(opts.network ? { network: opts.network } : {}),
    logger: opts.logger,
  });
  if (!sb) throw new Error(`setUpSandbox found no isolate at ${o.bin}`);
  return sb;
}

/** A temp dir of the file's (tmpPrefix) and a sandbox with its state below it: what a beforeAll makes. */
export async function sandboxFixture(
  o: Boxes,
  tmpPrefix: string,
  opts: BoxesOptions,
): Promise<{ tmp: string; sandbox: Sandbox }> {
  const tmp = mkdtempSync(join(tmpdir(), tmpPrefix));
  try {
    return { tmp, sandbox: await setUpBoxes(o, join(tmp, "state"), opts) };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** runExecution's context on a sandbox. */
export const runContext = (sb: Sandbox, logger: Logger): ExecutorContext => ({
  sandbox: sb.settings,
  pool: sb.pool,
  outputCapBytes: OUTPUT_CAP_BYTES,
  logger,
});

/**
 * The agent's executor on a sandbox. With `mounts`, exactly those host
 * directories in every box (as a closure's store paths); without, what the
 * sandbox was set up with (its extraDirs).
 */
export function executorOn(
  sb: Sandbox,
  logger: Logger,
  o: Partial<ExecutorOptions> & { mounts?: string[] } = {},
): IsolateExecutor {
  const { mounts, ...options } = o;
  return new IsolateExecutor({
    sandbox: mounts ? { ...sb.settings, mounts } : sb.settings,
    pool: sb.pool,
    outputCapBytes: OUTPUT_CAP_BYTES,
    logger,
    ...options,
  });
}

/** A Runtime as the agent hands it to the executor: the host's python3 unless `spec` says otherwise. */
export const hostRuntime = (
  limits: RuntimeLimits,
  env: Record<string, string>,
  spec: Partial<RuntimeSpec> = {},
): RuntimeForExecution => ({
  spec: { ...PYTHON_3_SPEC, limits, ...spec } as RuntimeSpec,
  limits,
  env,
});

/** The Runtime as runExecution takes it: the host's python3, these limits. */
export const pythonRun = (limits: RuntimeLimits, allowNetwork = false): ExecutionRuntime => ({
  language: "python",
  sourceFile: "main.py",
  runCommand: ["python3", "main.py"],
  limits,
  allowNetwork,
});

/** The same Runtime with some run limits changed. */
export const withRun = (rt: ExecutionRuntime, run: Partial<StageLimits>): ExecutionRuntime => ({
  ...rt,
  limits: { ...rt.limits, run: { ...rt.limits.run, ...run } },
});

/** An Execution of one source file, output compared ignoring trailing white space unless `extra` says. */
export const executionSpec = (
  source: string,
  extra: Partial<ExecutionSpec> = {},
  o: { file?: string; runtime?: string } = {},
): ExecutionSpec => ({
  runtime: o.runtime ?? "e2e",
  files: [{ name: o.file ?? "main.src", content: source, encoding: "utf8" }],
  outputComparison: "IgnoreTrailingWhitespace",
  priority: 0,
  ...extra,
});
