import { readFileSync } from "node:fs";

/**
 * The fields of /proc/<pid>/stat after the command name, which is in
 * parentheses and may hold spaces: index 0 is field 3 (state), index 1 the
 * parent's pid. Throws when the process is gone.
 */
export function procStatFields(pid: number | string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** The parent's pid of a live process; undefined when it is gone. */
export function parentPid(pid: number | string): number | undefined {
  try {
    return Number(procStatFields(pid)[1]);
  } catch {
    return undefined;
  }
}
