import { statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { StageLimits } from "../../api/common.ts";
import type { ExecutionSpec, StageResult, TestResult } from "../../api/execution.ts";
import { DEFAULT_LIMITS } from "../../api/runtime.ts";
import type { Logger } from "../../logging.ts";
import type { BoxRunLimits } from "../network/nft-ruleset.ts";
import {
  type ExecutionOutcome,
  type ExecutionRunner,
  ReasonedError,
  type RuntimeForExecution,
} from "../ports.ts";
import type { BoxPool } from "../sandbox/box-pool.ts";
import type { StorageLimits } from "../sandbox/box-storage.ts";
import { outputMatches } from "../sandbox/compare.ts";
import {
  type BoxFile,
  IsolateBox,
  type RunResult,
  type SandboxSettings,
  SnapshotLimitError,
} from "../sandbox/isolate-box.ts";
import { truncateUtf8 } from "../sandbox/output-capture.ts";
import { judgeRun } from "../sandbox/verdict.ts";
import type { ExecutorMetrics } from "./metrics.ts";
import { boxFilesFor } from "./source-files.ts";

export interface ExecutorOptions {
  sandbox: SandboxSettings;
  pool: BoxPool;
  /** Default cap of stored stdout/stderr per stage, in bytes. */
  outputCapBytes: number;
  logger: Logger;
  metrics?: ExecutorMetrics;
  /** Why networked Runtimes cannot run on this node (see setUpSandbox); their smoke tests fail with it. */
  networkUnavailable?: string;
}

/**
 * Runs one Execution in isolate: compile once in a box, save the box's regular
 * files to the agent's disk (kernel copies, not through its memory), then run
 * every test case in a fresh box seeded from that copy, so test cases share
 * nothing (not /box, not /tmp, not /dev/shm). The overall verdict is the first
 * test (in order) that is not Accepted, else Accepted.
 */
export class IsolateExecutor implements ExecutionRunner {
  private readonly o: ExecutorOptions;
  /** Compile stages run by this executor (tests check compile-once). */
  compiles = 0;

  constructor(opts: ExecutorOptions) {
    this.o = opts;
  }

  async run(
    spec: ExecutionSpec,
    runtime: RuntimeForExecution,
    signal?: AbortSignal,
  ): Promise<ExecutionOutcome> {
    if (runtime.spec.allowNetwork && !this.o.sandbox.network)
      throw new ReasonedError(
        "NetworkDisabled",
        this.o.networkUnavailable ?? "networked Runtimes are off on this node",
      );
    return this.o.pool.with(async (id) => {
      const box = new IsolateBox(this.settingsFor(runtime), id);
      const compiled = join(this.o.sandbox.workDir, `compiled-${id}`);
      try {
        return await this.runInBox(box, compiled, spec, runtime, signal);
      } finally {
        await box
          .cleanup()
          .catch((err: unknown) => this.o.logger.error({ err: String(err), box: id }, "box cleanup failed"));
        await rm(compiled, { recursive: true, force: true });
      }
    });
  }

  /**
   * With the Runtime's closure known, the box mounts exactly those store paths
   * (plus configured extra dirs), so it sees the Runtime and nothing else of
   * /nix/store. isolate binds directories only: a closure holding a plain-file
   * store path falls back to the whole store, read-only.
   */
  private settingsFor(rt: RuntimeForExecution): SandboxSettings {
    const closure = rt.closure;
    if (!closure?.length || this.o.sandbox.mounts) return this.o.sandbox;
    const allDirs = closure.every((p) => {
      try {
        return p.startsWith("/nix/store/") && statSync(p).isDirectory();
      } catch {
        return false;
      }
    });
    return allDirs
      ? { ...this.o.sandbox, mounts: [...closure, ...this.o.sandbox.extraDirs] }
      : this.o.sandbox;
  }

  private async runInBox(
    box: IsolateBox,
    compiled: string,
    spec: ExecutionSpec,
    rt: RuntimeForExecution,
    signal?: AbortSignal,
  ): Promise<ExecutionOutcome> {
    const cap = rt.outputCapBytes ?? this.o.outputCapBytes;
    const env = { ...rt.env, ...Object.fromEntries((rt.spec.env ?? []).map((e) => [e.name, e.value])) };
    const allowNetwork = rt.spec.allowNetwork ?? false;
    const files: BoxFile[] = boxFilesFor(spec.files, rt.spec.sourceFile);
    let compile: StageResult | undefined;

    if (rt.spec.compileCommand) {
      const started = Date.now();
      await box.init(storageOf(rt.limits.compile, "compile"));
      await box.writeFiles(files);
      const r = await box.run({
        argv: rt.spec.compileCommand,
        env,
        stdin: "",
        limits: rt.limits.compile,
        allowNetwork,
        network: networkOf(rt.limits.compile, "compile"),
      });
      this.compiles++;
      this.o.metrics?.compiles.inc();
      const judged = judgeRun(r, rt.limits.compile);
      compile = stageResult(r, cap);
      this.o.metrics?.stageDuration.observe({ stage: "compile" }, (Date.now() - started) / 1000);
      if (judged.verdict !== "Accepted") {
        const verdict = judged.verdict === "InternalError" ? "InternalError" : "CompilationError";
        compile = { ...compile, verdict, message: judged.message };
        return this.done(rt, {
          verdict,
          compile,
          tests: [],
          message: `compilation failed: ${judged.message}`,
        });
      }
      // Everything the compiler left in the box seeds each test box (links and special files are dropped).
      try {
        await rm(compiled, { recursive: true, force: true });
        await box.saveTo(compiled, storageOf(rt.limits.compile, "compile").storageKiB * 1024);
      } catch (err) {
        // The compile step left something that cannot be saved: the submission's doing, judged.
        if (!(err instanceof SnapshotLimitError)) throw err;
        compile = { ...compile, verdict: "CompilationError", message: err.message };
        return this.done(rt, {
          verdict: "CompilationError",
          compile,
          tests: [],
          message: `compilation failed: ${err.message}`,
        });
      }
    }

    const cases = spec.testCases ?? [{ stdin: spec.stdin ?? "", expectedOutput: spec.expectedOutput }];
    const tests: TestResult[] = [];
    for (const [i, tc] of cases.entries()) {
      if (signal?.aborted) throw new Error("aborted");
      const started = Date.now();
      await box.init(storageOf(rt.limits.run, "run"));
      const seeded = await this.seed(box, compile ? compiled : undefined, files);
      if (seeded) {
        // What the compiler left does not fit the run's storage: judged, like a compile step that left too much.
        compile = {
          ...(compile ?? { stdout: "", stderr: "" }),
          verdict: "CompilationError",
          message: seeded,
        };
        return this.done(rt, { verdict: "CompilationError", compile, tests: [], message: seeded });
      }
      const r = await box.run({
        argv: [...rt.spec.runCommand, ...(spec.args ?? [])],
        env,
        stdin: tc.stdin ?? "",
        limits: rt.limits.run,
        allowNetwork,
        network: networkOf(rt.limits.run, "run"),
      });
      let judged = judgeRun(r, rt.limits.run);
      if (
        judged.verdict === "Accepted" &&
        tc.expectedOutput !== undefined &&
        !outputMatches(r.stdout, tc.expectedOutput, spec.checker?.comparison ?? spec.outputComparison, {
          ...(spec.checker?.absoluteTolerance !== undefined
            ? { absolute: spec.checker.absoluteTolerance }
            : {}),
          ...(spec.checker?.relativeTolerance !== undefined
            ? { relative: spec.checker.relativeTolerance }
            : {}),
        })
      ) {
        judged = { verdict: "WrongAnswer", message: "output differs from the expected output" };
      }
      tests.push({
        name: ("name" in tc && tc.name) || String(i + 1),
        ...stageResult(r, cap),
        verdict: judged.verdict,
        message: judged.message,
      });
      this.o.metrics?.stageDuration.observe({ stage: "run" }, (Date.now() - started) / 1000);
    }
    const failed = tests.find((t) => t.verdict !== "Accepted");
    return this.done(rt, { verdict: failed?.verdict ?? "Accepted", ...(compile ? { compile } : {}), tests });
  }

  /** Seeds a fresh test box: the compiled files, or the sources. A message when they do not fit. */
  private async seed(
    box: IsolateBox,
    compiled: string | undefined,
    files: BoxFile[],
  ): Promise<string | undefined> {
    try {
      if (compiled) await box.seedFrom(compiled);
      else await box.writeFiles(files);
      return undefined;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOSPC") throw err;
      return "the compiled files do not fit the run's storage limit (storageKiB, storageFiles)";
    }
  }

  private done(rt: RuntimeForExecution, outcome: ExecutionOutcome): ExecutionOutcome {
    this.o.metrics?.executions.inc({ verdict: outcome.verdict, runtime: rt.spec.language });
    return outcome;
  }
}

/** A stage's box storage: its limits, or the built-in defaults for what a caller left out. */
function storageOf(l: StageLimits, stage: "compile" | "run"): StorageLimits {
  return {
    storageKiB: l.storageKiB ?? DEFAULT_LIMITS[stage].storageKiB ?? 64 * 1024,
    storageFiles: l.storageFiles ?? DEFAULT_LIMITS[stage].storageFiles ?? 1_000,
  };
}

/** A stage's network limits (used only by networked Runtimes), defaults for what a caller left out. */
function networkOf(l: StageLimits, stage: "compile" | "run"): BoxRunLimits {
  const d = DEFAULT_LIMITS[stage];
  return {
    connections: l.networkConnections ?? d.networkConnections ?? 16,
    bytes: (l.networkKiB ?? d.networkKiB ?? 64 * 1024) * 1024,
    bytesPerSecond: (l.networkKiBPerSecond ?? d.networkKiBPerSecond ?? 1024) * 1024,
  };
}

function stageResult(r: RunResult, cap: number): StageResult {
  const out = truncateUtf8(r.stdout, cap);
  const err = truncateUtf8(r.stderr, cap);
  const m = r.meta;
  const memory = m.cgMem ?? m.maxRss;
  return {
    ...(m.exitcode !== undefined
      ? { exitCode: m.exitcode }
      : m.status === undefined && !r.isolateError
        ? { exitCode: 0 }
        : {}),
    ...(m.exitsig !== undefined ? { signal: m.exitsig } : {}),
    ...(m.time !== undefined ? { cpuTimeMillis: Math.round(m.time * 1000) } : {}),
    ...(m.timeWall !== undefined ? { wallTimeMillis: Math.round(m.timeWall * 1000) } : {}),
    ...(memory !== undefined ? { memoryKiB: memory } : {}),
    stdout: out.text,
    stderr: err.text,
    ...(out.truncated ? { stdoutTruncated: true } : {}),
    ...(err.truncated ? { stderrTruncated: true } : {}),
  };
}
