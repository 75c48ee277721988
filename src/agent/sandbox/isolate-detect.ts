import { existsSync } from "node:fs";
import { execa } from "execa";

export type CgroupMode = "v1" | "v2" | "none";

/** What isolate is on this node and how it can be used. */
export interface IsolateInfo {
  bin: string;
  version: string;
  major: number;
  cgroupMode: CgroupMode;
  /**
   * Whether to pass --cg: isolate 1.x on cgroup v1, isolate 2.x on cgroup v2.
   * Otherwise (e.g. isolate 2.x on a cgroup v1 host) memory is limited by
   * address space (--mem) instead, which is weaker: a warning is logged.
   */
  useCg: boolean;
}

/** cgroup v2 when the unified hierarchy is mounted at the root, v1 when the memory controller has its own mount. */
export function detectCgroupMode(root = "/sys/fs/cgroup"): CgroupMode {
  if (existsSync(`${root}/cgroup.controllers`)) return "v2";
  if (existsSync(`${root}/memory`)) return "v1";
  return "none";
}

export function parseIsolateVersion(text: string): { version: string; major: number } | undefined {
  const m = /isolator\s+(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  return { version: m[3] ? `${m[1]}.${m[2]}.${m[3]}` : `${m[1]}.${m[2]}`, major: Number(m[1]) };
}

export function canUseCg(major: number, mode: CgroupMode): boolean {
  return (major === 1 && mode === "v1") || (major >= 2 && mode === "v2");
}

/** Runs `isolate --version`; undefined when isolate is not installed. */
export async function detectIsolate(
  bin = "isolate",
  cgroupRoot = "/sys/fs/cgroup",
): Promise<IsolateInfo | undefined> {
  const res = await execa(bin, ["--version"], { reject: false, timeout: 10_000 });
  const parsed = parseIsolateVersion(`${res.stdout}\n${res.stderr}`);
  if (!parsed) return undefined;
  const cgroupMode = detectCgroupMode(cgroupRoot);
  return { bin, ...parsed, cgroupMode, useCg: canUseCg(parsed.major, cgroupMode) };
}
