import { AGENT_LEASE_PREFIX, NODE_LABEL } from "../api/group.ts";
import { sleep } from "../k8s/backoff.ts";
import type { KubeClient } from "../k8s/client.ts";
import { errText, isNotFound } from "../k8s/errors.ts";
import { type Lease, LeaseResource, microTime } from "../k8s/resources.ts";
import type { Logger } from "../logging.ts";

export function agentLeaseName(nodeName: string): string {
  return `${AGENT_LEASE_PREFIX}${nodeName}`;
}

/**
 * The agent's liveness signal, like the kubelet's node Lease: a small object
 * renewed every third of its duration, so heartbeats never rewrite the large
 * Worker object. The controller treats a node whose Lease expired as lost.
 */
export class Heartbeat {
  private readonly client: KubeClient;
  private readonly namespace: string;
  private readonly nodeName: string;
  private readonly durationSeconds: number;
  private readonly log: Logger;
  /** Last successful renewal (ms since epoch), for the agent's readiness probe. */
  lastRenewed = 0;

  constructor(opts: {
    client: KubeClient;
    namespace: string;
    nodeName: string;
    durationSeconds: number;
    logger: Logger;
  }) {
    this.client = opts.client;
    this.namespace = opts.namespace;
    this.nodeName = opts.nodeName;
    this.durationSeconds = opts.durationSeconds;
    this.log = opts.logger;
  }

  get name(): string {
    return agentLeaseName(this.nodeName);
  }

  /** Renews until the signal aborts; failures are logged and retried at the next tick. */
  async run(signal: AbortSignal): Promise<void> {
    const period = (this.durationSeconds * 1000) / 3;
    while (!signal.aborted) {
      try {
        await this.renew();
      } catch (err) {
        this.log.warn({ err: errText(err) }, "heartbeat lease renewal failed");
      }
      await sleep(period, signal).catch(() => undefined);
    }
  }

  async renew(): Promise<void> {
    const now = microTime();
    const existing = await this.client.tryGet(LeaseResource, this.name, this.namespace);
    const spec = {
      holderIdentity: this.nodeName,
      leaseDurationSeconds: this.durationSeconds,
      renewTime: now,
    };
    if (!existing) {
      await this.client.create(
        LeaseResource,
        {
          metadata: { name: this.name, namespace: this.namespace, labels: { [NODE_LABEL]: this.nodeName } },
          spec: { ...spec, acquireTime: now },
        } as Lease,
        this.namespace,
      );
    } else {
      await this.client.patch(LeaseResource, this.name, { spec }, { namespace: this.namespace });
    }
    this.lastRenewed = Date.now();
  }

  /** Expires the lease at once on graceful shutdown, so the controller reschedules without waiting. */
  async release(): Promise<void> {
    try {
      await this.client.patch(
        LeaseResource,
        this.name,
        { spec: { renewTime: microTime(new Date(0)), leaseDurationSeconds: 1 } },
        { namespace: this.namespace },
      );
    } catch (err) {
      if (!isNotFound(err)) this.log.warn({ err: errText(err) }, "could not release heartbeat lease");
    }
  }
}
