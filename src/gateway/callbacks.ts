import type { Execution } from "../api/execution.ts";
import { Backoff, sleep } from "../k8s/backoff.ts";
import { errText } from "../k8s/errors.ts";
import type { Logger } from "../logging.ts";

export interface CallbackOptions {
  /** Tries per callback, the first included. */
  attempts: number;
  /** Delay before the second try; doubles per try up to maxDelayMs (±20 %). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per-try timeout. */
  timeoutMs: number;
  /** Callbacks registered and not yet delivered; more are refused (503 to the submitter). */
  maxPending: number;
  log: Logger;
  onResult?: (result: "delivered" | "retried" | "failed") => void;
}

interface Pending {
  url: string;
  render: (ex: Execution) => unknown;
}

/**
 * Judge0's callback_url: when a submission finishes, its JSON is sent with PUT
 * (as Judge0 does) to the URL the submitter gave. A try that fails (no answer
 * within the timeout, or a status other than 2xx) is retried with exponential
 * backoff up to `attempts` tries, then logged and dropped. Callbacks live in
 * this gateway's memory: a gateway that stops loses its undelivered ones.
 */
export class Callbacks {
  private readonly o: CallbackOptions;
  private readonly pending = new Map<string, Pending>();
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(opts: CallbackOptions) {
    this.o = opts;
  }

  /** Whether one more callback may be registered. */
  hasRoom(): boolean {
    return this.pending.size + this.inFlight.size < this.o.maxPending;
  }

  register(key: string, url: string, render: (ex: Execution) => unknown): void {
    this.pending.set(key, { url, render });
  }

  forget(key: string): void {
    this.pending.delete(key);
  }

  /** Hand a finished Execution in; sends its callback if one was registered here. */
  finished(ex: Execution): void {
    const key = `${ex.metadata.namespace}/${ex.metadata.name}`;
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    const job = this.deliver(key, p.url, JSON.stringify(p.render(ex))).finally(() =>
      this.inFlight.delete(job),
    );
    this.inFlight.add(job);
  }

  get size(): number {
    return this.pending.size + this.inFlight.size;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.inFlight);
  }

  private async deliver(key: string, url: string, body: string): Promise<void> {
    const backoff = new Backoff({ baseMs: this.o.baseDelayMs, maxMs: this.o.maxDelayMs, jitter: 0.2 });
    for (let attempt = 1; attempt <= this.o.attempts; attempt++) {
      let problem: string;
      try {
        const res = await fetch(url, {
          method: "PUT",
          headers: { "Content-Type": "application/json" },
          body,
          redirect: "manual",
          signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.o.timeoutMs)]),
        });
        await res.body?.cancel();
        if (res.status >= 200 && res.status < 300) {
          this.o.log.info({ key, url, attempt }, "callback delivered");
          this.o.onResult?.("delivered");
          return;
        }
        problem = `HTTP ${res.status}`;
      } catch (err) {
        problem = errText(err);
      }
      if (this.abort.signal.aborted) return;
      if (attempt === this.o.attempts) {
        this.o.log.warn({ key, url, attempts: attempt, problem }, "callback failed; giving up");
        this.o.onResult?.("failed");
        return;
      }
      const delay = backoff.next();
      this.o.log.info({ key, url, attempt, problem, retryInMs: delay }, "callback failed; will retry");
      this.o.onResult?.("retried");
      await sleep(delay, this.abort.signal);
    }
  }
}
