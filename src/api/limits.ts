import { LIMIT_FIELDS, type PartialStageLimits } from "./common.ts";
import type { ExecutionSpec } from "./execution.ts";
import { effectiveRuntimeLimits, type RuntimeLimits, type RuntimeSpec } from "./runtime.ts";

export interface LimitViolation {
  field: string;
  message: string;
}

/**
 * The limits an Execution runs with: the Runtime's defaults, overridden by the
 * Execution's requests, each of which must stay within the Runtime's bounds.
 * The controller rejects an Execution with violations; the agent refuses to
 * run one (defence in depth).
 */
export function resolveExecutionLimits(
  runtime: Pick<RuntimeSpec, "limits" | "maxLimits">,
  spec: Pick<ExecutionSpec, "limits">,
): { limits: RuntimeLimits; violations: LimitViolation[] } {
  const { limits: defaults, maxLimits } = effectiveRuntimeLimits(runtime as RuntimeSpec);
  const violations: LimitViolation[] = [];
  const resolve = (stage: "compile" | "run", overrides: PartialStageLimits | undefined) => {
    const out = { ...defaults[stage] };
    for (const field of LIMIT_FIELDS) {
      const requested = overrides?.[field];
      if (requested === undefined) continue;
      const bound = maxLimits[stage][field];
      if (bound !== undefined && requested > bound) {
        violations.push({
          field: `spec.limits.${stage}.${field}`,
          message: `spec.limits.${stage}.${field}: ${requested} exceeds the Runtime's bound of ${bound}`,
        });
      } else {
        out[field] = requested;
      }
    }
    return out;
  };
  return {
    limits: { compile: resolve("compile", spec.limits?.compile), run: resolve("run", spec.limits?.run) },
    violations,
  };
}
