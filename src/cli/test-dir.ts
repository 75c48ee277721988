import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { TestCase } from "../api/execution.ts";

/**
 * Reads test cases from a directory the way judges lay them out: `NAME.in` with an
 * optional `NAME.out` (or `NAME.ans`) beside it. Sorted naturally (2 before 10).
 */
export function readTestDir(dir: string): TestCase[] {
  const entries = readdirSync(dir);
  const inputs = entries
    .filter((f) => f.endsWith(".in"))
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  if (inputs.length === 0) throw new Error(`no *.in files in ${dir}`);
  return inputs.map((file) => {
    const name = basename(file, ".in");
    const expectedFile = [`${name}.out`, `${name}.ans`].find((f) => entries.includes(f));
    return {
      name: name.replace(/[^A-Za-z0-9._-]/g, "_"),
      stdin: readFileSync(join(dir, file), "utf8"),
      ...(expectedFile ? { expectedOutput: readFileSync(join(dir, expectedFile), "utf8") } : {}),
    };
  });
}
