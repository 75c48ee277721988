import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export interface IsolateConfigOptions {
  major: number;
  boxRoot: string;
  /** cgroup v1: the cgroup filesystem root; cgroup v2: the delegated subtree isolate creates boxes in. */
  cgRoot: string;
  /** isolate 2.x only. */
  lockRoot?: string;
  firstUid: number;
  firstGid: number;
  numBoxes: number;
}

/** isolate's configuration file, in the dialect of its major version (1.x rejects 2.x's keys). */
export function renderIsolateConfig(o: IsolateConfigOptions): string {
  const lines = [
    "# Written by the Envicutor agent at start-up; changes here are overwritten.",
    `box_root = ${o.boxRoot}`,
    `cg_root = ${o.cgRoot}`,
    `first_uid = ${o.firstUid}`,
    `first_gid = ${o.firstGid}`,
    `num_boxes = ${o.numBoxes}`,
  ];
  if (o.major >= 2) lines.splice(2, 0, `lock_root = ${o.lockRoot ?? "/run/isolate/locks"}`);
  return `${lines.join("\n")}\n`;
}

/**
 * Writes the file atomically, and not at all when it already says the same
 * (several agents on one machine write the same file at start-up).
 */
export function writeIfChanged(path: string, text: string): boolean {
  if (existsSync(path) && readFileSync(path, "utf8") === text) return false;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path);
  return true;
}

/**
 * In a container on cgroup v2 (the agent image runs privileged), isolate needs
 * a subtree whose controllers are delegated: the agent moves itself into a
 * leaf (a cgroup with processes cannot enable controllers for its children)
 * and enables cpu, memory and pids for the boxes' parent. Returns isolate's cg_root.
 */
export function prepareCgroupV2Subtree(
  root = "/sys/fs/cgroup",
  name = "envicutor",
  pid = process.pid,
): string {
  const own = readOwnCgroupV2(pid);
  const base = join(root, own);
  const agentLeaf = join(base, "agent");
  const boxes = join(base, name);
  mkdirSync(agentLeaf, { recursive: true });
  mkdirSync(boxes, { recursive: true });
  // Move every process of our cgroup into the leaf, so its parent may delegate controllers.
  const procs = readFileSync(join(base, "cgroup.procs"), "utf8").split("\n").filter(Boolean);
  for (const p of procs) {
    try {
      appendFileSync(join(agentLeaf, "cgroup.procs"), `${p}\n`);
    } catch {
      // a process that exited meanwhile
    }
  }
  const wanted = ["cpu", "memory", "pids"];
  const available = readFileSync(join(base, "cgroup.controllers"), "utf8").trim().split(/\s+/);
  const enable = wanted
    .filter((c) => available.includes(c))
    .map((c) => `+${c}`)
    .join(" ");
  if (enable) {
    writeFileSync(join(base, "cgroup.subtree_control"), enable);
    writeFileSync(join(boxes, "cgroup.subtree_control"), enable);
  }
  return boxes;
}

/** The cgroup v2 path of a process ("0::/path" in /proc/PID/cgroup). */
export function readOwnCgroupV2(pid: number | "self" = "self", procRoot = "/proc"): string {
  const text = readFileSync(`${procRoot}/${pid}/cgroup`, "utf8");
  const line = text.split("\n").find((l) => l.startsWith("0::"));
  if (!line) throw new Error("not on cgroup v2: no 0:: line in /proc/self/cgroup");
  return line.slice(3) || "/";
}
