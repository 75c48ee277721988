// Runtimes and Executions shaped like the apiserver returns them, for the gateway's unit tests.
import type { Execution, ExecutionStatus } from "../api/execution.ts";
import type { Runtime } from "../api/runtime.ts";
import { PYTHON_3_SPEC } from "../api/test-fixtures.ts";

export function readyRuntime(
  name: string,
  spec: Partial<Runtime["spec"]> = {},
  created = "2026-01-01T00:00:00Z",
): Runtime {
  return {
    apiVersion: "envicutor.io/v1alpha1",
    kind: "Runtime",
    metadata: { name, creationTimestamp: created },
    spec: { ...PYTHON_3_SPEC, ...spec },
    status: {
      conditions: [
        { type: "Ready", status: "True", reason: "Ready", message: "", lastTransitionTime: created },
      ],
    },
  } as Runtime;
}

export function finishedExecution(status: ExecutionStatus, spec: Partial<Execution["spec"]> = {}): Execution {
  return {
    apiVersion: "envicutor.io/v1alpha1",
    kind: "Execution",
    metadata: {
      name: "d9c1c3a0-1111-4222-8333-944455556666",
      namespace: "team-a",
      creationTimestamp: "2026-01-01T00:00:00Z",
      annotations: { "gateway.envicutor.io/judge0-language-id": "71" },
    },
    spec: {
      runtime: "python-3",
      files: [{ name: "main.py", content: "print('hi')", encoding: "utf8" }],
      stdin: "",
      outputComparison: "IgnoreTrailingWhitespace",
      priority: 0,
      ...spec,
    },
    status,
  } as Execution;
}
