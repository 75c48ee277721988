// The CRDs generated from src/api, checked by the real kube-apiserver: valid
// objects are accepted, and each invalid one is rejected at create time with a
// message that names the offending field (OpenAPI schema and CEL rules).
import { type KubernetesObject, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runtimeSpec } from "../src/api/runtime.ts";
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

// spec.packageSet names one of the package sets the platform configured for
// the agents (Helm agent.nix.packageSets); a path, URL or <channel> would let
// whoever can create a Runtime have every node evaluate Nix code of their
// choosing as root, so the apiserver refuses them outright.
describe("Runtime spec.packageSet is a name, never a location", () => {
  const withSet = (name: string, packageSet: unknown) => {
    const o = validRuntime(name) as { spec: Record<string, unknown> };
    o.spec.packageSet = packageSet;
    return o;
  };

  it.each([
    ["an absolute path", "/tmp/evil.nix"],
    ["a relative path", "./pkgs"],
    ["a URL", "https://evil.example/pkgs.tar.gz"],
    ["a channel", "<nixpkgs>"],
    ["a Nix expression", "(import <nixpkgs> {})"],
    ["an upper-case name", "Default"],
    ["a name too long for a DNS label", "a".repeat(64)],
  ])("rejects %s", async (_what, packageSet) => {
    const message = await rejection(withSet("pkgset-bad", packageSet));
    const zod = runtimeSpec.safeParse((withSet("pkgset-bad", packageSet) as { spec: unknown }).spec);
    console.log(
      `[e2e] hostile: spec.packageSet ${JSON.stringify(packageSet)} -> apiserver: ${message ?? "ACCEPTED"}; zod: ${zod.success ? "ACCEPTED" : zod.error.issues.map((i) => i.message).join("; ")}`,
    );
    expect(message, "the apiserver accepted a package set location").toBeDefined();
    expect(message).toContain("spec.packageSet");
    expect(zod.success).toBe(false);
  });

  it("says why for a path: it must name a configured package set", async () => {
    const message = await rejection(withSet("pkgset-path", "/etc/nixos/pkgs.nix"));
    expect(message).toContain("must name one of the package sets the platform configured");
  });

  it.each(["default", "nixpkgs-24-05", "stand-in"])("accepts the name %s", async (packageSet) => {
    expect(await rejection(withSet(`pkgset-${packageSet}`, packageSet))).toBeUndefined();
    expect(runtimeSpec.safeParse((withSet("x", packageSet) as { spec: unknown }).spec).success).toBe(true);
  });
});
