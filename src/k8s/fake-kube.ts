import type { KubeClient, ListOptions, ListResult } from "./client.ts";
import { ConflictError, InvalidObjectError, NotFoundError } from "./errors.ts";
import { type KubeObject, objectKey, type ResourceType } from "./resources.ts";
import type { WatchEvent } from "./rest.ts";

interface Watcher {
  plural: string;
  namespace?: string;
  onEvent: (ev: WatchEvent) => void;
}

/**
 * An in-memory apiserver for unit tests and the in-process bench: list, watch
 * (resumable from a resourceVersion), get, create, conditional status writes
 * (409 on a stale resourceVersion) and merge patches of status. Objects are
 * stored as the apiserver would return them; the real Informer reads them.
 */
export class FakeKube {
  private rv = 0;
  private readonly stores = new Map<string, Map<string, KubeObject>>();
  private readonly watchers = new Set<Watcher>();
  private readonly history: { plural: string; rv: number; ev: WatchEvent }[] = [];
  /** Status writes that were accepted, and refused as conflicts. */
  writes = 0;
  conflicts = 0;
  /** Called before each status write; throw to fail it. */
  beforeWrite?: (obj: KubeObject) => void;
  /** Each status write takes this long before it is applied (a real apiserver's round trip). */
  writeDelayMs = 0;
  /** Called after each accepted status write with the stored object. */
  afterWrite?: (obj: KubeObject) => void;

  private store(plural: string): Map<string, KubeObject> {
    let s = this.stores.get(plural);
    if (!s) {
      s = new Map();
      this.stores.set(plural, s);
    }
    return s;
  }

  /** Creates or replaces an object (a new resourceVersion) and tells the watchers. */
  put<T extends KubeObject>(res: ResourceType<T>, obj: T | KubeObject): T {
    const s = this.store(res.plural);
    const key = objectKey(obj);
    const old = s.get(key);
    const type = old ? "MODIFIED" : "ADDED";
    const stored = structuredClone({
      ...obj,
      apiVersion: res.apiVersion,
      kind: res.kind,
      metadata: {
        uid: `uid-${key}`,
        creationTimestamp: new Date(0).toISOString(),
        generation: 1,
        ...obj.metadata,
        ...(old ? { generation: nextGeneration(old, obj) } : {}),
        resourceVersion: String(++this.rv),
      },
    }) as KubeObject;
    s.set(key, stored);
    this.notify(res.plural, { type, object: stored as unknown as Record<string, unknown> });
    return structuredClone(stored) as T;
  }

  remove<T extends KubeObject>(res: ResourceType<T>, key: string): void {
    const s = this.store(res.plural);
    const old = s.get(key);
    if (!old) return;
    s.delete(key);
    const object = { ...old, metadata: { ...old.metadata, resourceVersion: String(++this.rv) } };
    this.notify(res.plural, { type: "DELETED", object: object as unknown as Record<string, unknown> });
  }

  get<T extends KubeObject>(res: ResourceType<T>, key: string): T | undefined {
    const o = this.store(res.plural).get(key);
    return o ? (structuredClone(o) as T) : undefined;
  }

  list<T extends KubeObject>(res: ResourceType<T>): T[] {
    return [...this.store(res.plural).values()].map((o) => structuredClone(o) as T);
  }

  private notify(plural: string, ev: WatchEvent): void {
    this.history.push({ plural, rv: this.rv, ev });
    if (this.history.length > 100_000) this.history.splice(0, 50_000);
    for (const w of this.watchers) if (w.plural === plural && this.inNamespace(w, ev)) w.onEvent(ev);
  }

  private inNamespace(w: { namespace?: string }, ev: WatchEvent): boolean {
    const ns = (ev.object.metadata as { namespace?: string } | undefined)?.namespace;
    return !w.namespace || w.namespace === ns;
  }

  private writeStatus<T extends KubeObject>(res: ResourceType<T>, obj: KubeObject, status: unknown): T {
    const key = objectKey(obj);
    const cur = this.store(res.plural).get(key);
    if (!cur) throw new NotFoundError(`${res.kind} ${key} not found`, {});
    this.beforeWrite?.(obj);
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && rv !== cur.metadata.resourceVersion) {
      this.conflicts++;
      throw new ConflictError(`${res.kind} ${key}: the object has been modified`, {});
    }
    this.writes++;
    const stored = this.put(res, { ...cur, status } as KubeObject);
    this.afterWrite?.(stored);
    return stored;
  }

  /** The KubeClient methods informers, controllers and agents use. */
  client(): KubeClient {
    const fake = {
      list: (res: ResourceType<KubeObject>, opts: ListOptions = {}) =>
        Promise.resolve(this.listResult(res, opts)),
      watch: this.watchFor.bind(this),
      get: async <T extends KubeObject>(res: ResourceType<T>, name: string, namespace?: string) => {
        const o = this.get(res, namespace ? `${namespace}/${name}` : name);
        if (!o) throw new NotFoundError(`${res.kind} ${name} not found`, {});
        return parse(res, o);
      },
      tryGet: async <T extends KubeObject>(res: ResourceType<T>, name: string, namespace?: string) => {
        const o = this.get(res, namespace ? `${namespace}/${name}` : name);
        return o ? parse(res, o) : undefined;
      },
      replaceStatus: async <T extends KubeObject>(res: ResourceType<T>, obj: KubeObject) => {
        if (this.writeDelayMs > 0) await new Promise((r) => setTimeout(r, this.writeDelayMs));
        return parse(res, this.writeStatus(res, obj, (obj as { status?: unknown }).status));
      },
    };
    return fake as unknown as KubeClient;
  }

  private listResult<T extends KubeObject>(res: ResourceType<T>, opts: ListOptions): ListResult<T> {
    const out: ListResult<T> = { items: [], invalid: [], resourceVersion: String(this.rv) };
    for (const raw of this.store(res.plural).values()) {
      if (opts.namespace && raw.metadata.namespace !== opts.namespace) continue;
      const v = res.validate(structuredClone(raw));
      if (v.ok) out.items.push(v.object);
      else {
        const key = objectKey(raw);
        out.invalid.push({ key, raw, error: new InvalidObjectError(res.kind, key, v.issues) });
      }
    }
    return out;
  }

  /** A watch from a resourceVersion: the events after it, then live ones until the signal aborts. */
  private watchFor(
    res: ResourceType<KubeObject>,
    q: { namespace?: string; resourceVersion?: string },
    onEvent: (ev: WatchEvent) => void,
    opts: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const from = Number(q.resourceVersion ?? this.rv);
    const w: Watcher = { plural: res.plural, namespace: q.namespace, onEvent };
    for (const h of this.history)
      if (h.plural === res.plural && h.rv > from && this.inNamespace(w, h.ev)) onEvent(h.ev);
    this.watchers.add(w);
    return new Promise((resolve) => {
      const end = () => {
        this.watchers.delete(w);
        resolve();
      };
      if (opts.signal?.aborted) end();
      opts.signal?.addEventListener("abort", end, { once: true });
    });
  }
}

function parse<T extends KubeObject>(res: ResourceType<T>, raw: unknown): T {
  const v = res.validate(raw);
  if (!v.ok) throw new InvalidObjectError(res.kind, objectKey(raw as KubeObject), v.issues);
  return v.object;
}

/** As the apiserver counts it for a custom resource: one more when the spec changed. */
function nextGeneration(old: KubeObject, obj: KubeObject): number {
  const generation = old.metadata.generation ?? 1;
  const spec = (o: KubeObject) => JSON.stringify((o as { spec?: unknown }).spec);
  return spec(old) === spec(obj) ? generation : generation + 1;
}
