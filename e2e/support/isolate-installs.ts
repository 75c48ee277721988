// The two isolate installations the sandbox e2e tests run against on a
// development machine (built by hand outside the project, see README):
// isolate 1.x as the default install (--cg on cgroup v1) and isolate 2.x
// under /opt/isolate-2 (without cgroups on a cgroup v1 host, with --cg on a
// cgroup v2 one: `npm run test:v2` runs the same files in a cgroup v2 guest).
// Tests that need one print a loud line when it is missing and skip only
// themselves.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

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

/** The unified hierarchy: isolate 1.x's --cg cannot run here, isolate 2.x's can. */
export const ON_CGROUP_V2 = existsSync("/sys/fs/cgroup/cgroup.controllers");

export const ISOLATE_2: IsolateInstall = {
  name: ON_CGROUP_V2 ? "isolate 2.x, --cg on cgroup v2" : "isolate 2.x without cgroups",
  bin: "/opt/isolate-2/bin/isolate",
  config: "/opt/isolate-2/etc/isolate",
  boxRoot: "/var/local/lib/isolate2",
};

const works = (bin: string) => spawnSync(bin, ["--version"]).status === 0;

/**
 * Which installations are usable here; says loudly what `what` skips without
 * them. On cgroup v2 only isolate 2.x is (isolate 1.10's --cg needs v1).
 */
export function isolateInstalls(what: string): { isolate1: boolean; isolate2: boolean } {
  if (ON_CGROUP_V2) {
    const isolate2 = works(ISOLATE_2.bin);
    console.warn(`!!! cgroup v2: the isolate 1.x (--cg on cgroup v1) ${what} SKIPPED here`);
    if (!isolate2) console.warn(`!!! ${ISOLATE_2.bin} not found: isolate 2.x ${what} SKIPPED`);
    return { isolate1: false, isolate2 };
  }
  const isolate1 = works(ISOLATE_1.bin);
  const isolate2 = isolate1 && works(ISOLATE_2.bin);
  if (!isolate1) console.warn(`!!! isolate not found: ${what} SKIPPED — install isolate (see README)`);
  else if (!isolate2) console.warn(`!!! ${ISOLATE_2.bin} not found: isolate 2.x ${what} SKIPPED`);
  return { isolate1, isolate2 };
}

/**
 * Factor for the time limits and time bounds of the sandbox e2e files: 1 on a
 * real machine; in the emulated cgroup v2 guest the measured slowdown
 * (ENVICUTOR_E2E_TIME_SCALE, set by e2e/vm/guest-vitest.ts). Verdicts asserted stay the same.
 */
export const TIME_SCALE = Math.max(1, Number(process.env.ENVICUTOR_E2E_TIME_SCALE ?? 1) || 1);

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
