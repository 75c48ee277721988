import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeEnv, parseEnvFile, parseHookOutput } from "./nix-env.ts";

// Setup hooks themselves run in Nix's build sandbox (hook-sandbox.ts); that is
// tested against real Nix in e2e/nix-installer.e2e.test.ts. Here: what the
// agent computes around them, and that it never runs a hook by itself.

describe("environment of a Runtime", () => {
  let dir: string;
  const pkg = (name: string) => join(dir, name);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "envicutor-nix-env-"));
    await mkdir(join(pkg("a"), "bin"), { recursive: true });
    await mkdir(join(pkg("a"), "nix-support"), { recursive: true });
    await writeFile(join(pkg("a"), "nix-support", "envicutor-env"), "# comment\nFOO=1\nBAR=x=y\n");
    await mkdir(join(pkg("b"), "bin"), { recursive: true });
    await mkdir(join(pkg("b"), "nix-support"), { recursive: true });
    await writeFile(join(pkg("b"), "nix-support", "envicutor-env"), "FOO=2\n");
    await mkdir(join(pkg("lib-only"), "lib"), { recursive: true });
    await mkdir(join(pkg("hooked"), "nix-support"), { recursive: true });
    await mkdir(join(pkg("hooked"), "lib", "site"), { recursive: true });
    await writeFile(
      join(pkg("hooked"), "nix-support", "setup-hook"),
      'addSite() { addToSearchPath SITEPATH "$1/lib/site"; }\naddEnvHooks "$hostOffset" addSite\nexport HOOKED="yes it is"\n',
    );
    await mkdir(join(pkg("sneaky"), "nix-support"), { recursive: true });
    await symlink("/etc/passwd", join(pkg("sneaky"), "nix-support", "envicutor-env"));
    await chmod(dir, 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("PATH from each package's bin in order; envicutor-env values, later packages win", async () => {
    const env = await computeEnv([pkg("a"), pkg("lib-only"), pkg("b")]);
    expect(env).toEqual({ PATH: `${pkg("a")}/bin:${pkg("b")}/bin`, FOO: "2", BAR: "x=y" });
  });

  it("setup hooks go to the sandbox runner with the base environment; its result is kept minus shell noise", async () => {
    const calls: Array<[readonly string[], Record<string, string>]> = [];
    const env = await computeEnv([pkg("a"), pkg("hooked")], {
      runSetupHooks: async (paths, base) => {
        calls.push([paths, base]);
        return { ...base, HOOKED: "yes it is", SHLVL: "1", PWD: "/" };
      },
    });
    expect(calls).toEqual([[[pkg("a"), pkg("hooked")], { PATH: `${pkg("a")}/bin`, FOO: "1", BAR: "x=y" }]]);
    expect(env).toEqual({ PATH: `${pkg("a")}/bin`, FOO: "1", BAR: "x=y", HOOKED: "yes it is" });
  });

  it("never runs a setup hook without a sandbox", async () => {
    await expect(computeEnv([pkg("hooked")])).rejects.toThrow(/no sandbox to run it in/);
  });

  it("refuses an envicutor-env that points outside the store", async () => {
    await expect(computeEnv([pkg("sneaky")])).rejects.toThrow(/resolves outside the store/);
  });

  it("parses env files strictly and NUL-separated env output", () => {
    expect(parseEnvFile("A=1\n\n# c\nB=\n")).toEqual([
      ["A", "1"],
      ["B", ""],
    ]);
    expect(() => parseEnvFile("not a pair\n")).toThrow(/invalid line/);
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(parseHookOutput(enc("A=1\0B=x\ny\0C=\0"))).toEqual({ A: "1", B: "x\ny", C: "" });
    expect(parseHookOutput(enc(""))).toEqual({});
    expect(() => parseHookOutput(enc("A=1"))).toThrow(/not NUL-terminated/);
    expect(() => parseHookOutput(enc("A=1\0=2\0"))).toThrow(/not NAME=VALUE/);
    expect(() => parseHookOutput(enc("1A=1\0"))).toThrow(/not NAME=VALUE/);
    expect(() => parseHookOutput(enc("A=1\0A=2\0"))).toThrow(/appears twice/);
    expect(() => parseHookOutput(new Uint8Array([0x41, 0x3d, 0xff, 0]))).toThrow(/not UTF-8/);
    expect(() =>
      parseHookOutput(enc("A=1\0".repeat(1) + Array.from({ length: 1025 }, (_, i) => `V${i}=x\0`).join(""))),
    ).toThrow(/more than 1024/);
  });
});
