import { type ExecutionSpec, executionSpec } from "../../api/execution.ts";
import { resolveExecutionLimits } from "../../api/limits.ts";
import type { Runtime } from "../../api/runtime.ts";
import { HttpError, invalidField } from "../http-error.ts";
import { shellWords } from "../shell-words.ts";

/** What a Judge0 POST /submissions asks for, translated into an Execution spec. */
export interface Judge0Request {
  languageId: number;
  spec: Omit<ExecutionSpec, "runtime">;
  callbackUrl?: string;
}

type Body = Record<string, unknown>;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Judge0 limit fields → the Execution's run-stage limit and its unit factor. */
const LIMIT_MAP = [
  ["cpu_time_limit", "cpuTimeMillis", 1000],
  ["wall_time_limit", "wallTimeMillis", 1000],
  ["memory_limit", "memoryKiB", 1],
  ["max_processes_and_or_threads", "processes", 1],
  ["max_file_size", "fileSizeKiB", 1],
] as const;

function text(body: Body, field: string, base64: boolean, utf8 = true): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw invalidField(field, "must be a string");
  if (!base64) return v;
  const clean = v.replace(/\s+/g, "");
  if (!BASE64.test(clean) || clean.length % 4 === 1) throw invalidField(field, "is not valid base64");
  const bytes = Buffer.from(clean, "base64");
  const decoded = bytes.toString("utf8");
  if (utf8 && !Buffer.from(decoded, "utf8").equals(bytes)) throw invalidField(field, "must be UTF-8 text");
  return decoded;
}

/**
 * Checks a Judge0 submission like Judge0 does (422 with {"field": [message]})
 * and builds the Execution spec. What Envicutor cannot honour is refused by
 * name rather than silently dropped: compiler_options, additional_files,
 * redirect_stderr_to_stdout, enable_network, number_of_runs > 1.
 */
export function parseJudge0Submission(raw: unknown, base64: boolean): Judge0Request {
  if (!raw || typeof raw !== "object" || Array.isArray(raw))
    throw new HttpError(400, "submission must be a JSON object");
  const body = raw as Body;
  // The order of the checks decides which error a bad submission gets: keep it.
  const file = sourceFile(body, base64);
  const languageId = languageIdOf(body);
  refuseUnsupported(body);
  const stdin = text(body, "stdin", base64);
  const expected = text(body, "expected_output", base64);
  const argv = argvOf(body);
  const run = runLimits(body);
  // cpu_extra_time, stack_limit and the per-process switches are accepted and have no effect (README).
  const callbackUrl = callbackUrlOf(body);
  return {
    languageId,
    spec: {
      files: [{ name: "source", ...file }],
      ...(argv?.length ? { args: argv } : {}),
      stdin: stdin ?? "",
      ...(expected !== undefined ? { expectedOutput: expected } : {}),
      ...(Object.keys(run).length ? { limits: { run } } : {}),
      outputComparison: "IgnoreTrailingWhitespace",
      priority: 0,
    },
    ...(callbackUrl ? { callbackUrl } : {}),
  };
}

function sourceFile(body: Body, base64: boolean): { content: string; encoding: "base64" | "utf8" } {
  const source = text(body, "source_code", base64, false);
  if (source === undefined || source === "") throw invalidField("source_code", "can't be blank");
  // Base64 source goes to the Execution as sent, byte for byte.
  return base64
    ? { content: String(body.source_code).replace(/\s+/g, ""), encoding: "base64" as const }
    : { content: source, encoding: "utf8" as const };
}

function languageIdOf(body: Body): number {
  const languageId = body.language_id;
  if (languageId === undefined || languageId === null) throw invalidField("language_id", "can't be blank");
  if (typeof languageId !== "number" || !Number.isInteger(languageId))
    throw invalidField("language_id", "is not a number");
  return languageId;
}

/** Refused by name rather than silently dropped. */
function refuseUnsupported(body: Body): void {
  for (const f of ["compiler_options", "additional_files"]) {
    const v = body[f];
    if (v !== undefined && v !== null && v !== "") throw invalidField(f, "is not supported by this server");
  }
  for (const f of ["redirect_stderr_to_stdout", "enable_network"]) {
    if (body[f] === true) throw invalidField(f, "is not supported by this server");
  }
  const runs = body.number_of_runs;
  if (runs !== undefined && runs !== null && runs !== 1)
    throw invalidField("number_of_runs", "must be 1 on this server");
}

function argvOf(body: Body): string[] | undefined {
  const args = body.command_line_arguments;
  if (args === undefined || args === null || args === "") return undefined;
  if (typeof args !== "string") throw invalidField("command_line_arguments", "must be a string");
  try {
    return shellWords(args);
  } catch (err) {
    throw invalidField("command_line_arguments", (err as Error).message);
  }
}

function runLimits(body: Body): Record<string, number> {
  const run: Record<string, number> = {};
  for (const [field, limit, factor] of LIMIT_MAP) {
    const v = body[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0)
      throw invalidField(field, "must be greater than 0");
    run[limit] = Math.max(1, Math.round(v * factor));
  }
  return run;
}

function callbackUrlOf(body: Body): string | undefined {
  const callback = body.callback_url;
  if (callback === undefined || callback === null || callback === "") return undefined;
  if (typeof callback !== "string" || !/^https?:\/\//.test(callback) || !URL.canParse(callback))
    throw invalidField("callback_url", "must be an http or https URL");
  return callback;
}

/**
 * The spec for a Runtime: the source under the Runtime's file name; limits
 * within the Runtime's bounds (422 naming Judge0's field, as Judge0 does for its
 * own maximums); the whole spec checked like the apiserver will.
 */
export function judge0Spec(req: Judge0Request, rt: Runtime): ExecutionSpec {
  const files = req.spec.files.map((f, i) => (i === 0 ? { ...f, name: rt.spec.sourceFile } : f));
  const spec = { ...req.spec, runtime: rt.metadata.name!, files };
  const { violations } = resolveExecutionLimits(rt.spec, spec);
  for (const v of violations) {
    const [field, , factor] = LIMIT_MAP.find(([, limit]) => v.field.endsWith(`.${limit}`)) ?? [
      v.field,
      "",
      1,
    ];
    const bound = /bound of (\d+)/.exec(v.message)?.[1];
    throw invalidField(field, `must be less than or equal to ${Number(bound) / factor}`);
  }
  const checked = executionSpec.safeParse(spec);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    const path = issue.path.join(".");
    const field = path.startsWith("files") ? "source_code" : path.startsWith("stdin") ? "stdin" : path;
    throw invalidField(field, issue.message);
  }
  return checked.data;
}
