import type { PendingEntry, PendingQueue } from "./pending-queue.ts";
import type { SlotBook } from "./slot-book.ts";

export interface FairShareSettings {
  /** Most Executions holding a slot at once per namespace; undefined = no cap. */
  maxRunningPerNamespace?: number;
  /** Per-namespace caps over maxRunningPerNamespace (a namespace → its cap). */
  namespaceCaps?: Record<string, number>;
}

/**
 * Which namespace gets the next slot: the one with the fewest Executions
 * holding slots (least-running-first), ties to the one served longest ago
 * (round robin); within it, its own order (priority, then age). A namespace
 * at its cap waits. So 10,000 queued in one namespace do not starve 10 in
 * another: each new slot goes to whoever has fewest.
 */
export class FairShare {
  private readonly book: SlotBook;
  private readonly settings: FairShareSettings;
  private readonly lastServed = new Map<string, number>();
  private seq = 0;
  /** Namespaces skipped at their cap in this cycle. */
  capped = false;

  constructor(book: SlotBook, settings: FairShareSettings = {}) {
    this.book = book;
    this.settings = settings;
  }

  capOf(namespace: string): number | undefined {
    return this.settings.namespaceCaps?.[namespace] ?? this.settings.maxRunningPerNamespace;
  }

  /** Start of a placement cycle. */
  begin(): void {
    this.capped = false;
  }

  /** The next entry to place, among Runtimes `skip` does not rule out; O(namespaces). */
  nominate(queue: PendingQueue, skip: (runtime: string) => boolean): PendingEntry | undefined {
    let best: PendingEntry | undefined;
    let bestRunning = Number.POSITIVE_INFINITY;
    let bestServed = Number.POSITIVE_INFINITY;
    for (const ns of queue.namespaces()) {
      const running = this.book.running(ns);
      const cap = this.capOf(ns);
      if (cap !== undefined && running >= cap) {
        this.capped = true;
        continue;
      }
      const served = this.lastServed.get(ns) ?? -1;
      if (running > bestRunning || (running === bestRunning && served >= bestServed)) continue;
      const head = queue.head(ns, skip);
      if (!head) continue;
      best = head;
      bestRunning = running;
      bestServed = served;
    }
    return best;
  }

  /** Records that a namespace got a slot (for the round robin). */
  served(namespace: string): void {
    this.lastServed.set(namespace, this.seq++);
  }
}
