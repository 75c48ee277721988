// What the cgroup v2 guest needs on this machine; a test without it says so
// loudly and skips itself.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { ISOLATE_2_BIN } from "./guest-agent.ts";
import { findGuestKernel } from "./guest-kernel.ts";
import { BUSYBOX } from "./initramfs.ts";
import { QEMU } from "./qemu-vm.ts";

/** Why the guest cannot run here, or undefined when it can. */
export function vmMissing(): string | undefined {
  if (spawnSync(QEMU, ["--version"]).status !== 0)
    return `${QEMU} not found (apt-get install qemu-system-x86)`;
  if (!findGuestKernel()) return "no kernel with modules in /boot (apt-get install linux-image-amd64)";
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} not found (apt-get install busybox-static)`;
  if (spawnSync(ISOLATE_2_BIN, ["--version"]).status !== 0)
    return `${ISOLATE_2_BIN} not found (isolate 2.x, built by hand: see README)`;
  if (process.getuid?.() !== 0)
    return "not root (the guest shares this machine's root with qemu's passthrough 9p)";
  return undefined;
}
