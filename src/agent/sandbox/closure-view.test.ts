// ClosureViews on real directories standing in for store paths (no Nix, no
// isolate): hard links, no mounts, made once, renewed when a path changes.
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mountsBelow } from "./box-storage.ts";
import { ClosureViews, ClosureViewsOff, viewsRootFor } from "./closure-view.ts";

let tmp: string;
let root: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), "closure-view-test-"));
  root = join(tmp, "views");
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** A stand-in store path: a directory with a file, a subdirectory and a symlink to another path. */
function storePath(name: string): string {
  const p = join(tmp, "store", `${name.padStart(32, "0")}-${name}`);
  mkdirSync(join(p, "bin"), { recursive: true });
  writeFileSync(join(p, "bin", "prog"), `#!/bin/sh\necho ${name}\n`, { mode: 0o555 });
  symlinkSync("/nix/store/elsewhere/lib", join(p, "lib"));
  return p;
}

const waitGone = async (p: string) => {
  for (let i = 0; i < 100 && existsSync(p); i++) await new Promise((r) => setTimeout(r, 20));
  return !existsSync(p);
};

describe("ClosureViews (hard-link views of a closure)", () => {
  it("a view holds each store path's files as the store's own inodes, its symlinks as they are, and no mount", async () => {
    const [a, b] = [storePath("a"), storePath("b")];
    const plain = join(tmp, "store", `${"f".padStart(32, "0")}-plain`);
    writeFileSync(plain, "a plain-file store path");
    const views = new ClosureViews(root);
    const v = await views.use([a, b, plain]);
    const inView = (p: string, rel: string) => join(v.dir, p.split("/").pop()!, rel);
    expect(statSync(inView(a, "bin/prog")).ino).toBe(statSync(join(a, "bin/prog")).ino);
    expect(statSync(inView(b, "bin")).ino).not.toBe(statSync(join(b, "bin")).ino);
    expect(lstatSync(inView(a, "lib")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(inView(a, "lib"))).toBe("/nix/store/elsewhere/lib");
    expect(statSync(join(v.dir, plain.split("/").pop()!)).ino).toBe(statSync(plain).ino);
    expect(await mountsBelow(root)).toEqual([]);
    v.release();
  });

  it("the same closure, in any order, takes the same view", async () => {
    const [a, b] = [storePath("a"), storePath("b")];
    const views = new ClosureViews(root);
    const first = await views.use([a, b]);
    const second = await views.use([b, a]);
    expect(second.dir).toBe(first.dir);
    first.release();
    second.release();
  });

  it("a store path removed and made again is not served from the old view: the same call makes a new one, the old one goes", async () => {
    const a = storePath("a");
    const views = new ClosureViews(root);
    const old = await views.use([a]);
    old.release();
    rmSync(a, { recursive: true });
    storePath("a");
    const renewed = await views.use([a]);
    expect(await waitGone(old.dir)).toBe(true);
    expect(renewed.dir).not.toBe(old.dir);
    expect(statSync(join(renewed.dir, a.split("/").pop()!, "bin/prog")).ino).toBe(
      statSync(join(a, "bin/prog")).ino,
    );
    renewed.release();
  });

  it("prune removes an idle view whose store path was collected, and keeps the others and one in use", async () => {
    const [a, b, c] = [storePath("a"), storePath("b"), storePath("c")];
    const views = new ClosureViews(root);
    const va = await views.use([a]);
    va.release();
    const vb = await views.use([b]);
    vb.release();
    const vc = await views.use([c]);
    rmSync(a, { recursive: true });
    rmSync(c, { recursive: true });
    expect(views.prune()).toBe(1);
    expect(await waitGone(va.dir)).toBe(true);
    expect(existsSync(vb.dir)).toBe(true);
    expect(existsSync(vc.dir)).toBe(true);
    vc.release();
  });

  it("a closure whose view cannot be made is not tried again at once: the next call refuses without copying", async () => {
    const views = new ClosureViews(root);
    const missing = join(tmp, "store", `${"m".padStart(32, "0")}-missing`);
    const a = storePath("a");
    await expect(views.use([a, missing])).rejects.toThrow(/cannot make a closure view/);
    const t = Date.now();
    await expect(views.use([a, missing])).rejects.toThrow(/failed recently/);
    expect(Date.now() - t).toBeLessThan(50);
    // Other closures are not held back.
    (await views.use([storePath("b")])).release();
  });

  it("beyond 16 views the least recently used one nobody uses goes; one in use stays", async () => {
    const views = new ClosureViews(root);
    const held = await views.use([storePath("held")]);
    const dirs: string[] = [];
    for (let i = 0; i < 16; i++) {
      const v = await views.use([storePath(`p${i}`)]);
      dirs.push(v.dir);
      v.release();
    }
    expect(existsSync(held.dir)).toBe(true);
    expect(await waitGone(dirs[0]!)).toBe(true);
    expect(existsSync(dirs[15]!)).toBe(true);
    held.release();
  });

  it("removeAll takes every view away and leaves the store's files as they were", async () => {
    const a = storePath("a");
    const views = new ClosureViews(root);
    (await views.use([a])).release();
    expect(statSync(join(a, "bin/prog")).nlink).toBe(2);
    await views.removeAll();
    expect(existsSync(root)).toBe(false);
    expect(statSync(join(a, "bin/prog")).nlink).toBe(1);
  });

  it("what an earlier run left in the root is cleared before the first view", async () => {
    mkdirSync(join(root, "left-by-a-crash", "x"), { recursive: true });
    const views = new ClosureViews(root);
    (await views.use([storePath("a")])).release();
    expect(existsSync(join(root, "left-by-a-crash"))).toBe(false);
  });

  it.skipIf(statSync("/dev/shm").dev === statSync(tmpdir()).dev)(
    "a root where the store's files cannot be linked (another filesystem) turns views off, with the reason",
    async () => {
      const shm = mkdtempSync("/dev/shm/closure-view-test-");
      try {
        const views = new ClosureViews(join(shm, "views"));
        const a = storePath("a");
        await expect(views.use([a])).rejects.toThrow(ClosureViewsOff);
        await expect(views.use([a])).rejects.toThrow(/closure views are off.*cross-device/i);
        await expect(views.use([storePath("b")])).rejects.toThrow(ClosureViewsOff);
      } finally {
        rmSync(shm, { recursive: true, force: true });
      }
    },
  );

  it("an agent's views live beside the store, a directory per sandbox work directory", () => {
    expect(viewsRootFor("/var/lib/envicutor/sandbox")).toMatch(
      /^\/nix\/var\/envicutor\/store-views\/[0-9a-f]{16}$/,
    );
    expect(viewsRootFor("/a")).not.toBe(viewsRootFor("/b"));
    expect(viewsRootFor("/a", "/opt/nix/store")).toMatch(/^\/opt\/nix\/var\/envicutor\/store-views\//);
  });
});
