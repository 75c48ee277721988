import { spawn } from "node:child_process";
import { constants, statSync } from "node:fs";
import { lstat, mkdir, open, readdir, readFile, rm } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { execa } from "execa";
import type { StageLimits } from "../../api/common.ts";
import type { IsolateInfo } from "./isolate-detect.ts";
import { type IsolateMeta, parseMeta } from "./meta.ts";
import { OutputCapture } from "./output-capture.ts";

export interface SandboxSettings {
  isolate: IsolateInfo;
  /** Agent-private directory (0700) for meta files and compiled-file snapshots. */
  workDir: string;
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
  stdin: Buffer | string;
  limits: StageLimits;
  allowNetwork: boolean;
}

export interface RunResult {
  meta: IsolateMeta;
  stdout: Buffer;
  stderr: Buffer;
  /** stdout + stderr went over limits.outputBytes (the pipes were closed). */
  outputExceeded: boolean;
  /** isolate itself failed (no meta file, bad exit); the verdict is InternalError. */
  isolateError?: string;
}

/** A snapshot went over its bounds: what the program left in the box, not a fault of the agent. */
export class SnapshotLimitError extends Error {}

/** O_NONBLOCK: opening a FIFO that replaced a checked file must not hang the agent. */
const NOFOLLOW_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const EXCLUSIVE_WRITE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** Bounds of what a snapshot copies out of a box that hostile code has touched. */
const SNAPSHOT_MAX_ENTRIES = 10_000;
/** Longer relative paths are refused before the host's own paths reach PATH_MAX (4096). */
const SNAPSHOT_MAX_PATH = 2048;

/**
 * One isolate box. Host-side rules: files go into a box only while it is
 * fresh (just initialised, no program has run), created exclusively without
 * following links; files come out only by walking the tree with lstat and
 * opening each regular file with O_NOFOLLOW after every process of the box
 * is gone, so a symlink or special file a program left behind is skipped,
 * never followed. stdout and stderr never touch the box: they are pipes.
 */
export class IsolateBox {
  readonly id: number;
  private readonly s: SandboxSettings;
  private boxDir: string | undefined;

  constructor(settings: SandboxSettings, id: number) {
    this.s = settings;
    this.id = id;
  }

  private baseArgs(): string[] {
    return [...(this.s.isolate.useCg ? ["--cg"] : []), `--box-id=${this.id}`];
  }

  /** Cleans any leftover of this id, then creates a fresh box. */
  async init(): Promise<void> {
    await this.cleanup();
    const res = await execa(this.s.isolate.bin, [...this.baseArgs(), "--init"], {
      reject: false,
      timeout: 30_000,
    });
    if (res.exitCode !== 0)
      throw new Error(`isolate --init of box ${this.id} failed: ${res.stderr || res.stdout}`.trim());
    this.boxDir = join(res.stdout.trim(), "box");
  }

  async cleanup(): Promise<void> {
    this.boxDir = undefined;
    const res = await execa(this.s.isolate.bin, [...this.baseArgs(), "--cleanup"], {
      reject: false,
      timeout: 60_000,
    });
    if (res.exitCode !== 0)
      throw new Error(`isolate --cleanup of box ${this.id} failed: ${res.stderr || res.stdout}`.trim());
  }

  private dir(): string {
    if (!this.boxDir) throw new Error(`box ${this.id} is not initialised`);
    return this.boxDir;
  }

  /** Writes files into the fresh box (never into one a program has run in). */
  async writeFiles(files: BoxFile[]): Promise<void> {
    const root = this.dir();
    for (const f of files) {
      const parts = f.path.split("/");
      if (parts.some((p) => p === "" || p === "." || p === ".."))
        throw new Error(`unsafe path in box: ${f.path}`);
      let dir = root;
      for (const part of parts.slice(0, -1)) {
        dir = join(dir, part);
        await mkdir(dir, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "EEXIST") throw err;
        });
        if (!(await lstat(dir)).isDirectory()) throw new Error(`not a directory in box: ${dir}`);
      }
      const handle = await open(join(root, f.path), EXCLUSIVE_WRITE, f.executable ? 0o755 : 0o644);
      try {
        await handle.writeFile(f.data);
      } finally {
        await handle.close();
      }
    }
  }

  /**
   * Copies the box's regular files and directories out (after a run), skipping
   * links and special files, bounded in count and bytes.
   */
  async snapshot(maxBytes: number): Promise<BoxFile[]> {
    const root = this.dir();
    const out: BoxFile[] = [];
    let bytes = 0;
    let entries = 0;
    const walk = async (rel: string): Promise<void> => {
      for (const name of await readdir(join(root, rel))) {
        if (++entries > SNAPSHOT_MAX_ENTRIES)
          throw new SnapshotLimitError(`more than ${SNAPSHOT_MAX_ENTRIES} files in the box`);
        const relPath = rel ? `${rel}/${name}` : name;
        if (relPath.length > SNAPSHOT_MAX_PATH)
          throw new SnapshotLimitError(
            `a path in the box is too deep (over ${SNAPSHOT_MAX_PATH} characters)`,
          );
        const st = await lstat(join(root, relPath));
        if (st.isDirectory()) await walk(relPath);
        else if (st.isFile()) {
          bytes += st.size;
          if (bytes > maxBytes) throw new SnapshotLimitError(`compiled files exceed ${maxBytes} bytes`);
          const handle = await open(join(root, relPath), NOFOLLOW_READ);
          try {
            // What was opened must be the regular file lstat saw, not something swapped in since.
            const opened = await handle.stat();
            if (!opened.isFile() || opened.ino !== st.ino || opened.dev !== st.dev)
              throw new SnapshotLimitError(`${relPath} changed while it was copied`);
            out.push({ path: relPath, data: await handle.readFile(), executable: (st.mode & 0o111) !== 0 });
          } finally {
            await handle.close();
          }
        }
        // symlinks, FIFOs, sockets, devices: skipped, never followed
      }
    };
    await walk("");
    return out;
  }

  private dirArgs(): string[] {
    const args: string[] = [];
    if (this.s.hideHostDirs) args.push("--dir=bin=", "--dir=lib=", "--dir=lib64=", "--dir=usr=");
    const dirs = this.s.mounts ?? ["/nix/store", ...this.s.extraDirs];
    for (const d of dirs) args.push(`--dir=${d.replace(/^\/+/, "")}=${d}:maybe`);
    return args;
  }

  async run(req: RunRequest): Promise<RunResult> {
    this.dir();
    const metaFile = join(this.s.workDir, `meta-${this.id}-${process.hrtime.bigint()}`);
    const l = req.limits;
    const env: Record<string, string> = { HOME: "/tmp", TMPDIR: "/tmp", LANG: "C.UTF-8", ...req.env };
    const argv0 = resolveCommand(req.argv[0]!, env.PATH);
    const args = [
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
      ...(req.allowNetwork ? ["--share-net"] : []),
      ...this.dirArgs(),
      ...Object.entries(env).map(([k, v]) => `--env=${k}=${v}`),
      "--run",
      "--",
      argv0,
      ...req.argv.slice(1),
    ];

    const child = spawn(this.s.isolate.bin, args, { stdio: ["pipe", "pipe", "pipe"] });
    let outputExceeded = false;
    const budget = { left: l.outputBytes };
    const onExceeded = () => {
      outputExceeded = true;
      // Closing our ends makes further writes fail (SIGPIPE/EPIPE); a program that ignores
      // that would still hold the slot until its time limit, so isolate is told to end the run:
      // on SIGTERM it kills the whole box and writes its meta file.
      child.kill("SIGTERM");
      child.stdout.destroy();
      child.stderr.destroy();
    };
    // One budget shared by both streams: whichever pushes the sum past the limit trips it.
    const stdout = new OutputCapture(child.stdout, l.outputBytes, onExceeded, budget);
    const stderr = new OutputCapture(child.stderr, l.outputBytes, onExceeded, budget);
    child.stdin.on("error", () => undefined); // the program may exit without reading its input
    child.stdin.end(req.stdin);

    // Belt and braces: isolate enforces the wall time; this catches isolate itself hanging.
    // SIGTERM lets isolate kill the box first; SIGKILL only if isolate does not react.
    let guardKill: NodeJS.Timeout | undefined;
    let hung = false;
    const guard = setTimeout(() => {
      hung = true;
      child.kill("SIGTERM");
      guardKill = setTimeout(() => child.kill("SIGKILL"), 5_000);
    }, l.wallTimeMillis + 30_000);
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
      (resolve) => {
        child.once("error", (error) => resolve({ code: null, signal: null, error }));
        child.once("close", (code, signal) => resolve({ code, signal }));
      },
    );
    clearTimeout(guard);
    clearTimeout(guardKill);

    let metaText = "";
    try {
      metaText = await readFile(metaFile, "utf8");
    } catch {
      // handled below
    } finally {
      await rm(metaFile, { force: true });
    }
    const meta = parseMeta(metaText);
    const result: RunResult = { meta, stdout: stdout.buffer(), stderr: stderr.buffer(), outputExceeded };
    if (exit.error) result.isolateError = `could not start isolate: ${exit.error.message}`;
    else if (hung) result.isolateError = `isolate did not finish within ${l.wallTimeMillis + 30_000} ms`;
    else if (!metaText)
      result.isolateError = `isolate exited ${exit.code ?? exit.signal} without a meta file: ${stderr.buffer().toString("utf8").slice(0, 500)}`;
    else if (meta.status === "XX") result.isolateError = meta.message ?? "isolate internal error";
    return result;
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
