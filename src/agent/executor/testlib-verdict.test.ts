import { describe, expect, it } from "vitest";
import type { StageLimits } from "../../api/common.ts";
import type { RunResult } from "../sandbox/isolate-box.ts";
import { parseMeta } from "../sandbox/meta.ts";
import {
  JUDGE_MESSAGE_BYTES,
  judgeMessage,
  parsePoints,
  readTestlibRun,
  type TestlibOutcome,
} from "./testlib-verdict.ts";

const LIMITS: StageLimits = {
  cpuTimeMillis: 1000,
  wallTimeMillis: 3000,
  memoryKiB: 65536,
  processes: 4,
  openFiles: 64,
  fileSizeKiB: 1024,
  outputBytes: 65536,
};

const run = (meta: string, stderr = "", stdout = "", extra: Partial<RunResult> = {}): RunResult => ({
  meta: parseMeta(meta),
  stdout: Buffer.from(stdout),
  stderr: Buffer.from(stderr),
  outputExceeded: false,
  ...extra,
});

type Row = [name: string, result: RunResult, outcome: TestlibOutcome];

const CASES: Row[] = [
  [
    "exit 0 accepts, with the checker's message",
    run("time:0.01\nexitcode:0\n", "ok 3 numbers\n"),
    { judged: true, verdict: "Accepted", message: "ok 3 numbers" },
  ],
  [
    "exit 0 without an exitcode line accepts",
    run("time:0.01\n"),
    { judged: true, verdict: "Accepted", message: "" },
  ],
  [
    "exit 1 is a wrong answer",
    run("exitcode:1\nstatus:RE\nmessage:Exited with error status 1\n", "wrong answer expected 3, found 4"),
    { judged: true, verdict: "WrongAnswer", message: "wrong answer expected 3, found 4" },
  ],
  [
    "exit 2 is a presentation error, judged as a wrong answer",
    run("exitcode:2\nstatus:RE\n", "wrong output format Unexpected end of file"),
    {
      judged: true,
      verdict: "WrongAnswer",
      message: "presentation error: wrong output format Unexpected end of file",
    },
  ],
  [
    "exit 3 is the checker's own failure",
    run("exitcode:3\nstatus:RE\n", "FAIL answer file is empty"),
    { judged: false, message: "reported a failure (exit 3): FAIL answer file is empty" },
  ],
  [
    "exit 7 with testlib's points line gives partial points",
    run("exitcode:7\nstatus:RE\n", "points 0.25 two of eight"),
    { judged: true, verdict: "Accepted", message: "two of eight", points: 0.25 },
  ],
  [
    "exit 7 with zero points is a wrong answer with 0 points",
    run("exitcode:7\nstatus:RE\n", "points 0"),
    { judged: true, verdict: "WrongAnswer", message: "", points: 0 },
  ],
  [
    "exit 7 without a points line is the checker's failure",
    run("exitcode:7\nstatus:RE\n", "partially right"),
    { judged: false, message: 'exited 7 (points) without "points <value>": partially right' },
  ],
  [
    "another exit code is the checker's failure",
    run("exitcode:42\nstatus:RE\n"),
    { judged: false, message: "exited with code 42" },
  ],
  [
    "a checker killed by a signal is a judge error",
    run("exitsig:11\nstatus:SG\nmessage:Caught fatal signal 11\n"),
    { judged: false, message: "Caught fatal signal 11" },
  ],
  [
    "a checker out of CPU time is a judge error",
    run("status:TO\nmessage:Time limit exceeded\n"),
    { judged: false, message: "CPU time limit of 1000 ms exceeded" },
  ],
  [
    "a checker out of wall time is a judge error",
    run("status:TO\nmessage:Time limit exceeded (wall clock)\n"),
    { judged: false, message: "wall time limit of 3000 ms exceeded" },
  ],
  [
    "a checker killed at its memory limit is a judge error",
    run("status:SG\nexitsig:9\ncg-mem:65536\ncg-oom-killed:1\n"),
    { judged: false, message: "memory limit of 65536 KiB exceeded" },
  ],
  [
    "a checker flooding its output is a judge error",
    run("exitcode:0\n", "", "", { outputExceeded: true }),
    { judged: false, message: "output exceeded 65536 bytes" },
  ],
  [
    "isolate failing around the checker is a judge error",
    run("", "", "", { isolateError: "isolate exited 2 without a meta file" }),
    { judged: false, message: "isolate exited 2 without a meta file" },
  ],
  [
    "the message is stdout when stderr is empty",
    run("exitcode:1\nstatus:RE\n", "", "wrong\n"),
    { judged: true, verdict: "WrongAnswer", message: "wrong" },
  ],
];

describe("readTestlibRun", () => {
  it.each(CASES)("%s", (_name, result, outcome) => {
    expect(readTestlibRun(result, LIMITS)).toEqual(outcome);
  });
});

describe("parsePoints", () => {
  it.each([
    ["testlib's line with a message", "points 0.5000000000 half", { points: 0.5, message: "half" }],
    ["the value alone", "12", { points: 12, message: "" }],
    ["scientific notation", "points 1e-1", { points: 0.1, message: "" }],
    ["a line without a number", "points many", undefined],
    ["plain text", "ok", undefined],
  ] as const)("reads %s", (_name, text, parsed) => {
    expect(parsePoints(text)).toEqual(parsed);
  });
});

describe("judgeMessage", () => {
  it("prefers stderr over stdout", () => {
    expect(judgeMessage(Buffer.from(" err \n"), Buffer.from("out"))).toBe("err");
  });

  it("cuts a long message on a character boundary", () => {
    const text = judgeMessage(Buffer.from("é".repeat(JUDGE_MESSAGE_BYTES)), Buffer.alloc(0));
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(JUDGE_MESSAGE_BYTES);
    expect(text).toBe("é".repeat(JUDGE_MESSAGE_BYTES / 2));
  });
});
