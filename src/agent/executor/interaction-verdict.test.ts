import { describe, expect, it } from "vitest";
import type { StageLimits } from "../../api/common.ts";
import type { RunResult } from "../sandbox/isolate-box.ts";
import { parseMeta } from "../sandbox/meta.ts";
import { interactionVerdict } from "./interaction-verdict.ts";

const LIMITS: StageLimits = {
  cpuTimeMillis: 1000,
  wallTimeMillis: 2000,
  memoryKiB: 65536,
  processes: 4,
  openFiles: 64,
  fileSizeKiB: 1024,
  outputBytes: 65536,
};
const limits = { submission: LIMITS, interactor: { ...LIMITS, wallTimeMillis: 4000 } };

const run = (meta: string, stderr = "", extra: Partial<RunResult> = {}): RunResult => ({
  meta: parseMeta(meta),
  stdout: Buffer.alloc(0),
  stderr: Buffer.from(stderr),
  outputExceeded: false,
  ...extra,
});

const OK = run("exitcode:0\n");
const INTERACTOR_OK = run("exitcode:0\n", "ok 5 guesses");
const INTERACTOR_WA = run("exitcode:1\nstatus:RE\n", "wrong answer too many guesses");
const ENDED = run("status:SG\nexitsig:15\nmessage:Interrupted\n", "", { ended: true });

type Row = [
  name: string,
  submission: RunResult,
  interactor: RunResult,
  interactorFirst: boolean,
  verdict: string,
  message: RegExp,
];

const CASES: Row[] = [
  ["both ending well is the interactor's Accepted", OK, INTERACTOR_OK, false, "Accepted", /ok 5 guesses/],
  [
    "the interactor's wrong answer is the verdict",
    OK,
    INTERACTOR_WA,
    true,
    "WrongAnswer",
    /too many guesses/,
  ],
  [
    "the submission's CPU time limit comes before the interactor's verdict",
    run("status:TO\nmessage:Time limit exceeded\n"),
    INTERACTOR_WA,
    false,
    "TimeLimitExceeded",
    /CPU time limit/,
  ],
  [
    "the submission's memory limit comes before the interactor's verdict",
    run("status:SG\nexitsig:9\ncg-oom-killed:1\n"),
    INTERACTOR_OK,
    false,
    "MemoryLimitExceeded",
    /memory limit/,
  ],
  [
    "the submission's crash before the interactor ended is a runtime error",
    run("status:SG\nexitsig:11\nmessage:Caught fatal signal 11\n"),
    INTERACTOR_WA,
    false,
    "RuntimeError",
    /signal 11/,
  ],
  [
    "the submission's non-zero exit before the interactor ended is a runtime error",
    run("exitcode:3\nstatus:RE\n"),
    run("exitcode:2\nstatus:RE\n", "unexpected EOF"),
    false,
    "RuntimeError",
    /code 3/,
  ],
  [
    "a SIGPIPE after the interactor ended is the interactor's verdict",
    run("status:SG\nexitsig:13\nmessage:Caught fatal signal 13\n"),
    INTERACTOR_WA,
    true,
    "WrongAnswer",
    /too many guesses/,
  ],
  [
    "a submission ended by the agent after the grace time gets the interactor's verdict",
    ENDED,
    INTERACTOR_WA,
    true,
    "WrongAnswer",
    /too many guesses/,
  ],
  [
    "a deadlock ending at the submission's wall time is its time limit",
    run("status:TO\nmessage:Time limit exceeded (wall clock)\n"),
    run("exitcode:2\nstatus:RE\n", "unexpected EOF"),
    false,
    "TimeLimitExceeded",
    /wall time limit of 2000 ms/,
  ],
  [
    "a deadlock ending at the interactor's wall time is the submission's time limit",
    ENDED,
    run("status:TO\nmessage:Time limit exceeded (wall clock)\n"),
    true,
    "TimeLimitExceeded",
    /stalled/,
  ],
  [
    "an interactor that crashes is a judge error",
    OK,
    run("status:SG\nexitsig:11\nmessage:Caught fatal signal 11\n"),
    false,
    "InternalError",
    /judge error: the interactor Caught fatal signal 11/,
  ],
  [
    "an interactor out of CPU time is a judge error",
    OK,
    run("status:TO\nmessage:Time limit exceeded\n"),
    false,
    "InternalError",
    /judge error: the interactor CPU time limit/,
  ],
  [
    "an interactor's exit 3 is a judge error",
    OK,
    run("exitcode:3\nstatus:RE\n", "FAIL bad test"),
    false,
    "InternalError",
    /judge error: the interactor reported a failure \(exit 3\): FAIL bad test/,
  ],
  [
    "an interactor's points are kept",
    OK,
    run("exitcode:7\nstatus:RE\n", "points 0.5 half"),
    false,
    "Accepted",
    /half/,
  ],
];

describe("interactionVerdict", () => {
  it.each(CASES)("%s", (_name, submission, interactor, interactorFirst, verdict, message) => {
    const v = interactionVerdict({ submission, interactor, interactorFirst }, limits);
    expect(v.verdict).toBe(verdict);
    expect(v.message).toMatch(message);
  });

  it("gives the interactor's points with its verdict", () => {
    const v = interactionVerdict(
      {
        submission: OK,
        interactor: run("exitcode:7\nstatus:RE\n", "points 0.5 half"),
        interactorFirst: false,
      },
      limits,
    );
    expect(v.points).toBe(0.5);
  });
});
