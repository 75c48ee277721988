import { type Condition, type Execution, ExecutionConditions } from "../api/index.ts";
import type { KubeClient } from "../k8s/client.ts";
import { rfc3339, setConditions } from "../k8s/conditions.ts";
import { isConflict, isNotFound } from "../k8s/errors.ts";
import type { EventRecorder } from "../k8s/events.ts";
import type { Informer } from "../k8s/informer.ts";
import type { Operator } from "../k8s/operator.ts";
import { ExecutionResource, type KubeObject, resourcePath } from "../k8s/resources.ts";
import type { ProcessResult } from "../k8s/work-queue.ts";
import type { ControllerMetrics } from "./metrics.ts";

type InvalidExecution = KubeObject & { status?: { phase?: string; conditions?: Condition[] } };

export interface InvalidExecutionDeps {
  client: KubeClient;
  executions: Informer<Execution>;
  events: EventRecorder;
  metrics: ControllerMetrics;
}

/**
 * Objects the apiserver accepted but our schema rejects: Failed, InvalidSpec,
 * with a merge patch of status (our types cannot describe the object).
 */
export class InvalidExecutionReconciler {
  private readonly client: InvalidExecutionDeps["client"];
  private readonly events: InvalidExecutionDeps["events"];
  private readonly executions: InvalidExecutionDeps["executions"];
  private readonly metrics: InvalidExecutionDeps["metrics"];

  constructor(deps: InvalidExecutionDeps) {
    this.client = deps.client;
    this.events = deps.events;
    this.executions = deps.executions;
    this.metrics = deps.metrics;
  }

  static setUp(op: Operator, deps: InvalidExecutionDeps): InvalidExecutionReconciler {
    const r = new InvalidExecutionReconciler(deps);
    op.controller({ name: "invalid-executions", reconcile: (k) => r.reconcile(k) }).watch(
      deps.executions,
      (ev) => (ev.type === "invalid" ? [ev.key] : []),
    );
    return r;
  }

  async reconcile(key: string): Promise<ProcessResult | undefined> {
    const bad = this.executions.invalid(key);
    if (!bad) return undefined;
    const raw = bad.raw as InvalidExecution;
    const st = raw.status && typeof raw.status === "object" ? raw.status : {};
    if (st.phase === "Succeeded" || st.phase === "Failed") return undefined;
    const message =
      `the Execution does not pass validation: ${bad.error.issues.slice(0, 5).join("; ")}`.slice(0, 4096);
    const now = new Date();
    const { conditions } = setConditions(
      Array.isArray(st.conditions) ? st.conditions : [],
      [
        { type: ExecutionConditions.Complete, status: "True", reason: "InvalidSpec", message },
        { type: ExecutionConditions.Failed, status: "True", reason: "InvalidSpec", message },
      ],
      now,
    );
    try {
      // The raw request: the answer is as invalid as the object, so it is not parsed.
      await this.client.rest.request(
        "PATCH",
        resourcePath(ExecutionResource, raw.metadata.namespace, raw.metadata.name, "status"),
        {
          body: {
            metadata: { resourceVersion: raw.metadata.resourceVersion },
            status: { phase: "Failed", message, completionTime: rfc3339(now), conditions },
          },
          contentType: "application/merge-patch+json",
        },
      );
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) return undefined;
      throw err;
    }
    this.metrics.failed.inc({ reason: "InvalidSpec" });
    this.events.warning(raw, "InvalidSpec", "Validate", message);
    return undefined;
  }
}
