import type { Runtime } from "../api/runtime.ts";

/** Whether a Runtime can take Executions: Ready=True (every eligible node has its active generation). */
export function isReady(rt: Runtime): boolean {
  return rt.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

export interface PistonRuntime {
  language: string;
  version: string;
  aliases: string[];
  runtime: Runtime;
}

/** A Runtime as Piston clients see it: spec.piston, falling back to the Runtime's own names. */
export function pistonView(rt: Runtime): PistonRuntime {
  const p = rt.spec.piston;
  return {
    language: p?.language ?? rt.spec.language,
    version: p?.version ?? rt.spec.version,
    aliases: p?.aliases ?? rt.spec.aliases ?? [],
    runtime: rt,
  };
}

/** Oldest first, then by name: when two Runtimes claim the same id or name, the older one wins, stably. */
function byAge(a: Runtime, b: Runtime): number {
  const ta = String(a.metadata.creationTimestamp ?? "");
  const tb = String(b.metadata.creationTimestamp ?? "");
  return ta < tb ? -1 : ta > tb ? 1 : (a.metadata.name ?? "").localeCompare(b.metadata.name ?? "");
}

/** Compares versions numerically part by part ("3.10" > "3.9"), text parts as text. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.\-+]/);
  const pb = b.split(/[.\-+]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? "";
    const y = pb[i] ?? "";
    const nx = Number(x);
    const ny = Number(y);
    const c = x !== "" && y !== "" && !Number.isNaN(nx) && !Number.isNaN(ny) ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * Piston's lookup: the language matches a name or alias; the version is exact,
 * or a range Piston clients send: "*" (any), "3" or "3.x" (that prefix). The
 * highest matching version wins.
 */
export function findPiston(
  runtimes: Runtime[],
  language: string,
  version: string,
): PistonRuntime | undefined {
  const candidates = runtimes
    .filter(isReady)
    .sort(byAge)
    .map(pistonView)
    .filter((p) => p.language === language || p.aliases.includes(language));
  const exact = candidates.find((p) => p.version === version);
  if (exact) return exact;
  const prefix = version.replace(/(^|\.)[x*]$/, "");
  const matches = candidates.filter(
    (p) => version === "*" || prefix === "" || p.version === prefix || p.version.startsWith(`${prefix}.`),
  );
  return matches.sort((a, b) => compareVersions(b.version, a.version))[0];
}

/** The Ready Runtimes as Piston's GET /api/v2/runtimes lists them. */
export function pistonRuntimes(runtimes: Runtime[]): PistonRuntime[] {
  return runtimes
    .filter(isReady)
    .sort(byAge)
    .map(pistonView)
    .sort((a, b) => a.language.localeCompare(b.language) || compareVersions(a.version, b.version));
}

export interface Judge0Language {
  id: number;
  name: string;
  runtime: Runtime;
}

/** "<Language> (<version>)", as Judge0 names its languages. */
export function judge0Name(rt: Runtime): string {
  if (rt.spec.judge0?.name) return rt.spec.judge0.name;
  const l = rt.spec.language;
  return `${l.charAt(0).toUpperCase()}${l.slice(1)} (${rt.spec.version})`;
}

/** Ready Runtimes with a Judge0 language id, one per id (the oldest), by id. */
export function judge0Languages(runtimes: Runtime[]): Judge0Language[] {
  const seen = new Map<number, Judge0Language>();
  for (const rt of runtimes.filter(isReady).sort(byAge)) {
    const id = rt.spec.judge0?.languageId;
    if (id !== undefined && !seen.has(id)) seen.set(id, { id, name: judge0Name(rt), runtime: rt });
  }
  return [...seen.values()].sort((a, b) => a.id - b.id);
}
