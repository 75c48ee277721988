import { createHash } from "node:crypto";

/**
 * The closure hash: sha256 over the sorted, de-duplicated store paths of a
 * Runtime's closure (`nix-store -qR` of its roots), one per line. Store paths
 * name their derivations, so every node that built or substituted the same
 * derivations gets the same hash, and a node that evaluated something else
 * (another package set, other host files) does not.
 */
export function closureHash(closure: readonly string[]): string {
  const sorted = [...new Set(closure)].sort();
  const h = createHash("sha256");
  for (const p of sorted) h.update(`${p}\n`);
  return `sha256:${h.digest("hex")}`;
}

/** Store paths from `nix-store -qR` / `nix-build` output: one per line, sorted, de-duplicated. */
export function parseStorePaths(stdout: string): string[] {
  return [
    ...new Set(
      stdout
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l.startsWith("/nix/store/")),
    ),
  ].sort();
}

/** Output paths in the order nix-build printed them, de-duplicated (python3 and python may be one path). */
export function parseBuildOutputs(stdout: string): string[] {
  const seen = new Set<string>();
  for (const l of stdout.split("\n")) {
    const p = l.trim();
    if (p.startsWith("/nix/store/")) seen.add(p);
  }
  return [...seen];
}

const STORE_PATH = /^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$/;

export function isStorePath(p: string): boolean {
  return STORE_PATH.test(p);
}
