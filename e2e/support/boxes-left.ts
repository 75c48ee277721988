// What an agent's boxes hold between runs, as the e2e suites check it.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

/**
 * Whether box `id` holds nothing of any run: gone, an empty directory
 * (isolate 1.10 leaves one after --cleanup of a box never initialised), or a
 * warm or kept box (issue 17: the agent makes the next box right after
 * cleaning one, or keeps it emptied in place): isolate's box directory empty
 * (and its empty mount point for the box's root, once a run has been there),
 * and the agent's tmpfs for it holding its three directories, all empty.
 */
export function boxHoldsNothing(boxRoot: string, id: number, sandboxDir: string): boolean {
  const dir = join(boxRoot, String(id));
  const entries = existsSync(dir) ? readdirSync(dir) : [];
  if (entries.length === 0) return true;
  try {
    const left = entries.sort().join();
    if (left !== "box" && left !== "box,root") return false;
    if (entries.some((e) => readdirSync(join(dir, e)).length > 0)) return false;
    const fs = join(sandboxDir, `fs-${id}`);
    const inside = readdirSync(fs).sort();
    return inside.join() === "box,shm,tmp" && inside.every((d) => readdirSync(join(fs, d)).length === 0);
  } catch {
    return false; // half made or half cleaned: not settled
  }
}

/** Box directories among `ids` that hold something of a run (see boxHoldsNothing). */
export function boxesLeft(boxRoot: string, ids: number[], sandboxDir: string): string[] {
  return ids.filter((id) => !boxHoldsNothing(boxRoot, id, sandboxDir)).map((id) => join(boxRoot, String(id)));
}

/**
 * boxesLeft once the agent's background clean-ups have had time to end: it
 * writes a result before its box is cleaned (and the next one made), so a
 * box may still be in use just after the result is seen. Polls for up to
 * `timeoutMs`, then answers what is left.
 */
export async function boxesLeftSettled(
  boxRoot: string,
  ids: number[],
  sandboxDir: string,
  timeoutMs = 20_000,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = boxesLeft(boxRoot, ids, sandboxDir);
    if (left.length === 0 || Date.now() >= deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}
