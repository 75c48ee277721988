import { describe, expect, it } from "vitest";
import type { StageLimits, Verdict } from "../../api/common.ts";
import { parseMeta } from "./meta.ts";
import { judgeRun } from "./verdict.ts";

/**
 * Meta files written by the real isolate binaries on this project's test
 * machine (cgroup v1), captured with e.g.
 * `isolate --cg --box-id=N --meta=F --time=0.5 --wall-time=5 --cg-mem=65536 --run -- CMD`
 * (isolate 1.10.1) and the same without --cg, with --mem, for isolate 2.6.
 * They pin the parser and the verdicts to what isolate actually writes.
 */
const ISOLATE_1_CG: Record<string, string> = {
  ok: `time:0.004
time-wall:0.010
max-rss:1240
csw-voluntary:6
csw-forced:4
cg-mem:256
exitcode:0
`,
  exit3: `time:0.006
time-wall:0.019
max-rss:1500
csw-voluntary:5
csw-forced:7
cg-mem:512
exitcode:3
status:RE
message:Exited with error status 3
`,
  segv: `time:0.004
time-wall:0.007
max-rss:1532
csw-voluntary:5
csw-forced:5
cg-mem:256
exitsig:11
status:SG
message:Caught fatal signal 11
`,
  "cpu-timeout": `status:TO
message:Time limit exceeded
killed:1
time:0.573
time-wall:0.601
max-rss:872
csw-voluntary:3
csw-forced:1
cg-mem:256
`,
  "wall-timeout": `status:TO
message:Time limit exceeded (wall clock)
killed:1
time:0.009
time-wall:0.606
max-rss:1392
csw-voluntary:6
csw-forced:3
cg-mem:512
`,
  oom: `time:0.228
time-wall:0.230
max-rss:70600
csw-voluntary:5
csw-forced:289
cg-mem:65536
cg-oom-killed:1
exitsig:9
status:SG
message:Caught fatal signal 9
`,
  "no-such-binary": `time:0.001
time-wall:0.002
max-rss:1416
csw-voluntary:5
csw-forced:2
cg-mem:256
exitcode:127
status:RE
message:Exited with error status 127
`,
  interrupted: `exitsig:15
status:SG
message:Interrupted
killed:1
time:0.003
time-wall:0.498
max-rss:1396
csw-voluntary:6
csw-forced:6
cg-mem:256
`,
  fsize: `time:0.004
time-wall:0.005
max-rss:1532
csw-voluntary:5
csw-forced:4
cg-mem:256
exitcode:2
status:RE
message:Exited with error status 2
`,
  "not-initialised": `status:XX
message:Box directory not found, did you run \`isolate --cg --init'?
`,
};

const ISOLATE_2_NO_CG: Record<string, string> = {
  ok: `time:0.005
time-wall:0.004
max-rss:1448
csw-voluntary:4
csw-forced:4
exitcode:0
`,
  exit3: `time:0.006
time-wall:0.004
max-rss:1468
csw-voluntary:4
csw-forced:3
exitcode:3
status:RE
message:Exited with error status 3
`,
  segv: `time:0.006
time-wall:0.003
max-rss:1596
csw-voluntary:4
csw-forced:5
exitsig:11
status:SG
message:Caught fatal signal 11
`,
  "cpu-timeout": `status:TO
message:Time limit exceeded
killed:1
time:0.601
time-wall:0.601
max-rss:1552
csw-voluntary:4
csw-forced:13
`,
  "wall-timeout": `status:TO
message:Time limit exceeded (wall clock)
killed:1
time:0.007
time-wall:0.601
max-rss:1384
csw-voluntary:5
csw-forced:3
`,
  oom: `time:0.035
time-wall:0.035
max-rss:8312
csw-voluntary:4
csw-forced:8
exitcode:1
status:RE
message:Exited with error status 1
`,
  "no-such-binary": `time:0.005
time-wall:0.003
max-rss:1452
csw-voluntary:4
csw-forced:4
exitcode:127
status:RE
message:Exited with error status 127
`,
  interrupted: `exitsig:15
status:SG
message:Interrupted
killed:1
time:0.007
time-wall:0.499
max-rss:1372
csw-voluntary:5
csw-forced:3
`,
  fsize: `time:0.008
time-wall:0.006
max-rss:1600
csw-voluntary:4
csw-forced:3
exitcode:2
status:RE
message:Exited with error status 2
`,
  "not-initialised": `status:XX
message:Box not found, did you run \`isolate --init'?
`,
};

const LIMITS: StageLimits = {
  cpuTimeMillis: 500,
  wallTimeMillis: 500,
  memoryKiB: 65_536,
  processes: 16,
  openFiles: 64,
  fileSizeKiB: 64,
  outputBytes: 1 << 20,
};

/** What IsolateBox.run makes of a meta file, then the verdict. */
const judge = (text: string) => {
  const meta = parseMeta(text);
  return judgeRun(
    {
      meta,
      stdout: Buffer.alloc(0),
      stderr: Buffer.alloc(0),
      outputExceeded: false,
      ...(meta.status === "XX" ? { isolateError: meta.message ?? "isolate internal error" } : {}),
    },
    LIMITS,
  );
};

const COMMON: [string, Verdict, RegExp][] = [
  ["ok", "Accepted", /^OK$/],
  ["exit3", "RuntimeError", /status 3/],
  ["segv", "RuntimeError", /signal 11/],
  ["cpu-timeout", "TimeLimitExceeded", /^CPU time limit of 500 ms/],
  ["wall-timeout", "TimeLimitExceeded", /^wall time limit of 500 ms/],
  // isolate execs the command itself: a missing binary is the shell's 127, not an isolate failure
  ["no-such-binary", "RuntimeError", /status 127/],
  // what the agent's SIGTERM leaves (output limit): the caller's outputExceeded turns it into OLE
  ["interrupted", "RuntimeError", /Interrupted/],
  ["fsize", "RuntimeError", /status 2/],
  ["not-initialised", "InternalError", /Box.* not found/],
];

describe.each([
  ["isolate 1.10.1 --cg", ISOLATE_1_CG],
  ["isolate 2.6 without --cg", ISOLATE_2_NO_CG],
])("real meta files of %s", (_name, samples) => {
  it.each(COMMON)("%s: %s", (sample, verdict, message) => {
    const judged = judge(samples[sample]!);
    expect(judged.verdict).toBe(verdict);
    expect(judged.message).toMatch(message);
  });

  it("times, memory and exit details are typed; csw-* stay in raw only", () => {
    const m = parseMeta(samples.exit3!);
    expect(m.exitcode).toBe(3);
    expect(m.time).toBeGreaterThan(0);
    expect(m.timeWall).toBeGreaterThan(0);
    expect(m.maxRss).toBeGreaterThan(0);
    expect(m.raw["csw-voluntary"]).toMatch(/^\d+$/);
    expect(parseMeta(samples.segv!).exitsig).toBe(11);
    expect(parseMeta(samples["cpu-timeout"]!).killed).toBe(true);
  });

  it("the agent's SIGTERM after an output flood is OutputLimitExceeded", () => {
    const meta = parseMeta(samples.interrupted!);
    expect(meta).toMatchObject({ status: "SG", exitsig: 15, killed: true });
    const judged = judgeRun(
      { meta, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), outputExceeded: true },
      LIMITS,
    );
    expect(judged.verdict).toBe("OutputLimitExceeded");
  });
});

describe("memory", () => {
  it("isolate 1.x --cg: the cgroup's OOM kill (SIGKILL) is MemoryLimitExceeded", () => {
    const m = parseMeta(ISOLATE_1_CG.oom!);
    expect(m).toMatchObject({ status: "SG", exitsig: 9, cgOomKilled: true, cgMem: 65_536 });
    expect(judge(ISOLATE_1_CG.oom!).verdict).toBe("MemoryLimitExceeded");
  });

  it("without cgroups the address-space limit makes allocation fail: the program's own error exit, RuntimeError", () => {
    const m = parseMeta(ISOLATE_2_NO_CG.oom!);
    expect(m.cgOomKilled).toBeUndefined();
    expect(m.cgMem).toBeUndefined();
    expect(judge(ISOLATE_2_NO_CG.oom!).verdict).toBe("RuntimeError");
  });

  it("isolate 1.x --cg reports cg-mem on every run; 2.x without cgroups never does", () => {
    for (const text of Object.values(ISOLATE_1_CG).filter((t) => !t.startsWith("status:XX")))
      expect(parseMeta(text).cgMem).toBeGreaterThan(0);
    for (const text of Object.values(ISOLATE_2_NO_CG)) expect(parseMeta(text).cgMem).toBeUndefined();
  });
});
