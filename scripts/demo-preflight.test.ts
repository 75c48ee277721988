import { describe, expect, it } from "vitest";
import type { NodeProbes } from "../src/agent/preflight/node-checks.ts";
import { preflight } from "./demo-preflight.ts";

const fake = (over: Partial<NodeProbes>): NodeProbes => ({
  isRoot: () => true,
  isolate: async (bin) => ({ bin, version: "1.10.1", major: 1, cgroupMode: "v1", useCg: true }),
  cgroupMode: () => "v1",
  boxNamespaces: async () => undefined,
  nixVersion: async () => "2.8.0",
  buildUsers: async () => ["nixbld1"],
  keyctl: async () => true,
  boxNetwork: async () => undefined,
  ...over,
});

describe("demo preflight", () => {
  it("stops on a missing isolate before the set-up, naming the isolate the agent would use", async () => {
    const p = await preflight(
      "before-setup",
      { ENVICUTOR_ISOLATE_BIN: "/nowhere/isolate" },
      fake({ isolate: async () => undefined }),
    );
    expect(p.failed).toEqual(["isolate"]);
    expect(p.text).toContain("/nowhere/isolate: not found");
  });

  it("Nix missing before the set-up only warns (the set-up installs it); after it, it fails", async () => {
    const noNix = fake({
      nixVersion: async () => {
        throw new Error("spawn nix-build ENOENT");
      },
      buildUsers: async () => [],
    });
    const before = await preflight("before-setup", {}, noNix);
    expect(before.failed).toEqual([]);
    expect(before.text).toMatch(/^WARN {2}nix .*scripts\/setup.sh installs it next/m);
    expect((await preflight("after-setup", {}, noNix)).failed).toEqual(["nix", "nix build users"]);
  });
});
