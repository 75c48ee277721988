import { AGENT_LEASE_PREFIX, NODE_LABEL, type Worker } from "../api/index.ts";
import type { KubeClient } from "../k8s/client.ts";
import type { Informer } from "../k8s/informer.ts";
import { type LongTimer, setLongTimeout } from "../k8s/long-timer.ts";
import { type KubeObject, type Lease, LeaseResource, type Node, parseTime } from "../k8s/resources.ts";
import type { NodeView } from "./runtime-status.ts";
import { TokenBucket } from "./token-bucket.ts";

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

export interface NodeLivenessOptions {
  leases: Informer<Lease>;
  nodes: Informer<Node>;
  workers: Informer<Worker>;
  /** Reads a Lease from the apiserver before a node is declared lost; without it, no confirmation. */
  client?: KubeClient;
  /** Namespace of the agent Leases (for the confirming read). */
  namespace?: string;
  /** Node-loss decisions per second (a token bucket), and how many may be saved up; default 1 and 5. */
  lossPerSecond?: number;
  lossBurst?: number;
  now?: () => number;
}

/**
 * Tracks which nodes are live (agent Lease unexpired and Node object present)
 * from the Lease, Node and Worker informers, and calls back when a node's
 * liveness flips. A node turns live at once. It is lost at once when its Node
 * or Lease is deleted; when its Lease merely looks expired (a timer per node:
 * expiry produces no watch event) the decision is confirmed with a read of
 * the Lease as the apiserver has it, and decisions are rate-limited, so a
 * stalled watch or an apiserver restart cannot mark every node lost at once.
 */
export class NodeLiveness {
  private readonly o: NodeLivenessOptions;
  private readonly leases: Informer<Lease>;
  private readonly nodes: Informer<Node>;
  private readonly workers: Informer<Worker>;
  private readonly now: () => number;
  private readonly expiry = new Map<string, number>();
  private readonly timers = new Map<string, LongTimer>();
  private readonly decided = new Map<string, boolean>();
  private readonly confirming = new Set<string>();
  private readonly lossBucket: TokenBucket;
  private readonly listeners = new Set<(node: string, live: boolean) => void>();
  private readonly offs: (() => void)[] = [];
  private stopped = false;

  constructor(opts: NodeLivenessOptions) {
    this.o = opts;
    this.leases = opts.leases;
    this.nodes = opts.nodes;
    this.workers = opts.workers;
    this.now = opts.now ?? Date.now;
    this.lossBucket = new TokenBucket(opts.lossPerSecond ?? 1, opts.lossBurst ?? 5, this.now);
    this.workers.addIndex("nodeName", (w) => [w.spec.nodeName]);
    this.offs.push(
      this.leases.on((ev) => {
        const obj = ev.type === "invalid" ? ev.old : ev.object;
        const node = obj && leaseNode(obj);
        if (!node) return;
        if (ev.type === "add" || ev.type === "update") this.setExpiry(node, ev.object);
        else this.expiry.delete(node);
        this.check(node, ev.type !== "delete");
      }),
      this.nodes.on((ev) => this.check(ev.key, false)),
      this.workers.on((ev) => {
        const w = ev.type === "invalid" ? ev.old : ev.object;
        if (w) this.check(w.spec.nodeName, true);
      }),
    );
  }

  /** The informers liveness is decided from: a controller that reads liveness waits for their sync. */
  sources(): Informer<KubeObject>[] {
    return [this.leases, this.nodes, this.workers] as unknown as Informer<KubeObject>[];
  }

  /** The decision: live until a loss was decided (see the class comment). */
  isLive(node: string): boolean {
    return this.decided.get(node) ?? false;
  }

  /** Agent Lease unexpired and the Node object exists, by the cache alone. */
  private looksLive(node: string): boolean {
    const at = this.expiry.get(node);
    return at !== undefined && at > this.now() && this.nodes.get(node) !== undefined;
  }

  private setExpiry(node: string, lease: Lease): void {
    const at = leaseExpiry(lease, this.now());
    if (at === undefined) this.expiry.delete(node);
    else this.expiry.set(node, at);
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
    const node = this.nodes.get(name);
    return {
      name,
      worker,
      labels: node?.metadata.labels,
      live: this.isLive(name),
      cordoned: node?.spec?.unschedulable === true,
    };
  }

  stop(): void {
    this.stopped = true;
    for (const off of this.offs) off();
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  /** `confirm`: a loss seen only as an expiry is confirmed (and rate-limited) before it is decided. */
  private check(node: string, confirm = true): void {
    this.timers.get(node)?.cancel();
    this.timers.delete(node);
    if (this.looksLive(node)) {
      this.decide(node, true);
      const at = this.expiry.get(node)!;
      // A Lease's duration is anyone's int32 seconds: a plain setTimeout would overflow and spin.
      this.arm(node, Math.max(0, at - this.now()) + 5);
      return;
    }
    if (!this.isLive(node)) return;
    const expiredOnly = confirm && this.nodes.get(node) !== undefined && this.expiry.has(node);
    if (!expiredOnly || !this.o.client) this.decide(node, false);
    else void this.confirmLoss(node);
  }

  private arm(node: string, ms: number): void {
    this.timers.get(node)?.cancel();
    this.timers.set(
      node,
      setLongTimeout(() => this.check(node), ms, { unref: true }),
    );
  }

  /** Reads the Lease as the apiserver has it; lost only if it is still expired (and a token is left). */
  private async confirmLoss(node: string): Promise<void> {
    if (this.confirming.has(node)) return;
    if (!this.lossBucket.take()) {
      this.arm(node, 1000);
      return;
    }
    this.confirming.add(node);
    try {
      const lease = await this.o.client!.tryGet(
        LeaseResource,
        `${AGENT_LEASE_PREFIX}${node}`,
        this.o.namespace,
      );
      if (this.stopped) return;
      if (lease) this.setExpiry(node, lease);
      else this.expiry.delete(node);
      if (this.looksLive(node)) this.check(node);
      else this.decide(node, false);
    } catch {
      // The apiserver cannot say: no decision; ask again later.
      if (!this.stopped) this.arm(node, 2000);
    } finally {
      this.confirming.delete(node);
    }
  }

  private decide(node: string, live: boolean): void {
    const before = this.decided.get(node) ?? false;
    this.decided.set(node, live);
    if (live !== before) for (const l of this.listeners) l(node, live);
  }
}
