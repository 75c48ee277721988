import { z } from "zod";

type Json = Record<string, unknown>;

/**
 * Turns a zod schema into a Kubernetes *structural* OpenAPI v3 schema.
 * zod's OpenAPI 3.0 output is close; what Kubernetes refuses or ignores is removed
 * here: `additionalProperties: false`, `propertyNames`, `$schema`, zod's
 * safe-integer bounds, and single-value enums of literals are kept as enums.
 */
export function toStructuralSchema(schema: z.ZodType): Json {
  const raw = z.toJSONSchema(schema, { target: "openapi-3.0", io: "input", unrepresentable: "any" }) as Json;
  return clean(raw) as Json;
}

const DROP_KEYS = new Set(["$schema", "propertyNames", "id", "$id"]);

function clean(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(clean);
  if (node === null || typeof node !== "object") return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node as Json)) {
    if (DROP_KEYS.has(key)) continue;
    if (key === "additionalProperties" && value === false) continue;
    if ((key === "maximum" || key === "minimum") && Math.abs(value as number) >= Number.MAX_SAFE_INTEGER)
      continue;
    if (key === "properties" || key === "patternProperties") {
      out[key] = Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, clean(v)]));
      continue;
    }
    out[key] = clean(value);
  }
  // Objects without declared properties (metadata) must preserve unknown fields or be typed by the apiserver.
  if (out.type === "object" && !out.properties && !out.additionalProperties) {
    out["x-kubernetes-preserve-unknown-fields"] = true;
  }
  return out;
}
