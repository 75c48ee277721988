// A cgroup v2 tree as text, for assertions: each cgroup below a root with the
// controllers it delegates to its children (cgroup.subtree_control).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** "path: controllers" for `root` and every cgroup below it, down to `maxDepth` levels. */
export function cgroupTree(root: string, maxDepth = 5): string[] {
  const out: string[] = [];
  const walk = (rel: string, depth: number) => {
    const dir = join(root, rel);
    out.push(`${rel || "/"}: ${readFileSync(join(dir, "cgroup.subtree_control"), "utf8").trim()}`);
    if (depth >= maxDepth) return;
    for (const name of childCgroups(dir)) walk(`${rel}/${name}`, depth + 1);
  };
  walk("", 0);
  return out;
}

/** The cgroups directly below `dir` (its directories; interface files are plain files). */
export function childCgroups(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => statSync(join(dir, n)).isDirectory())
      .sort();
  } catch {
    return [];
  }
}

/** The process ids in a cgroup. */
export function cgroupProcs(dir: string): number[] {
  return readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
}
