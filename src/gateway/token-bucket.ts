/**
 * A token bucket per key: `ratePerSecond` refill up to `burst`. take() answers
 * 0 when the request may go, else the seconds until it could (Retry-After).
 * Buckets that refilled completely are dropped, so idle keys cost nothing.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
  }

  take(key: string, ratePerSecond: number, burst: number): number {
    if (ratePerSecond <= 0) return 0; // 0 = unlimited
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * ratePerSecond);
    b.at = t;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      this.buckets.set(key, b);
      return 0;
    }
    this.buckets.set(key, b);
    return Math.ceil((1 - b.tokens) / ratePerSecond);
  }

  /** Forgets full buckets (call now and then). */
  sweep(ratePerSecond: number, burst: number): void {
    const t = this.now();
    for (const [k, b] of this.buckets)
      if (b.tokens + ((t - b.at) / 1000) * ratePerSecond >= burst) this.buckets.delete(k);
  }

  get size(): number {
    return this.buckets.size;
  }
}
