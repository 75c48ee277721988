import type { Verdict } from "../api/common.ts";
import type { ExecutionSpec, StageResult, TestResult } from "../api/execution.ts";
import type { RuntimeLimits, RuntimeSpec } from "../api/runtime.ts";
import type { TestPlan } from "./problem/test-plan.ts";

/**
 * What the agent's loops need from Nix and from the sandbox. The real
 * implementations live in ./nix and ./sandbox + ./executor; tests of the loops
 * can pass fakes.
 */

export interface InstallRequest {
  runtimeName: string;
  generation: number;
  uid: string;
  packages: string[];
  packageSet: string;
}

export interface InstalledRuntime {
  runtimeName: string;
  generation: number;
  storePaths: string[];
  closureHash: string;
  /** PATH and the variables a Nix shell would set. */
  env: Record<string, string>;
  /** Every store path of the closure (sorted). */
  closure?: string[];
}

export interface RuntimeInstaller {
  install(req: InstallRequest, signal?: AbortSignal): Promise<InstalledRuntime>;
  /** Removes the GC roots of one generation, or of every generation of the Runtime. */
  remove(runtimeName: string, generation?: number): Promise<void>;
  /** Collects store paths no GC root holds any more. */
  gc(): Promise<unknown>;
  listInstalled(): Promise<InstalledRuntime[]>;
}

/** What an Execution runs with: the installed generation's spec and environment. */
export interface RuntimeForExecution {
  spec: RuntimeSpec;
  limits: RuntimeLimits;
  env: Record<string, string>;
  /** The Runtime's closure: when given, a box mounts exactly these store paths instead of /nix/store. */
  closure?: string[];
  /** Nix closure hash of the generation; keys the node's compile cache (no caching without it). */
  closureHash?: string;
  /** Cap on stored stdout/stderr per stage; expected output is compared against the full output. */
  outputCapBytes?: number;
  /** The compile stage's own cap, when it differs (a Problem's tests store no output, its compile does). */
  compileOutputCapBytes?: number;
}

export interface ExecutionOutcome {
  verdict: Verdict;
  compile?: StageResult;
  tests: TestResult[];
  message?: string;
  /** The verdict is InternalError because a checker or interactor failed, not the sandbox. */
  judgeError?: boolean;
}

/** An installed Runtime by name (its active generation on this node), for checkers and interactors. */
export type RuntimeLookup = (name: string) => Promise<Omit<RuntimeForExecution, "limits"> | undefined>;

/** When a run's steps ended (epoch ms), filled in by the runner: the bench's breakdown by hop. */
export interface RunTimings {
  /** The boxes were initialised and the program was in them (compiled, or taken from the cache). */
  readyAt?: number;
  /** Every test had run. */
  ranAt?: number;
  /** The boxes were cleaned up. */
  cleanedAt?: number;
  /** The agent process's CPU (user + system, ms) when each step above ended, by its name. */
  cpuMs?: Record<string, number>;
}

/** Marks `step` as ended now: the epoch ms, and the agent's CPU so far (one cheap call, no syscall per thread). */
export function stamp<T extends RunTimings>(t: T, step: keyof T & string): void {
  const cpu = process.cpuUsage();
  (t as Record<string, unknown>)[step] = Date.now();
  t.cpuMs = { ...t.cpuMs, [step]: Math.round((cpu.user + cpu.system) / 10) / 100 };
}

export interface ExecutionRunner {
  run(
    spec: ExecutionSpec,
    runtime: RuntimeForExecution,
    signal?: AbortSignal,
    timings?: RunTimings,
    plan?: TestPlan,
  ): Promise<ExecutionOutcome>;
  /** Set when nothing can run on this node (no isolate): why. Installs then fail at once, without a Nix build. */
  readonly unavailable?: string;
}

/** Thrown for failures that have a reason worth showing in a condition. */
export class ReasonedError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}
