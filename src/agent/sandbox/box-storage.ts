import { chownSync, mkdirSync, readdirSync, rmSync, statfsSync } from "node:fs";
import { mkdir, readFile, rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "./run-command.ts";
// warm-boxes.ts imports only a type from this file: no cycle at run time.
import { sameStorage } from "./warm-boxes.ts";

export interface StorageLimits {
  storageKiB: number;
  storageFiles: number;
}

/** Inodes of the filesystem's own directories (root, box, tmp, shm), not counted against the box. */
const RESERVED_INODES = 4;
/** Up to this many inodes left by a run, reset() removes them at once rather than through the thread pool. */
const SYNC_REMOVE_MAX_INODES = 256;
/** statfs(2)'s f_type of a tmpfs. */
const TMPFS_MAGIC = 0x01021994;

/**
 * A box's private filesystem: one tmpfs per box (a stage's run, or a
 * run's test cases one after another, emptied between them: reset()), of `storageKiB` and
 * `storageFiles`, holding the box's /box, /tmp and /dev/shm. isolate itself
 * caps only single files (--fsize); its --quota needs kernel disk quotas,
 * which many kernels lack. A tmpfs caps the box as a whole, never touches the
 * node's disk, is charged to the writer's memory cgroup (so, with --cg, to the
 * box's memory limit), and is gone at once when unmounted.
 *
 *   <workDir>/fs-<id>/        tmpfs, root-owned 0700 (the host side)
 *   <workDir>/fs-<id>/box/    the box's /box      (box uid, 0700)
 *   <workDir>/fs-<id>/tmp/    the box's /tmp      (box uid, 0700)
 *   <workDir>/fs-<id>/shm/    the box's /dev/shm  (box uid, 0700)
 *
 * What a test case does to it (empty it, make its directories, look at its
 * counts) is synchronous on purpose: metadata operations on a tmpfs take
 * microseconds and never wait for a disk, while a round trip through
 * libuv's thread pool costs the agent more CPU than the operation (issue 17);
 * only a tree of many files is removed through the pool.
 */
export class BoxStorage {
  readonly root: string;
  private readonly uid: number;
  private readonly gid: number;
  private mounted: StorageLimits | undefined;

  constructor(workDir: string, id: number, owner: { uid: number; gid: number }) {
    this.root = join(workDir, `fs-${id}`);
    this.uid = owner.uid;
    this.gid = owner.gid;
  }

  get boxDir(): string {
    return join(this.root, "box");
  }
  get tmpDir(): string {
    return join(this.root, "tmp");
  }
  get shmDir(): string {
    return join(this.root, "shm");
  }

  async mount(limits: StorageLimits): Promise<void> {
    await this.unmount();
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const options = [
      `size=${limits.storageKiB}k`,
      `nr_inodes=${limits.storageFiles + RESERVED_INODES}`,
      "mode=0700",
      "nosuid",
      "nodev",
    ].join(",");
    const res = await runCommand(
      "mount",
      ["-t", "tmpfs", "-o", options, "envicutor-box", this.root],
      10_000,
      "failure",
    );
    if (res.exitCode !== 0) throw new Error(`cannot mount the box's storage at ${this.root}: ${res.stderr}`);
    this.mounted = limits;
    this.makeDirs();
  }

  private makeDirs(): void {
    for (const dir of [this.boxDir, this.tmpDir, this.shmDir]) {
      mkdirSync(dir, { mode: 0o700 });
      chownSync(dir, this.uid, this.gid);
    }
  }

  /** Whether it is mounted with exactly these limits. */
  mountedWith(limits: StorageLimits): boolean {
    return this.mounted !== undefined && sameStorage(this.mounted, limits);
  }

  /**
   * Empties the mounted filesystem in place for the next run of the same box
   * (issue 17: no umount and mount, two commands, per test case). Only once no
   * process of the box is left. The three directories are made anew, so no
   * mode or attribute a program set on them carries over. True only when the
   * kernel's own counts show nothing else is left (no inode beyond the four
   * directories, no page used); else the caller mounts a new one.
   */
  async reset(): Promise<boolean> {
    if (!this.mounted) return false;
    try {
      // rm never follows a symlink; a tree too deep for it fails here, and a new mount replaces it.
      // A few files (the usual run) at once; a tree a program filled with many through the thread
      // pool, so that it does not hold the agent's event loop (every slot's output, its watches).
      const before = statfsSync(this.root);
      const left = before.files - before.ffree - RESERVED_INODES;
      for (const dir of [this.boxDir, this.tmpDir, this.shmDir])
        if (left > SYNC_REMOVE_MAX_INODES) await rm(dir, { recursive: true, force: true });
        else rmSync(dir, { recursive: true, force: true });
      this.makeDirs();
      const s = statfsSync(this.root);
      return s.type === TMPFS_MAGIC && s.files - s.ffree === RESERVED_INODES && s.blocks === s.bfree;
    } catch {
      return false;
    }
  }

  /** Takes over a filesystem mounted earlier with `limits` (a warm box, see WarmBoxes). */
  adopt(limits: StorageLimits): void {
    this.mounted = limits;
  }

  /** Whether the filesystem holds its three directories and nothing else, all empty (a fresh box's). */
  async empty(): Promise<boolean> {
    try {
      if (statfsSync(this.root).type !== TMPFS_MAGIC) return false;
      const top = readdirSync(this.root).sort();
      if (top.join("/") !== "box/shm/tmp") return false;
      for (const dir of [this.boxDir, this.tmpDir, this.shmDir])
        if (readdirSync(dir).length > 0) return false;
      return true;
    } catch {
      return false;
    }
  }

  /** What the box filled (no page, or no inode, left), as a message; undefined when it did not. */
  async full(): Promise<string | undefined> {
    const limits = this.mounted;
    if (!limits) return undefined;
    const s = statfsSync(this.root);
    if (s.bavail === 0) return `the box's storage limit of ${limits.storageKiB} KiB was reached`;
    if (s.ffree === 0) return `the box's limit of ${limits.storageFiles} files was reached`;
    return undefined;
  }

  /**
   * Unmounts (everything in it is gone) and removes the empty mount point. A
   * mount this object did not make (a failed clean-up) shows as EBUSY on rmdir.
   */
  async unmount(): Promise<void> {
    if (this.mounted) {
      await unmountTree(this.root);
      this.mounted = undefined;
    }
    // Bounded: each round removes one stacked mount.
    for (let round = 0; round < 8; round++) {
      try {
        await rmdir(this.root);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") return;
        if (code !== "EBUSY") throw err;
        await unmountTree(this.root);
      }
    }
    throw new Error(`cannot remove ${this.root}: still mounted`);
  }
}

/** Unmounts a filesystem; lazily when something still holds it (a box process that outlived isolate). */
async function unmountTree(path: string): Promise<void> {
  const res = await runCommand("umount", [path], 10_000, "failure");
  if (res.exitCode === 0) return;
  const lazy = await runCommand("umount", ["-l", path], 10_000, "failure");
  if (lazy.exitCode !== 0) throw new Error(`cannot unmount ${path}: ${res.stderr || lazy.stderr}`.trim());
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo; octal escapes decoded). */
export async function mountsBelow(dir: string, mountinfo = "/proc/self/mountinfo"): Promise<string[]> {
  const text = await readFile(mountinfo, "utf8");
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  return text
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8))))
    .filter((p) => p === dir || p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

/** Start-up: unmounts every box filesystem a crashed agent left below its work directory. */
export async function unmountStaleBoxStorage(workDir: string): Promise<number> {
  const stale = await mountsBelow(workDir);
  for (const p of stale) await unmountTree(p);
  return stale.length;
}
