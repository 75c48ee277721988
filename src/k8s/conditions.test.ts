import { describe, expect, it } from "vitest";
import { getCondition, isConditionTrue, rfc3339, setCondition, setConditions } from "./conditions.ts";

const t0 = new Date("2025-01-01T00:00:00.123Z");
const t1 = new Date("2025-01-01T01:00:00Z");

describe("conditions", () => {
  it("adds a condition with a transition time in seconds", () => {
    const r = setCondition(
      undefined,
      { type: "Ready", status: "False", reason: "Installing", observedGeneration: 2 },
      t0,
    );
    expect(r.changed).toBe(true);
    expect(r.conditions).toEqual([
      {
        type: "Ready",
        status: "False",
        reason: "Installing",
        message: "",
        lastTransitionTime: "2025-01-01T00:00:00Z",
        observedGeneration: 2,
      },
    ]);
  });

  it("keeps lastTransitionTime when the status does not change, but updates reason/message/generation", () => {
    const a = setCondition(
      undefined,
      { type: "Ready", status: "False", reason: "Installing", message: "1/3" },
      t0,
    );
    const b = setCondition(
      a.conditions,
      { type: "Ready", status: "False", reason: "InstallFailed", message: "node x", observedGeneration: 3 },
      t1,
    );
    expect(b.changed).toBe(true);
    const c = getCondition(b.conditions, "Ready")!;
    expect(c.lastTransitionTime).toBe(rfc3339(t0));
    expect(c.reason).toBe("InstallFailed");
    expect(c.observedGeneration).toBe(3);
  });

  it("changes lastTransitionTime on a status change", () => {
    const a = setCondition(undefined, { type: "Ready", status: "False", reason: "Installing" }, t0);
    const b = setCondition(a.conditions, { type: "Ready", status: "True", reason: "AllNodesInstalled" }, t1);
    expect(getCondition(b.conditions, "Ready")!.lastTransitionTime).toBe(rfc3339(t1));
    expect(isConditionTrue(b.conditions, "Ready")).toBe(true);
  });

  it("reports no change for an identical condition and does not mutate its input", () => {
    const a = setCondition(undefined, { type: "Ready", status: "True", reason: "Ok", message: "m" }, t0);
    const frozen = structuredClone(a.conditions);
    const b = setCondition(a.conditions, { type: "Ready", status: "True", reason: "Ok", message: "m" }, t1);
    expect(b.changed).toBe(false);
    expect(a.conditions).toEqual(frozen);
  });

  it("sets several at once and sanitises reasons", () => {
    const r = setConditions(
      undefined,
      [
        { type: "Complete", status: "True", reason: "Limit out of bounds!" },
        { type: "Failed", status: "True", reason: "9Bad-Reason" },
      ],
      t0,
    );
    expect(r.conditions.map((c) => c.reason)).toEqual(["Limitoutofbounds", "BadReason"]);
  });
});
