import { ReasonedError } from "../ports.ts";

/** Why an install failed; shown as the reason of the Runtime's per-node state. */
export const INSTALL_FAILURE_REASONS = [
  "UnknownPackage",
  "UnknownPackageSet",
  "BuildFailed",
  "NoSpace",
  "Timeout",
  "NixError",
] as const;
export type InstallFailureReason = (typeof INSTALL_FAILURE_REASONS)[number];

/** An install failure with a machine-readable reason and a short message. */
export class NixInstallError extends ReasonedError {
  declare readonly reason: InstallFailureReason;
  /** Nix's stderr, trimmed, for logs (not for status: it can be long). */
  readonly detail: string;
  constructor(reason: InstallFailureReason, message: string, detail = "") {
    super(reason, message);
    this.name = "NixInstallError";
    this.detail = detail;
  }
}

/** Max length of a message that ends up in a status field. */
export const MAX_MESSAGE_LENGTH = 1024;

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, "g");

function shorten(s: string, max = MAX_MESSAGE_LENGTH): string {
  const t = s.trim();
  return t.length <= max ? t : `${t.slice(0, max - 1)}…`;
}

/** Nix's `error: ...` lines (without the prefix), in order. */
function errorLines(stderr: string): string[] {
  return stderr
    .replace(ANSI, "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("error:"))
    .map((l) => l.slice("error:".length).trim());
}

/** The last lines of output before the first error line: usually the builder's own log. */
function logTail(stderr: string, lines = 8): string {
  const all = stderr.replace(ANSI, "").split("\n");
  const firstError = all.findIndex((l) => l.trim().startsWith("error:"));
  const before = (firstError < 0 ? all : all.slice(0, firstError))
    .map((l) => l.replace(/^\s*>\s?/, "").trimEnd())
    .filter(
      (l) =>
        l &&
        !/^(these|this) .* will be (built|fetched)|^ {2}\/nix\/store\/|^building '|^copying path/.test(l),
    );
  return before.slice(-lines).join("\n");
}

/**
 * Classifies a failed Nix command from its stderr and exit code. Timeouts are
 * not Nix's to report: the caller knows it killed the process.
 */
export function classifyNixFailure(stderr: string, exitCode: number | undefined): NixInstallError {
  const clean = stderr.replace(ANSI, "");
  const errors = errorLines(clean);
  const detail = shorten(clean, 16 * 1024);

  if (/No space left on device|\bENOSPC\b|disk full/i.test(clean)) {
    const line = errors.find((e) => /No space left|ENOSPC/i.test(e)) ?? "no space left on device";
    return new NixInstallError("NoSpace", shorten(`no space left on the node: ${line}`), detail);
  }

  // Nix ≥ 2.4: "attribute 'x' in selection path 'a.x' not found"; older: "attribute 'x' missing".
  for (const e of errors) {
    const sel = /attribute '([^']+)' in selection path '([^']+)' not found/.exec(e);
    if (sel) {
      return new NixInstallError(
        "UnknownPackage",
        shorten(`package ${sel[2]} is not in the package set (no attribute '${sel[1]}')`),
        detail,
      );
    }
    const missing = /attribute '([^']+)' missing/.exec(e);
    if (missing) {
      return new NixInstallError(
        "UnknownPackage",
        shorten(`package attribute '${missing[1]}' is not in the package set`),
        detail,
      );
    }
  }

  const builder = errors.find((e) => /^builder for '.*' failed/.test(e));
  if (builder || exitCode === 100 || exitCode === 102 || exitCode === 104) {
    const first = builder ?? errors[0] ?? `nix exited with code ${exitCode}`;
    const drv = /'\/nix\/store\/[a-z0-9]{32}-([^']+)\.drv'/.exec(first)?.[1];
    const tail = logTail(clean);
    const head = drv ? `build of ${drv} failed: ${first}` : `build failed: ${first}`;
    return new NixInstallError("BuildFailed", shorten(tail ? `${head}\n${tail}` : head), detail);
  }

  if (/unable to start any build/.test(clean)) {
    return new NixInstallError(
      "BuildFailed",
      shorten(`not substitutable and local builds are disabled: ${errors[0] ?? ""}`),
      detail,
    );
  }

  const message = errors.length
    ? errors.join("; ")
    : `nix exited with code ${exitCode}: ${logTail(clean, 3)}`;
  return new NixInstallError("NixError", shorten(message), detail);
}

/** Whether retrying the same install may help (a missing attribute or package set will not appear by itself). */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof NixInstallError)) return true;
  return err.reason !== "UnknownPackage" && err.reason !== "UnknownPackageSet";
}
