import {
  chownSync,
  closeSync,
  constants,
  fchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { chmod, chown, copyFile, lstat, mkdir, open, readdir } from "node:fs/promises";
import { delimiter, join } from "node:path";
import type { Readable, Writable } from "node:stream";
import type { StageLimits } from "../../api/common.ts";
import type { BoxNetwork } from "../network/box-network.ts";
import type { BoxRunLimits } from "../network/nft-ruleset.ts";
import { clearKeyrings } from "./box-keyrings.ts";
import { BoxStorage, type StorageLimits } from "./box-storage.ts";
import type { CleanBoxes } from "./clean-boxes.ts";
import type { IsolateInfo } from "./isolate-detect.ts";
import { awaitIsolate, captureOutput, type IsolateExit, startIsolate } from "./isolate-process.ts";
import { type IsolateMeta, parseMeta } from "./meta.ts";
import { runCommand } from "./run-command.ts";
import { sameStorage, type WarmBoxes } from "./warm-boxes.ts";

export interface SandboxSettings {
  isolate: IsolateInfo;
  /** Agent-private directory (0700) for meta files, box filesystems and compiled files. */
  workDir: string;
  /** The box's /dev (see box-devices.ts), bound read-only instead of the node's. */
  devDir: string;
  /** isolate's first_uid/first_gid: box N runs as first_uid + N. */
  firstUid: number;
  firstGid: number;
  /** Empty the box user's keyrings after each run (box-keyrings.ts); needs keyctl. */
  clearKeyrings: boolean;
  /** Networked boxes' namespaces and rules; unset where the platform turned networked Runtimes off. */
  network?: BoxNetwork;
  /** Host directories mounted read-only besides /nix/store (tests on hosts without Nix runtimes). */
  extraDirs: string[];
  /**
   * Drop isolate's default /bin, /lib, /lib64 and /usr mounts, so a box sees
   * the Runtime's closure in /nix/store and nothing of the host's software.
   */
  hideHostDirs: boolean;
  /**
   * When set, exactly these host directories are mounted read-only (instead of
   * /nix/store plus extraDirs): e.g. the store paths of a Runtime's closure, so
   * a box sees that closure and no other Runtime's.
   */
  mounts?: string[];
  /**
   * A prepared view of the Runtime's closure (ClosureViews: hard links, no
   * mounts inside), bound read-only at /nix/store as one directory; `mounts`
   * then holds only the extra dirs.
   */
  storeView?: string;
  /** Boxes made ready ahead of use (see WarmBoxes); every box is made at init() when unset. */
  warm?: WarmBoxes;
  /** Ids this agent cleaned and made nothing of since (see CleanBoxes); init() cleans first when unset. */
  clean?: CleanBoxes;
  /**
   * isolate's cg_root, as the agent configured it (cgroup v2: box N's cgroup
   * is box-N there; v1: <controller>/box-N): the next run in a box gets a new
   * cgroup made here as --init makes it. Unset: --cleanup and --init.
   */
  boxCgroups?: string;
}

export interface BoxFile {
  /** A plain name or a relative path of plain names (snapshots keep directories). */
  path: string;
  data: Buffer;
  executable?: boolean;
}

export interface RunRequest {
  argv: string[];
  env: Record<string, string>;
  /** The whole input, or a stream piped in (an interactive run: another box's output). */
  stdin: Buffer | string | Readable;
  /** An interactive run: stdout goes here (another box's input) instead of being captured and counted. */
  stdoutTo?: Writable;
  /** Ends the run early: isolate kills the box and writes its meta file (the result says ended). */
  signal?: AbortSignal;
  /** Called when the box's program is gone (isolate exited), maybe before its output has all been read. */
  onExit?: () => void;
  limits: StageLimits;
  /** Only with a BoxNetwork: the box runs in its own network namespace; without one it has no network. */
  allowNetwork: boolean;
  network?: BoxRunLimits;
}

export interface RunResult {
  meta: IsolateMeta;
  stdout: Buffer;
  stderr: Buffer;
  /** stdout + stderr went over limits.outputBytes (the pipes were closed). */
  outputExceeded: boolean;
  /** isolate itself failed (no meta file, bad exit); the verdict is InternalError. */
  isolateError?: string;
  /** The box's storage (bytes or files, see BoxStorage) was full when the run ended: what was full. */
  storageExceeded?: string;
  /** A networked run hit its byte cap or connection count: what it hit. */
  networkExceeded?: string;
  /** The run was ended through RunRequest.signal, not by anything the program did. */
  ended?: boolean;
}

/** What a program left in the box cannot be saved (too deep, changed while copied): its doing, not the agent's. */
export class SnapshotLimitError extends Error {}

/** O_NONBLOCK: opening a FIFO that replaced a checked file must not hang the agent. */
const NOFOLLOW_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const EXCLUSIVE_WRITE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** isolate --cleanup tries while a box's processes are still exiting (about 2.7 s in all). */
const CLEANUP_TRIES = 10;
/** Longer relative paths are refused before the host's own paths reach PATH_MAX (4096). */
const SNAPSHOT_MAX_PATH = 2048;

/**
 * One isolate box. Its /box, /tmp and /dev/shm live in a private tmpfs of the
 * run's storage size (BoxStorage), its /dev is the agent's minimal device
 * directory. Host-side rules: files go into a box only while it is fresh
 * (just initialised, no program has run), created exclusively without
 * following links; files come out only by walking the tree with lstat and
 * opening each regular file with O_NOFOLLOW after every process of the box
 * is gone, so a symlink or special file a program left behind is skipped,
 * never followed. Files move by kernel copies (copy_file_range), never through
 * the agent's memory. stdout and stderr never touch the box: they are pipes.
 */
export class IsolateBox {
  readonly id: number;
  private readonly s: SandboxSettings;
  private readonly storage: BoxStorage;
  private initialised = false;
  /** isolate's directory of the box, as --init printed it. */
  private isolateDir = "";
  /** The storage of the box's last init(): a warm box is made with it. */
  private lastStorage: StorageLimits | undefined;
  /** The last run ended on its own, with no OOM kill and no isolate failure: its isolate box may serve again. */
  private lastRunClean = false;

  constructor(settings: SandboxSettings, id: number) {
    this.s = settings;
    this.id = id;
    this.storage = new BoxStorage(settings.workDir, id, this.owner());
  }

  private owner(): { uid: number; gid: number } {
    return { uid: this.s.firstUid + this.id, gid: this.s.firstGid + this.id };
  }

  private baseArgs(): string[] {
    return [...(this.s.isolate.useCg ? ["--cg"] : []), `--box-id=${this.id}`];
  }

  /**
   * A fresh box whose storage is capped as a whole: the warm one of this id
   * when there is one for the same storage and it is still empty, else any
   * leftover of this id is cleaned and a box made now.
   */
  async init(storage: StorageLimits): Promise<void> {
    this.lastStorage = storage;
    if (await this.takeWarm(storage)) return;
    if (await this.renew(storage)) return;
    if (!this.s.clean?.take(this.id)) await this.cleanup();
    await this.create(storage);
  }

  /**
   * The box again, for the next test case of the same run, on the same tmpfs
   * emptied in place (BoxStorage.reset), which saves its umount and mount.
   * The isolate box itself serves again where its cgroup can be made as new
   * (keepIsolateBox); otherwise it is a new one (--cleanup, --init). Only
   * with the same storage limits; false when the box must be made anew
   * (init then cleans what is left).
   */
  private async renew(storage: StorageLimits): Promise<boolean> {
    if (!this.initialised || !this.storage.mountedWith(storage)) return false;
    this.initialised = false;
    const kept = this.keepIsolateBox();
    if (!kept) await this.isolateCleanup();
    if (!(await this.emptyInPlace())) return false;
    if (!kept) await this.isolateInit();
    this.initialised = true;
    return true;
  }

  /**
   * Whether the isolate box can serve the next run as it is (issue 17: two
   * isolate commands fewer per test case). No process of the last run is left:
   * isolate's box keeper returns only once the box's PID namespace is gone.
   * What isolate keeps per box is its cgroup, which carries over what the last
   * run was charged (page cache it read first, the memory peak, OOM kills):
   * so it is made anew here as isolate's --init makes it (renewBoxCgroup), an
   * emptying rmdir that hands the charges to the parent; the cgroup still
   * holding a task (EBUSY) means --cleanup and --init. Only after a run that
   * ended cleanly. Without cgroups nothing is kept.
   */
  private keepIsolateBox(): boolean {
    const clean = this.lastRunClean;
    this.lastRunClean = false;
    if (!clean) return false;
    if (!this.s.isolate.useCg) return true;
    if (!this.s.boxCgroups) return false;
    try {
      renewBoxCgroup(this.s.boxCgroups, this.s.isolate.major, this.id);
      return true;
    } catch {
      return false; // e.g. EBUSY: --cleanup and --init deal with it
    }
  }

  /** The box user's keyrings cleared and the tmpfs emptied in place; false when the tmpfs still holds something. */
  private async emptyInPlace(): Promise<boolean> {
    await this.clearBoxKeyrings();
    return this.storage.reset();
  }

  /** isolate --init and a new tmpfs: only on a box just cleaned. */
  private async create(storage: StorageLimits): Promise<void> {
    this.s.clean?.take(this.id);
    await this.isolateInit();
    await this.storage.mount(storage);
    this.initialised = true;
  }

  private async isolateInit(): Promise<void> {
    const res = await runCommand(this.s.isolate.bin, [...this.baseArgs(), "--init"], 30_000);
    if (res.exitCode !== 0)
      throw new Error(`isolate --init of box ${this.id} failed: ${res.stderr || res.stdout}`.trim());
    this.isolateDir = res.stdout.split("\n").pop() ?? "";
  }

  /**
   * Takes this id's warm box when it serves `storage` and is exactly as
   * --init left it (isolate's box directory and the tmpfs's three
   * directories empty). Otherwise its storage is this object's to unmount:
   * init() cleans it like any other leftover.
   */
  private async takeWarm(storage: StorageLimits): Promise<boolean> {
    const warm = this.s.warm?.take(this.id);
    if (!warm) return false;
    this.storage.adopt(warm.storage);
    if (!sameStorage(warm.storage, storage) || !warm.isolateDir) return false;
    const isolateBoxEmpty = await readdir(join(warm.isolateDir, "box")).then(
      (entries) => entries.length === 0,
      () => false,
    );
    if (!isolateBoxEmpty || !(await this.storage.empty())) return false;
    this.isolateDir = warm.isolateDir;
    this.initialised = true;
    return true;
  }

  /**
   * Right after a successful cleanup(), while the id is still held: makes the
   * id's next box now, with the storage of its last stage, so the next run
   * does not wait for isolate --init and the mount (see WarmBoxes).
   */
  async makeWarm(): Promise<void> {
    const storage = this.lastStorage;
    if (!this.s.warm || !storage || this.initialised) return;
    try {
      await this.create(storage);
    } catch (err) {
      await this.cleanup().catch(() => undefined); // half made: leave nothing of it
      throw err;
    }
    this.initialised = false; // this object is done with it: the next holder takes it
    this.s.warm.put(this.id, { isolateDir: this.isolateDir, storage });
  }

  /**
   * At the end of an Execution: the box kept for the next holder of its id
   * (issue 17: no umount, --cleanup, --init and mount, four commands, per
   * Execution), made as the next test case of a run gets it (renew: a new
   * cgroup where isolate would carry one over, keyrings cleared, the tmpfs
   * emptied and its counts checked) and recorded as a warm box, which the next
   * init() takes only if still empty. False when it cannot be kept: the
   * caller cleans it up.
   */
  async keep(): Promise<boolean> {
    const storage = this.lastStorage;
    if (!this.s.warm || !this.initialised || !storage || !this.storage.mountedWith(storage)) return false;
    this.initialised = false;
    if (!this.keepIsolateBox() || !(await this.emptyInPlace())) return false;
    this.s.warm.put(this.id, { isolateDir: this.isolateDir, storage });
    return true;
  }

  async cleanup(): Promise<void> {
    this.initialised = false;
    this.lastRunClean = false;
    // A warm box of this id is cleaned like any other: its storage is unmounted, and it is warm no more.
    const warm = this.s.warm?.take(this.id);
    if (warm) this.storage.adopt(warm.storage);
    await this.storage.unmount();
    await this.isolateCleanup();
    await this.clearBoxKeyrings();
    this.s.clean?.mark(this.id);
  }

  private async clearBoxKeyrings(): Promise<void> {
    if (!this.s.clearKeyrings) return;
    const { uid, gid } = this.owner();
    await clearKeyrings(uid, gid);
  }

  /**
   * isolate --cleanup, retried while the box's cgroup still lists tasks: a
   * box's processes can still be exiting just after its run returns (seen on
   * isolate 1.10 under load: "Some tasks left in controller memory").
   */
  private async isolateCleanup(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const res = await runCommand(this.s.isolate.bin, [...this.baseArgs(), "--cleanup"], 60_000, "failure");
      if (res.exitCode === 0) return;
      const why = `${res.stderr || res.stdout}`.trim();
      if (attempt >= CLEANUP_TRIES || !/tasks left|busy/i.test(why))
        throw new Error(`isolate --cleanup of box ${this.id} failed: ${why}`);
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }

  private dir(): string {
    if (!this.initialised) throw new Error(`box ${this.id} is not initialised`);
    return this.storage.boxDir;
  }

  /**
   * Writes files into the fresh box (never into one a program has run in),
   * owned by the box user. Synchronous, as BoxStorage's own operations are:
   * a program's few files on a tmpfs, no disk to wait for (issue 17).
   */
  async writeFiles(files: BoxFile[]): Promise<void> {
    const root = this.dir();
    const { uid, gid } = this.owner();
    for (const f of files) {
      const parts = f.path.split("/");
      if (parts.some((p) => p === "" || p === "." || p === ".."))
        throw new Error(`unsafe path in box: ${f.path}`);
      let dir = root;
      for (const part of parts.slice(0, -1)) {
        dir = join(dir, part);
        try {
          mkdirSync(dir, { mode: 0o755 });
          chownSync(dir, uid, gid);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        }
        if (!lstatSync(dir).isDirectory()) throw new Error(`not a directory in box: ${dir}`);
      }
      const fd = openSync(join(root, f.path), EXCLUSIVE_WRITE, f.executable ? 0o755 : 0o644);
      try {
        writeFileSync(fd, f.data);
        fchownSync(fd, uid, gid);
      } finally {
        closeSync(fd);
      }
    }
  }

  /**
   * Copies the box's regular files and directories (after a run) into `dest`,
   * a directory of the agent's that must not exist yet, skipping links and
   * special files. The box's storage limits bound what there is to copy, but
   * a sparse file's size is not its storage: `maxBytes` bounds the sizes, so
   * holes cannot turn into gigabytes on the node's disk.
   */
  async saveTo(dest: string, maxBytes: number): Promise<void> {
    const root = this.dir();
    await mkdir(dest, { mode: 0o700 });
    let bytes = 0;
    const walk = async (rel: string): Promise<void> => {
      for (const name of await readdir(join(root, rel))) {
        const relPath = rel ? `${rel}/${name}` : name;
        if (relPath.length > SNAPSHOT_MAX_PATH)
          throw new SnapshotLimitError(
            `a path in the box is too deep (over ${SNAPSHOT_MAX_PATH} characters)`,
          );
        const st = await lstat(join(root, relPath));
        if (st.isDirectory()) {
          await mkdir(join(dest, relPath), { mode: 0o755 });
          await walk(relPath);
        } else if (st.isFile()) {
          bytes += st.size;
          if (bytes > maxBytes)
            throw new SnapshotLimitError(`the files left in the box add up to more than ${maxBytes} bytes`);
          await copyOpenedFile(join(root, relPath), st, join(dest, relPath), relPath);
        }
        // symlinks, FIFOs, sockets, devices: skipped, never followed
      }
    };
    await walk("");
  }

  /** Seeds the fresh box with a tree saved by saveTo (the agent's own files: no links, no specials). */
  async seedFrom(src: string): Promise<void> {
    const root = this.dir();
    const { uid, gid } = this.owner();
    const walk = async (rel: string): Promise<void> => {
      for (const entry of await readdir(join(src, rel), { withFileTypes: true })) {
        const relPath = rel ? `${rel}/${entry.name}` : entry.name;
        const to = join(root, relPath);
        if (entry.isDirectory()) {
          await mkdir(to, { mode: 0o755 });
          await chown(to, uid, gid);
          await walk(relPath);
        } else if (entry.isFile()) {
          const from = join(src, relPath);
          // COPYFILE_EXCL: the target is created with O_EXCL, so nothing there is followed.
          await copyFile(from, to, constants.COPYFILE_EXCL);
          await chown(to, uid, gid);
          await chmod(to, (await lstat(from)).mode & 0o777);
        }
      }
    };
    await walk("");
  }

  private dirArgs(): string[] {
    const args = [
      // The box's own filesystem, and a /dev of five memory devices instead of the node's /dev.
      `--dir=box=${this.storage.boxDir}:rw`,
      `--dir=tmp=${this.storage.tmpDir}:rw`,
      `--dir=dev=${this.s.devDir}:dev`,
      `--dir=dev/shm=${this.storage.shmDir}:rw`,
    ];
    if (this.s.hideHostDirs) args.push("--dir=bin=", "--dir=lib=", "--dir=lib64=", "--dir=usr=");
    // One read-only bind of the whole view: it holds links, not mounts.
    if (this.s.storeView) args.push(`--dir=nix/store=${this.s.storeView}`);
    const dirs = this.s.mounts ?? ["/nix/store", ...this.s.extraDirs];
    for (const d of dirs) args.push(`--dir=${d.replace(/^\/+/, "")}=${d}:maybe`);
    return args;
  }

  async run(req: RunRequest): Promise<RunResult> {
    this.dir();
    this.lastRunClean = false; // until this run has ended cleanly
    const metaFile = join(this.s.workDir, `meta-${this.id}-${process.hrtime.bigint()}`);
    const l = req.limits;
    // A networked box shares its slot's own namespace (nsenter), never the agent's network.
    const networked = req.allowNetwork && req.network ? this.s.network : undefined;
    const args = this.runArgs(req, metaFile, networked);
    if (networked && req.network) await networked.open(this.id, req.network);
    const [bin, argv] = networked
      ? ["nsenter", [`--net=${networked.namespacePath(this.id)}`, "--", this.s.isolate.bin, ...args]]
      : [this.s.isolate.bin, args];
    const proc = await startIsolate(bin, argv, req, !networked);
    const output = captureOutput(proc, l.outputBytes, !req.stdoutTo);
    const { onExit } = req;
    if (onExit) void proc.exited.then((e) => e.error || onExit());
    const exit = await awaitIsolate(proc, l.wallTimeMillis, req.signal);
    const metaText = readMeta(metaFile); // no meta file: said below
    const result: RunResult = {
      meta: parseMeta(metaText),
      stdout: output.stdout?.buffer() ?? Buffer.alloc(0),
      stderr: output.stderr.buffer(),
      outputExceeded: output.exceeded(),
      ...(exit.ended ? { ended: true } : {}),
    };
    const full = await this.storage.full();
    if (full) result.storageExceeded = full;
    if (networked && req.network) {
      const hit = await networked.close(this.id, req.network);
      if (hit) result.networkExceeded = hit;
    }
    const isolateError = isolateFailure(exit, metaText, result, l.wallTimeMillis);
    if (isolateError) result.isolateError = isolateError;
    this.lastRunClean = !isolateError && !exit.ended && !result.meta.cgOomKilled;
    return result;
  }

  private runArgs(req: RunRequest, metaFile: string, networked: BoxNetwork | undefined): string[] {
    const l = req.limits;
    const env: Record<string, string> = { HOME: "/tmp", TMPDIR: "/tmp", LANG: "C.UTF-8", ...req.env };
    return [
      ...this.baseArgs(),
      "--silent",
      `--meta=${metaFile}`,
      `--time=${l.cpuTimeMillis / 1000}`,
      `--wall-time=${l.wallTimeMillis / 1000}`,
      `--extra-time=${Math.min(1, l.cpuTimeMillis / 2000)}`,
      this.s.isolate.useCg ? `--cg-mem=${l.memoryKiB}` : `--mem=${l.memoryKiB}`,
      `--processes=${l.processes}`,
      `--open-files=${l.openFiles}`,
      `--fsize=${l.fileSizeKiB}`,
      // No --stack: isolate leaves it unlimited, so the stack may grow up to the memory limit,
      // and glibc sizes thread stacks from a finite RLIMIT_STACK (with --mem, threads would fail).
      ...(networked ? ["--share-net", `--dir=etc=${networked.etcDir}`] : []),
      ...this.dirArgs(),
      ...Object.entries(env).map(([k, v]) => `--env=${k}=${v}`),
      "--run",
      "--",
      resolveCommand(req.argv[0]!, env.PATH),
      ...req.argv.slice(1),
    ];
  }
}

/**
 * What of box `id`'s cgroup carries a run's charges, made anew as isolate's
 * --init makes it: on cgroup v2 (isolate 2.x) <root>/box-<id>; on cgroup v1
 * (isolate 1.x) the memory controller's <root>/memory/box-<id> only (isolate
 * zeroes cpuacct.usage at every --run, and cpuset holds no state of a run).
 * Throws when the cgroup cannot be removed (a task still in it) or made.
 */
function renewBoxCgroup(root: string, major: number, id: number): void {
  const dir = major >= 2 ? join(root, `box-${id}`) : join(root, "memory", `box-${id}`);
  rmdirSync(dir);
  mkdirSync(dir);
}

/** The meta file's text ("" when isolate wrote none), and the file removed: a few hundred bytes, read at once. */
function readMeta(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  } finally {
    rmSync(path, { force: true });
  }
}

/** Why isolate itself failed (not the program), or undefined. */
function isolateFailure(
  exit: IsolateExit,
  metaText: string,
  result: RunResult,
  wallTimeMillis: number,
): string | undefined {
  if (exit.error) return `could not start isolate: ${exit.error.message}`;
  // 127: the command shell found no such program (spawned, it is an ENOENT error above).
  if (exit.code === 127 && !metaText)
    return `could not start isolate: ${result.stderr.toString("utf8").trim()}`;
  if (exit.hung) return `isolate did not finish within ${wallTimeMillis + 30_000} ms`;
  if (!metaText)
    return `isolate exited ${exit.code ?? exit.signal} without a meta file: ${result.stderr.toString("utf8").slice(0, 500)}`;
  if (result.meta.status === "XX") return result.meta.message ?? "isolate internal error";
  return undefined;
}

/**
 * Copies one regular file out of a box: opened without following links and
 * checked to be the file lstat saw, then copied by the kernel through the
 * opened descriptor (/proc/self/fd), so the agent never holds its contents.
 */
async function copyOpenedFile(
  from: string,
  seen: { ino: number; dev: number; mode: number },
  to: string,
  relPath: string,
): Promise<void> {
  const handle = await open(from, NOFOLLOW_READ);
  try {
    const opened = await handle.stat();
    if (!opened.isFile() || opened.ino !== seen.ino || opened.dev !== seen.dev)
      throw new SnapshotLimitError(`${relPath} changed while it was copied`);
    await copyFile(`/proc/self/fd/${handle.fd}`, to, constants.COPYFILE_EXCL);
    await chmod(to, (seen.mode & 0o111) !== 0 ? 0o755 : 0o644);
  } finally {
    await handle.close();
  }
}

/**
 * isolate execs argv[0] as given, without a PATH search: a bare command name is
 * resolved here against the sandbox's PATH (Nix store paths are the same on
 * the host and in the box). Paths with a slash are left alone.
 */
export function resolveCommand(cmd: string, path: string | undefined): string {
  if (cmd.includes("/")) return cmd;
  for (const dir of (path ?? "").split(delimiter)) {
    if (!dir.startsWith("/")) continue;
    const candidate = join(dir, cmd);
    try {
      const st = statSync(candidate);
      if (st.isFile() && (st.mode & 0o111) !== 0) return candidate;
    } catch {
      // not here
    }
  }
  return cmd;
}
