import { describe, expect, it } from "vitest";
import type { Execution, ExecutionStatus } from "../api/execution.ts";
import { validExecution } from "../api/test-fixtures.ts";
import { agentView } from "./execution-view.ts";

function ex(status: ExecutionStatus): Execution {
  const e = validExecution("e", "ns") as unknown as Execution;
  e.spec.testCases = [{ stdin: "in".repeat(1000) }];
  (e.metadata as { managedFields?: unknown }).managedFields = [{ manager: "kubectl" }];
  e.status = status;
  return e;
}

describe("the agent's cached view of its node's Executions", () => {
  const cases: [string, ExecutionStatus, { spec: boolean }][] = [
    ["an Execution it is to run keeps its whole spec", { phase: "Scheduled", nodeName: "n" }, { spec: true }],
    ["a running one keeps its whole spec", { phase: "Running", nodeName: "n" }, { spec: true }],
    [
      "a finished one shrinks to its name and phase",
      { phase: "Succeeded", nodeName: "n", tests: [{ name: "1", stdout: "o".repeat(9999) }] },
      { spec: false },
    ],
  ];
  it.each(cases)("%s", (_n, status, want) => {
    const v = agentView(ex(status));
    expect((v.metadata as { managedFields?: unknown }).managedFields).toBeUndefined();
    expect(v.status?.phase).toBe(status.phase);
    expect(v.spec.testCases !== undefined).toBe(want.spec);
    if (!want.spec) expect(JSON.stringify(v).length).toBeLessThan(400);
  });
});
