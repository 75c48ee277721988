import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveCommand } from "./isolate-box.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "resolve-command-test-"));
  for (const d of ["a", "b", "c"]) mkdirSync(join(dir, d));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const exe = (path: string) => writeFileSync(path, "#!/bin/sh\n", { mode: 0o755 });

describe("resolveCommand", () => {
  it("leaves paths with a slash alone", () => {
    expect(resolveCommand("./main", `${dir}/a`)).toBe("./main");
    expect(resolveCommand("/usr/bin/python3", `${dir}/a`)).toBe("/usr/bin/python3");
    expect(resolveCommand("sub/prog", `${dir}/a`)).toBe("sub/prog");
  });

  it("searches PATH in order", () => {
    exe(join(dir, "b", "tool"));
    exe(join(dir, "c", "tool"));
    expect(resolveCommand("tool", `${dir}/a:${dir}/b:${dir}/c`)).toBe(join(dir, "b", "tool"));
  });

  it("skips non-executable files and directories", () => {
    writeFileSync(join(dir, "a", "tool"), "data", { mode: 0o644 });
    mkdirSync(join(dir, "b", "tool"));
    exe(join(dir, "c", "tool"));
    expect(resolveCommand("tool", `${dir}/a:${dir}/b:${dir}/c`)).toBe(join(dir, "c", "tool"));
  });

  it("ignores relative and empty PATH entries (they would mean the host's cwd)", () => {
    const prev = process.cwd();
    process.chdir(dir);
    try {
      exe(join(dir, "tool"));
      expect(resolveCommand("tool", `:.:a:${dir}/c`)).toBe("tool");
    } finally {
      process.chdir(prev);
    }
  });

  it("returns the bare name when nothing matches or PATH is unset", () => {
    expect(resolveCommand("nothing-here", `${dir}/a`)).toBe("nothing-here");
    expect(resolveCommand("python3", undefined)).toBe("python3");
    expect(resolveCommand("python3", "")).toBe("python3");
  });

  it("follows a symlinked executable to report the link's path (as in Nix profiles)", () => {
    exe(join(dir, "c", "real"));
    symlinkSync(join(dir, "c", "real"), join(dir, "a", "tool"));
    expect(resolveCommand("tool", `${dir}/a`)).toBe(join(dir, "a", "tool"));
  });
});
