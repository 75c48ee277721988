import { setTimeout as sleep } from "node:timers/promises";
import { isRetryable } from "./errors.ts";

/** Runs at most `concurrency` tasks at once (installs are heavy: CPU, disk, network). */
export function createLimiter(concurrency: number): <T>(task: () => Promise<T>) => Promise<T> {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error("concurrency must be ≥ 1");
  let running = 0;
  const waiting: Array<() => void> = [];
  const next = () => {
    if (running >= concurrency) return;
    const start = waiting.shift();
    if (start) {
      running++;
      start();
    }
  };
  return <T>(task: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      waiting.push(() => {
        task()
          .then(resolve, reject)
          .finally(() => {
            running--;
            next();
          });
      });
      next();
    });
}

export interface RetryOptions {
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  retryable?: (err: unknown) => boolean;
  signal?: AbortSignal;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** Exponential backoff with full jitter; the last error is thrown. */
export async function retryWithBackoff<T>(
  fn: (attempt: number) => Promise<T>,
  opts: RetryOptions = {},
): Promise<T> {
  const attempts = opts.attempts ?? 3;
  const base = opts.baseDelayMs ?? 2_000;
  const max = opts.maxDelayMs ?? 60_000;
  const retryable = opts.retryable ?? isRetryable;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || !retryable(err) || opts.signal?.aborted) throw err;
      const delay = Math.round(Math.random() * Math.min(max, base * 2 ** (attempt - 1)));
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, undefined, opts.signal ? { signal: opts.signal } : {});
    }
  }
}
