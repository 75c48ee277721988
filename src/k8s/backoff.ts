/** Exponential backoff: base · 2^attempt, capped at max, with optional ± jitter. */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Fraction of random spread, e.g. 0.2 → ±20 %. Default 0. */
  jitter?: number;
}

/** Delay before retry number `attempt` (0-based). */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions,
  random: () => number = Math.random,
): number {
  const exp = opts.baseMs * 2 ** Math.min(Math.max(attempt, 0), 52);
  const capped = Math.min(exp, opts.maxMs);
  const j = opts.jitter ?? 0;
  if (j <= 0) return capped;
  return Math.max(0, Math.round(capped * (1 - j + 2 * j * random())));
}

/** Stateful backoff for one loop: next() grows, reset() after a success. */
export class Backoff {
  private attempt = 0;
  private readonly opts: BackoffOptions;
  private readonly random: () => number;
  constructor(opts: BackoffOptions, random: () => number = Math.random) {
    this.opts = opts;
    this.random = random;
  }
  next(): number {
    return backoffDelay(this.attempt++, this.opts, this.random);
  }
  reset(): void {
    this.attempt = 0;
  }
  get attempts(): number {
    return this.attempt;
  }
}

/** Resolves after ms, or early (without error) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
