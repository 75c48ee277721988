import type { Informer } from "../k8s/informer.ts";
import type { KubeObject } from "../k8s/resources.ts";

/**
 * Our own writes, laid over an informer cache until the informer catches up
 * (kube-scheduler's "assume"): right after assigning an Execution the informer
 * may still show it Pending, and the next pass would count its slot as free.
 * An entry is dropped at the next informer event for its key (every change is
 * delivered in order, so that event is our write or a later one), or after a
 * safety timeout.
 */
export class AssumedCache<T extends KubeObject> {
  private readonly informer: Informer<T>;
  private readonly overlay = new Map<string, { obj: T; at: number }>();
  private readonly ttlMs: number;
  private readonly off: () => void;

  constructor(informer: Informer<T>, ttlMs = 30_000) {
    this.informer = informer;
    this.ttlMs = ttlMs;
    this.off = informer.on((ev) => this.overlay.delete(ev.key));
  }

  /** Records the object we wrote over `baseResourceVersion` (the version our write was conditional on). */
  assume(key: string, written: T, baseResourceVersion: string | undefined): void {
    // If the informer already moved past the version we based the write on, it has our write or newer.
    if (this.informer.get(key)?.metadata.resourceVersion !== baseResourceVersion) return;
    this.overlay.set(key, { obj: written, at: Date.now() });
  }

  get(key: string): T | undefined {
    const o = this.overlay.get(key);
    if (o && Date.now() - o.at < this.ttlMs) return o.obj;
    if (o) this.overlay.delete(key);
    return this.informer.get(key);
  }

  list(): T[] {
    if (this.overlay.size === 0) return this.informer.list();
    return this.informer.keys().map((k) => this.get(k)!);
  }

  stop(): void {
    this.off();
  }
}
