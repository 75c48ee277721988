import type { Logger } from "../logging.ts";
import type { BackoffOptions } from "./backoff.ts";
import { errText, isConflict } from "./errors.ts";
import type { Informer, InformerEvent } from "./informer.ts";
import type { WorkQueueMetrics } from "./metrics.ts";
import type { KubeObject } from "./resources.ts";
import { type ProcessResult, WorkQueue } from "./work-queue.ts";

/** A reconcile function: make the world match the object named by key; throw to retry with backoff. */
export type Reconciler = (key: string) => Promise<ProcessResult | undefined>;

/** Maps an informer event of any type to the keys of the controller's own objects. */
export type EventMapper<T> = (ev: InformerEvent<T>) => Iterable<string>;

export interface ControllerOptions {
  name: string;
  reconcile: Reconciler;
  /** Parallel reconciles (a key is never reconciled twice at once); default 1. */
  concurrency?: number;
  /**
   * Every object of every watched informer is delivered again this often, as an update
   * to itself through its mapper (client-go's resync), so a controller whose keys come
   * from a mapper resyncs too (0 = never).
   */
  resyncPeriodMs?: number;
  backoff?: BackoffOptions;
  logger?: Logger;
  metrics?: WorkQueueMetrics;
}

/**
 * One reconcile loop (controller-runtime's Controller): informer events are
 * mapped to keys, keys go through a rate-limited work queue, and `reconcile`
 * runs level-triggered on each key, reading state from informer caches.
 */
export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly o: ControllerOptions;
  private readonly log: Logger | undefined;
  private readonly sources: {
    informer: Informer<KubeObject>;
    off?: () => void;
    map: EventMapper<KubeObject>;
  }[] = [];
  private primary: Informer<KubeObject> | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private started = false;

  constructor(opts: ControllerOptions) {
    this.o = opts;
    this.name = opts.name;
    this.log = opts.logger?.child({ controller: opts.name });
    const m = opts.metrics;
    this.queue = new WorkQueue({
      backoff: opts.backoff,
      hooks: m
        ? {
            onAdd: () => m.adds.inc({ name: opts.name }),
            onDepth: (d) => m.depth.set({ name: opts.name }, d),
            onRetry: () => m.retries.inc({ name: opts.name }),
            onProcessed: (_k, queued, work, err) => {
              m.queueDuration.observe({ name: opts.name }, queued);
              m.workDuration.observe({ name: opts.name }, work);
              if (err) m.errors.inc({ name: opts.name });
            },
          }
        : undefined,
    });
  }

  /** The controller's own resource: each event enqueues the object's key; resync walks it. */
  watchPrimary<T extends KubeObject>(informer: Informer<T>): this {
    this.primary = informer as unknown as Informer<KubeObject>;
    return this.watch(informer, (ev) => [ev.key]);
  }

  /** A secondary resource whose events map to primary keys (like Watches + EnqueueRequestsFromMapFunc). */
  watch<T extends KubeObject>(informer: Informer<T>, map: EventMapper<T>): this {
    this.sources.push({
      informer: informer as unknown as Informer<KubeObject>,
      map: map as EventMapper<KubeObject>,
    });
    return this;
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    this.queue.addAfter(key, ms);
  }

  /** Subscribes to the informers, waits for their caches, then runs workers until stop(). */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const s of this.sources) {
      s.off = s.informer.on((ev) => this.deliver(s.map, ev));
    }
    await Promise.all(this.sources.map((s) => s.informer.waitForSync(signal)));
    if (signal?.aborted) return;
    if (this.o.resyncPeriodMs) {
      this.resyncTimer = setInterval(() => this.resync(), this.o.resyncPeriodMs);
      this.resyncTimer.unref();
    }
    this.log?.info({ concurrency: this.o.concurrency ?? 1 }, "controller started");
    this.running = this.queue.run(
      async (key) => {
        const start = Date.now();
        const r = await this.o.reconcile(key);
        this.log?.debug({ key, ms: Date.now() - start }, "reconciled");
        return r;
      },
      this.o.concurrency ?? 1,
      (key, err) => {
        // Conflicts are routine (the cache was a step behind); the retry reads the newer object.
        if (isConflict(err)) this.log?.debug({ key, err: errText(err) }, "conflict; will retry");
        else
          this.log?.warn(
            { key, err: errText(err), retries: this.queue.numRequeues(key) },
            "reconcile failed; will retry",
          );
      },
    );
  }

  /** Delivers every cached object again through its source's mapper; the primary's invalid keys too. */
  resync(): void {
    for (const s of this.sources) {
      for (const key of s.informer.keys()) {
        const object = s.informer.get(key);
        if (object) this.deliver(s.map, { type: "update", key, object, old: object });
      }
    }
    for (const k of this.primary?.invalidKeys() ?? []) this.queue.add(k);
  }

  private deliver(map: EventMapper<KubeObject>, ev: InformerEvent<KubeObject>): void {
    let keys: Iterable<string>;
    try {
      keys = map(ev);
    } catch (err) {
      this.log?.error({ err: errText(err), key: ev.key }, "event mapper threw");
      return;
    }
    for (const k of keys) this.queue.add(k);
  }

  /** Stops taking events, lets in-flight reconciles finish (queued keys are dropped). */
  async stop(): Promise<void> {
    for (const s of this.sources) s.off?.();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.queue.shutdown({ drain: false });
    await this.running;
    this.log?.info("controller stopped");
  }
}
