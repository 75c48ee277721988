// The guest's kernel: Debian's linux-image-amd64 as installed on this machine
// (scripts/setup.d/20-apt.sh), booted by qemu, never by this machine itself.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface GuestKernel {
  version: string;
  image: string;
  modulesDir: string;
}

/**
 * Modules the guest needs: virtio-pci, 9p over virtio and a virtio RNG to
 * mount its root, overlay for a writable checkout (guest-vitest.ts), and veth,
 * dummy (the guest's uplink) and the nftables pieces of the agent's box
 * network (src/agent/network).
 */
export const BOOT_MODULES = [
  ...["virtio_pci", "9pnet_virtio", "9p", "virtio-rng", "overlay", "veth", "dummy"],
  // crc32c_generic: libcrc32c's soft dependency (not in modules.dep), which nf_tables needs.
  "crc32c_generic",
  ...[
    "nf_tables",
    "nft_chain_nat",
    "nft_masq",
    "nft_ct",
    "nft_reject_inet",
    "nft_limit",
    "nft_quota",
    "nft_connlimit",
    "nft_objref",
  ],
];

/** The newest kernel in /boot that has its modules installed; undefined when there is none. */
export function findGuestKernel(boot = "/boot", modules = "/lib/modules"): GuestKernel | undefined {
  const versions = existsSync(boot)
    ? readdirSync(boot)
        .filter((f) => f.startsWith("vmlinuz-"))
        .map((f) => f.slice("vmlinuz-".length))
        .filter((v) => existsSync(join(modules, v, "modules.dep")))
        .sort((a, b) => a.localeCompare(b, "en", { numeric: true }))
    : [];
  const version = versions.at(-1);
  if (!version) return undefined;
  return { version, image: join(boot, `vmlinuz-${version}`), modulesDir: join(modules, version) };
}

/**
 * The module files (relative to the modules directory) that load `names`, in
 * an order insmod can follow: every dependency before what needs it.
 */
export function moduleLoadOrder(kernel: GuestKernel, names: string[] = BOOT_MODULES): string[] {
  const deps = new Map<string, string[]>();
  for (const line of readFileSync(join(kernel.modulesDir, "modules.dep"), "utf8").split("\n")) {
    const [mod, rest] = line.split(":");
    if (mod) deps.set(mod, (rest ?? "").trim().split(/\s+/).filter(Boolean));
  }
  const byName = (name: string) =>
    [...deps.keys()].find((m) => m.endsWith(`/${name}.ko`) || m.endsWith(`/${name}.ko.xz`));
  const order: string[] = [];
  const visit = (mod: string) => {
    if (order.includes(mod)) return;
    for (const d of deps.get(mod) ?? []) visit(d);
    order.push(mod);
  };
  for (const name of names) {
    const mod = byName(name);
    if (!mod) throw new Error(`kernel ${kernel.version} has no module ${name}`);
    visit(mod);
  }
  return order;
}
