import { type Execution, isFinished } from "../api/execution.ts";
import type { KubeClient } from "../k8s/client.ts";
import { Informer } from "../k8s/informer.ts";
import { ExecutionResource } from "../k8s/resources.ts";
import type { Logger } from "../logging.ts";

/** Labels on every Execution the gateway creates: its watches select on the first. */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "envicutor-gateway";
export const TENANT_LABEL = "gateway.envicutor.io/tenant";
export const API_LABEL = "gateway.envicutor.io/api";

const UNFINISHED_BY_TENANT = "unfinished-by-tenant";

type Waiter = (ex: Execution | undefined) => void;

/**
 * One informer per tenant namespace over the gateway's own Executions, shared
 * by every request: a waiting request is a callback in a map, not a watch of
 * its own, so a thousand waiting clients cost the apiserver one watch per
 * namespace. The same caches answer GET /submissions/:token and count each
 * tenant's unfinished Executions for the queue cap.
 */
export class ExecutionWatches {
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly informers = new Map<string, Informer<Execution>>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly finishedHandlers: ((ex: Execution) => void)[] = [];

  constructor(client: KubeClient, log: Logger) {
    this.client = client;
    this.log = log;
  }

  /** Watches exactly these namespaces: starts the missing informers, stops the ones no tenant uses. */
  setNamespaces(namespaces: Set<string>): void {
    for (const ns of namespaces) if (!this.informers.has(ns)) this.start(ns);
    for (const [ns, inf] of this.informers) {
      if (namespaces.has(ns)) continue;
      this.informers.delete(ns);
      void inf.stop();
      this.log.info({ namespace: ns }, "stopped watching Executions (no tenant left)");
    }
  }

  /** Called once per Execution that finishes while watched (for callbacks). */
  onFinished(fn: (ex: Execution) => void): void {
    this.finishedHandlers.push(fn);
  }

  watchCount(): number {
    return this.informers.size;
  }

  waitingCount(): number {
    let n = 0;
    for (const w of this.waiters.values()) n += w.size;
    return n;
  }

  synced(namespace: string): Promise<void> {
    return this.informer(namespace).waitForSync();
  }

  allSynced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced());
  }

  get(namespace: string, name: string): Execution | undefined {
    return this.informers.get(namespace)?.get(`${namespace}/${name}`);
  }

  unfinished(namespace: string, tenant: string): number {
    return this.informers.get(namespace)?.byIndex(UNFINISHED_BY_TENANT, tenant).length ?? 0;
  }

  /**
   * Resolves with the Execution once it is finished, or undefined when it is
   * deleted, the timeout passes or the signal aborts. Register before creating
   * the Execution, so its events cannot be missed.
   */
  waitFinished(
    namespace: string,
    name: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Execution | undefined> {
    const key = `${namespace}/${name}`;
    const now = this.get(namespace, name);
    if (now && isFinished(now.status)) return Promise.resolve(now);
    return new Promise((resolve) => {
      let set = this.waiters.get(key);
      if (!set) {
        set = new Set();
        this.waiters.set(key, set);
      }
      const done: Waiter = (ex) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const s = this.waiters.get(key);
        s?.delete(done);
        if (s?.size === 0) this.waiters.delete(key);
        resolve(ex);
      };
      const onAbort = () => done(undefined);
      const timer = setTimeout(() => done(this.get(namespace, name)), timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      set.add(done);
    });
  }

  async stop(): Promise<void> {
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w(undefined);
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
    this.informers.clear();
  }

  private informer(namespace: string): Informer<Execution> {
    return this.informers.get(namespace) ?? this.start(namespace);
  }

  private start(namespace: string): Informer<Execution> {
    const inf = new Informer(this.client, ExecutionResource, {
      namespace,
      labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}`,
      logger: this.log,
    });
    inf.addIndex(UNFINISHED_BY_TENANT, (ex) =>
      isFinished(ex.status) ? [] : [ex.metadata.labels?.[TENANT_LABEL] ?? ""],
    );
    inf.on((ev) => {
      if (ev.type === "delete") return this.wake(ev.key, undefined);
      if (ev.type !== "add" && ev.type !== "update") return;
      if (!isFinished(ev.object.status)) return;
      const wasFinished = ev.type === "update" && isFinished(ev.old.status);
      if (!wasFinished) for (const fn of this.finishedHandlers) fn(ev.object);
      this.wake(ev.key, ev.object);
    });
    this.informers.set(namespace, inf);
    inf.start();
    this.log.info({ namespace }, "watching the gateway's Executions");
    return inf;
  }

  private wake(key: string, ex: Execution | undefined): void {
    const set = this.waiters.get(key);
    if (set) for (const w of [...set]) w(ex);
  }
}
