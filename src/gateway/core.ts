import { randomUUID } from "node:crypto";
import type { Execution, ExecutionSpec } from "../api/execution.ts";
import { API_VERSION } from "../api/group.ts";
import type { Runtime } from "../api/runtime.ts";
import type { KubeClient } from "../k8s/client.ts";
import { ApiError, errText, isTooLarge } from "../k8s/errors.ts";
import type { Informer } from "../k8s/informer.ts";
import { ExecutionResource } from "../k8s/resources.ts";
import type { Logger } from "../logging.ts";
import type { Callbacks } from "./callbacks.ts";
import type { GatewayConfig } from "./config.ts";
import {
  API_LABEL,
  type ExecutionWatches,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  TENANT_LABEL,
} from "./execution-watches.ts";
import { HttpError } from "./http-error.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { Tenant } from "./tenants.ts";

/** A created Execution the watch never shows (deleted at once) stops counting against its tenant after this. */
const UNSEEN_FORGET_MS = 60_000;

export interface SubmitOptions {
  api: "piston" | "judge0";
  spec: ExecutionSpec;
  /** Execution name; a fresh UUID when unset (Judge0's token). */
  name?: string;
  annotations?: Record<string, string>;
  /** Hold the request until it finishes (or the wait timeout). */
  wait: boolean;
  signal?: AbortSignal;
  callback?: { url: string; render: (ex: Execution) => unknown };
}

/**
 * What the Piston and Judge0 routes share: Runtimes, the tenants' shared
 * Execution watches, and submit(), which applies the queue cap and the cap on
 * waiting requests, creates the Execution in the tenant's namespace, and (for
 * wait) resolves from the watch.
 */
export class GatewayCore {
  readonly config: GatewayConfig;
  readonly client: KubeClient;
  readonly runtimes: Informer<Runtime>;
  readonly watches: ExecutionWatches;
  readonly callbacks: Callbacks;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  /** Per tenant: names created (or being created) that the watch has not shown yet, with when. */
  private readonly unseen = new Map<string, Map<string, number>>();

  constructor(o: {
    config: GatewayConfig;
    client: KubeClient;
    runtimes: Informer<Runtime>;
    watches: ExecutionWatches;
    callbacks: Callbacks;
    metrics: GatewayMetrics;
    log: Logger;
  }) {
    this.config = o.config;
    this.client = o.client;
    this.runtimes = o.runtimes;
    this.watches = o.watches;
    this.callbacks = o.callbacks;
    this.metrics = o.metrics;
    this.log = o.log;
  }

  runtimeList(): Runtime[] {
    return this.runtimes.list();
  }

  /**
   * Unfinished Executions of the tenant, counting the ones it created that the
   * watch has not brought yet: a create's answer comes before its watch event,
   * so counting only creates in flight let quick submissions past the cap.
   */
  queued(tenant: Tenant): number {
    const unseen = this.unseen.get(tenant.name);
    if (unseen) {
      const now = Date.now();
      for (const [name, at] of unseen)
        if (this.watches.get(tenant.namespace, name) || now - at > UNSEEN_FORGET_MS) unseen.delete(name);
      if (unseen.size === 0) this.unseen.delete(tenant.name);
    }
    return this.watches.unfinished(tenant.namespace, tenant.name) + (unseen?.size ?? 0);
  }

  private markUnseen(tenant: Tenant, name: string): void {
    let unseen = this.unseen.get(tenant.name);
    if (!unseen) {
      unseen = new Map();
      this.unseen.set(tenant.name, unseen);
    }
    unseen.set(name, Date.now());
  }

  /** Refuses with 503 when the tenant's queue or the gateway's waiting room is full (before anything is created). */
  admit(tenant: Tenant, count: number, wait: boolean, callback: boolean): void {
    const max = tenant.queueMax ?? this.config.queueMax;
    if (this.queued(tenant) + count > max) {
      this.metrics.rejected.inc({ reason: "queue_full" });
      throw new HttpError(503, `queue is full (${max} unfinished submissions for this token)`, {
        headers: { "Retry-After": "1" },
      });
    }
    if (wait && this.watches.waitingCount() + count > this.config.maxWaiting) {
      this.metrics.rejected.inc({ reason: "too_many_waiting" });
      throw new HttpError(503, `too many waiting requests (${this.config.maxWaiting})`, {
        headers: { "Retry-After": "1" },
      });
    }
    if (callback && !this.callbacks.hasRoom()) {
      this.metrics.rejected.inc({ reason: "callbacks_full" });
      throw new HttpError(503, "too many pending callbacks", { headers: { "Retry-After": "5" } });
    }
  }

  /** Creates the Execution; with wait, resolves with it finished (or as it is at the wait timeout). */
  async submit(tenant: Tenant, o: SubmitOptions): Promise<Execution> {
    const ns = tenant.namespace;
    const name = o.name ?? randomUUID();
    await this.watches.synced(ns);
    const abort = new AbortController();
    const signal = o.signal ? AbortSignal.any([o.signal, abort.signal]) : abort.signal;
    const waiting = o.wait
      ? this.watches.waitFinished(ns, name, this.config.waitTimeoutSeconds * 1000, signal)
      : undefined;
    if (o.callback && this.config.callbacks.enabled)
      this.callbacks.register(`${ns}/${name}`, o.callback.url, o.callback.render);
    this.markUnseen(tenant, name);
    let created: Execution;
    try {
      created = await this.client.create(
        ExecutionResource,
        {
          apiVersion: API_VERSION,
          kind: "Execution",
          metadata: {
            name,
            namespace: ns,
            labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [TENANT_LABEL]: tenant.name, [API_LABEL]: o.api },
            ...(o.annotations ? { annotations: o.annotations } : {}),
          },
          spec: { ...o.spec, ttlSecondsAfterFinished: this.config.ttlSecondsAfterFinished },
        },
        ns,
      );
    } catch (err) {
      abort.abort();
      this.callbacks.forget(`${ns}/${name}`);
      this.unseen.get(tenant.name)?.delete(name);
      throw createError(err, this.log);
    }
    if (!waiting) return created;
    return (await waiting) ?? this.watches.get(ns, name) ?? created;
  }
}

/** The apiserver's refusal of a create, as an answer: what it found invalid is the client's fault, the rest is ours. */
function createError(err: unknown, log: Logger): HttpError {
  if (isTooLarge(err)) return new HttpError(413, "the submission is too large to store");
  if (err instanceof ApiError && (err.status === 422 || err.status === 400))
    return new HttpError(422, err.message.replace(/^.*?: /, ""));
  if (err instanceof ApiError && err.status === 403) {
    log.error({ err: errText(err) }, "the gateway may not create Executions in this tenant's namespace");
    return new HttpError(500, "the gateway is not allowed to create Executions for this token (RBAC)");
  }
  if (err instanceof ApiError && err.status === 404)
    return new HttpError(500, "the token's namespace does not exist, or the Execution API is not installed");
  log.error({ err: errText(err) }, "creating an Execution failed");
  return new HttpError(503, "the cluster did not take the submission; try again", {
    headers: { "Retry-After": "1" },
  });
}
