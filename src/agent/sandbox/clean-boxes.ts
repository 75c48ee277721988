/**
 * Box ids this agent itself cleaned and has not made a box of since (issue 17).
 * init() cleans any leftover of its id before making a box, because a crash
 * may have left one; for an id listed here there is none, so that clean-up
 * (isolate --cleanup, a keyring check) is skipped: one command fewer per test
 * case. Only a successful cleanup() adds an id, and making a box removes it,
 * so an id whose clean-up failed, or an agent just started, cleans again.
 * Only the holder of an id (BoxPool) touches its entry.
 */
export class CleanBoxes {
  private readonly ids = new Set<number>();

  /** Box `id` was just cleaned: nothing of it is left. */
  mark(id: number): void {
    this.ids.add(id);
  }

  /** Whether `id` was clean; it no longer counts as clean (its holder makes a box of it now). */
  take(id: number): boolean {
    return this.ids.delete(id);
  }

  has(id: number): boolean {
    return this.ids.has(id);
  }
}
