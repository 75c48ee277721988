import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeEnv, parseEnvFile, parseNulEnv } from "./nix-env.ts";

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
    await mkdir(join(pkg("looping"), "nix-support"), { recursive: true });
    await writeFile(join(pkg("looping"), "nix-support", "setup-hook"), "while :; do :; done\n");
    await chmod(dir, 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("PATH from each package's bin in order; envicutor-env values, later packages win", async () => {
    const env = await computeEnv([pkg("a"), pkg("lib-only"), pkg("b")]);
    expect(env).toEqual({ PATH: `${pkg("a")}/bin:${pkg("b")}/bin`, FOO: "2", BAR: "x=y" });
  });

  it("setup hooks: exported variables and env hooks run per package, nothing from the agent's env", async () => {
    process.env.ENVICUTOR_SHOULD_NOT_LEAK = "1";
    const env = await computeEnv([pkg("a"), pkg("hooked")]);
    delete process.env.ENVICUTOR_SHOULD_NOT_LEAK;
    expect(env.HOOKED).toBe("yes it is");
    expect(env.SITEPATH).toBe(`${pkg("hooked")}/lib/site`);
    expect(env.FOO).toBe("1");
    expect(env.ENVICUTOR_SHOULD_NOT_LEAK).toBeUndefined();
    expect(env.SHLVL).toBeUndefined();
  });

  it("a setup hook that loops fails with Timeout instead of hanging", async () => {
    const started = Date.now();
    await expect(computeEnv([pkg("looping")], { hookTimeoutMs: 500 })).rejects.toMatchObject({
      reason: "Timeout",
    });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("parses env files strictly and NUL-separated env output", () => {
    expect(parseEnvFile("A=1\n\n# c\nB=\n")).toEqual([
      ["A", "1"],
      ["B", ""],
    ]);
    expect(() => parseEnvFile("not a pair\n")).toThrow(/invalid line/);
    expect(parseNulEnv("A=1\0B=x\ny\0")).toEqual({ A: "1", B: "x\ny" });
  });
});
