import { describe, expect, it } from "vitest";
import type { StageLimits } from "../../api/common.ts";
import type { RunResult } from "./isolate-box.ts";
import { parseMeta } from "./meta.ts";
import { judgeRun } from "./verdict.ts";

const limits: StageLimits = {
  cpuTimeMillis: 1000,
  wallTimeMillis: 3000,
  memoryKiB: 65536,
  processes: 16,
  openFiles: 64,
  fileSizeKiB: 1024,
  outputBytes: 4096,
};

const result = (meta: string, extra: Partial<RunResult> = {}): RunResult => ({
  meta: parseMeta(meta),
  stdout: Buffer.alloc(0),
  stderr: Buffer.alloc(0),
  outputExceeded: false,
  ...extra,
});

describe("judgeRun", () => {
  it("exit 0 is Accepted", () => {
    expect(judgeRun(result("time:0.01\nexitcode:0\n"), limits)).toEqual({
      verdict: "Accepted",
      message: "OK",
    });
  });

  it("no status and no exit code (older isolate) is Accepted", () => {
    expect(judgeRun(result("time:0.01\n"), limits).verdict).toBe("Accepted");
  });

  it("status OK is Accepted", () => {
    expect(judgeRun(result("status:OK\n"), limits).verdict).toBe("Accepted");
  });

  it("non-zero exit is RuntimeError with isolate's message", () => {
    expect(judgeRun(result("exitcode:3\nstatus:RE\nmessage:Exited with error status 3\n"), limits)).toEqual({
      verdict: "RuntimeError",
      message: "Exited with error status 3",
    });
  });

  it("non-zero exit code without status is still RuntimeError", () => {
    expect(judgeRun(result("exitcode:1\n"), limits)).toEqual({
      verdict: "RuntimeError",
      message: "exited with code 1",
    });
  });

  it("a signal is RuntimeError", () => {
    expect(judgeRun(result("exitsig:11\nstatus:SG\nmessage:Caught fatal signal 11\n"), limits)).toEqual({
      verdict: "RuntimeError",
      message: "Caught fatal signal 11",
    });
    expect(judgeRun(result("exitsig:8\nstatus:SG\n"), limits)).toEqual({
      verdict: "RuntimeError",
      message: "killed by signal 8",
    });
  });

  it("CPU time limit", () => {
    const v = judgeRun(result("status:TO\nmessage:Time limit exceeded\nkilled:1\n"), limits);
    expect(v).toEqual({ verdict: "TimeLimitExceeded", message: "CPU time limit of 1000 ms exceeded" });
  });

  it("wall time limit", () => {
    const v = judgeRun(result("status:TO\nmessage:Time limit exceeded (wall clock)\nkilled:1\n"), limits);
    expect(v).toEqual({ verdict: "TimeLimitExceeded", message: "wall time limit of 3000 ms exceeded" });
  });

  it("cgroup OOM kill is MemoryLimitExceeded whatever the status", () => {
    const v = judgeRun(
      result("cg-mem:65536\ncg-oom-killed:1\nexitsig:9\nstatus:SG\nmessage:Caught fatal signal 9\n"),
      limits,
    );
    expect(v).toEqual({ verdict: "MemoryLimitExceeded", message: "memory limit of 65536 KiB exceeded" });
    expect(judgeRun(result("cg-oom-killed:1\nexitcode:1\nstatus:RE\n"), limits).verdict).toBe(
      "MemoryLimitExceeded",
    );
  });

  it("a kill by signal at the memory limit is MemoryLimitExceeded; below it is RuntimeError", () => {
    expect(judgeRun(result("max-rss:70000\nexitsig:9\nstatus:SG\n"), limits).verdict).toBe(
      "MemoryLimitExceeded",
    );
    expect(judgeRun(result("max-rss:1000\nexitsig:9\nstatus:SG\n"), limits).verdict).toBe("RuntimeError");
    // cg-mem wins over max-rss when both are there
    expect(judgeRun(result("cg-mem:100\nmax-rss:70000\nexitsig:9\nstatus:SG\n"), limits).verdict).toBe(
      "RuntimeError",
    );
  });

  it("high memory with a clean exit is not MemoryLimitExceeded", () => {
    expect(judgeRun(result("cg-mem:70000\nexitcode:0\n"), limits).verdict).toBe("Accepted");
  });

  it("cg-oom-killed:0 is not an OOM", () => {
    expect(judgeRun(result("cg-oom-killed:0\nexitcode:0\n"), limits).verdict).toBe("Accepted");
  });

  it("output flood beats the SIGPIPE that follows it", () => {
    const v = judgeRun(result("exitsig:13\nstatus:SG\n", { outputExceeded: true }), limits);
    expect(v).toEqual({ verdict: "OutputLimitExceeded", message: "output exceeded 4096 bytes" });
  });

  it("isolate's own failure comes first", () => {
    expect(
      judgeRun(result("status:XX\n", { isolateError: "cannot chdir", outputExceeded: true }), limits),
    ).toEqual({ verdict: "InternalError", message: "cannot chdir" });
  });

  it("an unknown status is InternalError", () => {
    expect(judgeRun(result("status:ZZ\n"), limits)).toEqual({
      verdict: "InternalError",
      message: "unknown isolate status ZZ",
    });
  });

  it("XX without isolateError is still not Accepted", () => {
    expect(judgeRun(result("status:XX\nmessage:internal\n"), limits).verdict).toBe("InternalError");
  });

  it("TO takes precedence over a signal (isolate kills with SIGKILL on timeout)", () => {
    expect(judgeRun(result("status:TO\nexitsig:9\nmessage:Time limit exceeded\n"), limits).verdict).toBe(
      "TimeLimitExceeded",
    );
  });
});
