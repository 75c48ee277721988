import { holdsSlot, loseNode } from "../api/execution-lifecycle.ts";
import type { Execution } from "../api/index.ts";
import type { KubeClient } from "../k8s/client.ts";
import { isConflict, isNotFound } from "../k8s/errors.ts";
import type { EventRecorder } from "../k8s/events.ts";
import type { Informer } from "../k8s/informer.ts";
import type { Operator } from "../k8s/operator.ts";
import { ExecutionResource, objectKey } from "../k8s/resources.ts";
import type { ProcessResult } from "../k8s/work-queue.ts";
import type { Logger } from "../logging.ts";
import type { ControllerMetrics } from "./metrics.ts";
import type { NodeLiveness } from "./node-liveness.ts";

export interface NodeLossDeps {
  client: KubeClient;
  executions: Informer<Execution>;
  liveness: NodeLiveness;
  events: EventRecorder;
  metrics: ControllerMetrics;
  logger: Logger;
}

/** Executions holding a slot, by the node they hold it on. */
const BY_NODE = "slotNode";

/**
 * Node-loss recovery, keyed by node: when a node is not live, each Execution
 * holding a slot on it goes back to the queue, or fails with NodeLost after
 * maxAttempts (api/execution-lifecycle loseNode). Reads only that node's
 * Executions, through an index.
 */
export class NodeLossReconciler {
  private readonly client: NodeLossDeps["client"];
  private readonly events: NodeLossDeps["events"];
  private readonly executions: NodeLossDeps["executions"];
  private readonly liveness: NodeLossDeps["liveness"];
  private readonly metrics: NodeLossDeps["metrics"];
  private readonly maxAttempts: number;
  private readonly log: Logger;

  constructor(deps: NodeLossDeps, maxAttempts = 3) {
    this.client = deps.client;
    this.events = deps.events;
    this.executions = deps.executions;
    this.liveness = deps.liveness;
    this.metrics = deps.metrics;
    this.maxAttempts = maxAttempts;
    this.log = deps.logger.child({ controller: "node-loss" });
    deps.executions.addIndex(BY_NODE, (e) => (holdsSlot(e) ? [e.status!.nodeName!] : []));
  }

  /** Wiring: liveness flips to lost, and Executions that land on a node that is not live. */
  static setUp(op: Operator, deps: NodeLossDeps, maxAttempts = 3): NodeLossReconciler {
    const r = new NodeLossReconciler(deps, maxAttempts);
    const c = op
      .controller({ name: "node-loss", reconcile: (node) => r.reconcile(node), concurrency: 2 })
      .watch(deps.executions, (ev) =>
        r.mapExecution(ev.type === "add" || ev.type === "update" ? ev.object : undefined),
      );
    // Until the Lease, Node and Worker caches are synced every node would look lost.
    for (const inf of deps.liveness.sources()) c.watch(inf, () => []);
    deps.liveness.onChange((node, live) => {
      if (!live) c.enqueue(node);
    });
    return r;
  }

  mapExecution(e: Execution | undefined): string[] {
    if (!e || !holdsSlot(e)) return [];
    const node = e.status!.nodeName!;
    return this.liveness.isLive(node) ? [] : [node];
  }

  async reconcile(node: string): Promise<ProcessResult | undefined> {
    if (this.liveness.isLive(node)) return undefined;
    const why = this.liveness.whyNotLive(node);
    const now = new Date();
    let conflicts = 0;
    for (const e of this.executions.byIndex(BY_NODE, node)) {
      if (!holdsSlot(e)) continue;
      const status = loseNode(e, why, this.maxAttempts, now);
      try {
        await this.client.replaceStatus(ExecutionResource, { ...e, status });
      } catch (err) {
        if (isConflict(err)) conflicts++;
        else if (!isNotFound(err)) throw err;
        continue;
      }
      this.record(e, node, status.phase === "Failed", status.message ?? why);
    }
    // A conflict means the cache was behind: its next event (or this retry) decides again.
    return conflicts > 0 ? { requeueAfterMs: 200 } : undefined;
  }

  private record(e: Execution, node: string, failed: boolean, message: string): void {
    const attempts = e.status?.attempts ?? 1;
    if (failed) {
      this.log.warn({ execution: objectKey(e), node, attempts }, "node lost; failing execution");
      this.metrics.failed.inc({ reason: "NodeLost" });
      this.events.warning(e, "NodeLost", "Fail", message);
    } else {
      this.log.info({ execution: objectKey(e), node, attempts }, "node lost; rescheduling execution");
      this.metrics.rescheduled.inc();
      this.events.warning(e, "NodeLost", "Reschedule", message);
    }
  }
}
