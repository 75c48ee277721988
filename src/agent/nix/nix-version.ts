import { runCommand } from "./run.ts";

/** The version in `nix-build --version` output ("nix-build (Nix) 2.8.0" → "2.8.0"). */
export function parseNixVersion(stdout: string): string {
  return /(\d+\.\d+(\.\d+)?\S*)/.exec(stdout)?.[1] ?? stdout.trim();
}

/**
 * Runs `nix-build --version`: what the agent reports as the node's Nix, and
 * what `envicutor doctor` checks. Throws when nix-build is missing or fails.
 */
export async function nixBuildVersion(nixBuild = "nix-build"): Promise<string> {
  const res = await runCommand(nixBuild, ["--version"], { timeoutMs: 30_000 });
  if (res.exitCode !== 0)
    throw new Error(`${nixBuild} --version failed (${res.exitCode ?? res.signal}): ${res.stderr.trim()}`);
  return parseNixVersion(res.stdout);
}
