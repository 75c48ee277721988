import { isAbsolute, normalize } from "node:path";
import type { ExecutionSpec } from "../../api/execution.ts";
import type { RuntimeLimits, RuntimeSpec } from "../../api/runtime.ts";
import type { Logger } from "../../logging.ts";
import type { ExecutionOutcome, RuntimeLookup } from "../ports.ts";
import type { BoxPool } from "../sandbox/box-pool.ts";
import type { SandboxSettings } from "../sandbox/isolate-box.ts";
import type { CompileCache } from "./compile-cache.ts";
import { IsolateExecutor } from "./executor.ts";
import type { ExecutorMetrics } from "./metrics.ts";

/** What of a Runtime an Execution runs with; limits are the effective ones (defaults, then the Execution's overrides). */
export interface ExecutionRuntime {
  sourceFile: string;
  compileCommand?: string[];
  runCommand: string[];
  /** The Runtime's own extra variables (spec.env); they win over runtimeEnv. */
  env?: Record<string, string>;
  limits: RuntimeLimits;
  allowNetwork: boolean;
  /** Metrics label; "unknown" when unset. */
  language?: string;
  /** Nix closure hash of the generation: with a compile cache, the key of its compiles. */
  closureHash?: string;
}

export interface RunExecutionRequest {
  spec: ExecutionSpec;
  runtime: ExecutionRuntime;
  /** The installed closure's environment (PATH and what a Nix shell sets). */
  runtimeEnv: Record<string, string>;
  /**
   * Exactly the host directories mounted read-only into every box (besides
   * isolate's own /box, /tmp, /proc and /dev): ["/nix/store"], or the store
   * paths of the Runtime's closure so that a box sees nothing else of the
   * store; tests on hosts without Nix runtimes pass /usr, /bin, /lib, /lib64.
   * Absolute, normalised, and never "/".
   */
  mounts: string[];
  /** Cap of stored stdout/stderr per stage; the executor's default when unset. */
  outputCapBytes?: number;
  signal?: AbortSignal;
}

export interface RunExecutionResult extends ExecutionOutcome {
  /** Compile stages run: 1 for a compiled Runtime whatever the number of test cases, 0 otherwise. */
  compiles: number;
}

export interface ExecutorContext {
  sandbox: SandboxSettings;
  pool: BoxPool;
  outputCapBytes: number;
  logger: Logger;
  metrics?: ExecutorMetrics;
  /** The node's compile cache; every compile runs when unset. */
  compileCache?: CompileCache;
  /** Runtimes of checkers and interactors written for another Runtime than the Execution's. */
  runtimes?: RuntimeLookup;
}

/**
 * One Execution in one slot of the pool, as a function: compile once, each
 * test case in a fresh box seeded with the compiled files, test cases in
 * order; the verdict is the first non-Accepted test's (see IsolateExecutor).
 */
export async function runExecution(
  ctx: ExecutorContext,
  req: RunExecutionRequest,
): Promise<RunExecutionResult> {
  const rt = req.runtime;
  for (const m of req.mounts)
    if (!isAbsolute(m) || normalize(m) !== m || m === "/" || m.endsWith("/"))
      throw new Error(`mount must be an absolute, normalised directory other than /: ${JSON.stringify(m)}`);
  const executor = new IsolateExecutor({ ...ctx, sandbox: { ...ctx.sandbox, mounts: req.mounts } });
  const spec = {
    language: rt.language ?? "unknown",
    sourceFile: rt.sourceFile,
    ...(rt.compileCommand ? { compileCommand: rt.compileCommand } : {}),
    runCommand: rt.runCommand,
    env: Object.entries(rt.env ?? {}).map(([name, value]) => ({ name, value })),
    allowNetwork: rt.allowNetwork,
    limits: rt.limits, // a checker or interactor in this Runtime starts from them
  } as RuntimeSpec; // the executor reads only these fields of the spec
  const outcome = await executor.run(
    req.spec,
    {
      spec,
      limits: rt.limits,
      env: req.runtimeEnv,
      ...(rt.closureHash !== undefined ? { closureHash: rt.closureHash } : {}),
      ...(req.outputCapBytes !== undefined ? { outputCapBytes: req.outputCapBytes } : {}),
    },
    req.signal,
  );
  return { ...outcome, compiles: executor.compiles };
}
