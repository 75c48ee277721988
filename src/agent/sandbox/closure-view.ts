import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { mkdir, readdir, readFile, rmdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { mountsBelow } from "./box-storage.ts";
import { runCommand } from "./run-command.ts";

/** Views kept at once; the least recently used one nobody uses goes beyond that. */
const MAX_VIEWS = 16;

interface View {
  dir: string;
  ready: Promise<void>;
  users: number;
  lastUsed: number;
  /** Replaced by a new view (a store path was removed and made again): removed once unused. */
  stale: boolean;
}

/**
 * One prepared read-only view of a Runtime's closure (issue 17): a directory
 * holding one read-only bind mount of each store path (`<view>/<hash-name>`),
 * made once per closure, so a box mounts the whole closure as one isolate
 * --dir (isolate binds it recursively) instead of one --dir per store path.
 * Each bind is read-only, nosuid and nodev on the host (checked in
 * /proc/self/mountinfo before the view is used): isolate's read-only remount
 * covers only the top of a recursive bind. A view is used only while each
 * bind still shows its store path's directory (same inode: a store path
 * collected and made again gets a new view). Views live below the sandbox's
 * work directory, whose mounts the agent removes at start and stop.
 */
export class ClosureViews {
  private readonly root: string;
  private readonly views = new Map<string, View>();
  private made = 0;

  constructor(workDir: string) {
    this.root = join(workDir, "store-views");
  }

  /** The view of `closure` (absolute store directories), made on first use; release() when the run is done. */
  async use(closure: readonly string[]): Promise<{ dir: string; release: () => void }> {
    const key = createHash("sha256")
      .update([...closure].sort().join("\n"))
      .digest("hex")
      .slice(0, 32);
    const v = this.viewOf(key, closure);
    v.users++;
    v.lastUsed = Date.now();
    let ok = false;
    try {
      await v.ready;
      ok = sameDirectories(v.dir, closure);
      if (!ok) throw new Error("a store path of the closure changed since its view was made");
    } finally {
      if (!ok) {
        if (this.views.get(key) === v) this.views.delete(key); // the next run makes a new one
        v.stale = true;
        this.unuse(v);
      }
    }
    let released = false;
    return {
      dir: v.dir,
      release: () => {
        if (!released) this.unuse(v);
        released = true;
      },
    };
  }

  private viewOf(key: string, closure: readonly string[]): View {
    const known = this.views.get(key);
    if (known) return known;
    const dir = join(this.root, `${key}-${this.made++}`);
    const view = { dir, ready: makeView(dir, closure), users: 0, lastUsed: 0, stale: false };
    this.evict(MAX_VIEWS - 1); // room for this one
    this.views.set(key, view);
    return view;
  }

  private unuse(v: View): void {
    v.users--;
    if (v.stale && v.users === 0) void v.ready.then(() => removeView(v.dir)).catch(() => undefined);
  }

  /** Beyond `keep` views: the least recently used ones nobody uses are removed. */
  private evict(keep: number): void {
    const idle = [...this.views.entries()]
      .filter(([, v]) => v.users === 0)
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    while (this.views.size > keep && idle.length > 0) {
      const [key, v] = idle.shift()!;
      this.views.delete(key);
      v.stale = true;
      void v.ready.then(() => removeView(v.dir)).catch(() => undefined);
    }
  }
}

/** Whether each bind of the view shows its store path's directory (a bind has its source's inode). */
function sameDirectories(dir: string, closure: readonly string[]): boolean {
  try {
    return closure.every((p) => {
      const src = statSync(p);
      const bound = statSync(join(dir, basename(p)));
      return src.isDirectory() && src.ino === bound.ino && src.dev === bound.dev;
    });
  } catch {
    return false;
  }
}

/** Binds each store path read-only into `dir`, then checks every bind is read-only, nosuid and nodev. */
async function makeView(dir: string, closure: readonly string[]): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    for (const p of closure) {
      const at = join(dir, basename(p));
      await mkdir(at, { mode: 0o755 });
      const res = await runCommand("mount", ["--bind", "-o", "ro,nosuid,nodev", p, at], 10_000);
      if (res.exitCode !== 0) throw new Error(`cannot bind ${p} into a closure view: ${res.stderr}`);
    }
    const unsafe = await notReadOnly(dir, closure.length);
    if (unsafe) throw new Error(`a closure view's bind is not read-only, nosuid and nodev: ${unsafe}`);
  } catch (err) {
    await removeView(dir).catch(() => undefined);
    throw err;
  }
}

/** The first mount below `dir` without ro, nosuid and nodev, or a count that is not `expected`. */
export async function notReadOnly(
  dir: string,
  expected: number,
  mountinfo = "/proc/self/mountinfo",
): Promise<string> {
  const prefix = `${dir}/`;
  let seen = 0;
  for (const line of (await readFile(mountinfo, "utf8")).split("\n")) {
    const f = line.split(" ");
    const point = f[4]?.replace(/\\([0-7]{3})/g, (_, o: string) =>
      String.fromCharCode(Number.parseInt(o, 8)),
    );
    if (!point?.startsWith(prefix)) continue;
    seen++;
    const opts = new Set((f[5] ?? "").split(","));
    if (!opts.has("ro") || !opts.has("nosuid") || !opts.has("nodev")) return point;
  }
  return seen === expected ? "" : `${seen} binds for ${expected} store paths`;
}

/** Unmounts a view's binds and removes its directories (rmdir only: never anything of the store). */
async function removeView(dir: string): Promise<void> {
  for (const m of await mountsBelow(dir)) {
    const res = await runCommand("umount", [m], 10_000);
    if (res.exitCode !== 0) await runCommand("umount", ["-l", m], 10_000);
  }
  // rmdir only, never a recursive rm: through a bind still mounted it would reach the store.
  for (const name of await readdir(dir).catch(() => [] as string[])) await rmdir(join(dir, name));
  await rmdir(dir).catch(() => undefined);
}
