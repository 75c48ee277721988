import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { canUseCg, detectCgroupMode, detectIsolate, parseIsolateVersion } from "./isolate-detect.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "isolate-detect-test-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("parseIsolateVersion", () => {
  it("1.x", () => {
    expect(
      parseIsolateVersion(
        "The process isolator 1.10.1\n(c) 2012--2023 Martin Mares and Bernard Blackham\nBuilt on 2026-11-23 from Git commit <unknown>\n",
      ),
    ).toEqual({ version: "1.10.1", major: 1 });
  });

  it("2.x without a patch level", () => {
    expect(parseIsolateVersion("The process isolator 2.6\n(c) 2012--2026 Martin Mares\n")).toEqual({
      version: "2.6",
      major: 2,
    });
  });

  it("finds it in stderr-like noise", () => {
    expect(parseIsolateVersion("\nwarning: foo\nThe process isolator 2.0.3\n")).toEqual({
      version: "2.0.3",
      major: 2,
    });
  });

  it("undefined for anything else", () => {
    expect(parseIsolateVersion("")).toBeUndefined();
    expect(parseIsolateVersion("bash: isolate: command not found")).toBeUndefined();
    expect(parseIsolateVersion("isolate version 2")).toBeUndefined();
  });
});

describe("canUseCg", () => {
  it("1.x only on cgroup v1, 2.x only on cgroup v2", () => {
    expect(canUseCg(1, "v1")).toBe(true);
    expect(canUseCg(1, "v2")).toBe(false);
    expect(canUseCg(1, "none")).toBe(false);
    expect(canUseCg(2, "v2")).toBe(true);
    expect(canUseCg(3, "v2")).toBe(true);
    expect(canUseCg(2, "v1")).toBe(false);
    expect(canUseCg(2, "none")).toBe(false);
  });
});

describe("detectCgroupMode", () => {
  it("v2: cgroup.controllers at the root", () => {
    writeFileSync(join(dir, "cgroup.controllers"), "cpu memory pids\n");
    expect(detectCgroupMode(dir)).toBe("v2");
  });

  it("v1: a memory hierarchy", () => {
    mkdirSync(join(dir, "memory"));
    expect(detectCgroupMode(dir)).toBe("v1");
  });

  it("none", () => {
    expect(detectCgroupMode(dir)).toBe("none");
    expect(detectCgroupMode(join(dir, "missing"))).toBe("none");
  });
});

describe("detectIsolate", () => {
  it("undefined when the binary does not exist", async () => {
    expect(await detectIsolate(join(dir, "no-such-isolate"), dir)).toBeUndefined();
  });

  it("reads the version from a fake binary and combines it with the cgroup mode", async () => {
    const fake = join(dir, "isolate");
    writeFileSync(fake, "#!/bin/sh\necho 'The process isolator 2.6'\n", { mode: 0o755 });
    const cg = join(dir, "cg");
    mkdirSync(cg);
    writeFileSync(join(cg, "cgroup.controllers"), "memory\n");
    expect(await detectIsolate(fake, cg)).toEqual({
      bin: fake,
      version: "2.6",
      major: 2,
      cgroupMode: "v2",
      useCg: true,
    });
    rmSync(join(cg, "cgroup.controllers"));
    mkdirSync(join(cg, "memory"));
    expect(await detectIsolate(fake, cg)).toMatchObject({ cgroupMode: "v1", useCg: false });
  });
});
