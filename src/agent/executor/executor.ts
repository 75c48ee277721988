import { statSync } from "node:fs";
import type { ExecutionSpec, TestCase, TestResult } from "../../api/execution.ts";
import { resolveExecutionLimits } from "../../api/limits.ts";
import type { Logger } from "../../logging.ts";
import {
  type ExecutionOutcome,
  type ExecutionRunner,
  ReasonedError,
  type RunTimings,
  type RuntimeForExecution,
  type RuntimeLookup,
  stamp,
} from "../ports.ts";
import type { PlannedTest, TestPlan } from "../problem/test-plan.ts";
import type { BoxPool } from "../sandbox/box-pool.ts";
import { ClosureViews, ClosureViewsOff, viewsRootFor } from "../sandbox/closure-view.ts";
import { outputMatches } from "../sandbox/compare.ts";
import { IsolateBox, type SandboxSettings } from "../sandbox/isolate-box.ts";
import { judgeRun, type StageVerdict } from "../sandbox/verdict.ts";
import { WarmBoxes } from "../sandbox/warm-boxes.ts";
import { judgeFiles, runChecker } from "./checker-run.ts";
import type { CompileCache } from "./compile-cache.ts";
import { runInteraction } from "./interaction.ts";
import { interactionVerdict } from "./interaction-verdict.ts";
import type { ExecutorMetrics } from "./metrics.ts";
import {
  type CompileContext,
  type Prepared,
  type Program,
  prepareProgram,
  programEnv,
  seedRunBox,
} from "./program.ts";
import { boxFilesFor } from "./source-files.ts";
import { networkOf, stageResult, usageOf } from "./stage.ts";

export interface ExecutorOptions {
  sandbox: SandboxSettings;
  pool: BoxPool;
  /** Default cap of stored stdout/stderr per stage, in bytes. */
  outputCapBytes: number;
  logger: Logger;
  metrics?: ExecutorMetrics;
  /** Why networked Runtimes cannot run on this node (see setUpSandbox); their smoke tests fail with it. */
  networkUnavailable?: string;
  /** The node's compiled programs; every compile runs when unset. */
  compileCache?: CompileCache;
  /** Other installed Runtimes (a checker's or interactor's); only the Execution's own when unset. */
  runtimes?: RuntimeLookup;
  /**
   * Clean the boxes up after run() resolves, not before (the agent: the result is written
   * meanwhile, off the critical path); their ids go back to the pool once clean. idle() waits.
   */
  cleanUpInBackground?: boolean;
  /**
   * Make each box's next one right after it is cleaned, before its id goes
   * back to the pool (see WarmBoxes): a run then finds its box ready. coolDown()
   * cleans them when the agent stops.
   */
  warmBoxes?: boolean;
  /**
   * Keep each box for its id's next run instead of cleaning it up: emptied in
   * place, with a new cgroup where isolate would carry one over, as between
   * the test cases of a run (IsolateBox.keep); the agent's default
   * (ENVICUTOR_KEEP_BOXES). coolDown() cleans them when the agent stops.
   */
  keepBoxes?: boolean;
  /**
   * Mount a Runtime's closure as one prepared view of hard links
   * (ClosureViews) instead of path by path; the agent's default
   * (ENVICUTOR_CLOSURE_VIEWS).
   */
  closureViews?: boolean;
}

type Ready = Extract<Prepared, { ok: true }>;
/** A test's input and answer, read when its turn comes. */
type LoadedTest = { stdin: Buffer | string; expectedOutput?: string };

/** An Execution's own tests: its testCases, or its single stdin. */
function ownTests(spec: ExecutionSpec): PlannedTest[] {
  const cases: TestCase[] = spec.testCases ?? [
    {
      stdin: spec.stdin ?? "",
      ...(spec.expectedOutput !== undefined ? { expectedOutput: spec.expectedOutput } : {}),
    },
  ];
  return cases.map((tc, i) => ({ name: tc.name ?? String(i + 1), load: async () => tc }));
}

/** One Execution's programs, compiled and ready, and the boxes they run in. */
interface Judging {
  spec: ExecutionSpec;
  sub: Program;
  subBox: IsolateBox;
  subReady: Ready;
  judge?: { program: Program; box: IsolateBox; ready: Ready };
  cap: number;
  /** A Problem's tests and groups; the spec's own test cases when unset. */
  plan?: TestPlan | undefined;
  timings: RunTimings;
}

/**
 * Runs one Execution in isolate: compile once in a box (or take the compiled
 * files from the node's compile cache), then run every test case in a fresh
 * box seeded from them, so test cases share nothing (not /box, not /tmp, not
 * /dev/shm). A checker or interactor is a program of its own, compiled once
 * and run in a second box for every test: a checker after the submission,
 * with a copy of its output; an interactor at the same time, connected by
 * pipes. The overall verdict is the first test (in order) that is not
 * Accepted, else Accepted.
 */
export class IsolateExecutor implements ExecutionRunner {
  private readonly o: ExecutorOptions;
  /** Compilers run by this executor (tests check compile-once and cache hits). */
  compiles = 0;
  private readonly cleaning = new Set<Promise<void>>();
  private readonly warm: WarmBoxes | undefined;
  private readonly views: ClosureViews | undefined;

  constructor(opts: ExecutorOptions) {
    this.warm = opts.warmBoxes || opts.keepBoxes ? new WarmBoxes() : undefined;
    this.views = opts.closureViews
      ? new ClosureViews(viewsRootFor(opts.sandbox.workDir), opts.logger)
      : undefined;
    this.o = this.warm ? { ...opts, sandbox: { ...opts.sandbox, warm: this.warm } } : opts;
  }

  async run(
    spec: ExecutionSpec,
    runtime: RuntimeForExecution,
    signal?: AbortSignal,
    timings: RunTimings = {},
    plan?: TestPlan,
  ): Promise<ExecutionOutcome> {
    if (runtime.spec.allowNetwork && !this.o.sandbox.network)
      throw new ReasonedError(
        "NetworkDisabled",
        this.o.networkUnavailable ?? "networked Runtimes are off on this node",
      );
    const judge = await this.judgeProgramFor(spec, runtime);
    if (typeof judge === "string")
      return this.done(runtime, { verdict: "InternalError", tests: [], message: judge, judgeError: true });
    const views: (() => void)[] = [];
    const ids = await this.o.pool.acquireMany(judge ? 2 : 1);
    try {
      const boxes = [new IsolateBox(await this.settingsFor(runtime, views), ids[0]!)];
      if (judge) boxes.push(new IsolateBox(await this.settingsFor(judge.rt, views), ids[1]!));
      return await this.runIn(boxes, spec, runtime, judge, signal, timings, plan);
    } finally {
      for (const release of views) release();
    }
  }

  /** Compiles and runs in `boxes`, then cleans them up (in the background with cleanUpInBackground). */
  private async runIn(
    boxes: IsolateBox[],
    spec: ExecutionSpec,
    runtime: RuntimeForExecution,
    judge: Program | undefined,
    signal: AbortSignal | undefined,
    timings: RunTimings,
    plan: TestPlan | undefined,
  ): Promise<ExecutionOutcome> {
    try {
      const out = await this.compileAndRun(spec, runtime, boxes, judge, signal, timings, plan);
      stamp(timings, "ranAt");
      return out;
    } finally {
      const done = this.cleanUp(boxes, timings);
      if (this.o.cleanUpInBackground) this.track(done);
      else await done;
    }
  }

  /** Resolves once no box clean-up runs in the background (see cleanUpInBackground). */
  async idle(): Promise<void> {
    while (this.cleaning.size > 0) await Promise.all([...this.cleaning]);
  }

  /** Once no clean-up runs in the background: every warm box and closure view removed too, nothing of any box left. */
  async coolDown(): Promise<void> {
    await this.idle();
    await this.views
      ?.removeAll()
      .catch((err: unknown) =>
        this.o.logger.error({ err: String(err) }, "could not remove the closure views"),
      );
    if (!this.warm) return;
    await this.o.pool.withMany(this.o.pool.size, async () => {
      for (const id of this.warm?.ids() ?? [])
        await new IsolateBox(this.o.sandbox, id)
          .cleanup()
          .catch((err: unknown) => this.o.logger.error({ err: String(err), box: id }, "box cleanup failed"));
    });
  }

  /**
   * Keeps each box for its id's next run (keepBoxes), else cleans it up (and,
   * with warmBoxes, makes the id's next box), then gives their ids back to the
   * pool whatever the outcome. A warm box this run did not use is still
   * fresh: it stays as it is.
   */
  private async cleanUp(boxes: IsolateBox[], timings: RunTimings): Promise<void> {
    for (const box of boxes) {
      if (this.warm?.has(box.id)) continue;
      const log = (what: string) => (err: unknown) => {
        this.o.logger.error({ err: String(err), box: box.id }, what);
        return false;
      };
      if (this.o.keepBoxes && (await box.keep().catch(log("could not keep the box")))) continue;
      const cleaned = await box.cleanup().then(() => true, log("box cleanup failed"));
      if (cleaned && this.o.warmBoxes) await box.makeWarm().catch(log("could not make the box's next one"));
    }
    stamp(timings, "cleanedAt");
    for (const box of boxes) this.o.pool.release(box.id);
  }

  private track(p: Promise<void>): void {
    const safe = p.catch((err: unknown) => this.o.logger.error({ err: String(err) }, "box cleanup failed"));
    this.cleaning.add(safe);
    void safe.finally(() => this.cleaning.delete(safe));
  }

  /** The checker or interactor program, with its Runtime and limits; a judge error's message when it cannot run. */
  private async judgeProgramFor(
    spec: ExecutionSpec,
    rt: RuntimeForExecution,
  ): Promise<Program | string | undefined> {
    const role = spec.interactor ? "interactor" : "checker";
    const jp = spec.interactor ?? spec.checker?.program;
    if (!jp) return undefined;
    const name = jp.runtime ?? spec.runtime;
    const base = name === spec.runtime ? rt : await this.o.runtimes?.(name);
    if (!base) return `judge error: the ${role}'s Runtime ${name} is not installed on this node`;
    if (base.spec.allowNetwork)
      return `judge error: the ${role}'s Runtime ${name} is networked; judges run offline`;
    const { limits, violations } = resolveExecutionLimits(base.spec, { limits: jp.limits });
    if (violations.length > 0)
      return `judge error: the ${role}'s limits: ${violations.map((v) => v.message.replace(/^spec\./, "")).join("; ")}`;
    return { role, rt: { ...base, limits }, files: boxFilesFor(jp.files, base.spec.sourceFile), args: [] };
  }

  /**
   * With the Runtime's closure known, the box mounts exactly those store paths
   * (plus configured extra dirs), so it sees the Runtime and nothing else of
   * /nix/store: as one prepared view with closureViews, else path by path.
   * isolate binds directories only: without a view, a closure holding a
   * plain-file store path falls back to the whole store, read-only. A view
   * taken goes into `views` (released when the run ends).
   */
  private async settingsFor(
    rt: Pick<RuntimeForExecution, "closure">,
    views: (() => void)[],
  ): Promise<SandboxSettings> {
    const closure = rt.closure;
    if (!closure?.length || this.o.sandbox.mounts) return this.o.sandbox;
    if (!closure.every((p) => p.startsWith("/nix/store/"))) return this.o.sandbox;
    const extra = this.o.sandbox.extraDirs;
    const view = await this.views?.use(closure).catch((err: unknown) => {
      // Views off on the node was said once when it happened.
      if (!(err instanceof ClosureViewsOff))
        this.o.logger.warn({ err: String(err) }, "no closure view: the closure is mounted path by path");
      return undefined;
    });
    if (view) {
      views.push(view.release);
      return { ...this.o.sandbox, mounts: [...extra], storeView: view.dir };
    }
    const allDirs = closure.every((p) => {
      try {
        return statSync(p).isDirectory();
      } catch {
        return false;
      }
    });
    return allDirs ? { ...this.o.sandbox, mounts: [...closure, ...extra] } : this.o.sandbox;
  }

  private compileContext(cap: number): CompileContext {
    return {
      workDir: this.o.sandbox.workDir,
      cap,
      ...(this.o.compileCache ? { cache: this.o.compileCache } : {}),
      compiled: (seconds) => {
        this.compiles++;
        this.o.metrics?.compiles.inc();
        this.o.metrics?.stageDuration.observe({ stage: "compile" }, seconds);
      },
    };
  }

  private async compileAndRun(
    spec: ExecutionSpec,
    rt: RuntimeForExecution,
    boxes: IsolateBox[],
    judge: Program | undefined,
    signal: AbortSignal | undefined,
    timings: RunTimings,
    plan: TestPlan | undefined,
  ): Promise<ExecutionOutcome> {
    const cap = rt.outputCapBytes ?? this.o.outputCapBytes;
    const ctx = this.compileContext(rt.compileOutputCapBytes ?? cap);
    const sub: Program = {
      role: "submission",
      rt,
      files: boxFilesFor(spec.files, rt.spec.sourceFile),
      args: spec.args ?? [],
    };
    const subBox = boxes[0]!;
    const subReady = await prepareProgram(subBox, sub, ctx);
    if (!subReady.ok)
      return this.done(rt, {
        verdict: subReady.verdict,
        compile: subReady.compile,
        tests: [],
        message: `compilation failed: ${subReady.message}`,
      });
    try {
      const compile = subReady.compile ? { compile: subReady.compile } : {};
      if (!judge) return await this.runTests({ spec, sub, subBox, subReady, cap, timings, plan }, signal);
      const judgeReady = await prepareProgram(boxes[1]!, judge, ctx);
      if (!judgeReady.ok) {
        const why = `${judgeReady.message}${judgeReady.compile.stderr ? `\n${judgeReady.compile.stderr.slice(0, 2048)}` : ""}`;
        const message = `judge error: the ${judge.role} did not compile: ${why}`;
        return this.done(rt, { verdict: "InternalError", ...compile, tests: [], message, judgeError: true });
      }
      try {
        const judging = { program: judge, box: boxes[1]!, ready: judgeReady };
        return await this.runTests(
          { spec, sub, subBox, subReady, judge: judging, cap, timings, plan },
          signal,
        );
      } finally {
        await judgeReady.release();
      }
    } finally {
      await subReady.release();
    }
  }

  private async runTests(j: Judging, signal?: AbortSignal): Promise<ExecutionOutcome> {
    const { spec, sub } = j;
    const compile = j.subReady.compile ? { compile: j.subReady.compile } : {};
    const cases = j.plan?.tests ?? ownTests(spec);
    const tests: TestResult[] = [];
    for (const [i, planned] of cases.entries()) {
      if (signal?.aborted) throw new Error("aborted");
      if (j.plan?.skip(i)) {
        await j.plan.progress(i + 1);
        continue;
      }
      const started = Date.now();
      const name = planned.name;
      const tc = await planned.load();
      const full = await seedRunBox(j.subBox, sub, j.subReady);
      if (j.timings.readyAt === undefined) stamp(j.timings, "readyAt");
      if (full) {
        // What the compiler left does not fit the run's storage: judged, like a compile step that left too much.
        const failed = {
          ...(j.subReady.compile ?? { stdout: "", stderr: "" }),
          verdict: "CompilationError" as const,
          message: full,
        };
        return this.done(sub.rt, { verdict: "CompilationError", compile: failed, tests: [], message: full });
      }
      const test = spec.interactor ? await this.interactiveTest(j, tc, name) : await this.test(j, tc, name);
      tests.push(test);
      j.plan?.record(i, test);
      await j.plan?.progress(i + 1);
      this.o.metrics?.stageDuration.observe({ stage: "run" }, (Date.now() - started) / 1000);
      // A judge that failed once fails for the rest: the Execution could not be judged.
      if (test.judge && test.verdict === "InternalError") break;
    }
    const failed = tests.find((t) => t.verdict !== "Accepted");
    const judgeError =
      failed?.verdict === "InternalError" && failed.judge
        ? { message: `test ${failed.name}: ${failed.message}`, judgeError: true }
        : {};
    return this.done(sub.rt, { verdict: failed?.verdict ?? "Accepted", ...compile, tests, ...judgeError });
  }

  /** One test run alone, then judged by comparison or by the checker program. */
  private async test(j: Judging, tc: LoadedTest, name: string): Promise<TestResult> {
    const limits = j.sub.rt.limits.run;
    const r = await j.subBox.run({
      argv: [...j.sub.rt.spec.runCommand, ...j.sub.args],
      env: programEnv(j.sub.rt),
      stdin: tc.stdin ?? "",
      limits,
      allowNetwork: j.sub.rt.spec.allowNetwork ?? false,
      network: networkOf(limits, "run"),
    });
    let judged: StageVerdict = judgeRun(r, limits);
    let extra: Pick<TestResult, "judge" | "points"> = {};
    if (judged.verdict === "Accepted" && j.judge) {
      const input = tc.stdin ?? "";
      const c = await runChecker(j.judge.box, j.judge.program, j.judge.ready, {
        input,
        output: r.stdout,
        answer: tc.expectedOutput ?? "",
      });
      const o = c.outcome;
      judged = o.judged
        ? { verdict: o.verdict, message: o.message || (o.verdict === "Accepted" ? "OK" : "wrong answer") }
        : { verdict: "InternalError", message: `judge error: the checker ${o.message}` };
      extra = { judge: c.run, ...(o.judged && o.points !== undefined ? { points: o.points } : {}) };
    } else if (judged.verdict === "Accepted" && tc.expectedOutput !== undefined) {
      const c = j.spec.checker;
      const tolerance = {
        ...(c?.absoluteTolerance !== undefined ? { absolute: c.absoluteTolerance } : {}),
        ...(c?.relativeTolerance !== undefined ? { relative: c.relativeTolerance } : {}),
      };
      if (!outputMatches(r.stdout, tc.expectedOutput, c?.comparison ?? j.spec.outputComparison, tolerance))
        judged = { verdict: "WrongAnswer", message: "output differs from the expected output" };
    }
    return { name, ...stageResult(r, j.cap), verdict: judged.verdict, message: judged.message, ...extra };
  }

  /** One test with the interactor: both boxes at once, connected by pipes. */
  private async interactiveTest(j: Judging, tc: LoadedTest, name: string): Promise<TestResult> {
    const inter = j.judge!;
    const files = judgeFiles({ input: tc.stdin ?? "", answer: tc.expectedOutput ?? "" });
    const full = await seedRunBox(inter.box, inter.program, inter.ready, files);
    if (full)
      return {
        name,
        verdict: "InternalError",
        message: `judge error: the interactor's box: ${full}`,
        judge: { message: full },
      };
    const runs = await runInteraction(j.subBox, j.sub, inter.box, inter.program);
    const v = interactionVerdict(runs, {
      submission: j.sub.rt.limits.run,
      interactor: inter.program.rt.limits.run,
    });
    const message = v.interactor.message;
    return {
      name,
      ...stageResult(runs.submission, j.cap),
      verdict: v.verdict,
      message: v.message,
      ...(v.points !== undefined ? { points: v.points } : {}),
      judge: { ...usageOf(runs.interactor), ...(message ? { message: message.slice(0, 1024) } : {}) },
    };
  }

  private done(rt: RuntimeForExecution, outcome: ExecutionOutcome): ExecutionOutcome {
    this.o.metrics?.executions.inc({ verdict: outcome.verdict, runtime: rt.spec.language });
    return outcome;
  }
}
