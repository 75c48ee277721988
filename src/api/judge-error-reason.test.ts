import { describe, expect, it } from "vitest";
import { getCondition } from "../k8s/conditions.ts";
import type { Execution } from "./execution.ts";
import { finish } from "./execution-lifecycle.ts";
import { validExecution } from "./test-fixtures.ts";

const NOW = new Date("2025-01-01T00:01:00Z");
const ex = () => validExecution("e", "ns") as unknown as Execution;

describe("a judge error's Failed condition", () => {
  it("says JudgeError when a checker or interactor failed, keeping the InternalError verdict", () => {
    const s = finish(
      ex(),
      { verdict: "InternalError", tests: [], message: "judge error: x", judgeError: true },
      NOW,
    );
    expect(s.verdict).toBe("InternalError");
    expect(s.phase).toBe("Failed");
    expect(getCondition(s.conditions, "Failed")?.reason).toBe("JudgeError");
    expect(getCondition(s.conditions, "Complete")?.reason).toBe("JudgeError");
  });

  it("says InternalError when the sandbox failed", () => {
    const s = finish(ex(), { verdict: "InternalError", tests: [], message: "isolate failed" }, NOW);
    expect(getCondition(s.conditions, "Failed")?.reason).toBe("InternalError");
  });
});
