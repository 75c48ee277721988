import { afterAll, describe, expect, it } from "vitest";
import { closeCommandShells, execFileCommand, runCommand } from "./run-command.ts";

afterAll(closeCommandShells);

describe.each([
  ["through a command shell", runCommand],
  ["started from the agent (execFile)", execFileCommand],
])("runCommand %s", (_, run) => {
  it("gives the exit code and the trimmed output, and never rejects", async () => {
    expect(await run("sh", ["-c", "echo out; echo err >&2"], 5_000)).toEqual({
      exitCode: 0,
      stdout: "out",
      stderr: "err",
    });
    const failed = await run("sh", ["-c", "echo why >&2; exit 3"], 5_000);
    expect(failed).toMatchObject({ exitCode: 3, stderr: "why" });
  });

  it("says why when the command could not run or was killed", async () => {
    const missing = await run("/nonexistent/envicutor-cmd", [], 5_000);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toMatch(/ENOENT|not found/);
    const t = Date.now();
    const slow = await run("sleep", ["5"], 100);
    expect(slow.exitCode).toBeNull();
    expect(Date.now() - t).toBeLessThan(4_000);
  });

  it("passes arguments as they are: quotes, spaces, $, newlines, globs", async () => {
    const args = ["it's", "a b", "$HOME", "two\nlines", "*", "`id`", ""];
    const res = await run("/usr/bin/printf", ["%s|", ...args], 5_000);
    expect(res.stdout).toBe(`${args.join("|")}|`);
  });
});
