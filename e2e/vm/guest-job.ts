// The shell job the guest runs: this checkout's guest suite with this
// machine's Node (both reached through the read-only share of the host's root).
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");

/** A job script that runs `script` (relative to the repository) with `env`, results going to /run/vm. */
export function nodeJob(script: string, env: Record<string, string>): string {
  const vars = Object.entries(env).map(([k, v]) => `export ${k}='${v.replaceAll("'", "'\\''")}'`);
  return [
    "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root",
    ...vars,
    `cd '${ROOT}'`,
    `exec '${process.execPath}' '${join(ROOT, script)}'`,
    "",
  ].join("\n");
}
