// CPU time of processes from /proc/<pid>/stat (issue 17): utime and stime of
// the process itself, and cutime and cstime of its children it has reaped
// (the agent's isolate runs and what they ran), in milliseconds.
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat (getconf CLK_TCK; 100 on Linux everywhere in practice). */
const TICK_MS = 10;

export interface CpuSample {
  /** The process's own threads. */
  selfMs: number;
  /** Its reaped children (with their own reaped children). */
  childrenMs: number;
}

export function readCpu(pid: number): CpuSample {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces: state is field 3.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const at = (field: number) => Number(f[field - 3]);
  return { selfMs: (at(14) + at(15)) * TICK_MS, childrenMs: (at(16) + at(17)) * TICK_MS };
}

/** Children of `parent` whose command name (/proc/<pid>/comm, at most 15 chars) is `comm`. */
export function childPids(parent: number, comm: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parent && readFileSync(`/proc/${d}/comm`, "utf8").trim() === comm) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU of a set of named processes, sampled before and after a stretch of work. */
export class CpuMeter {
  private readonly pids: Record<string, number>;

  constructor(pids: Record<string, number>) {
    this.pids = pids;
  }

  sample(): Record<string, CpuSample> {
    return Object.fromEntries(Object.entries(this.pids).map(([name, pid]) => [name, readCpu(pid)]));
  }

  /** Milliseconds used between two samples, per process. */
  static delta(a: Record<string, CpuSample>, b: Record<string, CpuSample>): Record<string, CpuSample> {
    return Object.fromEntries(
      Object.keys(a).map((k) => [
        k,
        { selfMs: b[k]!.selfMs - a[k]!.selfMs, childrenMs: b[k]!.childrenMs - a[k]!.childrenMs },
      ]),
    );
  }
}

/** Pins every thread of a process to one CPU (taskset -a -p); threads it starts later inherit it. */
export function pinArgs(pid: number, cpu: number): string[] {
  return ["-a", "-p", "-c", String(cpu), String(pid)];
}

/** CPU of a process and of every live descendant (each with its reaped children), in ms. */
export function treeCpuMs(root: number): number {
  const kids = new Map<number, number[]>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(d)]);
    } catch {
      // gone meanwhile
    }
  }
  let ms = 0;
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    try {
      const c = readCpu(pid);
      ms += c.selfMs + c.childrenMs;
    } catch {
      // gone meanwhile
    }
    todo.push(...(kids.get(pid) ?? []));
  }
  return ms;
}
