import { AGENT_LEASE_PREFIX, NODE_LABEL, type Worker } from "../api/index.ts";
import type { Informer } from "../k8s/informer.ts";
import { type LongTimer, setLongTimeout } from "../k8s/long-timer.ts";
import { type Lease, type Node, parseTime } from "../k8s/resources.ts";
import type { NodeView } from "./runtime-status.ts";

/** The node an agent heartbeat Lease belongs to: its node label, else its name without the prefix. */
export function leaseNode(lease: Lease): string | undefined {
  const label = lease.metadata.labels?.[NODE_LABEL];
  if (label) return label;
  const name = lease.metadata.name ?? "";
  return name.startsWith(AGENT_LEASE_PREFIX) ? name.slice(AGENT_LEASE_PREFIX.length) : undefined;
}

/**
 * When an agent Lease expires: renewTime + leaseDurationSeconds, where a
 * renewTime in the future (agent clock ahead) counts as now. An agent whose
 * clock is behind looks older, so skew shortens the window rather than
 * keeping a dead node alive. Undefined when the Lease has no renewTime.
 */
export function leaseExpiry(lease: Lease, now: number): number | undefined {
  const renew = parseTime(lease.spec?.renewTime);
  if (renew === undefined) return undefined;
  const duration = (lease.spec?.leaseDurationSeconds ?? 40) * 1000;
  return Math.min(renew, now) + duration;
}

/**
 * Tracks which nodes are live (agent Lease unexpired and Node object present)
 * from the Lease, Node and Worker informers, and calls back when a node's
 * liveness flips, including when a Lease silently expires (a timer per node:
 * expiry produces no watch event).
 */
export class NodeLiveness {
  private readonly leases: Informer<Lease>;
  private readonly nodes: Informer<Node>;
  private readonly workers: Informer<Worker>;
  private readonly now: () => number;
  private readonly expiry = new Map<string, number>();
  private readonly timers = new Map<string, LongTimer>();
  private readonly lastLive = new Map<string, boolean>();
  private readonly listeners = new Set<(node: string, live: boolean) => void>();
  private readonly offs: (() => void)[] = [];

  constructor(opts: {
    leases: Informer<Lease>;
    nodes: Informer<Node>;
    workers: Informer<Worker>;
    now?: () => number;
  }) {
    this.leases = opts.leases;
    this.nodes = opts.nodes;
    this.workers = opts.workers;
    this.now = opts.now ?? Date.now;
    this.workers.addIndex("nodeName", (w) => [w.spec.nodeName]);
    this.offs.push(
      this.leases.on((ev) => {
        const obj = ev.type === "invalid" ? ev.old : ev.object;
        const node = obj && leaseNode(obj);
        if (!node) return;
        if (ev.type === "add" || ev.type === "update") {
          const at = leaseExpiry(ev.object, this.now());
          if (at === undefined) this.expiry.delete(node);
          else this.expiry.set(node, at);
        } else this.expiry.delete(node);
        this.check(node);
      }),
      this.nodes.on((ev) => this.check(ev.key)),
      this.workers.on((ev) => {
        const w = ev.type === "invalid" ? ev.old : ev.object;
        if (w) this.check(w.spec.nodeName);
      }),
    );
  }

  /** Agent Lease unexpired and the Node object exists. */
  isLive(node: string): boolean {
    const at = this.expiry.get(node);
    return at !== undefined && at > this.now() && this.nodes.get(node) !== undefined;
  }

  /** Why a node is not live, for messages. */
  whyNotLive(node: string): string {
    if (this.nodes.get(node) === undefined) return `node ${node} was deleted`;
    const at = this.expiry.get(node);
    if (at === undefined) return `node ${node} has no agent lease`;
    return `agent lease of node ${node} expired at ${new Date(at).toISOString()}`;
  }

  /** Calls back on every liveness flip of a node. */
  onChange(cb: (node: string, live: boolean) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  worker(node: string): Worker | undefined {
    return this.workers.byIndex("nodeName", node)[0];
  }

  /** Every node with a Worker, as the runtime and scheduling logic sees it. */
  views(): NodeView[] {
    return this.workers.list().map((worker) => this.view(worker));
  }

  view(worker: Worker): NodeView {
    const name = worker.spec.nodeName;
    return { name, worker, labels: this.nodes.get(name)?.metadata.labels, live: this.isLive(name) };
  }

  stop(): void {
    for (const off of this.offs) off();
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  private check(node: string): void {
    const live = this.isLive(node);
    const before = this.lastLive.get(node) ?? false;
    this.lastLive.set(node, live);
    const t = this.timers.get(node);
    t?.cancel();
    this.timers.delete(node);
    if (live) {
      const at = this.expiry.get(node)!;
      // A Lease's duration is anyone's int32 seconds: a plain setTimeout would overflow and spin.
      const timer = setLongTimeout(() => this.check(node), Math.max(0, at - this.now()) + 5, { unref: true });
      this.timers.set(node, timer);
    }
    if (live !== before) for (const l of this.listeners) l(node, live);
  }
}
