import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Logger } from "../../logging.ts";
import { closureHash } from "../nix/closure.ts";
import { mountsBelow } from "./box-storage.ts";
import { runCommand } from "./run-command.ts";

/** Views kept at once; the least recently used one nobody uses goes beyond that. */
const MAX_VIEWS = 16;
/** Making one is a cp of directories and links: a large closure (10^5 entries) within this. */
const MAKE_TIMEOUT_MS = 120_000;
/** How often idle views of collected store paths are removed: their links hold the files' disk space. */
const PRUNE_INTERVAL_MS = 60_000;
/** A closure whose view could not be made is mounted path by path this long before the next try. */
const RETRY_AFTER_MS = 10 * 60_000;

/** Views are off on this node (links refused): said once in the log, each run then mounts path by path. */
export class ClosureViewsOff extends Error {
  override readonly name = "ClosureViewsOff";
}

interface View {
  dir: string;
  ready: Promise<void>;
  /** Each store path's identity (see identity()) when the view was made. */
  made: Map<string, string>;
  users: number;
  lastUsed: number;
  /** Replaced by a new view (a store path was removed and made again): removed once unused. */
  stale: boolean;
}

/** Roots cleared in this process (an agent's views of an earlier run), and the views made: names stay unique. */
const cleared = new Map<string, Promise<void>>();
let made = 0;

/**
 * One prepared read-only view of a Runtime's closure (issue 17): a directory
 * holding a hard-link copy of each store path (`<view>/<hash-name>`: its
 * directories made anew, its files the store's own inodes, its symlinks
 * copied), made once per closure, so a box mounts the whole closure as one
 * isolate --dir at /nix/store instead of one --dir per store path. A view
 * holds no mount: isolate's one read-only, nosuid, nodev bind covers all of it,
 * and the agent's mount namespace (which every isolate process copies) does
 * not grow with the views (bench/closure-mounts.ts measured binds there costing
 * every run). Hard links need the store's own filesystem and mount, so views
 * live beside the store (`/nix/var/envicutor/store-views/<agent>`); where a
 * link is refused (another mount, as on NixOS's read-only store bind) views
 * turn off and boxes mount the closure path by path. A view is used only
 * while each store path is still the one it was made from (same device,
 * inode and ctime: a path collected and made again gets a new view).
 */
export class ClosureViews {
  private readonly root: string;
  private readonly logger: Logger | undefined;
  private readonly views = new Map<string, View>();
  private readonly ready: Promise<void>;
  /** Why views are off (a link was refused): boxes mount path by path from then on. */
  private off: string | undefined;
  /** Closures whose view failed to be made (ENOSPC, EMLINK, a timeout...), and until when they are not tried again. */
  private readonly failed = new Map<string, { until: number; why: string }>();
  private readonly pruning: NodeJS.Timeout;

  /** `root`: this agent's directory of views, on the store's filesystem (see viewsRootFor); emptied first. */
  constructor(root: string, logger?: Logger) {
    this.root = root;
    this.logger = logger;
    this.ready = clearOnce(root);
    this.pruning = setInterval(() => this.prune(), PRUNE_INTERVAL_MS);
    this.pruning.unref();
  }

  /** Removes the idle views whose store paths changed or were collected (a deleted Runtime's, after Nix's GC). */
  prune(): number {
    let removed = 0;
    for (const [key, v] of this.views) {
      if (v.users > 0 || unchanged(v.made, [...v.made.keys()])) continue;
      this.retire(key, v);
      removed++;
    }
    return removed;
  }

  /**
   * The view of `closure` (absolute store paths), made on first use; release()
   * when the run is done. A view whose store path changed is replaced at once
   * (one new view per call); a closure whose view could not be made is not
   * tried again for RETRY_AFTER_MS (the caller mounts it path by path).
   */
  async use(closure: readonly string[]): Promise<{ dir: string; release: () => void }> {
    await this.ready;
    if (this.off) throw new ClosureViewsOff(this.off);
    const key = closureHash(closure).slice("sha256:".length, "sha256:".length + 32);
    const failed = this.failed.get(key);
    if (failed && failed.until > Date.now()) throw new Error(`its view failed recently: ${failed.why}`);
    this.failed.delete(key);
    const v = (await this.take(key, closure)) ?? (await this.take(key, closure));
    if (!v) {
      const why = "a store path of the closure changed while its view was made, twice";
      this.failed.set(key, { until: Date.now() + RETRY_AFTER_MS, why });
      throw new Error(why);
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

  /** Takes the view of `key`, made now if need be; undefined when a store path changed since it was made (it goes). */
  private async take(key: string, closure: readonly string[]): Promise<View | undefined> {
    const v = this.viewOf(key, closure);
    v.users++;
    v.lastUsed = Date.now();
    let ok = false;
    try {
      await v.ready;
      ok = unchanged(v.made, closure);
      return ok ? v : undefined;
    } catch (err) {
      if (!(err instanceof ClosureViewsOff))
        this.failed.set(key, { until: Date.now() + RETRY_AFTER_MS, why: String(err) });
      throw err;
    } finally {
      if (!ok) {
        this.retire(key, v); // the next take makes a new one
        this.unuse(v);
      }
    }
  }

  /** The agent stops: every view goes (none is in use by then). */
  async removeAll(): Promise<void> {
    clearInterval(this.pruning);
    await this.ready;
    await Promise.all([...this.views.values()].map((v) => v.ready.catch(() => undefined)));
    this.views.clear();
    await removeDir(this.root);
  }

  private viewOf(key: string, closure: readonly string[]): View {
    const known = this.views.get(key);
    if (known) return known;
    const dir = join(this.root, `${key}-${made++}`);
    // Identities before the copy: a path that changes meanwhile makes the view stale, never wrongly fresh.
    const identities = new Map(closure.map((p) => [p, identity(p)]));
    const view: View = {
      dir,
      ready: this.make(dir, closure),
      made: identities,
      users: 0,
      lastUsed: 0,
      stale: false,
    };
    this.evict(MAX_VIEWS - 1); // room for this one
    this.views.set(key, view);
    return view;
  }

  private async make(dir: string, closure: readonly string[]): Promise<void> {
    const started = Date.now();
    try {
      await makeView(dir, closure);
    } catch (err) {
      await removeDir(dir).catch(() => undefined);
      // EXDEV: another mount (NixOS's store bind); EPERM: links refused (a user namespace, protected_hardlinks).
      if (/cross-device|Operation not permitted|EXDEV|EPERM/i.test(String(err))) {
        this.off = `closure views are off: the store's files cannot be linked into ${this.root} (${String(err)})`;
        this.logger?.warn(
          { err: String(err), root: this.root },
          "closure views are off: boxes mount the closure path by path",
        );
        throw new ClosureViewsOff(this.off);
      }
      throw err;
    }
    this.logger?.info({ dir, storePaths: closure.length, ms: Date.now() - started }, "made a closure view");
  }

  private unuse(v: View): void {
    v.users--;
    if (v.stale && v.users === 0) removeWhenMade(v);
  }

  /** No run takes `v` any more: it leaves the map (if still there) and goes once nobody uses it. */
  private retire(key: string, v: View): void {
    if (this.views.get(key) === v) this.views.delete(key);
    v.stale = true;
    if (v.users === 0) removeWhenMade(v);
  }

  /** Beyond `keep` views: the least recently used ones nobody uses are removed. */
  private evict(keep: number): void {
    const idle = [...this.views.entries()]
      .filter(([, v]) => v.users === 0)
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    while (this.views.size > keep && idle.length > 0) {
      const [key, v] = idle.shift()!;
      this.retire(key, v);
    }
  }
}

/** Removes a retired view's directory once its copy is over (a failed copy removed its own). */
function removeWhenMade(v: View): void {
  void v.ready.then(() => removeDir(v.dir)).catch(() => undefined);
}

/** Where an agent whose sandbox works in `workDir` keeps its views: beside the store, one directory per agent. */
export function viewsRootFor(workDir: string, store = "/nix/store"): string {
  const agent = createHash("sha256").update(workDir).digest("hex").slice(0, 16);
  return join(dirname(store), "var", "envicutor", "store-views", agent);
}

/**
 * A store path's device and inode, and for a directory its ctime too (an
 * inode number can be reused by a path made again; a plain file's ctime moves
 * whenever a view links it); "" when it is gone.
 */
function identity(p: string): string {
  try {
    const s = statSync(p, { bigint: true });
    return s.isDirectory() ? `${s.dev}:${s.ino}:${s.ctimeNs}` : `${s.dev}:${s.ino}`;
  } catch {
    return "";
  }
}

/** Whether each store path is still the one the view was made from. */
function unchanged(madeFrom: Map<string, string>, closure: readonly string[]): boolean {
  return closure.every((p) => {
    const was = madeFrom.get(p);
    return was !== undefined && was !== "" && identity(p) === was;
  });
}

/** Copies each store path into `dir` as hard links (`cp -a -l`: new directories, the store's files, symlinks as they are). */
async function makeView(dir: string, closure: readonly string[]): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const res = await runCommand("cp", ["-a", "-l", "--", ...closure, `${dir}/`], MAKE_TIMEOUT_MS);
  if (res.exitCode !== 0)
    throw new Error(`cannot make a closure view: ${res.stderr || `cp exit ${res.exitCode}`}`);
  const names = (await readdir(dir)).sort();
  const want = closure.map((p) => basename(p)).sort();
  if (names.join("\n") !== want.join("\n"))
    throw new Error(`a closure view holds ${names.length} entries for ${want.length} store paths`);
}

/** Removes a view or a root of views: links and directories only, never through a mount. */
async function removeDir(dir: string): Promise<void> {
  const mounts = await mountsBelow(dir);
  if (mounts.length > 0) throw new Error(`not removing ${dir}: ${mounts[0]} is mounted below it`);
  // Removing a hard link leaves the store's file as it is.
  await rm(dir, { recursive: true, force: true });
}

/** Empties `root` once per process: what an earlier run of this agent left there goes. */
function clearOnce(root: string): Promise<void> {
  let p = cleared.get(root);
  if (!p) {
    p = removeDir(root).catch(() => undefined);
    cleared.set(root, p);
  }
  return p;
}
