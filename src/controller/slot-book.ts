import { holdsSlot } from "../api/execution-lifecycle.ts";
import type { Execution } from "../api/index.ts";

/**
 * Which Executions hold a slot, per node and per namespace, kept up to date by
 * informer events and by the scheduler's own assignments ("assume": counted at
 * once, before the informer shows the write). Counts are read in O(1).
 */
export class SlotBook {
  private readonly holders = new Map<string, { node: string; namespace: string }>();
  private readonly perNode = new Map<string, number>();
  private readonly perNamespace = new Map<string, number>();

  /** An informer's (or our write's) view of one key; undefined = deleted. */
  observe(key: string, e: Execution | undefined): void {
    if (e && holdsSlot(e)) this.hold(key, e.status!.nodeName!, e.metadata.namespace ?? "");
    else this.release(key);
  }

  hold(key: string, node: string, namespace: string): void {
    const cur = this.holders.get(key);
    if (cur?.node === node && cur.namespace === namespace) return;
    if (cur) this.release(key);
    this.holders.set(key, { node, namespace });
    bump(this.perNode, node, 1);
    bump(this.perNamespace, namespace, 1);
  }

  release(key: string): void {
    const cur = this.holders.get(key);
    if (!cur) return;
    this.holders.delete(key);
    bump(this.perNode, cur.node, -1);
    bump(this.perNamespace, cur.namespace, -1);
  }

  /** Slots in use on each node (a copy the placement loop may count on). */
  nodeUsage(): Map<string, number> {
    return new Map(this.perNode);
  }

  running(namespace: string): number {
    return this.perNamespace.get(namespace) ?? 0;
  }

  get size(): number {
    return this.holders.size;
  }
}

function bump(m: Map<string, number>, k: string, d: number): void {
  const n = (m.get(k) ?? 0) + d;
  if (n <= 0) m.delete(k);
  else m.set(k, n);
}
