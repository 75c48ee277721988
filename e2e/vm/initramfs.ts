// The guest's initramfs: busybox-static, e2e/vm/guest-init.sh as /init, and
// the few kernel modules that mount the root over virtio-9p. Built once per
// kernel and init script into the VM cache, reused by every later run.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { type GuestKernel, moduleLoadOrder } from "./guest-kernel.ts";

export const GUEST_INIT = join(import.meta.dirname, "guest-init.sh");
export const BUSYBOX = "/bin/busybox";

/** Path of the cached initramfs for this kernel and init script, built first when missing. */
export function ensureInitramfs(kernel: GuestKernel, cacheDir: string): string {
  const init = readFileSync(GUEST_INIT);
  const modules = moduleLoadOrder(kernel);
  const key = createHash("sha256")
    .update(init)
    .update(readFileSync(import.meta.filename)) // how it is assembled
    .update(kernel.version)
    .update(modules.join("\n"))
    .update(readFileSync(BUSYBOX))
    .digest("hex")
    .slice(0, 16);
  const out = join(cacheDir, `initramfs-${kernel.version}-${key}.cpio.gz`);
  if (existsSync(out)) return out;
  mkdirSync(cacheDir, { recursive: true });
  const stage = mkdtempSync(join(tmpdir(), "envicutor-initramfs-"));
  try {
    for (const d of ["bin", "dev", "proc", "sys", "newroot", "modules"]) mkdirSync(join(stage, d));
    copyFileSync(BUSYBOX, join(stage, "bin", "busybox"));
    symlinkSync("busybox", join(stage, "bin", "sh")); // /init's interpreter
    copyFileSync(GUEST_INIT, join(stage, "init"));
    execFileSync("chmod", ["0755", join(stage, "init"), join(stage, "bin", "busybox")]);
    // The kernel opens /dev/console for /init before anything is mounted.
    execFileSync("mknod", ["-m", "0600", join(stage, "dev", "console"), "c", "5", "1"]);
    for (const m of modules) copyFileSync(join(kernel.modulesDir, m), join(stage, "modules", basename(m)));
    writeFileSync(join(stage, "modules.order"), `${modules.map((m) => basename(m)).join("\n")}\n`);
    const tmp = `${out}.${process.pid}.tmp`;
    execFileSync("sh", ["-c", `find . | ${BUSYBOX} cpio -o -H newc 2>/dev/null | gzip -1 > '${tmp}'`], {
      cwd: stage,
    });
    renameSync(tmp, out);
    return out;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
