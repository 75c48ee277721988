import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mountsBelow } from "./box-storage.ts";

const mountinfo = [
  "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
  "90 22 0:50 / /var/lib/envicutor/sandbox/fs-7 rw,nosuid,nodev - tmpfs envicutor-box rw,size=65536k",
  "91 22 0:51 / /var/lib/envicutor/sandbox/fs-8 rw,nosuid,nodev - tmpfs envicutor-box rw,size=65536k",
  "92 90 0:52 / /var/lib/envicutor/sandbox/fs-7/box/x rw - tmpfs none rw",
  "93 22 0:53 / /var/lib/envicutor/sandbox-other/fs-1 rw - tmpfs none rw",
  "94 22 0:54 / /var/lib/envicutor/sandbox/with\\040space rw - tmpfs none rw",
].join("\n");

describe("mountsBelow", () => {
  it("lists mounts at or below a directory, deepest first, with mountinfo's octal escapes decoded", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "mountinfo-")), "mountinfo");
    writeFileSync(file, mountinfo);
    expect(await mountsBelow("/var/lib/envicutor/sandbox", file)).toEqual([
      "/var/lib/envicutor/sandbox/fs-7/box/x",
      "/var/lib/envicutor/sandbox/with space",
      "/var/lib/envicutor/sandbox/fs-7",
      "/var/lib/envicutor/sandbox/fs-8",
    ]);
    expect(await mountsBelow("/var/lib/envicutor/sandbox/fs-8", file)).toEqual([
      "/var/lib/envicutor/sandbox/fs-8",
    ]);
  });
});
