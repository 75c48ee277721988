// The CRDs generated from src/api, checked by the real kube-apiserver: valid
// objects are accepted, and each invalid one is rejected at create time with a
// message that names the offending field (OpenAPI schema and CEL rules).
import { type KubernetesObject, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  INVALID_CASES,
  validCompiledRuntime,
  validExecution,
  validRuntime,
} from "../src/api/test-fixtures.ts";
import { kubeConfig } from "./support/cluster.ts";

let api: KubernetesObjectApi;
const created: KubernetesObject[] = [];

beforeAll(() => {
  api = KubernetesObjectApi.makeApiClient(kubeConfig());
  console.log(`[e2e] CRD validation against kube-apiserver ${inject("apiserverVersion")}`);
});

afterAll(async () => {
  for (const o of created) await api.delete(o).catch(() => undefined);
});

/** The apiserver's rejection message, or undefined when it accepted the object (dry run). */
async function rejection(object: Record<string, unknown>): Promise<string | undefined> {
  try {
    await api.create(object as KubernetesObject, undefined, "All");
    return undefined;
  } catch (err) {
    const body = (err as { body?: unknown }).body;
    const text = typeof body === "string" ? body : JSON.stringify(body ?? String(err));
    try {
      return (JSON.parse(text) as { message: string }).message;
    } catch {
      return text;
    }
  }
}

describe("CRD validation by the apiserver", () => {
  it("accepts the valid examples", async () => {
    for (const o of [
      validRuntime("valid-python"),
      validCompiledRuntime("valid-c"),
      validExecution("valid-exec"),
    ]) {
      expect(await rejection(o)).toBeUndefined();
      created.push(await api.create(o as KubernetesObject));
    }
  });

  it("has at least 25 invalid cases", () => {
    expect(INVALID_CASES.length).toBeGreaterThanOrEqual(25);
  });

  it.each(INVALID_CASES.map((c) => [c.name, c] as const))("rejects %s", async (_name, c) => {
    const message = await rejection(c.object);
    expect(message, "the apiserver accepted an invalid object").toBeDefined();
    for (const words of c.expect) expect(message).toContain(words);
  });

  it("keeps an Execution's spec immutable", async () => {
    const ex = validExecution("immutable-exec");
    const obj = await api.create(ex as KubernetesObject);
    created.push(obj);
    const changed = structuredClone(obj) as unknown as { spec: { priority: number } };
    changed.spec.priority = 99;
    await expect(api.replace(changed as unknown as KubernetesObject)).rejects.toThrow(/spec is immutable/);
  });

  it("defaults fields from the schema", async () => {
    const obj = (await api.create(validExecution("defaulted-exec") as KubernetesObject)) as unknown as {
      spec: { outputComparison: string; files: { encoding: string }[] };
    };
    created.push(obj as unknown as KubernetesObject);
    expect(obj.spec.outputComparison).toBe("IgnoreTrailingWhitespace");
    expect(obj.spec.files[0]!.encoding).toBe("utf8");
  });
});
