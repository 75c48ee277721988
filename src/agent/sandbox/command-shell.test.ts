import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CommandShell, removeStaleShellDirs } from "./command-shell.ts";
import { closeCommandShells, runCommand } from "./run-command.ts";

afterAll(closeCommandShells);

const shellDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith("envicutor-cmd-"));

describe("CommandShell", () => {
  it("runs commands one after another in one shell, each with its own output", async () => {
    const sh = new CommandShell();
    for (let i = 0; i < 20; i++)
      expect(await sh.run("echo", [String(i)], 5_000)).toMatchObject({ stdout: String(i) });
    expect(await sh.run("sh", ["-c", "exit 2"], 5_000)).toEqual({ exitCode: 2, stdout: "", stderr: "" });
    sh.close();
  });

  it("a shell that dies mid-command gives that command no exit code and a reason, and is not used again", async () => {
    const sh = new CommandShell();
    const running = sh.run("sleep", ["5"], 10_000);
    await new Promise((r) => setTimeout(r, 200));
    (sh as unknown as { sh: { kill(s: string): void } }).sh.kill("SIGKILL");
    const res = await running;
    expect(res?.exitCode).toBeNull();
    expect(res?.stderr).toMatch(/command shell exited/);
    expect(sh.alive).toBe(false);
    // A command given to a shell already gone never starts there: runCommand starts it from the agent.
    expect(await sh.run("id", [], 1_000)).toBeUndefined();
    sh.close();
  });

  it('with "failure", a success reads back no output and a failure all of it', async () => {
    const sh = new CommandShell();
    const script = "echo out; echo err >&2; exit $0";
    expect(await sh.run("sh", ["-c", script, "0"], 5_000, "failure")).toEqual({
      exitCode: 0,
      stdout: "",
      stderr: "",
    });
    expect(await sh.run("sh", ["-c", script, "4"], 5_000, "failure")).toEqual({
      exitCode: 4,
      stdout: "out",
      stderr: "err",
    });
    sh.close();
  });

  it("leaves no directory behind when closed", () => {
    const before = shellDirs().length;
    const sh = new CommandShell();
    expect(shellDirs().length).toBe(before + 1);
    sh.close();
    expect(shellDirs().length).toBe(before);
  });
});

describe("runCommand's shells", () => {
  it("commands at once run at once, each in a shell of its own", async () => {
    const t = Date.now();
    const res = await Promise.all([1, 2, 3].map(() => runCommand("sleep", ["0.5"], 5_000)));
    expect(res.every((r) => r.exitCode === 0)).toBe(true);
    expect(Date.now() - t).toBeLessThan(1_400);
  });

  /** The exit code of `bin` run while the agent's PATH leads nowhere. */
  const exitWithoutPath = async (bin: string) => {
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent-dir";
    try {
      return (await runCommand(bin, [], 5_000)).exitCode;
    } finally {
      process.env.PATH = path;
    }
  };

  it("many commands at staggered times each get their own output, never another's", async () => {
    const runs = Array.from({ length: 60 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, (i * 7) % 23));
      return runCommand("/bin/echo", [`out-${i}`], 5_000);
    });
    expect((await Promise.all(runs)).map((r) => r.stdout)).toEqual(
      Array.from({ length: 60 }, (_, i) => `out-${i}`),
    );
  });

  it("a timeout kills the command; one that ends first is not killed", async () => {
    const slow = await runCommand("sleep", ["5"], 200);
    expect(slow).toMatchObject({ exitCode: null, stderr: "timed out after 200 ms" });
    const quick = await runCommand("/bin/echo", ["done"], 1_000);
    expect(quick).toEqual({ exitCode: 0, stdout: "done", stderr: "" });
  });

  it("finds commands through the agent's PATH as it is now", async () => {
    expect(await exitWithoutPath("id")).not.toBe(0);
    expect((await runCommand("id", [], 5_000)).exitCode).toBe(0);
  });

  it("a shell builtin's name (echo, printf, kill, true) starts the program, not the builtin", async () => {
    expect(await exitWithoutPath("true")).not.toBe(0);
  });

  it("its shells' directories exist only while they do", async () => {
    closeCommandShells();
    const tmp = process.env.TMPDIR;
    process.env.TMPDIR = mkdtempSync(join(tmpdir(), "shells-"));
    try {
      const dirs = () => readdirSync(process.env.TMPDIR!);
      await Promise.all([runCommand("id", [], 5_000), runCommand("id", [], 5_000)]);
      expect(dirs()).toHaveLength(2);
      closeCommandShells();
      expect(dirs()).toEqual([]);
    } finally {
      rmSync(process.env.TMPDIR, { recursive: true, force: true });
      if (tmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmp;
    }
  });
});

describe("CommandShell.stream", () => {
  const text = (s: NodeJS.ReadableStream) =>
    new Promise<string>((resolve) => {
      let out = "";
      s.on("data", (c: Buffer) => {
        out += c.toString();
      });
      s.on("close", () => resolve(out));
    });

  it("streams stdout and stderr apart, with stdin from the given bytes, many times in one shell", async () => {
    const sh = new CommandShell();
    for (let i = 0; i < 5; i++) {
      const cmd = await sh.stream("sh", ["-c", "tr a-z A-Z; echo err-$0 >&2"], `input ${i}\n`);
      expect(cmd).toBeDefined();
      expect(sh.busy).toBe(true);
      const [out, err, exit] = await Promise.all([text(cmd!.stdout), text(cmd!.stderr), cmd!.closed]);
      expect({ out, err, exit }).toEqual({
        out: `INPUT ${i}\n`,
        err: "err-sh\n",
        exit: { code: 0, signal: null },
      });
      expect(sh.busy).toBe(false);
    }
    sh.close();
  });

  it("output larger than a pipe's buffer arrives whole; no input is /dev/null", async () => {
    const sh = new CommandShell();
    const cmd = await sh.stream("sh", ["-c", "head -c 1000000 /dev/zero; cat"], "");
    const [out, exit] = await Promise.all([text(cmd!.stdout), cmd!.closed]);
    expect(out.length).toBe(1_000_000);
    expect(exit.code).toBe(0);
    sh.close();
  });

  it("kill signals the command, and the end says which signal; the shell serves again", async () => {
    const sh = new CommandShell();
    const cmd = await sh.stream("sleep", ["5"], "");
    cmd!.kill("SIGTERM"); // maybe before its pid is known: sent once it is
    expect(await cmd!.closed).toEqual({ code: null, signal: "SIGTERM" });
    const next = await sh.stream("echo", ["again"], "");
    expect(await text(next!.stdout)).toBe("again\n");
    sh.close();
  });

  it("a program that is not there ends with 127 and no hang, though it never opened its output", async () => {
    const sh = new CommandShell();
    const cmd = await sh.stream("/nonexistent/prog", [], "x");
    const [err, exit] = await Promise.all([text(cmd!.stderr), cmd!.closed]);
    expect(exit.code).toBe(127);
    expect(err).toMatch(/not found|No such file/);
    sh.close();
  });

  it("a shell killed mid-command ends it with an error, the orphaned command killed, output readers closed", async () => {
    const sh = new CommandShell();
    const cmd = await sh.stream("sleep", ["30"], "");
    await new Promise((r) => setTimeout(r, 200));
    const t = Date.now();
    (sh as unknown as { sh: { kill(s: string): void } }).sh.kill("SIGKILL");
    const exit = await cmd!.closed;
    expect(Date.now() - t).toBeLessThan(5_000); // not the 30 s the orphan would hold its output open
    expect(exit.code).toBeNull();
    expect(exit.error?.message).toMatch(/command shell exited/);
    expect(await sh.stream("id", [], "")).toBeUndefined();
    sh.close();
  });
});

describe("removeStaleShellDirs", () => {
  it("removes the shell directories of agents that are gone, and only those", async () => {
    const dir = mkdtempSync(join(tmpdir(), "stale-shells-"));
    const { spawnSync } = await import("node:child_process");
    const dead = spawnSync("true").pid!; // exited and reaped: nothing has this pid now (or not ours)
    for (const name of [
      `envicutor-cmd-${dead}-abc123`, // a SIGKILLed agent's
      `envicutor-cmd-${process.pid}-def456`, // this agent's own
      "envicutor-cmd-1-ghi789", // a live process's (pid 1)
      "envicutor-cmd-xyz123", // an older agent's, whose owner cannot be told: left
      "other",
    ])
      mkdirSync(join(dir, name));
    writeFileSync(join(dir, `envicutor-cmd-${dead}-abc123`, "in"), "hidden test input");
    expect(removeStaleShellDirs(dir)).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(
      [
        "envicutor-cmd-1-ghi789",
        `envicutor-cmd-${process.pid}-def456`,
        "envicutor-cmd-xyz123",
        "other",
      ].sort(),
    );
    rmSync(dir, { recursive: true, force: true });
  });
});
