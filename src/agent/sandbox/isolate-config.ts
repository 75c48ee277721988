import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

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

export interface CgroupV2SubtreeOptions {
  /** Mount point of the unified hierarchy. */
  root?: string;
  /** Name of the boxes' parent cgroup, beside the agent's leaf. */
  name?: string;
  pid?: number | "self";
  procRoot?: string;
}

/** Controllers isolate 2.x uses: memory is required (memory.max, memory.events), cpu and pids are extras. */
const WANTED_CONTROLLERS = ["memory", "cpu", "pids"] as const;
const AGENT_LEAF = "agent";

/**
 * In a container on cgroup v2 (the agent image runs privileged), isolate needs
 * a subtree whose controllers are delegated: the agent moves itself into a
 * leaf (a cgroup with processes cannot enable controllers for its children)
 * and enables cpu, memory and pids for the boxes' parent. Returns isolate's
 * cg_root. Idempotent: an agent already in the leaf (restarted, or a second
 * agent in the same cgroup) reuses the same subtree, so every agent on the
 * machine writes the same isolate configuration. Throws when the memory
 * controller cannot be delegated: the caller then runs without --cg.
 *
 *   <own cgroup>/              subtree_control: +memory +cpu +pids
 *   <own cgroup>/agent/        the agent's processes
 *   <own cgroup>/envicutor/    cg_root; subtree_control: +memory +cpu +pids
 *   <own cgroup>/envicutor/box-N/   created by isolate
 */
export function prepareCgroupV2Subtree(o: CgroupV2SubtreeOptions = {}): string {
  const root = o.root ?? "/sys/fs/cgroup";
  const name = o.name ?? "envicutor";
  let own = readOwnCgroupV2(o.pid ?? "self", o.procRoot);
  if (basename(own) === AGENT_LEAF && existsSync(join(root, dirname(own), name))) own = dirname(own);
  const base = join(root, own);
  const agentLeaf = join(base, AGENT_LEAF);
  const boxes = join(base, name);
  mkdirSync(agentLeaf, { recursive: true });
  mkdirSync(boxes, { recursive: true });
  // Move every process of our cgroup into the leaf, so its parent may delegate controllers.
  for (const p of readFileSync(join(base, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
    try {
      appendFileSync(join(agentLeaf, "cgroup.procs"), `${p}\n`);
    } catch {
      // a process that exited meanwhile
    }
  }
  const available = readFileSync(join(base, "cgroup.controllers"), "utf8").trim().split(/\s+/);
  for (const dir of [base, boxes]) {
    // One controller per write: the kernel stops at the first one it refuses.
    for (const c of WANTED_CONTROLLERS.filter((c) => available.includes(c))) {
      try {
        appendFileSync(join(dir, "cgroup.subtree_control"), `+${c}`);
      } catch {
        // checked below for the one that matters
      }
    }
  }
  const delegated = readFileSync(join(boxes, "cgroup.subtree_control"), "utf8").split(/[\s+]+/);
  if (!delegated.includes("memory"))
    throw new Error(
      `cannot delegate the memory controller to ${boxes} (available in ${base}: ${available.join(" ") || "none"})`,
    );
  return boxes;
}

/** The cgroup v2 path of a process ("0::/path" in /proc/PID/cgroup). */
export function readOwnCgroupV2(pid: number | "self" = "self", procRoot = "/proc"): string {
  const text = readFileSync(`${procRoot}/${pid}/cgroup`, "utf8");
  const line = text.split("\n").find((l) => l.startsWith("0::"));
  if (!line) throw new Error("not on cgroup v2: no 0:: line in /proc/self/cgroup");
  return line.slice(3) || "/";
}
