import { describe, expect, it } from "vitest";
import { runCommand } from "./run-command.ts";

describe("runCommand", () => {
  it("gives the exit code and the trimmed output, and never rejects", async () => {
    expect(await runCommand("sh", ["-c", "echo out; echo err >&2"], 5_000)).toEqual({
      exitCode: 0,
      stdout: "out",
      stderr: "err",
    });
    const failed = await runCommand("sh", ["-c", "echo why >&2; exit 3"], 5_000);
    expect(failed).toMatchObject({ exitCode: 3, stderr: "why" });
  });

  it("says why when the command could not run or was killed (no exit code)", async () => {
    const missing = await runCommand("/nonexistent/envicutor-cmd", [], 5_000);
    expect(missing.exitCode).toBeNull();
    expect(missing.stderr).toMatch(/ENOENT/);
    const slow = await runCommand("sleep", ["5"], 100);
    expect(slow.exitCode).toBeNull();
  });
});
