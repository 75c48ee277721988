// A bench client's Executions and when its watch saw each one finished: the
// latency a judge's client sees (create, then a watch until the result).
import { type Execution, isFinished } from "../src/api/execution.ts";
import { API_VERSION } from "../src/api/group.ts";
import type { KubeClient } from "../src/k8s/client.ts";
import { Informer } from "../src/k8s/informer.ts";
import { ExecutionResource } from "../src/k8s/resources.ts";

export interface Finished {
  /** Epoch ms just before the create request. */
  posted: number;
  /** Epoch ms when the watch delivered the finished copy. */
  finished: number;
  ex: Execution;
}

export class FinishWatch {
  private readonly informer: Informer<Execution>;
  private readonly namespace: string;
  private readonly waiting = new Map<string, (ex: Execution) => void>();

  constructor(client: KubeClient, namespace: string) {
    this.namespace = namespace;
    this.informer = new Informer(client, ExecutionResource, { namespace });
    this.informer.on((ev) => {
      if ((ev.type !== "add" && ev.type !== "update") || !isFinished(ev.object.status)) return;
      this.waiting.get(ev.object.metadata.name!)?.(ev.object);
    });
  }

  /** Resolves once the watch is listed: an Execution created after it is seen from its first event. */
  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }

  /** Creates the Execution and resolves when the watch shows it finished (at most 60 s). */
  async run(client: KubeClient, name: string, spec: Record<string, unknown>): Promise<Finished> {
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<{ ex: Execution; at: number }>((resolve, reject) => {
      this.waiting.set(name, (ex) => resolve({ ex, at: Date.now() }));
      timer = setTimeout(() => reject(new Error(`Execution ${name} not finished after 60 s`)), 60_000);
    });
    const posted = Date.now();
    const obj = {
      apiVersion: API_VERSION,
      kind: "Execution",
      metadata: { name, namespace: this.namespace },
      spec,
    };
    try {
      await client.create(ExecutionResource, obj as never);
      const { ex, at } = await done;
      return { posted, finished: at, ex };
    } finally {
      clearTimeout(timer);
      this.waiting.delete(name);
    }
  }
}
