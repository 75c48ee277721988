import { isHandedBack, takeBack } from "../api/execution-lifecycle.ts";
import type { Execution } from "../api/index.ts";
import type { KubeClient } from "../k8s/client.ts";
import { isNotFound } from "../k8s/errors.ts";
import type { EventRecorder } from "../k8s/events.ts";
import type { Informer } from "../k8s/informer.ts";
import type { Operator } from "../k8s/operator.ts";
import { ExecutionResource, objectKey } from "../k8s/resources.ts";
import type { ProcessResult } from "../k8s/work-queue.ts";
import type { Logger } from "../logging.ts";
import type { ControllerMetrics } from "./metrics.ts";

export interface HandBackDeps {
  client: KubeClient;
  executions: Informer<Execution>;
  events: EventRecorder;
  metrics: ControllerMetrics;
  logger: Logger;
}

/**
 * Acts on an agent's hand-back (status.handBack of the current attempt): the
 * placement is cleared and the Execution requeued, or, with maxAttempts
 * spent, failed with TooManyAttempts (api/execution-lifecycle takeBack).
 * Keyed by Execution; a conflict is retried by the work queue.
 */
export class HandBackReconciler {
  private readonly client: HandBackDeps["client"];
  private readonly events: HandBackDeps["events"];
  private readonly executions: HandBackDeps["executions"];
  private readonly metrics: HandBackDeps["metrics"];
  private readonly maxAttempts: number;
  private readonly log: Logger;

  constructor(deps: HandBackDeps, maxAttempts = 3) {
    this.client = deps.client;
    this.events = deps.events;
    this.executions = deps.executions;
    this.metrics = deps.metrics;
    this.maxAttempts = maxAttempts;
    this.log = deps.logger.child({ controller: "hand-back" });
  }

  static setUp(op: Operator, deps: HandBackDeps, maxAttempts = 3): HandBackReconciler {
    const r = new HandBackReconciler(deps, maxAttempts);
    op.controller({ name: "hand-back", reconcile: (k) => r.reconcile(k), concurrency: 2 }).watch(
      deps.executions,
      (ev) => (ev.type !== "delete" && ev.type !== "invalid" && isHandedBack(ev.object) ? [ev.key] : []),
    );
    return r;
  }

  async reconcile(key: string): Promise<ProcessResult | undefined> {
    const e = this.executions.get(key);
    if (!e || !isHandedBack(e)) return undefined;
    const status = takeBack(e, this.maxAttempts, new Date());
    try {
      await this.client.replaceStatus(ExecutionResource, { ...e, status });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err; // a conflict: the work queue retries from the newer copy
    }
    const reason = e.status?.handBack?.reason;
    if (status.phase === "Failed") {
      this.metrics.failed.inc({ reason: "TooManyAttempts" });
      this.events.warning(e, "TooManyAttempts", "Schedule", status.message ?? "");
    } else this.metrics.rescheduled.inc();
    this.log.info({ execution: objectKey(e), reason, phase: status.phase }, "took a hand-back back");
    return undefined;
  }
}
