import { randomBytes } from "node:crypto";
import type { Logger } from "../logging.ts";
import type { KubeClient } from "./client.ts";
import { errText } from "./errors.ts";
import { EventResource, type KubeObject, microTime, type ObjectReference } from "./resources.ts";

export type EventType = "Normal" | "Warning";

export interface EventRecorderOptions {
  /** reportingController, e.g. envicutor.io/controller. */
  controller: string;
  /** reportingInstance, e.g. the pod name. */
  instance: string;
  /** Namespace for events about cluster-scoped objects (Kubernetes uses default). */
  clusterEventsNamespace?: string;
  /** Repeats of the same event within this window become a series on one Event; default 10 min. */
  seriesWindowMs?: number;
  /** A series is written at most this often; default 30 s. */
  seriesFlushMs?: number;
  logger?: Logger;
}

interface SeriesState {
  name: string;
  namespace: string;
  count: number;
  firstAt: number;
  lastAt: number;
  flushedCount: number;
  timer: NodeJS.Timeout | undefined;
  creating: Promise<boolean> | undefined;
}

const MAX_TRACKED = 4096;

/**
 * Records events.k8s.io/v1 Events. The same (object, type, reason, action,
 * note) within the series window is aggregated into one Event whose
 * series.count grows, written at most every seriesFlushMs, so a hot loop does
 * not flood the apiserver. Writes are fire-and-forget; failures are logged.
 */
export class EventRecorder {
  private readonly client: KubeClient;
  private readonly opts: Required<Omit<EventRecorderOptions, "logger">>;
  private readonly log: Logger | undefined;
  private readonly series = new Map<string, SeriesState>();
  private readonly pending = new Set<Promise<unknown>>();

  constructor(client: KubeClient, opts: EventRecorderOptions) {
    this.client = client;
    this.opts = {
      clusterEventsNamespace: "default",
      seriesWindowMs: 10 * 60_000,
      seriesFlushMs: 30_000,
      ...opts,
    };
    this.log = opts.logger;
  }

  event(regarding: KubeObject, type: EventType, reason: string, action: string, note: string): void {
    const ref = toReference(regarding);
    const namespace = ref.namespace || this.opts.clusterEventsNamespace;
    const noteText = note.length > 1024 ? `${note.slice(0, 1021)}...` : note;
    const key = [ref.uid ?? `${namespace}/${ref.name}`, type, reason, action, noteText].join("\u0000");
    const now = Date.now();
    const s = this.series.get(key);
    if (s && now - s.lastAt < this.opts.seriesWindowMs) {
      s.count++;
      s.lastAt = now;
      this.scheduleFlush(s);
      return;
    }
    if (this.series.size >= MAX_TRACKED) this.evictOldest();
    const state: SeriesState = {
      name: `${(ref.name ?? "object").slice(0, 200)}.${randomBytes(8).toString("hex")}`,
      namespace,
      count: 1,
      firstAt: now,
      lastAt: now,
      flushedCount: 1,
      timer: undefined,
      creating: undefined,
    };
    this.series.set(key, state);
    const body = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: state.name, namespace },
      eventTime: microTime(new Date(now)),
      reportingController: this.opts.controller,
      reportingInstance: this.opts.instance,
      action: action.slice(0, 128),
      reason: reason.slice(0, 128),
      regarding: ref,
      note: noteText,
      type,
    };
    state.creating = this.track(
      this.client
        .create(EventResource, body)
        .then(() => true)
        .catch((err) => {
          this.log?.warn({ err: errText(err), reason }, "could not record event");
          this.series.delete(key);
          return false;
        }),
    );
  }

  normal(regarding: KubeObject, reason: string, action: string, note: string): void {
    this.event(regarding, "Normal", reason, action, note);
  }

  warning(regarding: KubeObject, reason: string, action: string, note: string): void {
    this.event(regarding, "Warning", reason, action, note);
  }

  /** Writes pending series updates and waits for in-flight writes. */
  async flush(): Promise<void> {
    for (const s of this.series.values()) {
      if (s.timer) {
        clearTimeout(s.timer);
        s.timer = undefined;
        this.writeSeries(s);
      }
    }
    await Promise.allSettled([...this.pending]);
  }

  private scheduleFlush(s: SeriesState): void {
    if (s.timer) return;
    s.timer = setTimeout(() => {
      s.timer = undefined;
      this.writeSeries(s);
    }, this.opts.seriesFlushMs);
    s.timer.unref();
  }

  private writeSeries(s: SeriesState): void {
    if (s.count === s.flushedCount) return;
    const count = s.count;
    const lastObservedTime = microTime(new Date(s.lastAt));
    this.track(
      (async () => {
        if (!(await s.creating)) return;
        try {
          await this.client.patch(
            EventResource,
            s.name,
            { series: { count, lastObservedTime } },
            { namespace: s.namespace },
          );
          s.flushedCount = count;
        } catch (err) {
          this.log?.warn({ err: errText(err), event: s.name }, "could not update event series");
        }
      })(),
    );
  }

  private track<P>(p: Promise<P>): Promise<P> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    return p;
  }

  private evictOldest(): void {
    let oldestKey: string | undefined;
    let oldest = Number.POSITIVE_INFINITY;
    for (const [k, s] of this.series) {
      if (s.lastAt < oldest) {
        oldest = s.lastAt;
        oldestKey = k;
      }
    }
    if (oldestKey !== undefined) {
      const s = this.series.get(oldestKey)!;
      if (s.timer) clearTimeout(s.timer);
      this.series.delete(oldestKey);
    }
  }
}

export function toReference(obj: KubeObject): ObjectReference {
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    name: obj.metadata.name,
    ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
    ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
    ...(obj.metadata.resourceVersion ? { resourceVersion: obj.metadata.resourceVersion } : {}),
  };
}
