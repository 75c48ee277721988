import type { CheckResult } from "./node-checks.ts";

const LABEL = { ok: "ok  ", warn: "WARN", fail: "FAIL" } as const;

/** The checks as lines for a terminal: status, name, what was found, and the fix under anything not ok. */
export function formatChecks(results: readonly CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length));
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${LABEL[r.status]}  ${r.name.padEnd(width)}  ${r.detail}`);
    if (r.fix && r.status !== "ok") lines.push(`${" ".repeat(width + 8)}fix: ${r.fix}`);
  }
  const failed = results.filter((r) => r.status === "fail").map((r) => r.name);
  const warned = results.filter((r) => r.status === "warn").length;
  lines.push(
    failed.length
      ? `${failed.length} check(s) failed: ${failed.join(", ")}`
      : `all checks passed${warned ? ` (${warned} warning(s))` : ""}`,
  );
  return lines.join("\n");
}
