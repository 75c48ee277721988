import { statSync } from "node:fs";
import type { ExecutionSpec, StageResult, TestResult } from "../../api/execution.ts";
import type { Logger } from "../../logging.ts";
import type { ExecutionOutcome, ExecutionRunner, RuntimeForExecution } from "../ports.ts";
import type { BoxPool } from "../sandbox/box-pool.ts";
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
}

/**
 * Runs one Execution in isolate: compile once in a box, keep a copy of the
 * box's regular files, then run every test case in a fresh box seeded with
 * that copy, so test cases share nothing (not /box, not /tmp). The overall
 * verdict is the first test (in order) that is not Accepted, else Accepted.
 */
export class IsolateExecutor implements ExecutionRunner {
  private readonly o: ExecutorOptions;
  /** Compile stages run by this executor (tests check compile-once). */
  compiles = 0;

  constructor(opts: ExecutorOptions) {
    this.o = opts;
  }

  run(spec: ExecutionSpec, runtime: RuntimeForExecution, signal?: AbortSignal): Promise<ExecutionOutcome> {
    return this.o.pool.with(async (id) => {
      const box = new IsolateBox(this.settingsFor(runtime), id);
      try {
        return await this.runInBox(box, spec, runtime, signal);
      } finally {
        await box
          .cleanup()
          .catch((err: unknown) => this.o.logger.error({ err: String(err), box: id }, "box cleanup failed"));
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
    spec: ExecutionSpec,
    rt: RuntimeForExecution,
    signal?: AbortSignal,
  ): Promise<ExecutionOutcome> {
    const cap = rt.outputCapBytes ?? this.o.outputCapBytes;
    const env = { ...rt.env, ...Object.fromEntries((rt.spec.env ?? []).map((e) => [e.name, e.value])) };
    const allowNetwork = rt.spec.allowNetwork ?? false;
    let files: BoxFile[] = boxFilesFor(spec.files, rt.spec.sourceFile);
    let compile: StageResult | undefined;

    if (rt.spec.compileCommand) {
      const started = Date.now();
      await box.init();
      await box.writeFiles(files);
      const r = await box.run({
        argv: rt.spec.compileCommand,
        env,
        stdin: "",
        limits: rt.limits.compile,
        allowNetwork,
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
        files = await box.snapshot(rt.limits.compile.fileSizeKiB * 1024 * 4);
      } catch (err) {
        // The compile step left too much behind: the submission's doing, judged, not an agent failure.
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
      await box.init();
      await box.writeFiles(files);
      const r = await box.run({
        argv: [...rt.spec.runCommand, ...(spec.args ?? [])],
        env,
        stdin: tc.stdin ?? "",
        limits: rt.limits.run,
        allowNetwork,
      });
      let judged = judgeRun(r, rt.limits.run);
      if (
        judged.verdict === "Accepted" &&
        tc.expectedOutput !== undefined &&
        !outputMatches(r.stdout, tc.expectedOutput, spec.outputComparison)
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

  private done(rt: RuntimeForExecution, outcome: ExecutionOutcome): ExecutionOutcome {
    this.o.metrics?.executions.inc({ verdict: outcome.verdict, runtime: rt.spec.language });
    return outcome;
  }
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
