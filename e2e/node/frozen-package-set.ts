// The stand-in package set (nix/pkgs) as an agent in a pod can use it.
//
// nix/pkgs is evaluated from this machine's Debian files (/var/lib/dpkg, /usr),
// which a pod does not have. So the host instantiates the packages once, and
// the pod gets a package set that only imports their derivations
// (`import /nix/store/…drv`, which Nix turns back into a derivation): the
// store, shared through the agent's hostPath /nix, holds the rest. The signed
// file:// binary cache of make-binary-cache.sh goes along, as the agent's
// substituter. Both live in a directory the agent's pod mounts at the same
// path (its state hostPath).
import { execFile } from "node:child_process";
import { mkdir, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");

export interface FrozenPackageSet {
  /** The package set's file (ENVICUTOR_PACKAGE_SET / agent.nix.packageSet). */
  location: string;
  /** file:// URL of the binary cache and the key it is signed with. */
  cache: { url: string; publicKey: string };
}

export async function frozenPackageSet(dir: string, attrs: string[]): Promise<FrozenPackageSet> {
  await mkdir(join(dir, "roots"), { recursive: true });
  const made = await run(
    "bash",
    [join(ROOT, "nix/pkgs/make-binary-cache.sh"), join(dir, "cache"), ...attrs],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const cache = JSON.parse(made.stdout.trim().split("\n").pop()!) as FrozenPackageSet["cache"];
  const drvs: string[] = [];
  for (const a of attrs) {
    // An indirect GC root per derivation, so no garbage collection takes them mid-test.
    await run("nix-instantiate", [
      join(ROOT, "nix/pkgs"),
      "-A",
      a,
      "--add-root",
      join(dir, "roots", a),
      "--indirect",
    ]);
    // It prints the root; the .drv is what it points at (import needs the .drv path itself).
    drvs.push(await realpath(join(dir, "roots", a)));
  }
  const body = attrs.map((a, i) => `  ${a} = import ${drvs[i]};`).join("\n");
  const location = join(dir, "package-set.nix");
  await writeFile(
    location,
    `# nix/pkgs, instantiated on the host (e2e/node/frozen-package-set.ts)\n{ ... }: {\n${body}\n}\n`,
  );
  return { location, cache };
}
