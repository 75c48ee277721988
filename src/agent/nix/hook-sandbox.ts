import { rm } from "node:fs/promises";
import { classifyNixFailure, NixInstallError } from "./errors.ts";
import { parseHookOutput } from "./nix-env.ts";
import { type RunResult, runCommand } from "./run.ts";
import { readStoreFile } from "./store-file.ts";

/**
 * Runs the packages' nixpkgs-style setup hooks the way a Nix shell would, but
 * INSIDE Nix's build sandbox, never on the node: the agent asks Nix to build
 * a small derivation whose builder (the package set's own bash) sources the
 * hooks and writes the exported environment to $out. Nix runs that builder
 * as a build user (nixbld*) in a chroot with only its inputs of /nix/store, a
 * private /tmp and /build, no network, and kills it after `hookTimeoutMs`.
 * The agent then reads $out (a file, parsed strictly, bounded) and runs
 * nothing from it.
 *
 * Two nix-builds: first the shell (the package set's bash, built or
 * substituted under the install's own timeout), then the environment under
 * the hook timeout, so that Nix's `timeout` only ever counts the hooks.
 */
export interface HookSandboxOptions {
  /** Where the package set is (resolved from its name by the agent's configuration). */
  packageSetLocation: string;
  storePaths: readonly string[];
  /** PATH and envicutor-env values the hooks start from. */
  base: Record<string, string>;
  /** Out-link of the environment file: a GC root, in the generation's directory. */
  outLink: string;
  /** Out-link of the shell while the environment builds (removed afterwards). */
  shellLink: string;
  hookTimeoutMs: number;
  /** Both nix-builds together (the install's remaining time). */
  timeoutMs: number;
  nixBuild: string;
  /** `--option` arguments of every Nix command of the install (substituters, sandbox, ...). */
  nixOptionArgs: string[];
  /** Attribute of the package set whose bin/bash runs the hooks; default "bash". */
  shellAttribute?: string;
  killGraceMs?: number;
  signal?: AbortSignal;
}

/** Largest environment file the agent reads. */
export const MAX_HOOK_ENV_BYTES = 1024 * 1024;

/**
 * The derivation. Arguments come as --argstr, so nothing is pasted into Nix
 * code. The package set is found like nix-build finds its first argument.
 */
const HOOK_EXPR = `{ location, storePaths, baseEnv, builderScript, shellAttribute }:
let
  b = builtins;
  source =
    if b.substring 0 1 location == "<" then
      b.findFile b.nixPath (b.substring 1 (b.stringLength location - 2) location)
    else if b.match "https?://.*" location != null then
      b.fetchTarball location
    else
      /. + location;
  imported = import source;
  pkgs = if b.isFunction imported then imported { } else imported;
  shell = b.getAttr shellAttribute pkgs;
  base = b.fromJSON baseEnv;
  names = b.attrNames base;
in
{
  inherit shell;
  env = derivation (
    {
      name = "envicutor-env";
      system = b.currentSystem;
      builder = shell.outPath + "/bin/bash";
      args = [ "--noprofile" "--norc" "-c" builderScript "envicutor-setup-hooks" ]
        ++ map b.storePath (b.fromJSON storePaths);
      envicutorBaseNames = b.concatStringsSep " " names;
      preferLocalBuild = true;
      allowSubstitutes = false;
    }
    // b.listToAttrs (map (n: { name = "envicutorBase_" + n; value = b.getAttr n base; }) names)
  );
}
`;

// Every shell variable, without `compgen` (nixpkgs' non-interactive bash has none).
const ALL_VARS = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"]
  .map((c) => `\${!${c}@}`)
  .join(" ");

// bash, kept free of JS template syntax on purpose.
// biome-ignore-start lint/suspicious/noTemplateCurlyInString: bash parameter expansions
const BUILDER_SCRIPT = [
  "envicutorOut=$out",
  "envicutorNames=$envicutorBaseNames",
  "declare -A envicutorBase=()",
  'for n in $envicutorNames; do v="envicutorBase_$n"; envicutorBase[$n]=${!v}; done',
  // Hooks see only the Runtime's own base environment, nothing Nix put there.
  `for v in ${ALL_VARS}; do if [[ \${!v@a} == *x* ]]; then unset "$v" 2>/dev/null; fi; done`,
  "export HOME=/homeless-shelter",
  'for n in $envicutorNames; do export "$n=${envicutorBase[$n]}"; done',
  "unset envicutorBase envicutorNames n v",
  "cd /",
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
  `for v in ${ALL_VARS}; do if [[ \${!v@a} == *x* ]]; then printf '%s=%s\\0' "$v" "\${!v}"; fi; done >"$envicutorOut"`,
].join("\n");
// biome-ignore-end lint/suspicious/noTemplateCurlyInString: bash parameter expansions

/** Nix reports its own `timeout` / `max-silent-time` like this (exit status 101). */
const NIX_TIMED_OUT = /timed out after \d+ seconds/;

export async function runSetupHooksInSandbox(
  o: HookSandboxOptions,
): Promise<{ env: Record<string, string>; envPath: string }> {
  const build = hookBuilder(o);
  try {
    await buildShell(o, build);
    const envPath = await buildEnv(o, build);
    return { env: parseHookOutput(await readEnvFile(envPath)), envPath };
  } finally {
    await rm(o.shellLink, { force: true });
  }
}

type HookBuild = (extra: string[]) => Promise<RunResult>;

/** nix-build of HOOK_EXPR with this request's arguments; every call shares one deadline. */
function hookBuilder(o: HookSandboxOptions): HookBuild {
  const deadline = Date.now() + o.timeoutMs;
  const exprArgs = [
    "-E",
    HOOK_EXPR,
    "--argstr",
    "location",
    o.packageSetLocation,
    "--argstr",
    "storePaths",
    JSON.stringify(o.storePaths),
    "--argstr",
    "baseEnv",
    JSON.stringify(o.base),
    "--argstr",
    "builderScript",
    BUILDER_SCRIPT,
    "--argstr",
    "shellAttribute",
    o.shellAttribute ?? "bash",
  ];
  return (extra) =>
    runCommand(o.nixBuild, [...exprArgs, ...o.nixOptionArgs, ...extra], {
      timeoutMs: Math.max(1, deadline - Date.now()),
      killGraceMs: o.killGraceMs ?? 5_000,
      ...(o.signal ? { signal: o.signal } : {}),
    });
}

/** The shell first, so a package set without one fails with its own message, not the hooks'. */
async function buildShell(o: HookSandboxOptions, build: HookBuild): Promise<void> {
  const shell = await build(["-A", "shell", "--out-link", o.shellLink]);
  checkRun(shell, o.timeoutMs);
  if (shell.exitCode === 0) return;
  const cause = classifyNixFailure(shell.stderr, shell.exitCode);
  throw new NixInstallError(
    cause.reason === "UnknownPackage" ? "NixError" : cause.reason,
    `the package set has no usable ${JSON.stringify(o.shellAttribute ?? "bash")} to run setup hooks with: ${cause.message}`,
    cause.detail,
  );
}

/** Runs the hooks in Nix's build sandbox; returns the store path of their environment file. */
async function buildEnv(o: HookSandboxOptions, build: HookBuild): Promise<string> {
  const seconds = String(Math.max(1, Math.ceil(o.hookTimeoutMs / 1000)));
  const env = await build([
    "-A",
    "env",
    "--out-link",
    o.outLink,
    // The only build of this step is the hooks': Nix's own limits apply to them alone.
    "--option",
    "timeout",
    seconds,
    "--option",
    "max-silent-time",
    seconds,
    // A tiny local build even where packages must be substituted (max-jobs 0).
    "--option",
    "max-jobs",
    "1",
  ]);
  checkRun(env, o.timeoutMs);
  if (env.exitCode !== 0) throw envBuildFailure(env, seconds);
  const envPath = env.stdout.trim().split("\n").pop() ?? "";
  if (!/^\/nix\/store\/[a-z0-9]{32}-envicutor-env$/.test(envPath)) {
    throw new NixInstallError(
      "NixError",
      `nix-build printed no environment path: ${env.stdout.slice(0, 300)}`,
    );
  }
  return envPath;
}

function envBuildFailure(env: RunResult, seconds: string): NixInstallError {
  if (NIX_TIMED_OUT.test(env.stderr)) {
    return new NixInstallError(
      "Timeout",
      `a package's setup hook did not finish within ${seconds}s (stopped by Nix in its build sandbox)`,
      env.stderr,
    );
  }
  const cause = classifyNixFailure(env.stderr, env.exitCode);
  return new NixInstallError("NixError", `setup hooks failed: ${cause.message}`, cause.detail);
}

async function readEnvFile(envPath: string): Promise<Buffer> {
  try {
    return await readStoreFile(envPath, envPath, MAX_HOOK_ENV_BYTES);
  } catch (err) {
    throw new NixInstallError(
      "NixError",
      `setup hooks left no readable environment: ${(err as Error).message}`,
    );
  }
}

function checkRun(res: RunResult, timeoutMs: number): void {
  if (res.timedOut) {
    throw new NixInstallError(
      "Timeout",
      `install did not finish within ${Math.round(timeoutMs / 1000)}s (while running setup hooks)`,
      res.stderr,
    );
  }
  if (res.aborted) throw new NixInstallError("NixError", "setup hooks aborted", res.stderr);
}
