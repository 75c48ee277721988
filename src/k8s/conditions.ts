import type { Condition } from "../api/index.ts";

export type ConditionStatus = Condition["status"];

/** What a controller decides; lastTransitionTime is managed by setCondition. */
export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
  observedGeneration?: number;
}

export function getCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === "True";
}

/**
 * meta.SetStatusCondition: returns a new list with the condition set.
 * lastTransitionTime changes only when status changes; reason, message and
 * observedGeneration are always updated. `changed` says whether anything did.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date = new Date(),
): { conditions: Condition[]; changed: boolean } {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === input.type);
  const message = truncate(input.message ?? "", 32768);
  const reason = sanitizeReason(input.reason);
  const existing = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason,
    message,
    lastTransitionTime:
      existing && existing.status === input.status ? existing.lastTransitionTime : rfc3339(now),
    ...(input.observedGeneration !== undefined ? { observedGeneration: input.observedGeneration } : {}),
  };
  if (existing && conditionEqual(existing, next)) return { conditions: list, changed: false };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return { conditions: list, changed: true };
}

/** Sets several conditions in order. */
export function setConditions(
  conditions: readonly Condition[] | undefined,
  inputs: ConditionInput[],
  now: Date = new Date(),
): { conditions: Condition[]; changed: boolean } {
  let list = [...(conditions ?? [])];
  let changed = false;
  for (const input of inputs) {
    const r = setCondition(list, input, now);
    list = r.conditions;
    changed ||= r.changed;
  }
  return { conditions: list, changed };
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

function conditionEqual(a: Condition, b: Condition): boolean {
  return (
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.observedGeneration === b.observedGeneration &&
    a.lastTransitionTime === b.lastTransitionTime
  );
}

/** metav1.Time: RFC 3339 in seconds, as the apiserver writes it. */
export function rfc3339(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Reasons must match ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$; keep what fits. */
function sanitizeReason(reason: string): string {
  const cleaned = reason
    .replace(/[^A-Za-z0-9_,:]/g, "")
    .replace(/^[^A-Za-z]+/, "")
    .replace(/[,:]+$/, "");
  return cleaned.slice(0, 1024) || "Unknown";
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 3)}...`;
}
