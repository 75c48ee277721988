import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  prepareCgroupV2Subtree,
  readOwnCgroupV2,
  renderIsolateConfig,
  writeIfChanged,
} from "./isolate-config.ts";

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

/**
 * The cgroup v2 set-up against a fake cgroup filesystem (plain files): this
 * machine runs cgroup v1, so only the file logic is checked here.
 */
describe("prepareCgroupV2Subtree", () => {
  let cg: string;
  let proc: string;
  const own = "/kubepods/pod1/agent-container";
  const at = (...p: string[]) => join(cg, own, ...p);
  const read = (...p: string[]) => readFileSync(at(...p), "utf8");
  beforeEach(() => {
    cg = join(dir, "cgroup");
    proc = join(dir, "proc");
    mkdirSync(join(proc, "self"), { recursive: true });
    writeFileSync(join(proc, "self", "cgroup"), `0::${own}\n`);
    mkdirSync(at(), { recursive: true });
    writeFileSync(at("cgroup.procs"), "1\n17\n");
    writeFileSync(at("cgroup.controllers"), "cpuset cpu io memory pids\n");
    writeFileSync(at("cgroup.subtree_control"), "");
  });
  const prepare = () => prepareCgroupV2Subtree({ root: cg, procRoot: proc });

  it("moves the agent's processes into a leaf and delegates memory, cpu and pids to the boxes' parent", () => {
    expect(prepare()).toBe(at("envicutor"));
    expect(read("agent", "cgroup.procs")).toBe("1\n17\n");
    expect(read("cgroup.subtree_control")).toBe("+memory+cpu+pids");
    expect(read("envicutor", "cgroup.subtree_control")).toBe("+memory+cpu+pids");
  });

  it("enables only controllers the parent has", () => {
    writeFileSync(at("cgroup.controllers"), "memory\n");
    expect(prepare()).toBe(at("envicutor"));
    expect(read("envicutor", "cgroup.subtree_control")).toBe("+memory");
  });

  it("throws when memory cannot be delegated (the caller runs without --cg)", () => {
    writeFileSync(at("cgroup.controllers"), "cpu pids\n");
    expect(prepare).toThrow(/cannot delegate the memory controller/);
  });

  it("an agent already in the leaf reuses the same subtree (restart, or a second agent)", () => {
    expect(prepare()).toBe(at("envicutor"));
    writeFileSync(join(proc, "self", "cgroup"), `0::${own}/agent\n`);
    expect(prepare()).toBe(at("envicutor"));
    expect(
      readdirSync(at())
        .filter((n) => !n.startsWith("cgroup."))
        .sort(),
    ).toEqual(["agent", "envicutor"]);
  });

  it("a custom name for the boxes' parent", () => {
    expect(prepareCgroupV2Subtree({ root: cg, procRoot: proc, name: "boxes" })).toBe(at("boxes"));
  });
});
