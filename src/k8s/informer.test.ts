import { describe, expect, it } from "vitest";
import type { Execution } from "../api/index.ts";
import { validExecution } from "../api/test-fixtures.ts";
import { schedulingView } from "../controller/execution-view.ts";
import { Controller } from "./controller.ts";
import { FakeKube } from "./fake-kube.ts";
import { Informer, type InformerEvent } from "./informer.ts";
import { ExecutionResource } from "./resources.ts";

const until = async (fn: () => boolean) => {
  for (let i = 0; i < 400 && !fn(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(fn()).toBe(true);
};

function big(name: string): Execution {
  const e = validExecution(name, "ns") as unknown as Execution;
  e.spec.files = [{ name: "main.py", content: "x".repeat(100_000), encoding: "utf8" }];
  e.spec.testCases = [{ stdin: "y".repeat(50_000), expectedOutput: "z".repeat(50_000) }];
  return e;
}

describe("Informer over a fake apiserver", () => {
  const cases: [string, "list" | "watch"][] = [
    ["objects from the first list are cached through the transform", "list"],
    ["objects from the watch are cached through the transform", "watch"],
  ];
  it.each(cases)("%s", async (_name, via) => {
    const kube = new FakeKube();
    if (via === "list") kube.put(ExecutionResource, big("a"));
    const inf = new Informer(kube.client(), ExecutionResource, { transform: schedulingView });
    inf.start();
    await inf.waitForSync();
    if (via === "watch") kube.put(ExecutionResource, big("a"));
    await until(() => inf.get("ns/a") !== undefined);
    const cached = inf.get("ns/a")!;
    expect(cached.spec.files).toEqual([]);
    expect(cached.spec.testCases).toBeUndefined();
    expect(JSON.stringify(cached).length).toBeLessThan(2000);
    await inf.stop();
  });

  it("delivers add, update and delete in order, and skips an update with the same resourceVersion", async () => {
    const kube = new FakeKube();
    const inf = new Informer(kube.client(), ExecutionResource);
    const seen: string[] = [];
    inf.on((ev) => seen.push(`${ev.type}:${ev.key}`));
    inf.start();
    await inf.waitForSync();
    const stored = kube.put(ExecutionResource, big("b"));
    kube.put(ExecutionResource, { ...stored, status: { phase: "Pending" as const } });
    kube.remove(ExecutionResource, "ns/b");
    await until(() => seen.length === 3);
    expect(seen).toEqual(["add:ns/b", "update:ns/b", "delete:ns/b"]);
    await inf.stop();
  });
});

describe("Controller resync", () => {
  it("a controller keyed through a mapper of a secondary informer resyncs every object through it", async () => {
    const kube = new FakeKube();
    for (const n of ["x", "y"]) kube.put(ExecutionResource, big(n));
    const inf = new Informer(kube.client(), ExecutionResource);
    inf.start();
    await inf.waitForSync();
    const reconciled: string[] = [];
    const mapped: InformerEvent<Execution>["type"][] = [];
    const c = new Controller({
      name: "t",
      resyncPeriodMs: 30,
      reconcile: async (k) => {
        reconciled.push(k);
        return undefined;
      },
    }).watch(inf, (ev) => {
      mapped.push(ev.type);
      return [ev.key];
    });
    await c.start();
    await until(() => reconciled.filter((k) => k === "ns/x").length >= 3);
    expect(mapped.filter((t) => t === "update").length).toBeGreaterThan(2);
    await c.stop();
    await inf.stop();
  });
});

describe("Informer validation of status-only changes", () => {
  /** An informer over the fake whose resource counts its validations. */
  const counted = (transform?: (e: Execution) => Execution, transformIdempotent = false) => {
    const kube = new FakeKube();
    let validations = 0;
    const res = {
      ...ExecutionResource,
      validate: (raw: unknown) => {
        validations++;
        return ExecutionResource.validate(raw);
      },
    };
    const inf = new Informer(kube.client(), res, {
      ...(transform ? { transform } : {}),
      transformIdempotent,
    });
    return { kube, inf, validations: () => validations };
  };

  it("a status change of the same generation keeps the validated spec; a spec change is validated again", async () => {
    const { kube, inf, validations } = counted();
    inf.start();
    await inf.waitForSync();
    const stored = kube.put(ExecutionResource, validExecution("s", "ns") as unknown as Execution);
    await until(() => inf.get("ns/s") !== undefined);
    expect(validations()).toBe(1);
    const validated = inf.get("ns/s")!.spec; // its defaults filled in
    const running = kube.put(ExecutionResource, { ...stored, status: { phase: "Pending" as const } });
    await until(() => inf.get("ns/s")?.status?.phase === "Pending");
    expect(validations()).toBe(1);
    expect(inf.get("ns/s")!.spec).toEqual(validated);
    // A new spec (a new generation) that the schema refuses: validated, kept aside, reported.
    kube.put(ExecutionResource, { ...running, spec: { ...running.spec, priority: 5000 } });
    await until(() => inf.invalidKeys().includes("ns/s"));
    expect(validations()).toBe(2);
    await inf.stop();
  });

  it("a transform that cuts the spec: validated again unless it is idempotent", async () => {
    for (const [idempotent, want] of [
      [false, 2],
      [true, 1],
    ] as const) {
      const { kube, inf, validations } = counted(schedulingView, idempotent);
      inf.start();
      await inf.waitForSync();
      const stored = kube.put(ExecutionResource, big("t"));
      await until(() => inf.get("ns/t") !== undefined);
      kube.put(ExecutionResource, { ...stored, status: { phase: "Pending" as const } });
      await until(() => inf.get("ns/t")?.status?.phase === "Pending");
      expect(validations()).toBe(want);
      expect(inf.get("ns/t")!.spec.files).toEqual([]);
      await inf.stop();
    }
  });
});
