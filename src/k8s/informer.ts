import type { Logger } from "../logging.ts";
import { Backoff, type BackoffOptions, sleep } from "./backoff.ts";
import type { KubeClient } from "./client.ts";
import { errText, InvalidObjectError, isGone } from "./errors.ts";
import { type KubeObject, objectKey, type ResourceType, sameSpecAs, type Validation } from "./resources.ts";

export type InformerEvent<T> =
  | { type: "add"; key: string; object: T }
  | { type: "update"; key: string; object: T; old: T }
  | { type: "delete"; key: string; object: T }
  /** The object exists but fails validation; `old` is the last valid version, if any. */
  | { type: "invalid"; key: string; raw: unknown; error: InvalidObjectError; old?: T };

export type InformerHandler<T> = (ev: InformerEvent<T>) => void;

export interface InformerOptions<T = KubeObject> {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Backoff between failed list/watch attempts; default 200 ms doubling to 30 s, ±20 %. */
  backoff?: BackoffOptions;
  /** List page size; default 500. */
  pageSize?: number;
  /** Server-side watch timeout range in seconds (randomised like client-go); default 300–600. */
  watchTimeoutSeconds?: [number, number];
  logger?: Logger;
  /**
   * Applied to every valid object before it is cached (client-go's TransformFunc):
   * keep only what the cache's readers need, so memory does not grow with what users submit.
   */
  transform?: (obj: T) => T;
  /**
   * The transform gives a copy it made the same result as the object itself
   * (it drops parts of the spec whatever the status): a status-only change may
   * reuse the cached copy's spec even where the transform cut it.
   */
  transformIdempotent?: boolean;
}

export type IndexFunc<T> = (obj: T) => string[];

/**
 * A list+watch cache of one resource type (client-go's reflector + indexer):
 * lists, then watches from the list's resourceVersion with bookmarks. Any
 * failure (apiserver down, 410 Gone, HTTP error) restarts it with exponential
 * backoff and a fresh list whose difference to the cache is delivered as
 * add/update/delete events, so no change is lost across restarts. A server-side
 * watch timeout just resumes the watch. Objects are validated with the
 * resource's schema; invalid ones are kept aside and reported.
 */
export class Informer<T extends KubeObject> {
  readonly resource: ResourceType<T>;
  private readonly client: KubeClient;
  private readonly opts: InformerOptions<T>;
  private readonly store = new Map<string, T>();
  /** Keys whose cached copy holds the spec as validated, whole (the transform kept it). */
  private readonly wholeSpec = new Set<string>();
  private readonly invalidStore = new Map<string, { raw: unknown; error: InvalidObjectError }>();
  private readonly handlers = new Set<InformerHandler<T>>();
  private readonly indexers = new Map<string, IndexFunc<T>>();
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private resourceVersion = "";
  private readonly log: Logger | undefined;
  /** Count of (re)lists, for tests and metrics. */
  lists = 0;
  /** Last error of the list/watch loop, cleared by a successful list. */
  lastError: unknown;

  constructor(client: KubeClient, resource: ResourceType<T>, opts: InformerOptions<T> = {}) {
    this.client = client;
    this.resource = resource;
    this.opts = opts;
    this.log = opts.logger?.child({
      informer: resource.kind,
      fieldSelector: opts.fieldSelector,
      labelSelector: opts.labelSelector,
    });
  }

  /** Registers a handler; returns the unsubscribe function. Handlers added late get the current objects as adds. */
  on(handler: InformerHandler<T>): () => void {
    this.handlers.add(handler);
    if (this.synced)
      for (const [key, object] of this.store) this.safeCall(handler, { type: "add", key, object });
    return () => this.handlers.delete(handler);
  }

  /** Adds an index (like client-go's Indexers); objects are indexed by every value fn returns. */
  addIndex(name: string, fn: IndexFunc<T>): void {
    this.indexers.set(name, fn);
    const index = new Map<string, Set<string>>();
    this.indices.set(name, index);
    for (const [key, obj] of this.store) this.indexOne(index, fn, key, obj);
  }

  byIndex(name: string, value: string): T[] {
    const keys = this.indices.get(name)?.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) {
      const o = this.store.get(k);
      if (o) out.push(o);
    }
    return out;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  keys(): string[] {
    return [...this.store.keys()];
  }

  /** The validation error of an object that exists but is invalid. */
  invalid(key: string): { raw: unknown; error: InvalidObjectError } | undefined {
    return this.invalidStore.get(key);
  }

  invalidKeys(): string[] {
    return [...this.invalidStore.keys()];
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves after the first complete list (or when the signal aborts). */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      this.syncWaiters.push(resolve);
      signal?.addEventListener("abort", () => resolve(), { once: true });
    });
  }

  start(): void {
    if (this.loop) return;
    this.abort = new AbortController();
    this.loop = this.run(this.abort.signal);
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    await this.loop;
    this.loop = undefined;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(this.opts.backoff ?? { baseMs: 200, maxMs: 30_000, jitter: 0.2 });
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
          backoff.reset();
        }
        await this.watchOnce(signal);
        // Normal end (server timeout): resume from the last resourceVersion.
      } catch (err) {
        if (signal.aborted) break;
        this.lastError = err;
        needList = true;
        if (isGone(err)) {
          this.log?.info({ err: String(err) }, "watch expired (410); relisting");
          continue;
        }
        const delay = backoff.next();
        this.log?.warn({ err: errText(err), retryInMs: delay }, "list/watch failed; will relist");
        await sleep(delay, signal);
      }
    }
  }

  private async relist(): Promise<void> {
    const res = await this.client.list(this.resource, {
      namespace: this.opts.namespace,
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
      limit: this.opts.pageSize ?? 500,
    });
    this.lists++;
    this.lastError = undefined;
    const seen = new Set<string>();
    for (const obj of res.items) {
      const key = objectKey(obj);
      seen.add(key);
      this.upsert(key, obj);
    }
    for (const bad of res.invalid) {
      seen.add(bad.key);
      this.markInvalid(bad.key, bad.raw, bad.error);
    }
    for (const [key, obj] of [...this.store]) if (!seen.has(key)) this.remove(key, obj);
    for (const key of [...this.invalidStore.keys()]) if (!seen.has(key)) this.invalidStore.delete(key);
    this.resourceVersion = res.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private watchOnce(signal: AbortSignal): Promise<void> {
    const [lo, hi] = this.opts.watchTimeoutSeconds ?? [300, 600];
    const timeoutSeconds = Math.floor(lo + Math.random() * (hi - lo));
    return this.client.watch(
      this.resource,
      {
        namespace: this.opts.namespace,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
      },
      (ev) => {
        const rv = (ev.object.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
        if (ev.type === "BOOKMARK") {
          if (rv) this.resourceVersion = rv;
          return;
        }
        const raw = { apiVersion: this.resource.apiVersion, kind: this.resource.kind, ...ev.object };
        const key = objectKey(raw as KubeObject);
        if (ev.type === "DELETED") {
          const old = this.store.get(key);
          this.invalidStore.delete(key);
          if (old) this.remove(key, old);
        } else {
          const v = this.sameSpec(key, raw) ?? this.resource.validate(raw);
          if (v.ok) this.upsert(key, v.object);
          else this.markInvalid(key, raw, new InvalidObjectError(this.resource.kind, key, v.issues));
        }
        if (rv) this.resourceVersion = rv;
      },
      { signal, idleTimeoutMs: (timeoutSeconds + 60) * 1000 },
    );
  }

  /**
   * A change of status or metadata only (issue 17: most watch events): the
   * cached copy's generation, so the same spec, already validated (its
   * defaults filled in); the rest the apiserver validated against the CRD's
   * schema. Undefined when the event must be validated whole.
   */
  private sameSpec(key: string, raw: Record<string, unknown>): Validation<T> | undefined {
    if (this.opts.transform && !this.opts.transformIdempotent && !this.wholeSpec.has(key)) return undefined;
    const old = this.store.get(key) as (T & { spec?: unknown }) | undefined;
    if (!old || !("spec" in old) || !sameSpecAs(this.resource, old, raw)) return undefined;
    return { ok: true, object: { ...raw, spec: old.spec } as unknown as T };
  }

  private upsert(key: string, raw: T): void {
    this.invalidStore.delete(key);
    const old = this.store.get(key);
    if (old && old.metadata.resourceVersion === raw.metadata.resourceVersion) return;
    const obj = this.opts.transform ? this.opts.transform(raw) : raw;
    this.store.set(key, obj);
    const spec = (o: T) => (o as { spec?: unknown }).spec;
    if (spec(obj) === spec(raw)) this.wholeSpec.add(key);
    else this.wholeSpec.delete(key);
    this.reindex(key, old, obj);
    this.emit(old ? { type: "update", key, object: obj, old } : { type: "add", key, object: obj });
  }

  private remove(key: string, obj: T): void {
    this.store.delete(key);
    this.wholeSpec.delete(key);
    this.reindex(key, obj, undefined);
    this.emit({ type: "delete", key, object: obj });
  }

  private markInvalid(key: string, raw: unknown, error: InvalidObjectError): void {
    const prev = this.invalidStore.get(key);
    const rv = (raw as KubeObject).metadata?.resourceVersion;
    if (prev && (prev.raw as KubeObject).metadata?.resourceVersion === rv) return;
    const old = this.store.get(key);
    if (old) {
      this.store.delete(key);
      this.reindex(key, old, undefined);
    }
    this.invalidStore.set(key, { raw, error });
    this.log?.warn({ key, issues: error.issues.slice(0, 5) }, "invalid object");
    this.emit({ type: "invalid", key, raw, error, ...(old ? { old } : {}) });
  }

  private reindex(key: string, old: T | undefined, obj: T | undefined): void {
    for (const [name, fn] of this.indexers) {
      const index = this.indices.get(name)!;
      if (old) for (const v of safeIndex(fn, old)) index.get(v)?.delete(key);
      if (obj) this.indexOne(index, fn, key, obj);
    }
  }

  private indexOne(index: Map<string, Set<string>>, fn: IndexFunc<T>, key: string, obj: T): void {
    for (const v of safeIndex(fn, obj)) {
      let set = index.get(v);
      if (!set) {
        set = new Set();
        index.set(v, set);
      }
      set.add(key);
    }
  }

  private emit(ev: InformerEvent<T>): void {
    for (const h of this.handlers) this.safeCall(h, ev);
  }

  private safeCall(h: InformerHandler<T>, ev: InformerEvent<T>): void {
    try {
      h(ev);
    } catch (err) {
      this.log?.error({ err: errText(err), key: ev.key }, "informer handler threw");
    }
  }
}

function safeIndex<T>(fn: IndexFunc<T>, obj: T): string[] {
  try {
    return fn(obj);
  } catch {
    return [];
  }
}
