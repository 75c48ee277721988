import { mkdtemp, readdir, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkRuntimeName, type InstallRecord, StateDir } from "./state-dir.ts";

const record = (runtimeName: string, generation: number, uid = "u"): InstallRecord => ({
  version: 1,
  runtimeName,
  generation,
  uid,
  packages: ["python3"],
  packageSet: "/pkgs",
  storePaths: ["/nix/store/4dfkzkjzb571fyzx8x2xk8jjxyid6g4l-python3-debian"],
  closure: ["/nix/store/4dfkzkjzb571fyzx8x2xk8jjxyid6g4l-python3-debian"],
  closureHash: "sha256:0",
  env: { PATH: "/nix/store/4dfkzkjzb571fyzx8x2xk8jjxyid6g4l-python3-debian/bin" },
  installedAt: "2025-01-01T00:00:00.000Z",
});

describe("StateDir", () => {
  let dir: string;
  let state: StateDir;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "envicutor-state-"));
    state = new StateDir(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("a generation is installed only after commit, through a symlink to its directory", async () => {
    const partial = await state.createPartial("python", 3);
    await writeFile(join(partial, "0"), "root");
    expect(await state.read("python", 3)).toBeUndefined();
    expect(await state.list()).toEqual([]);
    await state.commit(partial, record("python", 3));
    expect(await state.read("python", 3)).toEqual(record("python", 3));
    expect(await readlink(join(dir, "gcroots", "python", "3"))).toMatch(/^\.g3-[0-9a-f]+$/);
    expect(await state.roots("python", 3)).toEqual([join(dir, "gcroots", "python", "3", "0")]);
  });

  it("cleans leftovers of interrupted installs, never an installed generation", async () => {
    const done = await state.createPartial("python", 1);
    await state.commit(done, record("python", 1));
    const crashed1 = await state.createPartial("python", 1);
    const crashed2 = await state.createPartial("python", 2);
    expect(await state.cleanPartial("python", 1)).toEqual([crashed1]);
    expect(await state.cleanPartial("python")).toEqual([crashed2]);
    expect((await state.list()).map((r) => r.generation)).toEqual([1]);
  });

  it("re-committing a generation replaces the previous directory", async () => {
    const first = await state.createPartial("python", 1);
    await state.commit(first, record("python", 1, "old"));
    const second = await state.createPartial("python", 1);
    await state.commit(second, record("python", 1, "new"));
    expect((await state.read("python", 1))?.uid).toBe("new");
    expect((await readdir(join(dir, "gcroots", "python"))).sort()).toEqual(
      [second.split("/").pop() as string, "1"].sort(),
    );
  });

  it("removes one generation or all", async () => {
    for (const g of [1, 2]) await state.commit(await state.createPartial("python", g), record("python", g));
    await state.commit(await state.createPartial("gcc", 1), record("gcc", 1));
    expect(await state.remove("python", 1)).toBe(true);
    expect((await state.list()).map((r) => `${r.runtimeName}/${r.generation}`)).toEqual([
      "gcc/1",
      "python/2",
    ]);
    expect(await state.removeAll("python")).toBe(true);
    expect((await state.list()).map((r) => r.runtimeName)).toEqual(["gcc"]);
    expect(await state.remove("python", 7)).toBe(false);
  });

  it("rejects names that could escape the state directory", () => {
    for (const bad of ["..", "../x", "a/b", "A", "", "-x", "a..b"])
      expect(() => checkRuntimeName(bad)).toThrow();
    expect(() => checkRuntimeName("python-3.12")).not.toThrow();
  });
});
