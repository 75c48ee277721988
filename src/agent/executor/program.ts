import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Verdict } from "../../api/common.ts";
import type { StageResult } from "../../api/execution.ts";
import type { RuntimeForExecution } from "../ports.ts";
import { type BoxFile, type IsolateBox, SnapshotLimitError } from "../sandbox/isolate-box.ts";
import { judgeRun } from "../sandbox/verdict.ts";
import type { CompileCache } from "./compile-cache.ts";
import { compileKey } from "./compile-cache.ts";
import { networkOf, recapped, stageResult, storageOf } from "./stage.ts";

/** A program an Execution runs: the submission, or the problem's checker or interactor. */
export interface Program {
  role: "submission" | "checker" | "interactor";
  /** Its Runtime, with the limits it runs with. */
  rt: RuntimeForExecution;
  files: BoxFile[];
  /** Appended to the Runtime's run command. */
  args: string[];
}

/** A program ready to run: the tree to seed its boxes from (none: its sources), until release(). */
export type Prepared =
  | { ok: true; seed?: string; compile?: StageResult; release: () => Promise<void> }
  | { ok: false; compile: StageResult; verdict: Verdict; message: string };

export interface CompileContext {
  workDir: string;
  cache?: CompileCache;
  /** Cap of stored compiler output, in bytes. */
  cap: number;
  /** Called once for every compiler actually run (not for cache hits). */
  compiled: (seconds: number) => void;
}

/** The box environment of a program: the closure's, then the Runtime's own variables. */
export function programEnv(rt: RuntimeForExecution): Record<string, string> {
  return { ...rt.env, ...Object.fromEntries((rt.spec.env ?? []).map((e) => [e.name, e.value])) };
}

const NOTHING = async () => undefined;

/**
 * Compiles a program once, in `box`, unless the node's compile cache has the
 * same compile (same closure, sources, command, environment and limits). What
 * the compiler left in the box is saved to the agent's disk and, on a miss,
 * moved into the cache; test boxes are seeded from there.
 */
export async function prepareProgram(box: IsolateBox, p: Program, ctx: CompileContext): Promise<Prepared> {
  const command = p.rt.spec.compileCommand;
  if (!command) return { ok: true, release: NOTHING };
  const env = programEnv(p.rt);
  const limits = p.rt.limits.compile;
  // A networked compile may fetch what changes over time: it is never taken from the cache.
  const key =
    ctx.cache && p.rt.closureHash && !p.rt.spec.allowNetwork
      ? compileKey({ closureHash: p.rt.closureHash, files: p.files, command, env, limits })
      : undefined;
  const hit = key ? ctx.cache?.get(key) : undefined;
  if (hit) {
    const release = async () => hit.release();
    return {
      ok: true,
      seed: hit.dir,
      compile: { ...recapped(hit.result, ctx.cap), cacheHit: true },
      release,
    };
  }
  const started = Date.now();
  await box.init(storageOf(limits, "compile"));
  await box.writeFiles(p.files);
  const r = await box.run({
    argv: command,
    env,
    stdin: "",
    limits,
    allowNetwork: p.rt.spec.allowNetwork ?? false,
    network: networkOf(limits, "compile"),
  });
  ctx.compiled((Date.now() - started) / 1000);
  const judged = judgeRun(r, limits);
  const compile = stageResult(r, ctx.cap);
  if (judged.verdict !== "Accepted") {
    const verdict = judged.verdict === "InternalError" ? "InternalError" : "CompilationError";
    return {
      ok: false,
      compile: { ...compile, verdict, message: judged.message },
      verdict,
      message: judged.message,
    };
  }
  return saveCompiled(box, p, ctx, compile, key);
}

async function saveCompiled(
  box: IsolateBox,
  p: Program,
  ctx: CompileContext,
  compile: StageResult,
  key: string | undefined,
): Promise<Prepared> {
  const dir = join(ctx.workDir, `compiled-${box.id}-${p.role}`);
  // Everything the compiler left in the box seeds each test box (links and special files are dropped).
  try {
    await rm(dir, { recursive: true, force: true });
    await box.saveTo(dir, storageOf(p.rt.limits.compile, "compile").storageKiB * 1024);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    // The compile step left something that cannot be saved: the program's doing, judged.
    if (!(err instanceof SnapshotLimitError)) throw err;
    const failed = { ...compile, verdict: "CompilationError" as const, message: err.message };
    return { ok: false, compile: failed, verdict: "CompilationError", message: err.message };
  }
  const kept = key ? await ctx.cache?.put(key, dir, compile) : undefined;
  if (kept) return { ok: true, seed: kept.dir, compile, release: async () => kept.release() };
  return { ok: true, seed: dir, compile, release: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A fresh box for one run of the program, seeded with its compiled files or
 * its sources, plus `extra` files (a checker's input, output and answer).
 * Returns a message when they do not fit the run's storage.
 */
export async function seedRunBox(
  box: IsolateBox,
  p: Program,
  prepared: { seed?: string },
  extra: BoxFile[] = [],
): Promise<string | undefined> {
  await box.init(storageOf(p.rt.limits.run, "run"));
  try {
    if (prepared.seed) await box.seedFrom(prepared.seed);
    else await box.writeFiles(p.files);
    await box.writeFiles(extra);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOSPC") throw err;
    return prepared.seed
      ? "the compiled files do not fit the run's storage limit (storageKiB, storageFiles)"
      : "the files do not fit the run's storage limit (storageKiB, storageFiles)";
  }
}
