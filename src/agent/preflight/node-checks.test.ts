import { describe, expect, it } from "vitest";
import type { IsolateInfo } from "../sandbox/isolate-detect.ts";
import { formatChecks } from "./format-checks.ts";
import { anyFailed, type CheckResult, checkNode, type NodeProbes } from "./node-checks.ts";

const isolate1: IsolateInfo = { bin: "isolate", version: "1.10.1", major: 1, cgroupMode: "v1", useCg: true };

/** A node with everything, unless a test says otherwise. */
function fakeNode(over: Partial<NodeProbes> = {}): NodeProbes {
  return {
    isRoot: () => true,
    isolate: async () => isolate1,
    cgroupMode: () => "v1",
    boxNamespaces: async () => undefined,
    nixVersion: async () => "2.8.0",
    buildUsers: async () => ["nixbld1", "nixbld2"],
    keyctl: async () => true,
    boxNetwork: async () => undefined,
    ...over,
  };
}

const opts = { isolateBin: "/usr/local/bin/isolate", nixBuild: "nix-build", networkEnabled: false };
const byName = (rs: CheckResult[], name: string) => rs.find((r) => r.name === name)!;

describe("checkNode", () => {
  it("passes on a node with everything", async () => {
    const rs = await checkNode(opts, fakeNode());
    expect(rs.map((r) => [r.name, r.status])).toEqual([
      ["root", "ok"],
      ["isolate", "ok"],
      ["cgroups", "ok"],
      ["namespaces", "ok"],
      ["nix", "ok"],
      ["nix build users", "ok"],
      ["keyctl", "ok"],
      ["box network", "ok"],
    ]);
    expect(anyFailed(rs)).toBe(false);
    expect(byName(rs, "isolate").detail).toBe("isolate 1.10.1 (/usr/local/bin/isolate)");
  });

  it("fails without isolate, naming the path and how to get it", async () => {
    const rs = await checkNode(
      { ...opts, isolateBin: "/nonexistent" },
      fakeNode({ isolate: async () => undefined }),
    );
    const r = byName(rs, "isolate");
    expect(r.status).toBe("fail");
    expect(r.detail).toContain("/nonexistent");
    expect(r.fix).toContain("https://github.com/ioi/isolate");
    expect(r.fix).toContain("ENVICUTOR_ISOLATE_BIN");
    expect(anyFailed(rs)).toBe(true);
  });

  it("warns (does not fail) when isolate cannot use the node's cgroups", async () => {
    const two: IsolateInfo = { bin: "isolate", version: "2.6", major: 2, cgroupMode: "v1", useCg: false };
    const rs = await checkNode(opts, fakeNode({ isolate: async () => two }));
    const r = byName(rs, "cgroups");
    expect(r.status).toBe("warn");
    expect(r.detail).toContain("isolate 2.6 cannot use cgroup v1");
    expect(r.fix).toBe("use isolate 1.x on a cgroup v1 node");
    expect(anyFailed(rs)).toBe(false);
  });

  it("fails without root, namespaces, Nix or build users", async () => {
    const rs = await checkNode(
      opts,
      fakeNode({
        isRoot: () => false,
        boxNamespaces: async () => "unshare: unshare failed: Operation not permitted",
        nixVersion: async () => {
          throw new Error("spawn nix-build ENOENT");
        },
        buildUsers: async () => [],
      }),
    );
    for (const name of ["root", "namespaces", "nix", "nix build users"])
      expect(byName(rs, name).status).toBe("fail");
    expect(byName(rs, "namespaces").detail).toContain("Operation not permitted");
    expect(byName(rs, "nix").detail).toContain("ENOENT");
    expect(byName(rs, "nix").fix).toContain("nix-bin");
  });

  it("checks ip and nft only when networked Runtimes are on", async () => {
    let asked = 0;
    const boxNetwork = async () => {
      asked++;
      return "nft is not installed";
    };
    const off = await checkNode(opts, fakeNode({ boxNetwork }));
    expect(byName(off, "box network").status).toBe("ok");
    expect(asked).toBe(0);
    const on = await checkNode({ ...opts, networkEnabled: true }, fakeNode({ boxNetwork }));
    expect(byName(on, "box network")).toMatchObject({
      status: "fail",
      detail: expect.stringContaining("nft"),
    });
  });

  it("a missing keyctl or cgroup hierarchy is a warning", async () => {
    const rs = await checkNode(opts, fakeNode({ keyctl: async () => false, cgroupMode: () => "none" }));
    expect(byName(rs, "keyctl").status).toBe("warn");
    expect(byName(rs, "cgroups").status).toBe("warn");
    expect(anyFailed(rs)).toBe(false);
  });
});

describe("formatChecks", () => {
  it("prints the fix under what is not ok, and a summary", async () => {
    const rs = await checkNode(opts, fakeNode({ isolate: async () => undefined, keyctl: async () => false }));
    const text = formatChecks(rs);
    expect(text).toMatch(/^ok {4}root/m);
    expect(text).toMatch(/^FAIL {2}isolate/m);
    expect(text).toMatch(/^ +fix: build isolate/m);
    expect(text).toMatch(/^ +fix: apt-get install keyutils/m);
    expect(text.split("\n").at(-1)).toBe("1 check(s) failed: isolate");
    expect(
      formatChecks(await checkNode(opts, fakeNode()))
        .split("\n")
        .at(-1),
    ).toBe("all checks passed");
  });
});
