/**
 * The node's sandbox slots as a semaphore (issue 17). The controller may place
 * a few more Executions on a node than it has slots (its nodePrefetch), so
 * that when a run ends the next one is already here, its Runtime and Problem
 * resolved; it waits for a slot in phase Scheduled, unstarted. A slot is held
 * from the run's start to its end, not over the result's write, so the next
 * run starts while the last one's result is on its way. Waiters are served in
 * the order they came.
 */
export class SlotGate {
  readonly slots: number;
  private held = 0;
  private readonly waiters: { grant: () => void }[] = [];

  constructor(slots: number) {
    this.slots = slots;
    if (!Number.isInteger(slots) || slots < 1)
      throw new Error(`a slot gate needs 1 or more slots, not ${slots}`);
  }

  /** Slots running an Execution now. */
  get busy(): number {
    return this.held;
  }

  /** Executions here waiting for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Resolves once a slot is this caller's, with its release (a second call
   * does nothing); rejects if `signal` aborts first (the agent stopping).
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new Error("aborted while waiting for a slot"));
    if (this.held < this.slots && this.waiters.length === 0) {
      this.held++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(this.releaser());
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error("aborted while waiting for a slot"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** The slot passes straight to the first waiter, if any. */
  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiters.shift();
      if (next) next.grant();
      else this.held--;
    };
  }
}
