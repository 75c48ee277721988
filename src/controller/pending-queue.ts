import { isPending } from "../api/execution-lifecycle.ts";
import { type Execution, ExecutionConditions } from "../api/index.ts";
import { getCondition } from "../k8s/conditions.ts";
import { objectKey, parseTime } from "../k8s/resources.ts";
import { Heap } from "./heap.ts";

/** What the queue keeps of a pending Execution: its order and where it belongs. */
export interface PendingEntry {
  key: string;
  namespace: string;
  runtime: string;
  priority: number;
  created: number;
  name: string;
  attempts: number;
  /** The reason of its Scheduled=False condition, if it has one (waiting writes skip those). */
  waitReason?: string;
}

/** Priority descending, then oldest first, then name (stable). */
export function before(a: PendingEntry, b: PendingEntry): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.created !== b.created) return a.created < b.created;
  return a.name < b.name;
}

export function entryOf(e: Execution): PendingEntry {
  const sched = getCondition(e.status?.conditions, ExecutionConditions.Scheduled);
  return {
    key: objectKey(e),
    namespace: e.metadata.namespace ?? "",
    runtime: e.spec.runtime,
    priority: e.spec.priority ?? 0,
    created: parseTime(e.metadata.creationTimestamp) ?? 0,
    name: e.metadata.name ?? "",
    attempts: e.status?.attempts ?? 0,
    ...(sched?.status === "False" ? { waitReason: sched.reason } : {}),
  };
}

/** One heap of a namespace's Executions of one Runtime; entries no longer live are skipped lazily. */
class RuntimeQueue {
  readonly heap = new Heap<PendingEntry>(before);
  live = 0;
  /** Live entries not yet told why they wait (no Scheduled=False), and those told. */
  readonly untold = new Set<string>();
  readonly told = new Set<string>();
  /** The reason this queue's Executions were last told; when it changes they are told again. */
  reason: string | undefined;

  tell(e: PendingEntry): void {
    if (e.waitReason === undefined) {
      this.untold.add(e.key);
      this.told.delete(e.key);
    } else {
      this.untold.delete(e.key);
      this.told.add(e.key);
    }
  }

  /** The wait's reason changed (a cordon, a Runtime no longer Ready): those told another of `retold` are untold again. */
  retell(reason: string, retold: ReadonlySet<string>, entries: Map<string, PendingEntry>): void {
    if (this.reason === reason) return;
    this.reason = reason;
    for (const key of this.told) {
      const was = entries.get(key)?.waitReason;
      if (was === reason || was === undefined || !retold.has(was)) continue;
      this.told.delete(key);
      this.untold.add(key);
    }
  }
}

/**
 * The pending Executions, kept up to date by informer events (never rebuilt by
 * a pass over all of them): per namespace, one heap per Runtime, so a Runtime
 * that cannot be placed now does not hold up the namespace's others. The
 * placement loop reads heads only.
 */
export class PendingQueue {
  private readonly entries = new Map<string, PendingEntry>();
  private readonly queues = new Map<string, Map<string, RuntimeQueue>>();

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** An informer's view of one key: queued when pending, removed otherwise (undefined = deleted). */
  observe(key: string, e: Execution | undefined): void {
    if (e && isPending(e)) this.upsert(entryOf(e));
    else this.remove(key);
  }

  upsert(entry: PendingEntry): void {
    const old = this.entries.get(entry.key);
    if (old && sameSlot(old, entry)) {
      old.waitReason = entry.waitReason;
      old.attempts = entry.attempts;
      this.queues.get(old.namespace)?.get(old.runtime)?.tell(old);
      return;
    }
    if (old) this.remove(old.key);
    this.entries.set(entry.key, entry);
    const q = this.queue(entry.namespace, entry.runtime);
    q.heap.push(entry);
    q.live++;
    q.tell(entry);
  }

  remove(key: string): void {
    const old = this.entries.get(key);
    if (!old) return;
    this.entries.delete(key);
    const q = this.queues.get(old.namespace)?.get(old.runtime);
    if (!q) return;
    q.live--;
    q.untold.delete(key);
    q.told.delete(key);
  }

  /** Namespaces with anything queued. */
  namespaces(): IterableIterator<string> {
    return this.queues.keys();
  }

  /** The first entry of a namespace among Runtimes `skip` does not rule out. */
  head(namespace: string, skip: (runtime: string) => boolean): PendingEntry | undefined {
    let best: PendingEntry | undefined;
    for (const [runtime, q] of this.queues.get(namespace) ?? []) {
      if (skip(runtime)) continue;
      const h = this.top(namespace, runtime, q);
      if (h && (!best || before(h, best))) best = h;
    }
    return best;
  }

  /**
   * Up to `n` entries of one Runtime queue not yet told why they wait; with `why`, also those
   * told another of `why.retold` (once per change of reason: a pass over that queue's told only).
   */
  untold(
    namespace: string,
    runtime: string,
    n: number,
    why?: { reason: string; retold: ReadonlySet<string> },
  ): PendingEntry[] {
    const out: PendingEntry[] = [];
    const q = this.queues.get(namespace)?.get(runtime);
    if (!q || n <= 0) return out;
    if (why) q.retell(why.reason, why.retold, this.entries);
    for (const key of q.untold) {
      const e = this.entries.get(key);
      if (e) out.push(e);
      if (out.length >= n) break;
    }
    return out;
  }

  private top(namespace: string, runtime: string, q: RuntimeQueue): PendingEntry | undefined {
    for (;;) {
      const h = q.heap.peek();
      if (!h) break;
      if (this.entries.get(h.key) === h) return h;
      q.heap.pop();
    }
    if (q.live <= 0) this.drop(namespace, runtime);
    return undefined;
  }

  private queue(namespace: string, runtime: string): RuntimeQueue {
    let byRuntime = this.queues.get(namespace);
    if (!byRuntime) {
      byRuntime = new Map();
      this.queues.set(namespace, byRuntime);
    }
    let q = byRuntime.get(runtime);
    if (!q) {
      q = new RuntimeQueue();
      byRuntime.set(runtime, q);
    }
    // Lazy deletion leaves dead entries behind: compact when they outnumber the live ones.
    if (q.heap.size > 2 * q.live + 64) q.heap.filter((e) => this.entries.get(e.key) === e);
    return q;
  }

  private drop(namespace: string, runtime: string): void {
    const byRuntime = this.queues.get(namespace);
    byRuntime?.delete(runtime);
    if (byRuntime?.size === 0) this.queues.delete(namespace);
  }
}

function sameSlot(a: PendingEntry, b: PendingEntry): boolean {
  return (
    a.namespace === b.namespace &&
    a.runtime === b.runtime &&
    a.priority === b.priority &&
    a.created === b.created &&
    a.name === b.name
  );
}
