import { type ExecutionSpec, executionSpec } from "../../api/execution.ts";
import { resolveExecutionLimits } from "../../api/limits.ts";
import type { Runtime } from "../../api/runtime.ts";
import { HttpError } from "../http-error.ts";

/** A Piston v2 POST /api/v2/execute body, checked. */
export interface PistonRequest {
  language: string;
  version: string;
  files: { name?: string; content: string; encoding: "utf8" | "base64" }[];
  stdin: string;
  args: string[];
  /** Client's limits in Execution units, by stage; absent = the Runtime's default. */
  limits: { compile: Record<string, number>; run: Record<string, number> };
}

const bad = (message: string) => new HttpError(400, message);

/** Piston request field → stage, Execution limit, and how a value converts (ms stay ms, bytes → KiB). */
const LIMIT_MAP = [
  ["compile_timeout", "compile", "wallTimeMillis", (v: number) => v],
  ["run_timeout", "run", "wallTimeMillis", (v: number) => v],
  ["compile_cpu_time", "compile", "cpuTimeMillis", (v: number) => v],
  ["run_cpu_time", "run", "cpuTimeMillis", (v: number) => v],
  ["compile_memory_limit", "compile", "memoryKiB", (v: number) => Math.ceil(v / 1024)],
  ["run_memory_limit", "run", "memoryKiB", (v: number) => Math.ceil(v / 1024)],
] as const;

/** Checks a body the way Piston does, with Piston's messages (400 {"message": ...}). */
export function parsePistonExecute(raw: unknown): PistonRequest {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw bad("body must be a JSON object");
  const b = raw as Record<string, unknown>;
  if (typeof b.language !== "string") throw bad("language is required as a string");
  if (typeof b.version !== "string") throw bad("version is required as a string");
  if (!Array.isArray(b.files)) throw bad("files is required as an array");
  if (b.files.length === 0) throw bad("files must contain at least one file");
  const files = b.files.map((f: unknown, i) => {
    const file = (f ?? {}) as Record<string, unknown>;
    if (typeof file.content !== "string") throw bad(`files[${i}].content is required as a string`);
    if (file.name !== undefined && typeof file.name !== "string")
      throw bad(`files[${i}].name must be a string`);
    const enc = file.encoding ?? "utf8";
    if (enc !== "utf8" && enc !== "base64" && enc !== "hex")
      throw bad(`files[${i}].encoding must be one of utf8, base64, hex`);
    const content = enc === "hex" ? Buffer.from(file.content, "hex").toString("base64") : file.content;
    return {
      ...(typeof file.name === "string" && file.name !== "" ? { name: file.name } : {}),
      content,
      encoding: enc === "utf8" ? ("utf8" as const) : ("base64" as const),
    };
  });
  if (b.stdin !== undefined && typeof b.stdin !== "string") throw bad("stdin must be a string");
  if (b.args !== undefined && (!Array.isArray(b.args) || b.args.some((a) => typeof a !== "string")))
    throw bad("args must be an array of strings");
  const limits: PistonRequest["limits"] = { compile: {}, run: {} };
  for (const [field, stage, limit, convert] of LIMIT_MAP) {
    const v = b[field];
    if (v === undefined || v === null || v === -1) continue; // -1 = no limit asked: the Runtime's default
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0)
      throw bad(`${field} must be a positive integer`);
    limits[stage][limit] = Math.max(1, convert(v));
  }
  return {
    language: b.language,
    version: b.version,
    files,
    stdin: (b.stdin as string | undefined) ?? "",
    args: (b.args as string[] | undefined) ?? [],
    limits,
  };
}

/**
 * The Execution spec: the first file is the main source (Piston runs it), under
 * the Runtime's file name; limits within the Runtime's bounds, refused with
 * Piston's wording otherwise; the whole spec checked like the apiserver will.
 */
export function pistonSpec(req: PistonRequest, rt: Runtime): ExecutionSpec {
  const files = req.files.map((f, i) => ({
    name: i === 0 ? rt.spec.sourceFile : (f.name ?? `file${i}.code`),
    content: f.content,
    encoding: f.encoding,
  }));
  const limits = {
    ...(Object.keys(req.limits.compile).length ? { compile: req.limits.compile } : {}),
    ...(Object.keys(req.limits.run).length ? { run: req.limits.run } : {}),
  };
  const spec = {
    runtime: rt.metadata.name!,
    files,
    ...(req.args.length ? { args: req.args } : {}),
    stdin: req.stdin,
    ...(Object.keys(limits).length ? { limits } : {}),
    outputComparison: "IgnoreTrailingWhitespace" as const,
    priority: 0,
  };
  for (const v of resolveExecutionLimits(rt.spec, spec).violations) {
    const entry = LIMIT_MAP.find(([, stage, limit]) => v.field === `spec.limits.${stage}.${limit}`);
    const bound = Number(/bound of (\d+)/.exec(v.message)?.[1]);
    const shown = entry?.[2] === "memoryKiB" ? bound * 1024 : bound;
    throw bad(`${entry?.[0] ?? v.field} cannot exceed the configured limit of ${shown}`);
  }
  const checked = executionSpec.safeParse(spec);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw bad(`${issue.path.join(".")}: ${issue.message}`);
  }
  return checked.data;
}
