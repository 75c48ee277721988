// CPU time of processes from /proc/<pid>/stat (issue 17): utime and stime of
// the process itself, and cutime and cstime of its children it has reaped
// (the agent's isolate runs and what they ran), in milliseconds.
import { readdirSync, readFileSync } from "node:fs";
import { parentPid, procStatFields } from "../src/agent/sandbox/proc-stat.ts";

/** Clock ticks per second of /proc/<pid>/stat (getconf CLK_TCK; 100 on Linux everywhere in practice). */
const TICK_MS = 10;

export interface CpuSample {
  /** The process's own threads. */
  selfMs: number;
  /** Its reaped children (with their own reaped children). */
  childrenMs: number;
}

export function readCpu(pid: number): CpuSample {
  const f = procStatFields(pid);
  const at = (field: number) => Number(f[field - 3]);
  return { selfMs: (at(14) + at(15)) * TICK_MS, childrenMs: (at(16) + at(17)) * TICK_MS };
}

/** Children of `parent` whose command name (/proc/<pid>/comm, at most 15 chars) is `comm`. */
export function childPids(parent: number, comm: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (parentPid(d) === parent && readFileSync(`/proc/${d}/comm`, "utf8").trim() === comm)
        out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * CPU of a set of named processes, sampled before and after a stretch of work.
 * A process's live helper children (`helpers`: name → their command name, e.g.
 * the agent's command shells, "sh") count with it: their own CPU as its own,
 * what they reaped (the isolate runs they started) as its children's. A
 * helper that appeared between two samples counts from its start.
 */
export class CpuMeter {
  private readonly pids: Record<string, number>;
  private readonly helpers: Record<string, string>;

  constructor(pids: Record<string, number>, helpers: Record<string, string> = {}) {
    this.pids = pids;
    this.helpers = helpers;
  }

  /** Per name, the CPU of the process and of each of its helpers, by pid. */
  sample(): Record<string, Record<number, CpuSample>> {
    return Object.fromEntries(
      Object.entries(this.pids).map(([name, pid]) => {
        const comm = this.helpers[name];
        const byPid: Record<number, CpuSample> = { [pid]: readCpu(pid) };
        for (const h of comm ? childPids(pid, comm) : []) {
          try {
            byPid[h] = readCpu(h);
          } catch {
            // gone meanwhile
          }
        }
        return [name, byPid];
      }),
    );
  }

  /** Milliseconds used between two samples, per name (a helper gone by the second sample is left out). */
  static delta(
    a: Record<string, Record<number, CpuSample>>,
    b: Record<string, Record<number, CpuSample>>,
  ): Record<string, CpuSample> {
    return Object.fromEntries(
      Object.keys(a).map((k) => {
        const sum = { selfMs: 0, childrenMs: 0 };
        for (const [pid, after] of Object.entries(b[k]!)) {
          const before = a[k]![Number(pid)] ?? { selfMs: 0, childrenMs: 0 };
          sum.selfMs += after.selfMs - before.selfMs;
          sum.childrenMs += after.childrenMs - before.childrenMs;
        }
        return [k, sum];
      }),
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
    const ppid = parentPid(d);
    if (ppid !== undefined) kids.set(ppid, [...(kids.get(ppid) ?? []), Number(d)]); // else gone meanwhile
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
