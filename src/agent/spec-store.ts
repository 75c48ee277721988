import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type RuntimeSpec, runtimeSpec } from "../api/runtime.ts";

/**
 * The Runtime spec each installed generation was built from, kept on disk:
 * while a new generation rolls out, Executions still run with the active
 * (older) one, whose commands and limits are no longer in the Runtime object.
 */
export class SpecStore {
  private readonly dir: string;
  private readonly cache = new Map<string, RuntimeSpec>();

  constructor(stateDir: string) {
    this.dir = join(stateDir, "specs");
  }

  private file(name: string, generation: number): string {
    return join(this.dir, `${name}@${generation}.json`);
  }

  async save(name: string, generation: number, spec: RuntimeSpec): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const tmp = `${this.file(name, generation)}.tmp`;
    await writeFile(tmp, JSON.stringify(spec));
    await rename(tmp, this.file(name, generation));
    this.cache.set(`${name}@${generation}`, spec);
  }

  async load(name: string, generation: number): Promise<RuntimeSpec | undefined> {
    const key = `${name}@${generation}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    try {
      const parsed = runtimeSpec.safeParse(JSON.parse(await readFile(this.file(name, generation), "utf8")));
      if (!parsed.success) return undefined;
      this.cache.set(key, parsed.data);
      return parsed.data;
    } catch {
      return undefined;
    }
  }

  async delete(name: string, generation: number): Promise<void> {
    this.cache.delete(`${name}@${generation}`);
    await rm(this.file(name, generation), { force: true });
  }
}
