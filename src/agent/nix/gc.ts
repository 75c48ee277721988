import { join } from "node:path";
import { NixInstallError } from "./errors.ts";
import { runCommand } from "./run.ts";

export interface GcOptions {
  /** Directory of nix-store; PATH when unset. */
  nixBinDir?: string;
  timeoutMs?: number;
  /**
   * Delete only these store paths, those no GC root still holds (others are
   * kept and not reported). Without it the whole store is collected, as
   * `nix-store --gc` does: what a node owned by the agent wants, and rude on a
   * machine shared with other Nix users.
   */
  paths?: string[];
  signal?: AbortSignal;
}

export interface GcResult {
  /** Store paths deleted (for a targeted collection), in deletion order. */
  deleted: string[];
  /** Nix's summary line, e.g. "12 store paths deleted, 240.12 MiB freed". */
  summary: string;
}

const nixStore = (binDir?: string) => (binDir ? join(binDir, "nix-store") : "nix-store");

/** Collects store paths no GC root holds (roots removed by NixInstaller.remove). */
export async function collectGarbage(opts: GcOptions = {}): Promise<GcResult> {
  const run = (args: string[]) =>
    runCommand(nixStore(opts.nixBinDir), args, {
      timeoutMs: opts.timeoutMs ?? 600_000,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });

  if (opts.paths === undefined) {
    const res = await run(["--gc"]);
    if (res.timedOut) throw new NixInstallError("Timeout", "nix-store --gc did not finish in time");
    if (res.exitCode !== 0)
      throw new NixInstallError("NixError", `nix-store --gc failed: ${res.stderr.trim().slice(-500)}`);
    const summary = /\d+ store paths deleted.*/.exec(res.stdout + res.stderr)?.[0] ?? "";
    return { deleted: [], summary };
  }

  // Referrers first: a path is deletable only once nothing valid refers to it,
  // so keep passing over the remaining paths while that makes progress.
  let remaining = [...new Set(opts.paths)];
  const deleted: string[] = [];
  for (let progress = true; progress && remaining.length; ) {
    progress = false;
    const next: string[] = [];
    for (const p of remaining) {
      const res = await run(["--delete", p]);
      if (res.timedOut)
        throw new NixInstallError("Timeout", `nix-store --delete ${p} did not finish in time`);
      if (res.exitCode === 0) {
        deleted.push(p);
        progress = true;
      } else if (/still alive|is not valid|does not exist|no such/i.test(res.stderr)) {
        if (!/still alive/.test(res.stderr))
          progress = true; // already gone
        else next.push(p);
      } else {
        throw new NixInstallError("NixError", `nix-store --delete failed: ${res.stderr.trim().slice(-500)}`);
      }
    }
    remaining = next;
  }
  return { deleted, summary: `${deleted.length} store paths deleted` };
}
