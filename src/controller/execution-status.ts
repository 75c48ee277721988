import { type Execution, ExecutionConditions, type ExecutionStatus } from "../api/index.ts";
import { rfc3339, setConditions } from "../k8s/conditions.ts";

/**
 * Status transitions the controller writes. Each starts from the object's
 * current status, so what the agent wrote (results, Running) is never lost.
 */

export function scheduledStatus(
  exec: Execution,
  node: string,
  runtimeGeneration: number,
  now: Date,
): ExecutionStatus {
  const prev = exec.status ?? {};
  const attempts = (prev.attempts ?? 0) + 1;
  const { conditions } = setConditions(
    prev.conditions,
    [
      {
        type: ExecutionConditions.Scheduled,
        status: "True",
        reason: "Scheduled",
        message: `assigned to node ${node} (attempt ${attempts})`,
        observedGeneration: exec.metadata.generation,
      },
    ],
    now,
  );
  return {
    ...prev,
    phase: "Scheduled",
    nodeName: node,
    runtimeGeneration,
    attempts,
    scheduledTime: rfc3339(now),
    ...(exec.metadata.generation !== undefined ? { observedGeneration: exec.metadata.generation } : {}),
    conditions,
  };
}

/** Failed before or instead of running: no verdict; Complete and Failed True with the reason. */
export function failedStatus(exec: Execution, reason: string, message: string, now: Date): ExecutionStatus {
  const prev = exec.status ?? {};
  const g = exec.metadata.generation;
  const { conditions } = setConditions(
    prev.conditions,
    [
      ...(prev.nodeName || prev.phase === "Scheduled" || prev.phase === "Running"
        ? [
            {
              type: ExecutionConditions.Running,
              status: "False" as const,
              reason,
              message,
              observedGeneration: g,
            },
          ]
        : []),
      { type: ExecutionConditions.Complete, status: "True", reason, message, observedGeneration: g },
      { type: ExecutionConditions.Failed, status: "True", reason, message, observedGeneration: g },
    ],
    now,
  );
  const next: ExecutionStatus = {
    ...prev,
    phase: "Failed",
    message: message.slice(0, 4096),
    completionTime: rfc3339(now),
    conditions,
  };
  delete next.verdict;
  if (g !== undefined) next.observedGeneration = g;
  return next;
}

/** Back to the queue after its node was lost: node cleared, attempts kept. */
export function requeuedStatus(exec: Execution, message: string, now: Date): ExecutionStatus {
  const prev = exec.status ?? {};
  const g = exec.metadata.generation;
  const { conditions } = setConditions(
    prev.conditions,
    [
      {
        type: ExecutionConditions.Scheduled,
        status: "False",
        reason: "NodeLost",
        message,
        observedGeneration: g,
      },
      ...(prev.conditions?.some((c) => c.type === ExecutionConditions.Running)
        ? [
            {
              type: ExecutionConditions.Running,
              status: "False" as const,
              reason: "NodeLost",
              message,
              observedGeneration: g,
            },
          ]
        : []),
    ],
    now,
  );
  const next: ExecutionStatus = { ...prev, phase: "Pending", message: message.slice(0, 4096), conditions };
  delete next.nodeName;
  delete next.runtimeGeneration;
  delete next.startTime;
  delete next.scheduledTime;
  // Partial results of the lost attempt would be misleading.
  delete next.compile;
  delete next.tests;
  return next;
}

/** Pending with Scheduled=False and why; unchanged status when it already says so. */
export function waitingStatus(
  exec: Execution,
  reason: string,
  message: string,
  now: Date,
): { status: ExecutionStatus; changed: boolean } {
  const prev = exec.status ?? {};
  const { conditions, changed } = setConditions(
    prev.conditions,
    [
      {
        type: ExecutionConditions.Scheduled,
        status: "False",
        reason,
        message,
        observedGeneration: exec.metadata.generation,
      },
    ],
    now,
  );
  return { status: { ...prev, phase: "Pending", conditions }, changed: changed || prev.phase !== "Pending" };
}
