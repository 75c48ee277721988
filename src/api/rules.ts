import type { z } from "zod";
import type { CelRule } from "./common.ts";

/**
 * A validation rule written once for both sides: the CEL expression the
 * apiserver enforces at `kubectl apply` time, and the same check in TypeScript
 * so the controller and agent reject what slipped through (older CRDs, direct
 * etcd writes) with the same message.
 */
export interface DualRule<T> extends CelRule {
  check: (value: T) => boolean;
  /** Path of the offending field inside the value, for zod's error. */
  path?: (string | number)[];
}

export function withRules<S extends z.ZodType>(schema: S, rules: DualRule<z.output<S>>[]): S {
  const celRules: CelRule[] = rules.map(({ check: _check, path: _path, ...celRule }) => celRule);
  return schema
    .superRefine((value, ctx) => {
      for (const rule of rules) {
        if (!rule.check(value)) {
          ctx.addIssue({ code: "custom", message: rule.message ?? rule.rule, path: rule.path ?? [] });
        }
      }
    })
    .meta({ "x-kubernetes-validations": celRules }) as S;
}
