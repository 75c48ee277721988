import type { StorageLimits } from "./box-storage.ts";

/** A box made fresh ahead of use: isolate's box directory (from --init) and its storage's limits. */
export interface WarmBox {
  isolateDir: string;
  storage: StorageLimits;
}

/**
 * Boxes made ready before they are needed (issue 17): right after a box is
 * cleaned, still held by the run that used it, it is initialised again
 * (isolate --init, a new empty tmpfs) and recorded here before its id goes
 * back to the pool. The next holder of the id takes it instead of making one,
 * after checking that it is still empty (IsolateBox.init). Only the holder of
 * an id (BoxPool) puts or takes it, so nothing runs in a warm box between.
 */
export class WarmBoxes {
  private readonly ready = new Map<number, WarmBox>();

  /** Box `id` was just made fresh by its holder, and nothing has run in it since. */
  put(id: number, box: WarmBox): void {
    this.ready.set(id, box);
  }

  has(id: number): boolean {
    return this.ready.has(id);
  }

  /** The warm box of `id`, no longer warm: its holder uses it now (or cleans it). */
  take(id: number): WarmBox | undefined {
    const box = this.ready.get(id);
    this.ready.delete(id);
    return box;
  }

  ids(): number[] {
    return [...this.ready.keys()];
  }
}

/** Whether a warm box serves a stage: the same storage limits (a tmpfs is made for its size). */
export function sameStorage(a: StorageLimits, b: StorageLimits): boolean {
  return a.storageKiB === b.storageKiB && a.storageFiles === b.storageFiles;
}
