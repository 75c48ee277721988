import { describe, expect, it } from "vitest";
import { getCondition } from "../k8s/conditions.ts";
import { assessRuntime, nodeServesRuntime } from "./runtime-status.ts";
import { node, rt } from "./test-fixtures.ts";

const ready = (a: ReturnType<typeof assessRuntime>) => getCondition(a.status.conditions, "Ready")!;

describe("assessRuntime", () => {
  it("has no eligible nodes when no live node matches the selector", () => {
    const a = assessRuntime(rt(), [
      node("dead", [{}], { live: false }),
      node("windows", [{}], { labels: { "kubernetes.io/os": "windows" } }),
    ]);
    expect(a.status).toMatchObject({
      eligibleNodes: 0,
      installedNodes: 0,
      failedNodes: 0,
      observedGeneration: 1,
    });
    expect(ready(a)).toMatchObject({ status: "False", reason: "NoEligibleNodes", observedGeneration: 1 });
    expect(a.status.activeGeneration).toBeUndefined();
  });

  it("becomes Ready only when the last eligible node reports Installed", () => {
    const a = assessRuntime(rt(), [
      node("a", [{ closureHash: "h" }]),
      node("b", [{ phase: "Installing" }]),
      node("c", []),
    ]);
    expect(a.status).toMatchObject({ eligibleNodes: 3, installedNodes: 1 });
    expect(ready(a)).toMatchObject({
      status: "False",
      reason: "Installing",
      message: "installed on 1/3 eligible node(s)",
    });
    const b = assessRuntime(rt(), [
      node("a", [{ closureHash: "h" }]),
      node("b", [{ closureHash: "h" }]),
      node("c", [{ closureHash: "h" }]),
    ]);
    expect(ready(b)).toMatchObject({ status: "True", reason: "AllNodesInstalled" });
    expect(b.status).toMatchObject({ activeGeneration: 1, activeClosureHash: "h", installedNodes: 3 });
    expect(b.activated).toEqual({ generation: 1, closureHash: "h" });
  });

  it("reports failures (up to ten) and InstallFailed", () => {
    const nodes = Array.from({ length: 12 }, (_, i) =>
      node(`n${String(i).padStart(2, "0")}`, [
        { phase: "Failed", reason: "BuildFailed", message: `boom ${i}` },
      ]),
    );
    const a = assessRuntime(rt(), [node("ok", [{ closureHash: "h" }]), ...nodes]);
    expect(a.status.failedNodes).toBe(12);
    expect(a.status.failures).toHaveLength(10);
    expect(a.status.failures![0]).toEqual({ node: "n00", reason: "BuildFailed", message: "boom 0" });
    expect(ready(a)).toMatchObject({ status: "False", reason: "InstallFailed" });
  });

  it("refuses to become Ready on a closure mismatch and names the odd node", () => {
    const a = assessRuntime(rt(), [
      node("a", [{ closureHash: "h1" }]),
      node("b", [{ closureHash: "h1" }]),
      node("c", [{ closureHash: "h2" }]),
    ]);
    expect(ready(a)).toMatchObject({ status: "False", reason: "ClosureMismatch" });
    expect(ready(a).message).toContain("c");
    expect(getCondition(a.status.conditions, "ClosureMismatch")).toMatchObject({ status: "True" });
    expect(a.mismatchNodes).toEqual(["c"]);
    expect(a.status.activeGeneration).toBeUndefined();
  });

  it("ignores entries of a deleted namesake (other uid)", () => {
    const a = assessRuntime(rt(), [node("a", [{ uid: "someone-else", closureHash: "h" }])]);
    expect(a.status.installedNodes).toBe(0);
  });

  it("stays Ready on the active generation while a new node catches up", () => {
    const prev = assessRuntime(rt(), [node("a", [{ closureHash: "h" }])]).status;
    const a = assessRuntime(rt("c-gcc", 1, prev), [
      node("a", [{ closureHash: "h" }]),
      node("new", [{ phase: "Installing" }]),
    ]);
    expect(ready(a)).toMatchObject({ status: "True", reason: "RolloutInProgress" });
    expect(a.status).toMatchObject({ eligibleNodes: 2, installedNodes: 1, activeGeneration: 1 });
    expect(a.activated).toBeUndefined();
    expect(nodeServesRuntime({ ...rt(), status: a.status }, node("new", [{ phase: "Installing" }]))).toBe(
      false,
    );
  });

  it("keeps the previous generation active until the new one is on every node, then switches at once", () => {
    const g1 = assessRuntime(rt(), [
      node("a", [{ closureHash: "h1" }]),
      node("b", [{ closureHash: "h1" }]),
    ]).status;
    const half = assessRuntime(rt("c-gcc", 2, g1), [
      node("a", [{ closureHash: "h1" }, { generation: 2, closureHash: "h2" }]),
      node("b", [{ closureHash: "h1" }, { generation: 2, phase: "Installing" }]),
    ]);
    expect(half.status).toMatchObject({
      observedGeneration: 2,
      activeGeneration: 1,
      activeClosureHash: "h1",
      installedNodes: 1,
    });
    expect(ready(half)).toMatchObject({ status: "True", reason: "RolloutInProgress", observedGeneration: 2 });
    const full = assessRuntime(rt("c-gcc", 2, half.status), [
      node("a", [{ closureHash: "h1" }, { generation: 2, closureHash: "h2" }]),
      node("b", [{ generation: 2, closureHash: "h2" }]),
    ]);
    expect(full.status).toMatchObject({ activeGeneration: 2, activeClosureHash: "h2", installedNodes: 2 });
    expect(full.activated).toEqual({ generation: 2, closureHash: "h2" });
    expect(ready(full)).toMatchObject({ status: "True", reason: "AllNodesInstalled" });
    // lastTransitionTime of Ready did not change through the rollout (it stayed True).
    expect(ready(full).lastTransitionTime).toBe(getCondition(g1.conditions, "Ready")!.lastTransitionTime);
  });

  it("a catching-up node with a different closure of the active generation takes no work and is named", () => {
    const prev = assessRuntime(rt(), [node("a", [{ closureHash: "h" }])]).status;
    const a = assessRuntime(rt("c-gcc", 1, prev), [
      node("a", [{ closureHash: "h" }]),
      node("odd", [{ closureHash: "x" }]),
    ]);
    expect(ready(a).status).toBe("True");
    expect(a.mismatchNodes).toEqual(["odd"]);
    expect(nodeServesRuntime({ ...rt(), status: a.status }, node("odd", [{ closureHash: "x" }]))).toBe(false);
  });

  it("loses Ready when no eligible node has the active generation any more", () => {
    const prev = assessRuntime(rt(), [node("a", [{ closureHash: "h" }])]).status;
    const a = assessRuntime(rt("c-gcc", 1, prev), [
      node("a", [{ closureHash: "h" }], { live: false }),
      node("b", []),
    ]);
    expect(ready(a)).toMatchObject({ status: "False", reason: "Installing" });
    expect(a.status.activeGeneration).toBe(1); // kept: it becomes usable again when a node has it
  });

  it("reports no change when nothing changed", () => {
    const nodes = [node("a", [{ closureHash: "h" }])];
    const first = assessRuntime(rt(), nodes);
    const again = assessRuntime(rt("c-gcc", 1, first.status), nodes);
    expect(again.changed).toBe(false);
  });
});
