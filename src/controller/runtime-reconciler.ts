import {
  type Condition,
  RUNTIME_CLEANUP_FINALIZER,
  type Runtime,
  RuntimeConditions,
  type Worker,
} from "../api/index.ts";
import type { KubeClient } from "../k8s/client.ts";
import { getCondition, setCondition, setConditions } from "../k8s/conditions.ts";
import type { EventRecorder } from "../k8s/events.ts";
import { addFinalizer, isDeleting, removeFinalizer } from "../k8s/finalizers.ts";
import type { Informer, InformerEvent } from "../k8s/informer.ts";
import { type KubeObject, type Node, RuntimeResource, resourcePath } from "../k8s/resources.ts";
import type { ProcessResult } from "../k8s/work-queue.ts";
import type { Logger } from "../logging.ts";
import type { NodeLiveness } from "./node-liveness.ts";
import { assessRuntime, RuntimeReasons, statusEqual } from "./runtime-status.ts";

export interface RuntimeReconcilerOptions {
  client: KubeClient;
  runtimes: Informer<Runtime>;
  workers: Informer<Worker>;
  liveness: NodeLiveness;
  events: EventRecorder;
  logger: Logger;
}

/**
 * Keeps each Runtime's status (counters, failures, Ready/ClosureMismatch/
 * Terminating conditions, active generation) equal to what the nodes report,
 * and holds its deletion with a finalizer until no live node lists it.
 */
export class RuntimeReconciler {
  private readonly o: RuntimeReconcilerOptions;
  private readonly log: Logger;

  constructor(opts: RuntimeReconcilerOptions) {
    this.o = opts;
    this.log = opts.logger.child({ controller: "runtime" });
  }

  /** Worker events: its Runtimes when only their entries changed; every Runtime when it came or went. */
  mapWorker = (ev: InformerEvent<Worker>): string[] => {
    if (ev.type === "update") {
      const names = new Set<string>();
      const before = new Map(
        (ev.old.status?.runtimes ?? []).map((e) => [`${e.name}/${e.generation}`, JSON.stringify(e)]),
      );
      const after = new Map(
        (ev.object.status?.runtimes ?? []).map((e) => [`${e.name}/${e.generation}`, JSON.stringify(e)]),
      );
      for (const [k, v] of after) if (before.get(k) !== v) names.add(k.slice(0, k.lastIndexOf("/")));
      for (const k of before.keys()) if (!after.has(k)) names.add(k.slice(0, k.lastIndexOf("/")));
      if (ev.old.status?.slots !== ev.object.status?.slots) return this.allKeys();
      return [...names];
    }
    return this.allKeys();
  };

  /** Node events: label changes and node add/delete change eligibility of every Runtime. */
  mapNode = (ev: InformerEvent<Node>): string[] => {
    if (
      ev.type === "update" &&
      JSON.stringify(ev.old.metadata.labels ?? {}) === JSON.stringify(ev.object.metadata.labels ?? {})
    )
      return [];
    return this.allKeys();
  };

  allKeys(): string[] {
    return [...this.o.runtimes.keys(), ...this.o.runtimes.invalidKeys()];
  }

  async reconcile(key: string): Promise<ProcessResult | undefined> {
    const rt = this.o.runtimes.get(key);
    if (!rt) {
      const bad = this.o.runtimes.invalid(key);
      if (bad)
        await this.reportInvalid(
          key,
          bad.raw as KubeObject & { status?: { conditions?: Condition[] } },
          bad.error.issues,
        );
      return undefined;
    }
    if (isDeleting(rt)) return this.finalize(rt);
    let current = rt;
    if (!current.metadata.finalizers?.includes(RUNTIME_CLEANUP_FINALIZER)) {
      current = await addFinalizer(this.o.client, RuntimeResource, current, RUNTIME_CLEANUP_FINALIZER);
    }
    const prevReady = getCondition(current.status?.conditions, RuntimeConditions.Ready);
    const prevFailures = new Set((current.status?.failures ?? []).map((f) => f.node));
    const a = assessRuntime(current, this.o.liveness.views());
    if (!a.changed) return undefined;
    await this.o.client.replaceStatus(RuntimeResource, { ...current, status: a.status });
    const ready = getCondition(a.status.conditions, RuntimeConditions.Ready)!;
    const generation = current.metadata.generation;
    if (a.activated) {
      const note = `generation ${a.activated.generation} is active${a.activated.closureHash ? ` (closure ${a.activated.closureHash})` : ""}`;
      this.log.info({ runtime: key, ...a.activated }, "generation activated");
      this.o.events.normal(current, "GenerationActivated", "Activate", note);
    }
    if (ready.status !== prevReady?.status) {
      this.log.info(
        { runtime: key, ready: ready.status, reason: ready.reason, generation },
        "readiness changed",
      );
      if (ready.status === "True") this.o.events.normal(current, "Ready", "Reconcile", ready.message);
      else this.o.events.warning(current, ready.reason, "Reconcile", ready.message);
    }
    for (const f of a.status.failures ?? []) {
      if (!prevFailures.has(f.node))
        this.o.events.warning(
          current,
          "InstallFailed",
          "Install",
          `generation ${generation} on node ${f.node}: ${f.message}`,
        );
    }
    if (
      a.mismatchNodes.length &&
      getCondition(current.status?.conditions, RuntimeConditions.ClosureMismatch)?.status !== "True"
    ) {
      this.o.events.warning(
        current,
        "ClosureMismatch",
        "Reconcile",
        getCondition(a.status.conditions, RuntimeConditions.ClosureMismatch)!.message,
      );
    }
    return undefined;
  }

  /** Deleting: wait until no live node lists any generation of it, then lift the finalizer. */
  private async finalize(rt: Runtime): Promise<ProcessResult | undefined> {
    if (!rt.metadata.finalizers?.includes(RUNTIME_CLEANUP_FINALIZER)) return undefined;
    const name = rt.metadata.name!;
    const holding = this.o.workers
      .list()
      .filter((w) => this.o.liveness.isLive(w.spec.nodeName))
      .filter((w) =>
        (w.status?.runtimes ?? []).some(
          (e) => e.name === name && (!e.uid || !rt.metadata.uid || e.uid === rt.metadata.uid),
        ),
      )
      .map((w) => w.spec.nodeName)
      .sort();
    if (holding.length === 0) {
      await removeFinalizer(this.o.client, RuntimeResource, rt, RUNTIME_CLEANUP_FINALIZER);
      this.log.info({ runtime: name }, "all nodes removed the runtime; finalizer lifted");
      this.o.events.normal(rt, "CleanedUp", "Delete", "no live node holds this Runtime any more");
      return undefined;
    }
    const message = `waiting for ${holding.length} node(s) to remove it: ${holding.slice(0, 10).join(", ")}${holding.length > 10 ? ", ..." : ""}`;
    const { conditions, changed } = setConditions(rt.status?.conditions, [
      {
        type: RuntimeConditions.Terminating,
        status: "True",
        reason: RuntimeReasons.Deleting,
        message,
        observedGeneration: rt.metadata.generation,
      },
    ]);
    if (changed) {
      const status = { ...rt.status, conditions };
      if (!statusEqual(status, rt.status))
        await this.o.client.replaceStatus(RuntimeResource, { ...rt, status });
    }
    return undefined;
  }

  /** A Runtime our schema rejects: Ready=False InvalidSpec, written without parsing the object back. */
  private async reportInvalid(
    key: string,
    raw: KubeObject & { status?: { conditions?: Condition[] } },
    issues: string[],
  ): Promise<void> {
    const prev = Array.isArray(raw.status?.conditions) ? raw.status.conditions : [];
    const { conditions, changed } = setCondition(prev, {
      type: RuntimeConditions.Ready,
      status: "False",
      reason: "InvalidSpec",
      message: `the Runtime does not pass validation: ${issues.slice(0, 5).join("; ")}`,
      observedGeneration: raw.metadata.generation,
    });
    if (!changed) return;
    this.log.warn({ runtime: key, issues: issues.slice(0, 5) }, "invalid runtime");
    await this.o.client.rest.request("PATCH", resourcePath(RuntimeResource, undefined, key, "status"), {
      body: { metadata: { resourceVersion: raw.metadata.resourceVersion }, status: { conditions } },
      contentType: "application/merge-patch+json",
    });
    this.o.events.warning(raw, "InvalidSpec", "Validate", issues.slice(0, 5).join("; "));
  }
}
