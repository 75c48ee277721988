import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { usersWithKeys } from "./box-keyrings.ts";

describe("usersWithKeys", () => {
  it("reads the uids of /proc/key-users", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "key-users-")), "key-users");
    writeFileSync(
      file,
      "    0:     9 8/8 3/1000000 64/25000000\n60340:     3 3/3 3/200 56/20000\n60359:     3 3/3 3/200 41/20000\n",
    );
    expect([...(await usersWithKeys(file))]).toEqual([0, 60340, 60359]);
  });

  it("is empty when the kernel has no key support (no file)", async () => {
    expect((await usersWithKeys("/nonexistent/key-users")).size).toBe(0);
  });
});
