// The worker's slots (issue 17): the controller may place more Executions on
// a node than it has slots (nodePrefetch); the worker runs at most `slots` at
// once, starts the next as soon as a run ends (not once its result is
// written), and never starts one that stopped being this node's while it
// waited. A fake apiserver of several objects with conditional writes.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Execution, ExecutionStatus } from "../api/execution.ts";
import type { RuntimeSpec } from "../api/runtime.ts";
import { validCompiledRuntime, validExecution } from "../api/test-fixtures.ts";
import type { KubeClient } from "../k8s/client.ts";
import { ConflictError } from "../k8s/errors.ts";
import { ExecutionWorker } from "./execution-worker.ts";
import type { ExecutionOutcome, ExecutionRunner } from "./ports.ts";
import type { RuntimeSync } from "./runtime-sync.ts";

const NODE = "node-a";
const CORDONED = `node ${NODE} is cordoned`;
const runtimeSpec = (validCompiledRuntime("c-gcc") as { spec: RuntimeSpec }).spec;

const assigned = (nodeName = NODE): ExecutionStatus => ({
  phase: "Scheduled",
  nodeName,
  runtimeGeneration: 1,
  attempts: 1,
  scheduledTime: "2025-01-01T00:00:00Z",
  observedGeneration: 1,
});

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Several Executions, each run held until the test lets it end; result writes may be held too. */
class Node {
  readonly objects = new Map<string, Execution>();
  readonly started: string[] = [];
  readonly runEnds = new Map<string, () => void>();
  readonly resultHeld = new Map<string, Promise<void>>();
  draining = false;

  add(name: string): string {
    const e = validExecution(name, "ns") as unknown as Execution;
    e.spec.runtime = "c-gcc";
    e.spec.files = [{ name: "main.c", content: name, encoding: "utf8" }];
    e.metadata = { ...e.metadata, uid: `uid-${name}`, resourceVersion: "1", generation: 1 };
    e.status = assigned();
    this.objects.set(`ns/${name}`, e);
    return `ns/${name}`;
  }

  private runner(): ExecutionRunner {
    return {
      run: async (spec): Promise<ExecutionOutcome> => {
        const name = spec.files?.[0]?.content ?? "?";
        const end = deferred();
        this.runEnds.set(name, end.resolve);
        this.started.push(name);
        await end.promise;
        return { verdict: "Accepted", tests: [{ name: "1", verdict: "Accepted", exitCode: 0 }] };
      },
    } as ExecutionRunner;
  }

  private client(): KubeClient {
    return {
      replaceStatus: async (_res: unknown, obj: Execution) => {
        const key = `ns/${obj.metadata.name}`;
        const cur = this.objects.get(key)!;
        if (obj.status?.phase === "Succeeded") await this.resultHeld.get(obj.metadata.name!);
        if (obj.metadata.resourceVersion !== cur.metadata.resourceVersion)
          throw new ConflictError("conflict", {});
        const next = {
          ...structuredClone(obj),
          metadata: { ...obj.metadata, resourceVersion: String(Number(cur.metadata.resourceVersion) + 1) },
        };
        this.objects.set(key, next);
        return structuredClone(next);
      },
    } as unknown as KubeClient;
  }

  worker(slots: number): ExecutionWorker {
    return new ExecutionWorker({
      client: this.client(),
      nodeName: NODE,
      runner: this.runner(),
      runtimes: { runtimeFor: async () => ({ spec: runtimeSpec, env: {} }) } as unknown as RuntimeSync,
      logger: pino({ level: "silent" }),
      getExecution: (key) => structuredClone(this.objects.get(key)),
      retryDelayMs: () => 0,
      newerWaitMs: 0,
      draining: () => (this.draining ? CORDONED : undefined),
      slots,
    });
  }

  /** The controller's write: reassigned elsewhere (a node presumed lost). */
  reassign(key: string, nodeName: string): void {
    const cur = this.objects.get(key)!;
    this.objects.set(key, {
      ...cur,
      metadata: { ...cur.metadata, resourceVersion: String(Number(cur.metadata.resourceVersion) + 1) },
      status: { ...assigned(nodeName), attempts: 2 },
    });
  }
}

const until = async (what: string, ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!ok()) throw new Error(`timed out waiting for ${what}`);
};

/** a and b assigned to a node of one slot, both being processed, a's run started. */
async function twoOnOneSlot(node: Node) {
  const [a, b] = [node.add("a"), node.add("b")];
  const w = node.worker(1);
  const pa = w.process(a);
  const pb = w.process(b);
  await until("a started", () => node.started.length === 1);
  return { a, b, w, pa, pb };
}

describe("ExecutionWorker with slots (Executions placed ahead of a free slot)", () => {
  it("one slot: the second waits unstarted, and starts the moment the first's run ends, while its result is still being written", async () => {
    const node = new Node();
    const heldWrite = deferred();
    node.resultHeld.set("a", heldWrite.promise);
    const { a, b, w, pa, pb } = await twoOnOneSlot(node);
    await new Promise((r) => setTimeout(r, 20));
    expect(node.started).toEqual(["a"]);
    expect(w.busy).toBe(1);
    expect(node.objects.get(b)?.status?.phase).toBe("Scheduled");
    node.runEnds.get("a")!();
    await until("b started", () => node.started.length === 2);
    expect(node.objects.get(a)?.status?.phase, "a's result not written yet").not.toBe("Succeeded");
    heldWrite.resolve();
    node.runEnds.get("b")!();
    await Promise.all([pa, pb]);
    expect(node.objects.get(a)?.status?.phase).toBe("Succeeded");
    expect(node.objects.get(b)?.status?.phase).toBe("Succeeded");
    expect(w.busy).toBe(0);
  });

  it("one reassigned to another node while it waited is never started here", async () => {
    const node = new Node();
    const { b, pa, pb } = await twoOnOneSlot(node);
    node.reassign(b, "node-b");
    node.runEnds.get("a")!();
    await Promise.all([pa, pb]);
    expect(node.started).toEqual(["a"]);
    expect(node.objects.get(b)?.status?.nodeName).toBe("node-b");
  });

  it("a cordon hands back at once the ones waiting for a slot (NodeDraining), while the run in the slot goes on", async () => {
    const node = new Node();
    const { a, b, w, pa, pb } = await twoOnOneSlot(node);
    node.draining = true;
    await w.handBackUnstarted([node.objects.get(a)!, node.objects.get(b)!]);
    await pb;
    expect(node.objects.get(b)?.status?.handBack?.reason).toBe("NodeDraining");
    expect(node.objects.get(b)?.status?.startTime).toBeUndefined();
    node.runEnds.get("a")!();
    await pa;
    expect(node.started).toEqual(["a"]);
    expect(node.objects.get(a)?.status?.phase).toBe("Succeeded");
  });

  it("stopping the agent ends the waits: nothing more starts, nothing is written for the waiting one", async () => {
    const node = new Node();
    const { b, w, pa, pb } = await twoOnOneSlot(node);
    w.abortAll();
    await pb;
    expect(node.objects.get(b)?.metadata.resourceVersion).toBe("1");
    node.runEnds.get("a")!();
    await pa;
    expect(node.started).toEqual(["a"]);
  });
});
