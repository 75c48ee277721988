import { describe, expect, it } from "vitest";
import { objectKey } from "../k8s/resources.ts";
import { PendingQueue } from "./pending-queue.ts";
import { assessRuntime } from "./runtime-status.ts";
import { checkExecution, chooseNode, failedCheck, whyNoNode } from "./scheduling.ts";
import { SlotBook } from "./slot-book.ts";
import { ex, node, rt } from "./test-fixtures.ts";
import { ttlDeadline } from "./ttl-reconciler.ts";

const readyRuntime = () => {
  const r = rt();
  r.status = assessRuntime(r, [node("a", [{ closureHash: "h" }])]).status;
  return r;
};

describe("scheduling order", () => {
  it("sorts by priority descending, then creation ascending, then name", () => {
    const list = [
      ex("late-low", { priority: 0, created: "2025-01-01T00:00:05Z" }),
      ex("early-low", { priority: 0, created: "2025-01-01T00:00:01Z" }),
      ex("high", { priority: 10, created: "2025-01-01T00:00:09Z" }),
      ex("negative", { priority: -5, created: "2025-01-01T00:00:00Z" }),
      ex("b-tie", { created: "2025-01-01T00:00:01Z" }),
    ];
    const q = new PendingQueue();
    for (const e of list) q.observe(objectKey(e), e);
    const order: string[] = [];
    for (let h = q.head("ns", () => false); h; h = q.head("ns", () => false)) {
      order.push(h.name);
      q.remove(h.key);
    }
    expect(order).toEqual(["high", "b-tie", "early-low", "late-low", "negative"]);
  });
});

describe("checkExecution", () => {
  it("fails a missing Runtime", () => {
    expect(checkExecution(ex("e"), undefined)).toMatchObject({ kind: "fail", reason: "RuntimeNotFound" });
  });
  it("fails limit overrides beyond the Runtime's bounds, naming the field", () => {
    const e = ex("e");
    e.spec.limits = { run: { cpuTimeMillis: 999_999 } };
    const v = checkExecution(e, readyRuntime());
    expect(v).toMatchObject({ kind: "fail", reason: "LimitOutOfBounds" });
    expect((v as { message: string }).message).toContain("spec.limits.run.cpuTimeMillis");
  });
  it("waits for a Runtime that is not Ready", () => {
    expect(checkExecution(ex("e"), rt())).toMatchObject({ kind: "wait", reason: "RuntimeNotReady" });
  });
  it("accepts overrides within bounds on a Ready Runtime", () => {
    const e = ex("e");
    e.spec.limits = { run: { cpuTimeMillis: 5000 } };
    expect(checkExecution(e, readyRuntime()).kind).toBe("schedulable");
  });
  it("fails when the Runtime is being deleted", () => {
    const r = readyRuntime();
    r.metadata.deletionTimestamp = "2025-01-01T00:00:00Z";
    expect(checkExecution(ex("e"), r)).toMatchObject({ kind: "fail", reason: "RuntimeDeleting" });
  });
});

describe("chooseNode", () => {
  const r = readyRuntime();
  it("picks the least loaded live node serving the active generation with a free slot", () => {
    const nodes = [
      node("a", [{ closureHash: "h" }], { slots: 4 }),
      node("b", [{ closureHash: "h" }], { slots: 2 }),
      node("c", [{ closureHash: "h" }], { slots: 8, live: false }),
      node("d", [{ phase: "Installing" }], { slots: 8 }),
      node("e", [{ closureHash: "other" }], { slots: 8 }),
    ];
    expect(chooseNode(r, nodes, new Map())?.name).toBe("a"); // equal load 0: more free slots
    expect(chooseNode(r, nodes, new Map([["a", 2]]))?.name).toBe("b"); // a 50 %, b 0 %
    expect(
      chooseNode(
        r,
        nodes,
        new Map([
          ["a", 4],
          ["b", 2],
        ]),
      ),
    ).toBeUndefined();
  });

  it("spreads a burst evenly", () => {
    const nodes = ["x", "y", "z"].map((n) => node(n, [{ closureHash: "h" }], { slots: 10 }));
    const used = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const n = chooseNode(r, nodes, used)!;
      used.set(n.name, (used.get(n.name) ?? 0) + 1);
    }
    expect(Object.fromEntries(used)).toEqual({ x: 10, y: 10, z: 10 });
    expect(chooseNode(r, nodes, used)).toBeUndefined();
  });

  it("with a prefetch, a full node takes that many more, but only once no node has a free slot", () => {
    const nodes = [
      node("a", [{ closureHash: "h" }], { slots: 2 }),
      node("b", [{ closureHash: "h" }], { slots: 1 }),
    ];
    const used = new Map<string, number>();
    const order: string[] = [];
    for (let n = chooseNode(r, nodes, used, 1); n; n = chooseNode(r, nodes, used, 1)) {
      order.push(n.name);
      used.set(n.name, (used.get(n.name) ?? 0) + 1);
    }
    // Free slots first (least loaded), then one ahead on each node.
    expect(order.slice(0, 3).sort()).toEqual(["a", "a", "b"]);
    expect(order.slice(3).sort()).toEqual(["a", "b"]);
    expect(failedCheck(r, nodes[0]!, new Map([["a", 3]]), 1)).toBe("NoFreeSlot");
    expect(failedCheck(r, nodes[0]!, new Map([["a", 2]]), 1)).toBeUndefined();
    expect(failedCheck(r, nodes[0]!, new Map([["a", 2]]))).toBe("NoFreeSlot"); // no prefetch: slots only
    // A node with no slots takes nothing, prefetch or not.
    expect(failedCheck(r, node("z", [{ closureHash: "h" }], { slots: 0 }), new Map(), 1)).toBe("NoFreeSlot");
  });

  it("counts only assigned, unfinished Executions as slot use", () => {
    const book = new SlotBook();
    for (const e of [
      ex("1", { status: { phase: "Scheduled", nodeName: "a" } }),
      ex("2", { status: { phase: "Running", nodeName: "a" } }),
      ex("3", { status: { phase: "Succeeded", nodeName: "a" } }),
      ex("4", { status: { phase: "Pending" } }),
    ])
      book.observe(objectKey(e), e);
    expect(Object.fromEntries(book.nodeUsage())).toEqual({ a: 2 });
    expect(book.running("ns")).toBe(2);
  });
});

describe("placement checks: a cordoned node takes no new Execution", () => {
  const r = readyRuntime();
  const served = [{ closureHash: "h" }];
  const cases: {
    name: string;
    nodes: ReturnType<typeof node>[];
    used?: [string, number][];
    chosen: string | undefined;
    why?: { reason: string; message: RegExp };
  }[] = [
    {
      name: "a cordoned node is passed over for an uncordoned one, even a busier one",
      nodes: [node("a", served, { cordoned: true }), node("b", served)],
      used: [["b", 3]],
      chosen: "b",
    },
    {
      name: "the only node cordoned: nothing is placed and the wait says it is cordoned",
      nodes: [node("a", served, { cordoned: true })],
      chosen: undefined,
      why: { reason: "NodeCordoned", message: /every node serving Runtime c-gcc is cordoned \(a\)/ },
    },
    {
      name: "every serving node cordoned: the wait names them all",
      nodes: [node("b", served, { cordoned: true }), node("a", served, { cordoned: true })],
      chosen: undefined,
      why: { reason: "NodeCordoned", message: /cordoned \(a, b\)/ },
    },
    {
      name: "an uncordoned node that is only full makes the wait NoFreeSlot, not NodeCordoned",
      nodes: [node("a", served, { cordoned: true }), node("b", served, { slots: 1 })],
      used: [["b", 1]],
      chosen: undefined,
      why: { reason: "NoFreeSlot", message: /has a free slot/ },
    },
    {
      name: "uncordoned again, the node takes work",
      nodes: [node("a", served, { cordoned: false })],
      chosen: "a",
    },
  ];
  it.each(cases)("$name", (c) => {
    const used = new Map(c.used ?? []);
    expect(chooseNode(r, c.nodes, used)?.name).toBe(c.chosen);
    if (c.why) {
      const why = whyNoNode(r, c.nodes);
      expect(why.reason).toBe(c.why.reason);
      expect(why.message).toMatch(c.why.message);
    }
  });

  it("the cordon is the first named check a node fails, before serving and slots", () => {
    const full = new Map([["a", 4]]);
    expect(failedCheck(r, node("a", served, { cordoned: true }), full)).toBe("NodeCordoned");
    expect(failedCheck(r, node("a", [{ phase: "Installing" }]), new Map())).toBe("RuntimeNotServed");
    expect(failedCheck(r, node("a", served), full)).toBe("NoFreeSlot");
    expect(failedCheck(r, node("a", served), new Map())).toBeUndefined();
  });
});

describe("ttlDeadline", () => {
  it("is completionTime + ttl (spec, else the default) for finished Executions only", () => {
    const done = ex("e", { status: { phase: "Succeeded", completionTime: "2025-01-01T00:00:00Z" } });
    done.spec.ttlSecondsAfterFinished = 60;
    expect(ttlDeadline(done, 3600)).toBe(Date.parse("2025-01-01T00:01:00Z"));
    delete done.spec.ttlSecondsAfterFinished;
    expect(ttlDeadline(done, 3600)).toBe(Date.parse("2025-01-01T01:00:00Z"));
    expect(ttlDeadline(ex("running", { status: { phase: "Running" } }), 3600)).toBeUndefined();
  });
});
