import { mkdir, open, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";

/**
 * The only devices a box gets (Linux's major 1 memory devices). isolate binds
 * the node's own /dev by default (1.x recursively, with /dev/shm; 2.x without
 * submounts), which shows a box kvm, kmsg, the disks and loop devices. The
 * agent binds this directory instead, read-only.
 */
export const BOX_DEVICES: ReadonlyArray<{ name: string; minor: number }> = [
  { name: "null", minor: 3 },
  { name: "zero", minor: 5 },
  { name: "full", minor: 7 },
  { name: "random", minor: 8 },
  { name: "urandom", minor: 9 },
];

/** What programs expect beside the devices: /dev/fd and the standard streams, resolved inside the box. */
const BOX_DEV_LINKS: ReadonlyArray<[string, string]> = [
  ["fd", "/proc/self/fd"],
  ["stdin", "/proc/self/fd/0"],
  ["stdout", "/proc/self/fd/1"],
  ["stderr", "/proc/self/fd/2"],
];

/**
 * Makes `dir` a minimal /dev: the five memory devices (0666), the links above,
 * and an empty `shm` on which each box mounts its own private /dev/shm.
 * Rebuilt from scratch at every start, so nothing a previous run did survives.
 * A state directory on a `nodev` filesystem (isolate's bind would inherit it)
 * gets a small tmpfs of its own for the devices.
 */
export async function prepareBoxDevices(dir: string): Promise<{ ownMount: boolean }> {
  await makeDevices(dir);
  if (await devicesUsable(dir)) return { ownMount: false };
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await execa("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0755,nosuid", "envicutor-dev", dir], {
    timeout: 10_000,
  });
  await makeDevices(dir, false);
  if (!(await devicesUsable(dir))) throw new Error(`device nodes in ${dir} cannot be opened`);
  return { ownMount: true };
}

async function makeDevices(dir: string, fresh = true): Promise<void> {
  if (fresh) await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, "shm"), { recursive: true, mode: 0o755 });
  for (const d of BOX_DEVICES) {
    // Node has no mknod(2); coreutils' mknod is in every agent image.
    await execa("mknod", ["-m", "0666", join(dir, d.name), "c", "1", String(d.minor)], { timeout: 10_000 });
  }
  for (const [name, target] of BOX_DEV_LINKS) await symlink(target, join(dir, name));
}

/** Whether the nodes work here (EACCES on a nodev mount). */
async function devicesUsable(dir: string): Promise<boolean> {
  try {
    const handle = await open(join(dir, "null"), "w");
    await handle.close();
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM") return false;
    throw err;
  }
}
