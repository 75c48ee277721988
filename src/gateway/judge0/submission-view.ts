import type { Execution } from "../../api/execution.ts";
import { HttpError } from "../http-error.ts";
import { judge0Status, runResult } from "./statuses.ts";

/** Annotations the gateway keeps on an Execution for Judge0's GET /submissions/:token. */
export const JUDGE0_LANGUAGE_ANNOTATION = "gateway.envicutor.io/judge0-language-id";

/** Judge0's default fields of a submission (GET /submissions/:token without ?fields). */
export const DEFAULT_FIELDS = [
  "stdout",
  "time",
  "memory",
  "stderr",
  "token",
  "compile_output",
  "message",
  "status",
];

const ALL_FIELDS = [
  "source_code",
  "language_id",
  "stdin",
  "expected_output",
  "stdout",
  "stderr",
  "compile_output",
  "message",
  "status",
  "status_id",
  "exit_code",
  "exit_signal",
  "created_at",
  "finished_at",
  "token",
  "time",
  "wall_time",
  "memory",
  "number_of_runs",
  "cpu_time_limit",
  "wall_time_limit",
  "memory_limit",
  "max_processes_and_or_threads",
  "max_file_size",
  "command_line_arguments",
  "language",
];

/** The fields a ?fields= asks for: Judge0's defaults, "*" for all, or a list; unknown names are 400. */
export function parseFields(param: string | null): string[] {
  if (param === null || param === "") return DEFAULT_FIELDS;
  if (param.trim() === "*") return ALL_FIELDS;
  const asked = param
    .split(",")
    .map((f) => f.trim())
    .filter(Boolean);
  const unknown = asked.filter((f) => !ALL_FIELDS.includes(f));
  if (unknown.length) throw new HttpError(400, `invalid fields: [${unknown.join(", ")}]`);
  return asked;
}

const seconds = (ms: number | undefined) => (ms === undefined ? null : (ms / 1000).toFixed(3));

/** Fields Judge0 returns base64-encoded when base64_encoded=true. */
const ENCODED = new Set([
  "source_code",
  "stdin",
  "expected_output",
  "stdout",
  "stderr",
  "compile_output",
  "message",
]);

/** A Judge0 submission as JSON, from an Execution (pending or finished), with the asked fields only. */
export function submissionView(
  ex: Execution,
  fields: string[],
  base64: boolean,
  languageName?: (id: number) => string | undefined,
): Record<string, unknown> {
  const value = { ...requestFields(ex, languageName), ...resultFields(ex) };
  const file = ex.spec.files[0];
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = value[f];
    // Base64 source is kept as sent: returned as is, never decoded and re-encoded.
    if (f === "source_code" && base64 && file?.encoding === "base64") out[f] = file.content;
    else out[f] = base64 && ENCODED.has(f) && typeof v === "string" ? Buffer.from(v).toString("base64") : v;
  }
  return out;
}

type RunResult = ReturnType<typeof runResult>;
type Judge0Status = ReturnType<typeof judge0Status>;

/** What the submission asked for: source, input, limits, language. */
function requestFields(
  ex: Execution,
  languageName: ((id: number) => string | undefined) | undefined,
): Record<string, unknown> {
  const languageId = Number(ex.metadata.annotations?.[JUDGE0_LANGUAGE_ANNOTATION] ?? 0) || null;
  const file = ex.spec.files[0];
  const limits = ex.spec.limits?.run;
  return {
    source_code: file
      ? file.encoding === "base64"
        ? Buffer.from(file.content, "base64").toString()
        : file.content
      : null,
    language_id: languageId,
    stdin: ex.spec.stdin ?? null,
    expected_output: ex.spec.expectedOutput ?? null,
    created_at: ex.metadata.creationTimestamp ? new Date(ex.metadata.creationTimestamp).toISOString() : null,
    token: ex.metadata.name,
    number_of_runs: 1,
    cpu_time_limit: limits?.cpuTimeMillis !== undefined ? limits.cpuTimeMillis / 1000 : null,
    wall_time_limit: limits?.wallTimeMillis !== undefined ? limits.wallTimeMillis / 1000 : null,
    memory_limit: limits?.memoryKiB ?? null,
    max_processes_and_or_threads: limits?.processes ?? null,
    max_file_size: limits?.fileSizeKiB ?? null,
    command_line_arguments: ex.spec.args?.join(" ") ?? null,
    language: languageId ? { id: languageId, name: languageName?.(languageId) ?? null } : null,
  };
}

/** What came of it: status, output, resources used (nulls while pending). */
function resultFields(ex: Execution): Record<string, unknown> {
  const s = ex.status;
  const run = runResult(ex);
  const compile = s?.compile;
  const status = judge0Status(ex);
  return {
    stdout: run?.stdout || null,
    stderr: run?.stderr || null,
    compile_output:
      compile && (compile.stdout || compile.stderr) ? `${compile.stdout ?? ""}${compile.stderr ?? ""}` : null,
    message: judge0Message(ex, status, run),
    status: { id: status.id, description: status.description },
    status_id: status.id,
    exit_code: run?.exitCode ?? null,
    exit_signal: run?.signal ?? null,
    finished_at: s?.completionTime ?? null,
    time: seconds(run?.cpuTimeMillis),
    wall_time: seconds(run?.wallTimeMillis),
    memory: run?.memoryKiB ?? null,
  };
}

/** None while queued or processing, nor for Accepted or Wrong Answer; a Compilation Error has one only when the Execution Failed. */
function judge0Message(ex: Execution, status: Judge0Status, run: RunResult): string | null {
  const s = ex.status;
  if (status.id === 3 || status.id === 4 || status.id <= 2) return null;
  if (s?.phase === "Failed") return s.message ?? null;
  if (status.id === 6) return null;
  return run?.message ?? s?.message ?? null;
}
