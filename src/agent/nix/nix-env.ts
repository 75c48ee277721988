import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { NixInstallError } from "./errors.ts";
import { runCommand } from "./run.ts";

/**
 * The environment a Runtime's programs run with: what a Nix shell with the
 * Runtime's packages would give, computed without running a full stdenv.
 *
 *  1. PATH: the `bin` directory of each package, in the Runtime's order.
 *  2. `$out/nix-support/envicutor-env` (a convention of our package set, see
 *     nix/README.md): NAME=VALUE lines, e.g. PYTHONNOUSERSITE=1. A later
 *     package's value replaces an earlier one's; PATH entries are prepended.
 *  3. `$out/nix-support/setup-hook` (nixpkgs' convention): sourced by bash,
 *     with the few stdenv functions hooks call (addEnvHooks, addToSearchPath)
 *     stubbed, and the env hooks they register run once per package, as
 *     stdenv does for a shell's inputs. What they export is kept. The script
 *     runs in a clean environment under a timeout, so a hook that loops fails
 *     the install instead of hanging it.
 */
export interface EnvOptions {
  /** bash used for setup hooks (absolute path). */
  hookShell?: string;
  hookTimeoutMs?: number;
  signal?: AbortSignal;
}

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
    if (!NAME.test(name)) throw new Error(`invalid line in envicutor-env: ${JSON.stringify(line)}`);
    out.push([name, line.slice(eq + 1)]);
  }
  return out;
}

/** Parses NUL-separated NAME=VALUE pairs. */
export function parseNulEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of text.split("\0")) {
    const eq = entry.indexOf("=");
    if (eq <= 0) continue;
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

const prependPath = (entries: string[], path: string | undefined) =>
  [...entries, ...(path ? path.split(":") : [])].filter((e, i, a) => e && a.indexOf(e) === i).join(":");

// bash, kept free of JS template syntax on purpose.
// biome-ignore-start lint/suspicious/noTemplateCurlyInString: bash parameter expansions
const HOOK_SCRIPT = [
  "envicutorEnvHooks=()",
  'addEnvHooks() { shift; envicutorEnvHooks+=("$@"); }',
  "addToSearchPathWithCustomDelimiter() {",
  '  local delimiter="$1" varName="$2" dir="$3"',
  '  if [[ -d "$dir" && "$delimiter${!varName-}$delimiter" != *"$delimiter$dir$delimiter"* ]]; then',
  '    export "$varName=${!varName:+${!varName}$delimiter}$dir"',
  "  fi",
  "}",
  'addToSearchPath() { addToSearchPathWithCustomDelimiter ":" "$@"; }',
  "hostOffset=0; targetOffset=1",
  'for p in "$@"; do',
  '  if [[ -f "$p/nix-support/setup-hook" ]]; then source "$p/nix-support/setup-hook"; fi',
  "done",
  'for h in "${envicutorEnvHooks[@]}"; do for p in "$@"; do "$h" "$p"; done; done',
  'for v in $(compgen -e); do printf \'%s=%s\\0\' "$v" "${!v}"; done',
].join("\n");
// biome-ignore-end lint/suspicious/noTemplateCurlyInString: bash parameter expansions

/** Computes the environment for the given store paths (see above). */
export async function computeEnv(
  storePaths: readonly string[],
  opts: EnvOptions = {},
): Promise<Record<string, string>> {
  const bins: string[] = [];
  for (const p of storePaths) if (await isDir(join(p, "bin"))) bins.push(join(p, "bin"));
  let env: Record<string, string> = { PATH: bins.join(":") };

  for (const p of storePaths) {
    const file = join(p, "nix-support", "envicutor-env");
    if (!(await isFile(file))) continue;
    for (const [name, value] of parseEnvFile(await readFile(file, "utf8"))) {
      env[name] = name === "PATH" ? prependPath(value.split(":"), env.PATH) : value;
    }
  }

  const hooked: string[] = [];
  for (const p of storePaths) if (await isFile(join(p, "nix-support", "setup-hook"))) hooked.push(p);
  if (hooked.length) env = await runSetupHooks(storePaths, env, opts);
  return env;
}

async function runSetupHooks(
  storePaths: readonly string[],
  base: Record<string, string>,
  opts: EnvOptions,
): Promise<Record<string, string>> {
  const timeoutMs = opts.hookTimeoutMs ?? 10_000;
  const res = await runCommand(
    opts.hookShell ?? "/bin/bash",
    ["--noprofile", "--norc", "-c", HOOK_SCRIPT, "envicutor-setup-hooks", ...storePaths],
    {
      env: { ...base, HOME: "/homeless-shelter" },
      timeoutMs,
      killGraceMs: 1_000,
      cwd: "/",
      ...(opts.signal ? { signal: opts.signal } : {}),
    },
  );
  if (res.timedOut) {
    throw new NixInstallError("Timeout", `a package's setup hook did not finish within ${timeoutMs / 1000}s`);
  }
  if (res.aborted) throw new NixInstallError("NixError", "setup hooks aborted");
  if (res.exitCode !== 0) {
    throw new NixInstallError(
      "NixError",
      `setup hooks failed (exit ${res.exitCode ?? res.signal}): ${res.stderr.trim().slice(-500)}`,
      res.stderr,
    );
  }
  const after = parseNulEnv(res.stdout);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(after)) {
    if (SHELL_VARS.has(k) && base[k] === undefined) continue;
    env[k] = v;
  }
  return env;
}
