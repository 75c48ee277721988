import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { NixInstallError } from "./errors.ts";
import { createLimiter, retryWithBackoff } from "./limiter.ts";
import { runCommand } from "./run.ts";

/** Running (a zombie waiting for a reaper counts as gone). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

describe("runCommand", () => {
  it("returns output and exit status", async () => {
    const r = await runCommand("sh", ["-c", "echo out; echo err >&2; exit 3"]);
    expect(r).toMatchObject({ stdout: "out\n", stderr: "err\n", exitCode: 3, timedOut: false });
  });

  it("a timeout kills the whole process group, even a child that ignores SIGTERM", async () => {
    const started = Date.now();
    const r = await runCommand("sh", ["-c", "sh -c 'trap \"\" TERM; echo $$; exec sleep 1000' & wait"], {
      timeoutMs: 300,
      killGraceMs: 300,
    });
    expect(r.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
    const grandchild = Number(r.stdout.trim());
    expect(grandchild).toBeGreaterThan(0);
    await new Promise((res) => setTimeout(res, 200));
    expect(alive(grandchild)).toBe(false);
  });

  it("an abort signal stops the command", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const r = await runCommand("sleep", ["1000"], { signal: ac.signal, killGraceMs: 100 });
    expect(r.aborted).toBe(true);
  });
});

describe("limiter and retry", () => {
  it("runs at most n tasks at once", async () => {
    const limit = createLimiter(2);
    let running = 0;
    let peak = 0;
    const task = async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
    };
    await Promise.all(Array.from({ length: 6 }, () => limit(task)));
    expect(peak).toBe(2);
  });

  it("retries transient failures with backoff but not UnknownPackage", async () => {
    let calls = 0;
    const v = await retryWithBackoff(
      async () => {
        if (++calls < 3) throw new NixInstallError("BuildFailed", "flaky");
        return "ok";
      },
      { baseDelayMs: 1, attempts: 5 },
    );
    expect([v, calls]).toEqual(["ok", 3]);
    calls = 0;
    await expect(
      retryWithBackoff(
        async () => {
          calls++;
          throw new NixInstallError("UnknownPackage", "nope");
        },
        { baseDelayMs: 1 },
      ),
    ).rejects.toMatchObject({ reason: "UnknownPackage" });
    expect(calls).toBe(1);
  });
});
