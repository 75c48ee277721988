// One run of the cgroup v2 guest: qemu boots Debian's kernel with the cached
// initramfs, the guest mounts this machine's root read-only over virtio-9p,
// runs one job (a shell script) and powers off. qemu is started and stopped
// here, and every file of the run lives in one temporary directory that is
// removed afterwards: nothing of a run is left behind, whatever happens.
import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { findGuestKernel } from "./guest-kernel.ts";
import { ensureInitramfs } from "./initramfs.ts";

export const QEMU = "qemu-system-x86_64";
export const VM_CACHE = join(homedir(), ".cache", "envicutor", "vm");

export interface GuestJob {
  /** Shell script run as root in the guest (chrooted into the host's root); its output is the job log. */
  script: string;
  timeoutMs: number;
  memoryMiB?: number;
  cpus?: number;
}

export interface GuestRun {
  /** The job's exit code; undefined when the guest never finished it (see console). */
  exitCode: number | undefined;
  jobLog: string;
  /** The serial console: the kernel's and guest-init's lines. */
  console: string;
  /** Files the job wrote to /run/vm (besides job.sh, job.log, exit-code), by name. */
  files: Record<string, string>;
  wallMs: number;
  timedOut: boolean;
  /** The run's directory and qemu's pid, both gone by the time runInGuest resolves (tests check it). */
  runDir: string;
  qemuPid: number | undefined;
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of running) p.kill("SIGKILL");
});

/**
 * This checkout: the guest binds it back at its path when a tmpfs it puts over
 * a writable place (CI clones into /tmp) would hide it. Given on the kernel
 * command line, so a path with spaces is not supported.
 */
const PROJECT_ROOT = join(import.meta.dirname, "..", "..");

/** Boots the guest, runs the job, and returns what came back; qemu is gone and the run's files removed when this resolves. */
export async function runInGuest(job: GuestJob): Promise<GuestRun> {
  const kernel = findGuestKernel();
  if (!kernel) throw new Error("no kernel with modules in /boot (apt-get install linux-image-amd64)");
  const initrd = ensureInitramfs(kernel, VM_CACHE);
  const dir = mkdtempSync(join(tmpdir(), "envicutor-vm-"));
  const share = join(dir, "share");
  mkdirSync(share);
  writeFileSync(join(share, "job.sh"), job.script);
  const consoleLog = join(dir, "console.log");
  const started = Date.now();
  try {
    const { timedOut, pid } = await runQemu(
      qemuArgs(kernel.image, initrd, share, consoleLog, job),
      job.timeoutMs,
    );
    const read = (f: string) => (existsSync(f) ? readFileSync(f, "utf8") : "");
    const code = read(join(share, "exit-code")).trim();
    const files: Record<string, string> = {};
    for (const f of readdirSync(share))
      if (!["job.sh", "job.log", "exit-code"].includes(f)) files[f] = read(join(share, f));
    return {
      exitCode: code === "" ? undefined : Number(code),
      jobLog: read(join(share, "job.log")),
      console: read(consoleLog),
      files,
      wallMs: Date.now() - started,
      timedOut,
      runDir: dir,
      qemuPid: pid,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What a crashed Node.js leaves in a job's log: V8's fatal-error banner, or vitest's word for a worker that died. */
const NODE_CRASH_IN_LOG = /^# Fatal error in |Worker exited unexpectedly/m;

/** How many times a crashed guest job is booted again; hooks allow for 1 + this many runs. */
export const GUEST_CRASH_REBOOTS = 2;

/**
 * Node.js in the emulated guest has crashed now and then (V8 "Fatal error ...
 * Check failed: it->second.Size() > offset", SIGTRAP, or SIGSEGV), while the
 * same job passed the runs before and after; see guest-job.ts for what the
 * guest's Node.js is given against it. A job whose process died by a signal
 * (exit above 128) without timing out is run again on a new boot, loudly, up
 * to `reboots` times, and so is one whose log shows a V8 fatal error or a
 * vitest worker that died (vitest itself then exits 1). Any other failure is
 * the job's own.
 */
export async function runInGuestRetryingCrash(
  job: GuestJob,
  reboots = GUEST_CRASH_REBOOTS,
): Promise<GuestRun> {
  for (let boot = 0; ; boot++) {
    const run = await runInGuest(job);
    const crashed =
      !run.timedOut &&
      run.exitCode !== 0 &&
      ((run.exitCode ?? 0) > 128 || NODE_CRASH_IN_LOG.test(run.jobLog));
    if (!crashed || boot === reboots) return run;
    console.warn(
      `!!! GUEST CRASHED, booting it again (${boot + 1} of ${reboots}): ${guestFailure(run, "the guest's Node.js crashed")}`,
    );
  }
}

/**
 * Why a guest job failed, with the end of its log and console in the message
 * itself: CI keeps only the last lines of a run, and the failure is printed last.
 */
export function guestFailure(run: GuestRun, what: string): string {
  const tail = (text: string, lines: number) => text.trimEnd().split("\n").slice(-lines).join("\n");
  return [
    `${what} (exit ${run.exitCode}, timed out: ${run.timedOut}, ${Math.round(run.wallMs / 1000)} s)`,
    `job log (last 40 lines):\n${tail(run.jobLog, 40)}`,
    `console (last 10 lines):\n${tail(run.console, 10)}`,
  ].join("\n");
}

function qemuArgs(
  kernel: string,
  initrd: string,
  share: string,
  consoleLog: string,
  job: GuestJob,
): string[] {
  const fs9p = (id: string, path: string, readonly: boolean) => [
    "-fsdev",
    `local,id=${id},path=${path},security_model=passthrough,multidevs=remap${readonly ? ",readonly=on" : ""}`,
    "-device",
    `virtio-9p-pci,fsdev=${id},mount_tag=${id}`,
  ];
  return [
    // No hardware virtualisation on this CPU: TCG, one host thread per guest CPU. Without AVX:
    // qemu 7.2 is the first to emulate it, and the guest's Node.js has crashed (GUEST_NODE_ENV).
    ...["-accel", "tcg,thread=multi", "-cpu", "max,avx=off,avx2=off"],
    ...["-smp", String(job.cpus ?? 2), "-m", String(job.memoryMiB ?? 3072)],
    ...["-nodefaults", "-no-reboot", "-display", "none", "-serial", `file:${consoleLog}`],
    // qboot instead of SeaBIOS: the firmware is most of the boot under emulation.
    ...["-bios", "qboot.rom", "-kernel", kernel, "-initrd", initrd],
    ...[
      "-append",
      `console=ttyS0 quiet panic=-1 mitigations=off random.trust_cpu=on envicutor.project=${PROJECT_ROOT}`,
    ],
    ...["-device", "virtio-rng-pci"],
    ...fs9p("hostroot", "/", true),
    ...fs9p("results", share, false),
  ];
}

/** Runs qemu to its end; SIGKILL at the timeout. */
function runQemu(args: string[], timeoutMs: number): Promise<{ timedOut: boolean; pid: number | undefined }> {
  const qemu = spawn(QEMU, args, { stdio: ["ignore", "ignore", "pipe"] });
  running.add(qemu);
  let stderr = "";
  qemu.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    qemu.kill("SIGKILL");
  }, timeoutMs);
  return new Promise((resolve, reject) => {
    qemu.once("error", (err) => {
      clearTimeout(timer);
      running.delete(qemu);
      reject(err);
    });
    qemu.once("close", (code, signal) => {
      clearTimeout(timer);
      running.delete(qemu);
      if (!timedOut && code !== 0) reject(new Error(`qemu exited ${code ?? signal}: ${stderr.trim()}`));
      else resolve({ timedOut, pid: qemu.pid });
    });
  });
}
