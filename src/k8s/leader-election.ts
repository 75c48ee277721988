import type { Logger } from "../logging.ts";
import { sleep } from "./backoff.ts";
import type { KubeClient } from "./client.ts";
import { errText, isAlreadyExists, isConflict } from "./errors.ts";
import { type Lease, LeaseResource, microTime, parseTime } from "./resources.ts";

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  /** Unique per candidate, e.g. pod name + random suffix. */
  identity: string;
  /** How long a lease is valid after its last observed renewal; default 15 s. */
  leaseDurationMs?: number;
  /** The leader gives up if it could not renew for this long; default 10 s (< leaseDuration). */
  renewDeadlineMs?: number;
  /** Between attempts to acquire or renew; default 2 s. */
  retryPeriodMs?: number;
  /** Release the lease when stopped, so another candidate takes over at once; default true. */
  releaseOnCancel?: boolean;
  /** Called on becoming leader; the signal aborts when leadership ends. */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called when leadership ends (lost or released). */
  onStoppedLeading?: () => void | Promise<void>;
  onNewLeader?: (identity: string) => void;
  logger?: Logger;
  now?: () => number;
}

/**
 * coordination.k8s.io/v1 Lease leader election with client-go's semantics. A
 * lease counts as held while its record keeps changing: a candidate measures
 * expiry from the local time it last saw the record change (not the holder's
 * renewTime), so clock skew between candidates does not matter. Writes are
 * PUTs with the read resourceVersion, so two candidates never both win.
 */
export class LeaderElector {
  private readonly o: Required<Omit<LeaderElectionOptions, "onStoppedLeading" | "onNewLeader" | "logger">> &
    Pick<LeaderElectionOptions, "onStoppedLeading" | "onNewLeader" | "logger">;
  private observed: { record: string; at: number; holder: string } | undefined;
  private leading = false;
  private lastRenew = 0;
  private currentLeader = "";
  private lease: Lease | undefined;

  constructor(opts: LeaderElectionOptions) {
    this.o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      releaseOnCancel: true,
      now: Date.now,
      ...opts,
    };
    if (this.o.renewDeadlineMs >= this.o.leaseDurationMs)
      throw new Error("renewDeadline must be < leaseDuration");
  }

  isLeader(): boolean {
    return this.leading;
  }

  leader(): string {
    return this.currentLeader;
  }

  /**
   * Campaigns until the signal aborts: acquire, lead (renewing), and after
   * losing the lease campaign again. Resolves after the signal aborted and,
   * if leading, the lease was released.
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.acquire(signal);
      if (signal.aborted) break;
      await this.lead(signal);
    }
  }

  private async acquire(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (await this.tryAcquireOrRenew()) return;
      await sleep(jittered(this.o.retryPeriodMs, 1.2), signal);
    }
  }

  private async lead(signal: AbortSignal): Promise<void> {
    this.leading = true;
    const leadership = new AbortController();
    const onAbort = () => leadership.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    this.o.logger?.info({ identity: this.o.identity, lease: this.o.name }, "became leader");
    let started: Promise<void> = Promise.resolve();
    try {
      started = Promise.resolve(this.o.onStartedLeading(leadership.signal)).catch((err) =>
        this.o.logger?.error({ err: errText(err) }, "onStartedLeading failed"),
      );
    } catch (err) {
      this.o.logger?.error({ err: errText(err) }, "onStartedLeading failed");
    }
    while (!leadership.signal.aborted) {
      await sleep(this.o.retryPeriodMs, leadership.signal);
      if (leadership.signal.aborted) break;
      const ok = await this.tryAcquireOrRenew();
      if (!ok && this.o.now() - this.lastRenew > this.o.renewDeadlineMs) {
        this.o.logger?.warn(
          { identity: this.o.identity },
          "failed to renew lease within the deadline; stepping down",
        );
        break;
      }
      if (!ok && !this.leading) break; // someone else holds it
    }
    signal.removeEventListener("abort", onAbort);
    leadership.abort();
    await started;
    if (signal.aborted && this.o.releaseOnCancel && this.leading) await this.release();
    this.leading = false;
    this.o.logger?.info({ identity: this.o.identity }, "stopped leading");
    try {
      await this.o.onStoppedLeading?.();
    } catch (err) {
      this.o.logger?.error({ err: errText(err) }, "onStoppedLeading failed");
    }
  }

  /** One attempt; true when we hold the lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name } = this.o;
    const now = this.o.now();
    const durationSeconds = Math.max(1, Math.round(this.o.leaseDurationMs / 1000));
    let lease: Lease | undefined;
    try {
      lease = await client.tryGet(LeaseResource, name, namespace);
    } catch (err) {
      this.o.logger?.debug({ err: errText(err) }, "lease get failed");
      return false;
    }
    if (!lease) return this.createLease(now, durationSeconds);
    const holder = this.observe(lease, now);
    if (this.heldByAnother(lease, holder, durationSeconds, now)) {
      if (this.leading) this.leading = false; // somebody took it
      return false;
    }
    return this.takeLease(lease, holder, now, durationSeconds);
  }

  private async createLease(now: number, durationSeconds: number): Promise<boolean> {
    const { client, namespace, name, identity } = this.o;
    try {
      this.lease = await client.create(LeaseResource, {
        metadata: { name, namespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: microTime(new Date(now)),
          renewTime: microTime(new Date(now)),
          leaseTransitions: 0,
        },
      });
      this.succeeded(now, this.lease);
      return true;
    } catch (err) {
      if (!isAlreadyExists(err)) this.o.logger?.debug({ err: errText(err) }, "lease create failed");
      return false;
    }
  }

  /**
   * Notes when the lease record last changed, by our clock: expiry is judged
   * from that moment, never from the holder's renewTime (clocks differ).
   */
  private observe(lease: Lease, now: number): string {
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const record = JSON.stringify([
      holder,
      spec.renewTime,
      spec.acquireTime,
      spec.leaseTransitions,
      spec.leaseDurationSeconds,
    ]);
    if (!this.observed || this.observed.record !== record) {
      this.observed = { record, at: now, holder };
      this.setLeader(holder);
    }
    return holder;
  }

  private heldByAnother(lease: Lease, holder: string, durationSeconds: number, now: number): boolean {
    const held = holder !== "" && holder !== this.o.identity;
    const durationMs = (lease.spec?.leaseDurationSeconds ?? durationSeconds) * 1000;
    return held && this.observed!.at + durationMs > now;
  }

  /** Renews our own lease, or takes over an expired or released one (a transition). */
  private async takeLease(
    lease: Lease,
    holder: string,
    now: number,
    durationSeconds: number,
  ): Promise<boolean> {
    const { client, identity } = this.o;
    const spec = lease.spec ?? {};
    const next: Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: microTime(new Date(now)),
        acquireTime: holder === identity ? spec.acquireTime : microTime(new Date(now)),
        leaseTransitions:
          holder === identity ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      this.lease = await client.replace(LeaseResource, next);
      this.succeeded(now, this.lease);
      return true;
    } catch (err) {
      if (!isConflict(err)) this.o.logger?.debug({ err: errText(err) }, "lease update failed");
      return false;
    }
  }

  private succeeded(now: number, lease: Lease): void {
    this.lastRenew = now;
    const spec = lease.spec ?? {};
    this.observed = {
      record: JSON.stringify([
        spec.holderIdentity,
        spec.renewTime,
        spec.acquireTime,
        spec.leaseTransitions,
        spec.leaseDurationSeconds,
      ]),
      at: now,
      holder: spec.holderIdentity ?? "",
    };
    this.setLeader(this.o.identity);
  }

  private setLeader(identity: string): void {
    if (identity === this.currentLeader) return;
    this.currentLeader = identity;
    if (identity) this.o.onNewLeader?.(identity);
  }

  /** Gives the lease up: empty holder and a 1 s duration, as client-go does. */
  private async release(): Promise<void> {
    const lease = this.lease;
    if (!lease || lease.spec?.holderIdentity !== this.o.identity) return;
    const now = new Date(this.o.now());
    try {
      await this.o.client.replace(LeaseResource, {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          renewTime: microTime(now),
          acquireTime: microTime(now),
        },
      });
      this.o.logger?.info({ identity: this.o.identity }, "released leader lease");
    } catch (err) {
      this.o.logger?.warn({ err: errText(err) }, "could not release the lease");
    }
  }
}

function jittered(ms: number, factor: number): number {
  return ms + Math.random() * ms * (factor - 1);
}

/** Whether an agent-style heartbeat Lease is live at `now` by its own renewTime (no local observation). */
export function leaseExpiresAt(lease: Lease): number | undefined {
  const renew = parseTime(lease.spec?.renewTime);
  const dur = lease.spec?.leaseDurationSeconds;
  if (renew === undefined || dur === undefined) return undefined;
  return renew + dur * 1000;
}
