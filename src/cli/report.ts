import type { Execution, StageResult } from "../api/execution.ts";

const cell = (v: unknown) => (v === undefined || v === null ? "-" : String(v));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function resources(r: StageResult): string[] {
  return [
    cell(r.cpuTimeMillis === undefined ? undefined : `${r.cpuTimeMillis}ms`),
    cell(r.wallTimeMillis === undefined ? undefined : `${r.wallTimeMillis}ms`),
    cell(r.memoryKiB === undefined ? undefined : `${r.memoryKiB}KiB`),
    cell(r.signal === undefined ? r.exitCode : `signal ${r.signal}`),
  ];
}

/** A judge-style report of a finished Execution: overall verdict, compile stage, one row per test. */
export function formatReport(ex: Execution): string {
  const s = ex.status ?? {};
  const lines = [
    `${ex.metadata.name}: ${s.verdict ?? s.phase ?? "Unknown"}${s.nodeName ? ` (node ${s.nodeName})` : ""}`,
  ];
  if (s.message) lines.push(s.message);
  if (s.compile) {
    lines.push(`compile: ${cell(s.compile.verdict ?? "OK")}`);
    if (s.compile.verdict === "CompilationError" && s.compile.stderr) lines.push(s.compile.stderr.trimEnd());
  }
  const tests = s.tests ?? [];
  if (tests.length > 0) {
    const rows = [["TEST", "VERDICT", "CPU", "WALL", "MEMORY", "EXIT"]];
    for (const t of tests) rows.push([t.name, cell(t.verdict), ...resources(t)]);
    lines.push(table(rows));
    if (tests.length === 1 && tests[0]!.stdout !== undefined) {
      lines.push("stdout:", tests[0]!.stdout + (tests[0]!.stdoutTruncated ? "\n[truncated]" : ""));
    }
  }
  return lines.join("\n");
}
