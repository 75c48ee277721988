import type { Condition } from "../api/common.ts";
import { API_VERSION, NODE_LABEL } from "../api/group.ts";
import type { RuntimeInstall, Worker, WorkerStatus } from "../api/worker.ts";
import type { KubeClient } from "../k8s/client.ts";
import { type ConditionInput, setCondition } from "../k8s/conditions.ts";
import { errText, isAlreadyExists } from "../k8s/errors.ts";
import { NodeResource, WorkerResource } from "../k8s/resources.ts";
import type { Logger } from "../logging.ts";

type Static = Omit<WorkerStatus, "runtimes" | "conditions">;

const keyOf = (name: string, generation: number) => `${name}@${generation}`;

/**
 * Owns this node's Worker object: the agent is its only writer. Keeps the
 * install state of every Runtime generation in memory and writes the whole
 * status (a merge patch of /status), coalescing bursts of changes into one
 * write. The Worker is owned by the Node, so deleting the Node collects it.
 */
export class WorkerReporter {
  private readonly client: KubeClient;
  private readonly nodeName: string;
  private readonly log: Logger;
  private readonly entries = new Map<string, RuntimeInstall>();
  /** This agent's conditions (e.g. Draining); undefined until one is set, so the Worker's are kept. */
  private conditions: Condition[] | undefined;
  private staticStatus: Static = {};
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private dirty = false;
  private readonly debounceMs: number;

  constructor(opts: { client: KubeClient; nodeName: string; logger: Logger; debounceMs?: number }) {
    this.client = opts.client;
    this.nodeName = opts.nodeName;
    this.log = opts.logger;
    this.debounceMs = opts.debounceMs ?? 100;
  }

  /** Creates the Worker (owned by the Node) if missing and adopts what it already reports. */
  async ensure(staticStatus: Static): Promise<Worker> {
    this.staticStatus = staticStatus;
    let worker = await this.client.tryGet(WorkerResource, this.nodeName);
    if (!worker) {
      const node = await this.client.get(NodeResource, this.nodeName);
      const body: Worker = {
        apiVersion: API_VERSION,
        kind: "Worker",
        metadata: {
          name: this.nodeName,
          labels: { [NODE_LABEL]: this.nodeName },
          ownerReferences: [{ apiVersion: "v1", kind: "Node", name: this.nodeName, uid: node.metadata.uid }],
        },
        spec: { nodeName: this.nodeName },
      };
      try {
        worker = await this.client.create(WorkerResource, body);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        worker = await this.client.get(WorkerResource, this.nodeName);
      }
    }
    for (const e of worker.status?.runtimes ?? []) this.entries.set(keyOf(e.name, e.generation), e);
    // Adopted, so a condition set later keeps its lastTransitionTime across restarts.
    this.conditions ??= worker.status?.conditions;
    this.dirty = true;
    await this.flush();
    return worker;
  }

  entry(name: string, generation: number): RuntimeInstall | undefined {
    return this.entries.get(keyOf(name, generation));
  }

  entriesFor(name: string): RuntimeInstall[] {
    return [...this.entries.values()].filter((e) => e.name === name);
  }

  all(): RuntimeInstall[] {
    return [...this.entries.values()];
  }

  /** Records a phase change; lastTransitionTime moves only when the phase does. */
  set(entry: Omit<RuntimeInstall, "lastTransitionTime">): void {
    const k = keyOf(entry.name, entry.generation);
    const old = this.entries.get(k);
    const lastTransitionTime =
      old && old.phase === entry.phase ? old.lastTransitionTime : new Date().toISOString();
    this.entries.set(k, { ...entry, ...(lastTransitionTime ? { lastTransitionTime } : {}) });
    this.schedule();
  }

  /** Sets one condition of the Worker (meta.SetStatusCondition); written with the next flush. */
  setCondition(input: ConditionInput): void {
    const { conditions, changed } = setCondition(this.conditions, input);
    this.conditions = conditions;
    if (changed) this.schedule();
  }

  condition(type: string): Condition | undefined {
    return this.conditions?.find((c) => c.type === type);
  }

  delete(name: string, generation: number): void {
    if (this.entries.delete(keyOf(name, generation))) this.schedule();
  }

  private schedule(): void {
    this.dirty = true;
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, this.debounceMs);
  }

  /** Writes the status now (serialised with any write in flight); retried on the next change or call. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      const runtimes = [...this.entries.values()].sort(
        (a, b) => a.name.localeCompare(b.name) || a.generation - b.generation,
      );
      try {
        await this.client.patchStatus(WorkerResource, this.nodeName, {
          status: {
            ...this.staticStatus,
            runtimes,
            ...(this.conditions ? { conditions: this.conditions } : {}),
          },
        });
      } catch (err) {
        this.dirty = true;
        this.log.warn({ err: errText(err) }, "writing Worker status failed; will retry");
        setTimeout(() => this.schedule(), 1000).unref();
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await this.flush();
  }
}
