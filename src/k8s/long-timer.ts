/**
 * setTimeout fires at once (with a TimeoutOverflowWarning) for a delay above
 * 2^31-1 ms, about 24.8 days. Delays that come from user input (a TTL of 30
 * days, a Lease's duration) go through this helper instead: it waits in
 * chunks no longer than that and fires once, at the end.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export interface LongTimer {
  cancel(): void;
}

/** Calls `fn` once after `ms` (any length; NaN or negative is 0, Infinity is never). */
export function setLongTimeout(fn: () => void, ms: number, opts: { unref?: boolean } = {}): LongTimer {
  let remaining = Number.isNaN(ms) ? 0 : Math.max(0, ms);
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const step = Math.min(remaining, MAX_TIMEOUT_MS);
    remaining -= step;
    timer = setTimeout(() => (remaining > 0 ? arm() : fn()), step);
    if (opts.unref) timer.unref?.();
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}
