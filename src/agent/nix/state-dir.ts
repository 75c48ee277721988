import { randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { z } from "zod";

/**
 * The agent's record of installed Runtime generations, on disk so it survives
 * restarts:
 *
 *   <stateDir>/gcroots/<runtime>/<generation>        -> .g<generation>-<random>   (symlink)
 *   <stateDir>/gcroots/<runtime>/.g<generation>-<random>/
 *       0, 1, ...      out-links of the packages: Nix GC roots (indirect roots,
 *                      registered in /nix/var/nix/gcroots/auto)
 *       env            out-link of the environment the setup hooks computed in
 *                      Nix's build sandbox (only when a package has a hook)
 *       install.json   what was installed (InstallRecord)
 *
 * An install fills a fresh `.g<generation>-<random>` directory and then
 * switches the `<generation>` symlink to it with rename(2), so a generation is
 * either fully installed or not at all. The directory itself never moves: Nix
 * remembers an indirect root by the absolute path of its out-link, and a
 * renamed out-link would silently stop being a root. A `.g*` directory no
 * symlink points at is the leftover of a crashed install; it is removed.
 */

export const installRecord = z.object({
  version: z.literal(1),
  runtimeName: z.string(),
  generation: z.int(),
  uid: z.string(),
  packages: z.array(z.string()),
  /** Location of the package set; packageSetName is the configured name it had (absent in older records). */
  packageSet: z.string(),
  packageSetName: z.string().optional(),
  /** The environment computed by the setup hooks in Nix's sandbox; rooted as `env` beside the packages. */
  envPath: z.string().optional(),
  storePaths: z.array(z.string()),
  closure: z.array(z.string()),
  closureHash: z.string(),
  env: z.record(z.string(), z.string()),
  installedAt: z.string(),
});
export type InstallRecord = z.infer<typeof installRecord>;

const RUNTIME_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Runtime names are Kubernetes object names; anything else never reaches the file system. */
export function checkRuntimeName(name: string): void {
  if (!RUNTIME_NAME.test(name) || name.includes("..")) {
    throw new Error(`invalid runtime name ${JSON.stringify(name)}`);
  }
}
export function checkGeneration(generation: number): void {
  if (!Number.isSafeInteger(generation) || generation < 0) {
    throw new Error(`invalid generation ${generation}`);
  }
}

const PARTIAL = /^\.g(\d+)-[0-9a-f]+$/;
const RECORD = "install.json";

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

export class StateDir {
  readonly root: string;
  constructor(stateDir: string) {
    this.root = join(stateDir, "gcroots");
  }

  runtimeDir(name: string): string {
    checkRuntimeName(name);
    return join(this.root, name);
  }

  /** The path Runtimes' roots are reachable under: <stateDir>/gcroots/<runtime>/<generation>. */
  generationPath(name: string, generation: number): string {
    checkGeneration(generation);
    return join(this.runtimeDir(name), String(generation));
  }

  /** The installed record of a generation, if the generation is fully installed. */
  async read(name: string, generation: number): Promise<InstallRecord | undefined> {
    const link = this.generationPath(name, generation);
    try {
      const text = await readFile(join(link, RECORD), "utf8");
      return installRecord.parse(JSON.parse(text));
    } catch {
      return undefined;
    }
  }

  /** A fresh directory to install a generation into (not visible as installed yet). */
  async createPartial(name: string, generation: number): Promise<string> {
    const dir = join(
      this.runtimeDir(name),
      `.g${this.checked(generation)}-${randomBytes(6).toString("hex")}`,
    );
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /**
   * Removes leftovers of interrupted installs: `.g*` directories no generation
   * symlink points at (only those of `generation` when given). Returns them.
   */
  async cleanPartial(name: string, generation?: number): Promise<string[]> {
    const dir = this.runtimeDir(name);
    const entries = await readdir(dir).catch(() => [] as string[]);
    const live = new Set<string>();
    for (const e of entries) {
      if (!/^\d+$/.test(e)) continue;
      const target = await readlink(join(dir, e)).catch(() => undefined);
      if (target) live.add(basename(target));
    }
    const removed: string[] = [];
    for (const e of entries) {
      const m = PARTIAL.exec(e);
      if (!m || live.has(e)) continue;
      if (generation !== undefined && Number(m[1]) !== generation) continue;
      await rm(join(dir, e), { recursive: true, force: true });
      removed.push(join(dir, e));
    }
    return removed;
  }

  /** Writes the record into the partial directory and makes it the installed generation, atomically. */
  async commit(partialDir: string, record: InstallRecord): Promise<void> {
    const tmp = join(partialDir, `.${RECORD}.tmp`);
    await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
    await rename(tmp, join(partialDir, RECORD));

    const link = this.generationPath(record.runtimeName, record.generation);
    const previous = await readlink(link).catch(() => undefined);
    const tmpLink = `${link}.link-${randomBytes(4).toString("hex")}`;
    await symlink(basename(partialDir), tmpLink);
    await rename(tmpLink, link);
    if (previous && basename(previous) !== basename(partialDir)) {
      await rm(join(this.runtimeDir(record.runtimeName), basename(previous)), {
        recursive: true,
        force: true,
      });
    }
  }

  /** Uninstalls one generation: first the symlink (atomic), then its directory and roots. */
  async remove(name: string, generation: number): Promise<boolean> {
    const link = this.generationPath(name, generation);
    const target = await readlink(link).catch(() => undefined);
    if (target === undefined) {
      return (await this.cleanPartial(name, generation)).length > 0;
    }
    await rm(link, { force: true });
    await rm(join(this.runtimeDir(name), basename(target)), { recursive: true, force: true });
    await this.cleanPartial(name, generation);
    return true;
  }

  /** Uninstalls every generation of a Runtime. */
  async removeAll(name: string): Promise<boolean> {
    const dir = this.runtimeDir(name);
    if (!(await exists(dir))) return false;
    for (const e of await readdir(dir)) {
      if (/^\d+$/.test(e)) await rm(join(dir, e), { force: true });
    }
    await rm(dir, { recursive: true, force: true });
    return true;
  }

  /** Generations of one Runtime that are fully installed, by number. */
  async generations(name: string): Promise<number[]> {
    const entries = await readdir(this.runtimeDir(name)).catch(() => [] as string[]);
    return entries
      .filter((e) => /^\d+$/.test(e))
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Every fully installed generation, from disk. */
  async list(): Promise<InstallRecord[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const out: InstallRecord[] = [];
    for (const name of names.sort()) {
      if (!RUNTIME_NAME.test(name)) continue;
      for (const generation of await this.generations(name)) {
        const rec = await this.read(name, generation);
        if (rec) out.push(rec);
      }
    }
    return out;
  }

  /** Out-links (GC roots) of an installed generation. */
  async roots(name: string, generation: number): Promise<string[]> {
    const dir = this.generationPath(name, generation);
    const entries = await readdir(dir).catch(() => [] as string[]);
    return entries
      .filter((e) => /^\d+$/.test(e))
      .sort((a, b) => Number(a) - Number(b))
      .map((e) => join(dir, e));
  }

  private checked(generation: number): number {
    checkGeneration(generation);
    return generation;
  }
}
