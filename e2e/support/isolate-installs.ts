// The two isolate installations the sandbox e2e tests run against on a
// development machine (built by hand outside the project, see README):
// isolate 1.x as the default install (--cg on cgroup v1) and isolate 2.x
// under /opt/isolate-2 (without cgroups on a cgroup v1 host). Tests that need
// one print a loud line when it is missing and skip only themselves.
import { execFileSync, spawnSync } from "node:child_process";

export interface IsolateInstall {
  name: string;
  bin: string;
  config: string;
  boxRoot: string;
}

export const ISOLATE_1: IsolateInstall = {
  name: "isolate 1.x, --cg on cgroup v1",
  bin: "isolate",
  config: "/usr/local/etc/isolate",
  boxRoot: "/var/local/lib/isolate",
};

export const ISOLATE_2: IsolateInstall = {
  name: "isolate 2.x without cgroups",
  bin: "/opt/isolate-2/bin/isolate",
  config: "/opt/isolate-2/etc/isolate",
  boxRoot: "/var/local/lib/isolate2",
};

const works = (bin: string) => spawnSync(bin, ["--version"]).status === 0;

/** Which installations are here; says loudly what `what` skips without them. */
export function isolateInstalls(what: string): { isolate1: boolean; isolate2: boolean } {
  const isolate1 = works(ISOLATE_1.bin);
  const isolate2 = isolate1 && works(ISOLATE_2.bin);
  if (!isolate1) console.warn(`!!! isolate not found: ${what} SKIPPED — install isolate (see README)`);
  else if (!isolate2) console.warn(`!!! ${ISOLATE_2.bin} not found: isolate 2.x ${what} SKIPPED`);
  return { isolate1, isolate2 };
}

/** isolate's first_uid as the agent configures it: box N runs as 60000 + N. */
export const FIRST_BOX_UID = 60000;

/** Processes of the machine running as one of these boxes' uids. */
export function boxProcesses(ids: number[]): string[] {
  const uids = new Set(ids.map((id) => String(FIRST_BOX_UID + id)));
  return execFileSync("ps", ["-eo", "uid=,pid=,comm="], { encoding: "utf8" })
    .split("\n")
    .filter((l) => uids.has(l.trim().split(/\s+/)[0] ?? ""));
}

/** This process's resident memory, sampled while `fn` runs: the peak above the starting point, in MiB. */
export async function peakRssGrowthMiB<T>(fn: () => Promise<T>): Promise<{ result: T; growthMiB: number }> {
  globalThis.gc?.();
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growthMiB: (peak - start) / (1024 * 1024) };
  } finally {
    clearInterval(timer);
  }
}
