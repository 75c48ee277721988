import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { readStdin, stdinSource } from "./stdin.ts";

describe("stdinSource", () => {
  it("piped or redirected stdin is the run's input when --stdin is not given", () => {
    expect(stdinSource(undefined, false, false)).toEqual({ from: "process" });
  });
  it("a terminal is not read, nor stdin with --tests", () => {
    expect(stdinSource(undefined, false, true)).toEqual({ from: "none" });
    expect(stdinSource(undefined, true, false)).toEqual({ from: "none" });
  });
  it("--stdin wins: a file, or '-' for this process's stdin even on a terminal", () => {
    expect(stdinSource("in.txt", false, false)).toEqual({ from: "file", path: "in.txt" });
    expect(stdinSource("-", false, true)).toEqual({ from: "process" });
  });
});

describe("readStdin", () => {
  it("reads the whole stream", async () => {
    expect(await readStdin({ from: "process" }, Readable.from([Buffer.from("1 2 "), "3\n"]))).toBe("1 2 3\n");
  });
  it("reads a file, and nothing for none", async () => {
    const f = join(mkdtempSync(join(tmpdir(), "stdin-")), "in");
    writeFileSync(f, "x\n");
    expect(await readStdin({ from: "file", path: f })).toBe("x\n");
    expect(await readStdin({ from: "none" })).toBeUndefined();
  });
});
