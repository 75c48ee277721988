// Two directories of this file's own in /nix/store, for the sandbox tests that
// mount one store path alone and then the whole store. The store's real
// contents come and go (other files' installs, their garbage collection), so
// the tests do not depend on them. Made on the host (root); in the cgroup v2
// guest the store is the host's, read-only, and the host made them before it
// booted the guest.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";

export const STORE_PROBES = ["a", "b"].map(
  (n) => `/nix/store/0000000000000000000000000000000${n}-envicutor-e2e-probe-${n}`,
);

/** Makes the probes that are missing, where the store is writable; returns a function removing those it made. */
export function ensureStoreProbes(): () => void {
  const made: string[] = [];
  for (const p of STORE_PROBES) {
    if (existsSync(p)) continue;
    try {
      mkdirSync(p, { mode: 0o555 });
      made.push(p);
    } catch {
      // no store, or read-only (the guest): the tests that need a probe skip
    }
  }
  return () => {
    for (const p of made) rmSync(p, { recursive: true, force: true });
  };
}

/** A store directory to mount alone, when the store has at least two (so "the whole store" shows more). */
export function storePathToMountAlone(): string | undefined {
  if (!existsSync("/nix/store")) return undefined;
  const dirs = readdirSync("/nix/store")
    .filter((n) => !n.startsWith(".") && !n.endsWith(".drv") && !n.endsWith(".lock"))
    .map((n) => `/nix/store/${n}`)
    .filter((p) => statSync(p, { throwIfNoEntry: false })?.isDirectory());
  if (dirs.length < 2) return undefined;
  return dirs.includes(STORE_PROBES[0]!) ? STORE_PROBES[0] : dirs[0];
}
