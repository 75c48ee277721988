import { type BackoffOptions, backoffDelay } from "./backoff.ts";
import { type LongTimer, setLongTimeout } from "./long-timer.ts";

/** What a handler asks for after processing a key. */
export interface ProcessResult {
  /** Process the key again after this delay (level-triggered polling, e.g. for TTLs). */
  requeueAfterMs?: number;
}

export type KeyHandler = (key: string) => Promise<ProcessResult | undefined>;

export interface WorkQueueOptions {
  /** Per-key backoff after failures; default 5 ms doubling up to 1000 s (client-go's). */
  backoff?: BackoffOptions;
  /** Observer for metrics; called synchronously. */
  hooks?: WorkQueueHooks;
  /** Clock for tests; default Date.now. */
  now?: () => number;
}

export interface WorkQueueHooks {
  onAdd?(key: string): void;
  onDepth?(depth: number): void;
  onRetry?(key: string): void;
  /** Seconds the key waited in the queue and seconds its processing took. */
  onProcessed?(key: string, queuedSeconds: number, workSeconds: number, error: unknown): void;
}

/**
 * A keyed work queue with client-go's guarantees:
 * - a key waiting in the queue is there once (adds are deduplicated);
 * - a key is never processed by two workers at once: adding a key that is
 *   being processed marks it dirty and it is queued again when `done`;
 * - per-key exponential backoff on failure (`addRateLimited`), reset by `forget`;
 * - `addAfter` delays, keeping the earliest of several pending delays per key;
 * - `shutdown()` stops accepting work and resolves when workers have drained.
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  private head = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly waiting = new Map<string, { at: number; timer: LongTimer }>();
  private readonly enqueuedAt = new Map<string, number>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private workers: Promise<void>[] = [];
  private readonly backoff: BackoffOptions;
  private readonly hooks: WorkQueueHooks;
  private readonly now: () => number;

  constructor(opts: WorkQueueOptions = {}) {
    this.backoff = opts.backoff ?? { baseMs: 5, maxMs: 1_000_000 };
    this.hooks = opts.hooks ?? {};
    this.now = opts.now ?? Date.now;
  }

  /** Keys waiting to be processed (not counting delayed or in-flight ones). */
  get length(): number {
    return this.queue.length - this.head;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Whether the key is queued, delayed or being processed. */
  has(key: string): boolean {
    return this.dirty.has(key) || this.processing.has(key) || this.waiting.has(key);
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.dirty.has(key)) return;
    this.hooks.onAdd?.(key);
    this.dirty.add(key);
    if (!this.enqueuedAt.has(key)) this.enqueuedAt.set(key, this.now());
    if (this.processing.has(key)) return; // queued again by done()
    this.push(key);
  }

  /** Adds the key after `ms`; a later call with an earlier time wins, a later time is ignored. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.now() + ms;
    const existing = this.waiting.get(key);
    if (existing && existing.at <= at) return;
    existing?.timer.cancel();
    // Delays can come from user input (a 30-day TTL): a plain setTimeout would fire at once.
    const timer = setLongTimeout(
      () => {
        this.waiting.delete(key);
        this.add(key);
      },
      ms,
      { unref: true },
    );
    this.waiting.set(key, { at, timer });
  }

  /** Adds the key after its per-key backoff, and counts a failure. */
  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.hooks.onRetry?.(key);
    this.addAfter(key, backoffDelay(n, this.backoff));
  }

  /** Clears the key's failure count (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Next key, waiting if empty; undefined once shut down and (if draining) empty. */
  get(): Promise<string | undefined> {
    const key = this.pop();
    if (key !== undefined) return Promise.resolve(key);
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks the end of processing; a key added meanwhile is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    // Without drain, shutdown() cleared dirty; with it, the key runs once more.
    if (this.dirty.has(key)) this.push(key);
  }

  /**
   * Runs `concurrency` workers calling `handler` for each key. Errors requeue
   * with backoff; success forgets the key's failures; `requeueAfterMs` re-adds
   * it later. Resolves when the queue is shut down and the workers are done.
   */
  run(handler: KeyHandler, concurrency = 1, onError?: (key: string, err: unknown) => void): Promise<void> {
    for (let i = 0; i < concurrency; i++) this.workers.push(this.worker(handler, onError));
    return Promise.all(this.workers).then(() => undefined);
  }

  /**
   * Stops accepting keys and cancels delayed adds. With drain (default) the
   * workers finish every key already queued; without it they stop after the
   * keys in flight. Resolves when all workers have returned.
   */
  async shutdown(opts: { drain?: boolean } = {}): Promise<void> {
    const drain = opts.drain ?? true;
    this.shuttingDown = true;
    for (const w of this.waiting.values()) w.timer.cancel();
    this.waiting.clear();
    if (!drain) {
      this.queue.length = 0;
      this.head = 0;
      this.dirty.clear();
      this.hooks.onDepth?.(0);
    }
    for (const w of this.waiters.splice(0)) w(undefined);
    await Promise.all(this.workers);
  }

  private async worker(handler: KeyHandler, onError?: (key: string, err: unknown) => void): Promise<void> {
    for (;;) {
      const key = await this.get();
      if (key === undefined) return;
      const queuedAt = this.enqueuedAt.get(key) ?? this.now();
      this.enqueuedAt.delete(key);
      const start = this.now();
      let error: unknown;
      try {
        const result = await handler(key);
        this.forget(key);
        if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        error = err ?? new Error("handler failed");
        onError?.(key, err);
        this.addRateLimited(key);
      } finally {
        this.hooks.onProcessed?.(key, (start - queuedAt) / 1000, (this.now() - start) / 1000, error);
        this.done(key);
      }
    }
  }

  private push(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
    this.hooks.onDepth?.(this.length);
  }

  private pop(): string | undefined {
    if (this.head >= this.queue.length) return undefined;
    const key = this.queue[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.dirty.delete(key);
    this.processing.add(key);
    this.hooks.onDepth?.(this.length);
    return key;
  }
}
