import { NixInstallError } from "./errors.ts";

/**
 * The package sets a platform lets Runtimes use, by name: e.g.
 * `{ "default": "<nixpkgs>", "nixpkgs-24-05": "https://…/nixpkgs-24.05.tar.gz" }`.
 * A Runtime's `spec.packageSet` is only ever a name looked up here, so whoever
 * can create a Runtime cannot make the agent evaluate a Nix expression of
 * their choosing (Nix evaluation runs as root on the node and can read any
 * file there).
 */
export type PackageSets = Readonly<Record<string, string>>;

/** The name a Runtime without `spec.packageSet` uses. */
export const DEFAULT_PACKAGE_SET = "default";

/** A DNS label, as in the Runtime CRD: short, lower case, nothing a shell or Nix could read as syntax. */
export const PACKAGE_SET_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Locations are absolute paths, <channels> or URLs: nothing nix-build could read as an option. */
const LOCATION = /^(\/.*|<[A-Za-z0-9._/-]+>|https?:\/\/\S+)$/s;
const hasControl = (s: string) => [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

export function checkPackageSetLocation(location: string): void {
  if (!LOCATION.test(location) || hasControl(location)) {
    throw new Error(
      `invalid package set location ${JSON.stringify(location)}: use an absolute path, a <channel> or an https URL`,
    );
  }
}

export function checkPackageSetName(name: string): void {
  if (!PACKAGE_SET_NAME.test(name)) {
    throw new Error(
      `invalid package set name ${JSON.stringify(name)}: use a DNS label (lower case letters, digits, '-'; at most 63)`,
    );
  }
}

/** Checks every name and location; throws on the first bad one. */
export function checkPackageSets(sets: PackageSets): void {
  const entries = Object.entries(sets);
  if (entries.length === 0) throw new Error("no package sets configured");
  for (const [name, location] of entries) {
    checkPackageSetName(name);
    checkPackageSetLocation(location);
  }
}

/**
 * The package sets from the agent's configuration: ENVICUTOR_PACKAGE_SETS
 * (a JSON object, name → location) and ENVICUTOR_PACKAGE_SET (the location of
 * "default", kept for older configurations). Naming "default" in both is an
 * error rather than a silent choice.
 */
export function parsePackageSets(json: string | undefined, defaultLocation: string | undefined): PackageSets {
  let sets: Record<string, string> = {};
  if (json?.trim()) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (err) {
      throw new Error(`not JSON: ${(err as Error).message}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new Error('must be a JSON object of name to location, e.g. {"default":"<nixpkgs>"}');
    }
    for (const [name, location] of Object.entries(parsed)) {
      if (typeof location !== "string")
        throw new Error(`location of ${JSON.stringify(name)} is not a string`);
      sets[name] = location;
    }
  }
  if (defaultLocation) {
    if (sets[DEFAULT_PACKAGE_SET] !== undefined && sets[DEFAULT_PACKAGE_SET] !== defaultLocation) {
      throw new Error(
        `"default" is set both by ENVICUTOR_PACKAGE_SET and ENVICUTOR_PACKAGE_SETS, to different locations`,
      );
    }
    sets = { ...sets, [DEFAULT_PACKAGE_SET]: defaultLocation };
  }
  if (Object.keys(sets).length === 0) sets = { [DEFAULT_PACKAGE_SET]: "<nixpkgs>" };
  checkPackageSets(sets);
  return sets;
}

/** The location of a Runtime's package set; a name the platform did not configure is refused. */
export function resolvePackageSet(sets: PackageSets, name: string | undefined): string {
  const wanted = name || DEFAULT_PACKAGE_SET;
  const location = Object.hasOwn(sets, wanted) ? sets[wanted] : undefined;
  if (location === undefined) {
    const known = Object.keys(sets).sort().join(", ");
    throw new NixInstallError(
      "UnknownPackageSet",
      `package set ${JSON.stringify(wanted)} is not configured on this node (known: ${known}); spec.packageSet must name one of the platform's package sets`,
    );
  }
  return location;
}
