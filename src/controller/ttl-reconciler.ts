import { type Execution, ExecutionConditions, isFinished } from "../api/index.ts";
import type { KubeClient } from "../k8s/client.ts";
import { getCondition } from "../k8s/conditions.ts";
import type { Informer, InformerEvent } from "../k8s/informer.ts";
import { ExecutionResource, parseTime } from "../k8s/resources.ts";
import type { ProcessResult } from "../k8s/work-queue.ts";
import type { Logger } from "../logging.ts";
import type { ControllerMetrics } from "./metrics.ts";

/** When a finished Execution is due for deletion (ms since epoch); undefined when not finished. */
export function ttlDeadline(exec: Execution, defaultTtlSeconds: number): number | undefined {
  if (!isFinished(exec.status)) return undefined;
  const finished =
    parseTime(exec.status?.completionTime) ??
    parseTime(getCondition(exec.status?.conditions, ExecutionConditions.Complete)?.lastTransitionTime) ??
    parseTime(exec.metadata.creationTimestamp);
  if (finished === undefined) return undefined;
  return finished + (exec.spec.ttlSecondsAfterFinished ?? defaultTtlSeconds) * 1000;
}

/** Deletes finished Executions ttlSecondsAfterFinished (or the default) after completion, like the Job TTL controller. */
export class TtlReconciler {
  private readonly client: KubeClient;
  private readonly executions: Informer<Execution>;
  private readonly defaultTtlSeconds: number;
  private readonly metrics: ControllerMetrics;
  private readonly log: Logger;

  constructor(opts: {
    client: KubeClient;
    executions: Informer<Execution>;
    defaultTtlSeconds: number;
    metrics: ControllerMetrics;
    logger: Logger;
  }) {
    this.client = opts.client;
    this.executions = opts.executions;
    this.defaultTtlSeconds = opts.defaultTtlSeconds;
    this.metrics = opts.metrics;
    this.log = opts.logger.child({ controller: "ttl" });
  }

  /** Only finished Executions concern this controller. */
  map = (ev: InformerEvent<Execution>): string[] =>
    ev.type !== "delete" && ev.type !== "invalid" && isFinished(ev.object.status) ? [ev.key] : [];

  async reconcile(key: string): Promise<ProcessResult | undefined> {
    const exec = this.executions.get(key);
    if (!exec || exec.metadata.deletionTimestamp) return undefined;
    const due = ttlDeadline(exec, this.defaultTtlSeconds);
    if (due === undefined) return undefined;
    const wait = due - Date.now();
    if (wait > 0) return { requeueAfterMs: wait + 10 };
    // The uid precondition keeps a re-created namesake safe.
    const deleted = await this.client.delete(ExecutionResource, exec.metadata.name!, {
      namespace: exec.metadata.namespace,
      preconditions: { uid: exec.metadata.uid },
      propagationPolicy: "Background",
    });
    if (deleted) {
      this.metrics.deletedByTtl.inc();
      this.log.info({ execution: key }, "deleted finished execution after its TTL");
    }
    return undefined;
  }
}
