import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { notReadOnly } from "./closure-view.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "closure-view-test-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const line = (point: string, opts: string) =>
  `36 25 8:1 /nix/store/x ${point} ${opts} shared:1 - ext4 /dev/sda1 rw`;
const info = (...lines: string[]) => {
  const p = join(dir, "mountinfo");
  writeFileSync(p, `${lines.join("\n")}\n`);
  return p;
};

describe("notReadOnly (a closure view's binds, from mountinfo)", () => {
  const view = "/state/sandbox/store-views/abc";

  it("accepts a view whose every bind is ro, nosuid and nodev, one per store path", async () => {
    const p = info(
      line(`${view}/a`, "ro,nosuid,nodev,relatime"),
      line(`${view}/b`, "ro,nosuid,nodev"),
      line("/other", "rw"),
    );
    expect(await notReadOnly(view, 2, p)).toBe("");
  });

  it("names a bind that is writable, setuid-capable or allows devices", async () => {
    expect(await notReadOnly(view, 1, info(line(`${view}/a`, "rw,nosuid,nodev")))).toBe(`${view}/a`);
    expect(await notReadOnly(view, 1, info(line(`${view}/a`, "ro,nodev")))).toBe(`${view}/a`);
    expect(await notReadOnly(view, 1, info(line(`${view}/a`, "ro,nosuid")))).toBe(`${view}/a`);
  });

  it("refuses a view with a bind missing or one too many (a store path not mounted, or mounted twice)", async () => {
    expect(await notReadOnly(view, 2, info(line(`${view}/a`, "ro,nosuid,nodev")))).toMatch(/1 binds for 2/);
    const twice = info(line(`${view}/a`, "ro,nosuid,nodev"), line(`${view}/a`, "ro,nosuid,nodev"));
    expect(await notReadOnly(view, 1, twice)).toMatch(/2 binds for 1/);
  });

  it("does not count mounts of another view whose name starts the same", async () => {
    expect(
      await notReadOnly(view, 1, info(line(`${view}/a`, "ro,nosuid,nodev"), line(`${view}x/a`, "rw"))),
    ).toBe("");
  });
});
