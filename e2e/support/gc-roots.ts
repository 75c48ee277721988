// The GC roots Nix knows of a directory: an agent's out-links are indirect
// roots, registered as symlinks in /nix/var/nix/gcroots/auto. Nix ignores (and
// its next GC removes) one whose out-link is gone, so only live ones count.
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";

/** Indirect GC roots Nix knows (gcroots/auto) that point under `dir` and still exist. */
export function liveAutoRootsUnder(dir: string): string[] {
  const auto = "/nix/var/nix/gcroots/auto";
  return readdirSync(auto)
    .map((e) => {
      try {
        return readlinkSync(join(auto, e));
      } catch {
        return "";
      }
    })
    .filter((t) => t.startsWith(`${dir}/`) && existsSync(t));
}
