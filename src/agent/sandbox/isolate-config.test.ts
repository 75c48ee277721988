import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readOwnCgroupV2, renderIsolateConfig, writeIfChanged } from "./isolate-config.ts";

const base = {
  boxRoot: "/var/local/lib/isolate",
  cgRoot: "/sys/fs/cgroup",
  firstUid: 60000,
  firstGid: 60000,
  numBoxes: 1000,
};
const keys = (text: string) =>
  text
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split("=")[0]!.trim());

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "isolate-config-test-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("renderIsolateConfig", () => {
  it("1.x: no lock_root (isolate 1.x rejects unknown keys)", () => {
    const text = renderIsolateConfig({ major: 1, ...base, lockRoot: "/run/x" });
    expect(keys(text)).toEqual(["box_root", "cg_root", "first_uid", "first_gid", "num_boxes"]);
    expect(text).not.toContain("lock_root");
    expect(text).toContain("box_root = /var/local/lib/isolate\n");
    expect(text).toContain("num_boxes = 1000\n");
    expect(text.endsWith("\n")).toBe(true);
  });

  it("2.x: lock_root, default or given", () => {
    const d = renderIsolateConfig({ major: 2, ...base });
    expect(keys(d)).toEqual(["box_root", "lock_root", "cg_root", "first_uid", "first_gid", "num_boxes"]);
    expect(d).toContain("lock_root = /run/isolate/locks\n");
    expect(renderIsolateConfig({ major: 2, ...base, lockRoot: "/run/mine" })).toContain(
      "lock_root = /run/mine\n",
    );
  });

  it("is deterministic (several agents write the same file)", () => {
    expect(renderIsolateConfig({ major: 2, ...base })).toBe(renderIsolateConfig({ major: 2, ...base }));
  });
});

describe("writeIfChanged", () => {
  it("creates the file and its directory", () => {
    const p = join(dir, "etc", "isolate");
    expect(writeIfChanged(p, "a = 1\n")).toBe(true);
    expect(readFileSync(p, "utf8")).toBe("a = 1\n");
    expect(statSync(p).mode & 0o777).toBe(0o644);
  });

  it("does not rewrite identical content (the inode and mtime stay)", () => {
    const p = join(dir, "isolate");
    writeIfChanged(p, "a = 1\n");
    const before = statSync(p);
    expect(writeIfChanged(p, "a = 1\n")).toBe(false);
    const after = statSync(p);
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBe(before.mtimeMs);
  });

  it("replaces different content atomically, leaving no temp file", () => {
    const p = join(dir, "isolate");
    writeFileSync(p, "old\n");
    const ino = statSync(p).ino;
    expect(writeIfChanged(p, "new\n")).toBe(true);
    expect(readFileSync(p, "utf8")).toBe("new\n");
    expect(statSync(p).ino).not.toBe(ino); // renamed over, never truncated in place
    expect(readdirSync(dir)).toEqual(["isolate"]);
  });
});

describe("readOwnCgroupV2", () => {
  const proc = (pid: string, text: string) => {
    mkdirSync(join(dir, pid), { recursive: true });
    writeFileSync(join(dir, pid, "cgroup"), text);
  };

  it("reads the 0:: line", () => {
    proc("self", "0::/kubepods/burstable/pod1/abc\n");
    expect(readOwnCgroupV2("self", dir)).toBe("/kubepods/burstable/pod1/abc");
  });

  it("root cgroup", () => {
    proc("42", "0::/\n");
    expect(readOwnCgroupV2(42, dir)).toBe("/");
  });

  it("finds the 0:: line among v1 lines (hybrid)", () => {
    proc("7", "12:memory:/x\n1:name=systemd:/y\n0::/unified/path\n");
    expect(readOwnCgroupV2(7, dir)).toBe("/unified/path");
  });

  it("pure cgroup v1: throws", () => {
    proc("8", "4:memory:/x\n1:cpu:/\n");
    expect(() => readOwnCgroupV2(8, dir)).toThrow(/not on cgroup v2/);
  });
});
