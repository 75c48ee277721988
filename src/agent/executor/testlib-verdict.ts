import type { StageLimits } from "../../api/common.ts";
import type { RunResult } from "../sandbox/isolate-box.ts";
import { judgeRun } from "../sandbox/verdict.ts";

/** testlib's exit codes (testlib.h: OK, WA, PE, FAIL, POINTS). */
export const TESTLIB_EXIT = { ok: 0, wrongAnswer: 1, presentationError: 2, fail: 3, points: 7 } as const;

/** Longest message kept from a checker or interactor. */
export const JUDGE_MESSAGE_BYTES = 1024;

/** What a checker's or interactor's run says about the submission, or that the judge itself failed. */
export type TestlibOutcome =
  | { judged: true; verdict: "Accepted" | "WrongAnswer"; message: string; points?: number }
  | { judged: false; message: string };

/** The checker's message: its stderr, else its stdout, trimmed and cut on a character boundary. */
export function judgeMessage(stderr: Buffer, stdout: Buffer): string {
  const text = (stderr.length > 0 ? stderr : stdout).toString("utf8").trim();
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= JUDGE_MESSAGE_BYTES) return text;
  return bytes
    .subarray(0, JUDGE_MESSAGE_BYTES)
    .toString("utf8")
    .replace(/\uFFFD+$/, "");
}

/** testlib's quitp writes "points <value> <message>"; some versions write the value alone first. */
const POINTS = /^\s*(?:points\s+)?([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?:\s+([\s\S]*))?$/;

export function parsePoints(message: string): { points: number; message: string } | undefined {
  const m = POINTS.exec(message);
  if (!m) return undefined;
  const points = Number(m[1]);
  return Number.isFinite(points) ? { points, message: (m[2] ?? "").trim() } : undefined;
}

/**
 * A checker's or interactor's run read with testlib's convention. Anything but
 * a clean exit with one of testlib's verdict codes (a crash, a limit, exit 3
 * or any other code) is the judge's failure: never charged to the submission.
 */
export function readTestlibRun(r: RunResult, limits: StageLimits): TestlibOutcome {
  const message = judgeMessage(r.stderr, r.stdout);
  const sandbox = judgeRun(r, limits);
  const code = r.meta.exitcode ?? (sandbox.verdict === "Accepted" ? 0 : undefined);
  const crashed =
    sandbox.verdict !== "Accepted" && !(sandbox.verdict === "RuntimeError" && r.meta.status === "RE");
  if (crashed || code === undefined)
    return { judged: false, message: `${sandbox.message}${message ? `: ${message}` : ""}` };
  switch (code) {
    case TESTLIB_EXIT.ok:
      return { judged: true, verdict: "Accepted", message };
    case TESTLIB_EXIT.wrongAnswer:
      return { judged: true, verdict: "WrongAnswer", message };
    case TESTLIB_EXIT.presentationError:
      return {
        judged: true,
        verdict: "WrongAnswer",
        message: `presentation error${message ? `: ${message}` : ""}`,
      };
    case TESTLIB_EXIT.points: {
      const p = parsePoints(message);
      if (!p) return { judged: false, message: `exited 7 (points) without "points <value>": ${message}` };
      return {
        judged: true,
        verdict: p.points > 0 ? "Accepted" : "WrongAnswer",
        message: p.message,
        points: p.points,
      };
    }
    case TESTLIB_EXIT.fail:
      return { judged: false, message: `reported a failure (exit 3)${message ? `: ${message}` : ""}` };
    default:
      return { judged: false, message: `exited with code ${code}${message ? `: ${message}` : ""}` };
  }
}
