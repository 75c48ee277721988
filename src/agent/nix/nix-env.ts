import { stat } from "node:fs/promises";
import { join } from "node:path";
import { NixInstallError } from "./errors.ts";
import { readStoreFile } from "./store-file.ts";

/**
 * The environment a Runtime's programs run with: what a Nix shell with the
 * Runtime's packages would give, computed without running a full stdenv.
 *
 *  1. PATH: the `bin` directory of each package, in the Runtime's order.
 *  2. `$out/nix-support/envicutor-env` (a convention of our package set, see
 *     nix/README.md): NAME=VALUE lines, e.g. PYTHONNOUSERSITE=1. A later
 *     package's value replaces an earlier one's; PATH entries are prepended.
 *  3. `$out/nix-support/setup-hook` (nixpkgs' convention): package code, so
 *     never run here. `runSetupHooks` runs them in Nix's build sandbox (see
 *     hook-sandbox.ts), starting from 1 and 2; what they export is kept.
 *
 * 1 and 2 only read files (bounded, inside the store); nothing of a package
 * runs in the agent.
 */
export interface EnvOptions {
  /** Runs the setup hooks in a sandbox and returns the exported environment. */
  runSetupHooks?: (
    storePaths: readonly string[],
    base: Record<string, string>,
  ) => Promise<Record<string, string>>;
}

/** Largest envicutor-env file read. */
export const MAX_ENV_FILE_BYTES = 64 * 1024;
/** Most variables a hook may leave (an environment, not a database). */
export const MAX_HOOK_VARS = 1024;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Variables bash sets by itself, never reported as coming from a hook. */
const SHELL_VARS = new Set(["PWD", "OLDPWD", "SHLVL", "_", "HOME", "TMPDIR", "TERM"]);

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
}
async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isFile() ?? false;
}

/** Parses an envicutor-env file: NAME=VALUE lines, blank lines and # comments ignored. */
export function parseEnvFile(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const name = eq > 0 ? line.slice(0, eq) : "";
    if (!NAME.test(name))
      throw new Error(`invalid line in envicutor-env: ${JSON.stringify(line.slice(0, 200))}`);
    out.push([name, line.slice(eq + 1)]);
  }
  return out;
}

/**
 * Parses what the sandboxed hooks wrote: NAME=VALUE entries, each ended by a
 * NUL, in UTF-8. Anything else (a name that is not one, a missing final NUL,
 * a repeated name, too many entries) is refused, not guessed at.
 */
export function parseHookOutput(bytes: Uint8Array): Record<string, string> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new NixInstallError("NixError", "setup hooks left an environment that is not UTF-8");
  }
  const bad = (why: string) =>
    new NixInstallError("NixError", `setup hooks left an invalid environment: ${why}`);
  if (text && !text.endsWith("\0")) throw bad("the last entry is not NUL-terminated");
  const entries = text ? text.slice(0, -1).split("\0") : [];
  if (entries.length > MAX_HOOK_VARS) throw bad(`${entries.length} variables, more than ${MAX_HOOK_VARS}`);
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf("=");
    const name = eq > 0 ? entry.slice(0, eq) : "";
    if (!NAME.test(name)) throw bad(`entry ${JSON.stringify(entry.slice(0, 80))} is not NAME=VALUE`);
    if (Object.hasOwn(env, name)) throw bad(`${name} appears twice`);
    env[name] = entry.slice(eq + 1);
  }
  return env;
}

const prependPath = (entries: string[], path: string | undefined) =>
  [...entries, ...(path ? path.split(":") : [])].filter((e, i, a) => e && a.indexOf(e) === i).join(":");

/** Computes the environment for the given store paths (see above). */
export async function computeEnv(
  storePaths: readonly string[],
  opts: EnvOptions = {},
): Promise<Record<string, string>> {
  const bins: string[] = [];
  for (const p of storePaths) if (await isDir(join(p, "bin"))) bins.push(join(p, "bin"));
  const env: Record<string, string> = { PATH: bins.join(":") };

  for (const p of storePaths) {
    const file = join(p, "nix-support", "envicutor-env");
    if (!(await isFile(file))) continue;
    let text: string;
    try {
      text = (await readStoreFile(p, file, MAX_ENV_FILE_BYTES)).toString("utf8");
    } catch (err) {
      throw new NixInstallError("NixError", `unreadable envicutor-env of ${p}: ${(err as Error).message}`);
    }
    for (const [name, value] of parseEnvFile(text)) {
      env[name] = name === "PATH" ? prependPath(value.split(":"), env.PATH) : value;
    }
  }

  const hooked: string[] = [];
  for (const p of storePaths) if (await isFile(join(p, "nix-support", "setup-hook"))) hooked.push(p);
  if (!hooked.length) return env;
  if (!opts.runSetupHooks) {
    throw new NixInstallError(
      "NixError",
      `${hooked.join(", ")} has a setup hook and no sandbox to run it in`,
    );
  }
  const after = await opts.runSetupHooks(storePaths, env);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(after)) {
    if (SHELL_VARS.has(k) && env[k] === undefined) continue;
    out[k] = v;
  }
  return out;
}
