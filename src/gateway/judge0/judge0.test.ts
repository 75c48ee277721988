import { describe, expect, it } from "vitest";
import type { HttpError } from "../http-error.ts";
import { finishedExecution, readyRuntime } from "../test-fixtures.ts";
import { JUDGE0_STATUSES, judge0Status } from "./statuses.ts";
import { judge0Spec, parseJudge0Submission } from "./submission-request.ts";
import { parseFields, submissionView } from "./submission-view.ts";

const rejection = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err as HttpError;
  }
  throw new Error("accepted");
};

describe("Judge0 statuses", () => {
  it("lists Judge0 CE's 14 statuses with its ids and descriptions", () => {
    expect(JUDGE0_STATUSES.map((s) => s.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(JUDGE0_STATUSES[6]!.description).toBe("Runtime Error (SIGSEGV)");
    expect(JUDGE0_STATUSES[10]!.description).toBe("Runtime Error (NZEC)");
  });

  it.each([
    [{ phase: "Pending" }, 1],
    [{ phase: "Scheduled" }, 1],
    [{ phase: "Running" }, 2],
    [{ phase: "Succeeded", verdict: "Accepted" }, 3],
    [{ phase: "Succeeded", verdict: "WrongAnswer" }, 4],
    [{ phase: "Succeeded", verdict: "TimeLimitExceeded" }, 5],
    [{ phase: "Succeeded", verdict: "CompilationError" }, 6],
    [{ phase: "Succeeded", verdict: "RuntimeError", tests: [{ name: "1", signal: 11 }] }, 7],
    [{ phase: "Succeeded", verdict: "OutputLimitExceeded" }, 8],
    [{ phase: "Succeeded", verdict: "RuntimeError", tests: [{ name: "1", signal: 8 }] }, 9],
    [{ phase: "Succeeded", verdict: "RuntimeError", tests: [{ name: "1", signal: 6 }] }, 10],
    [{ phase: "Succeeded", verdict: "RuntimeError", tests: [{ name: "1", exitCode: 1 }] }, 11],
    [{ phase: "Succeeded", verdict: "RuntimeError", tests: [{ name: "1", signal: 9 }] }, 12],
    [{ phase: "Succeeded", verdict: "MemoryLimitExceeded" }, 12],
    [{ phase: "Failed", message: "runtime missing" }, 13],
    [{ phase: "Succeeded", verdict: "InternalError" }, 13],
    [
      {
        phase: "Succeeded",
        verdict: "RuntimeError",
        tests: [{ name: "1", exitCode: 1, message: "Exec format error" }],
      },
      14,
    ],
  ])("%j is status %i", (status, id) => {
    expect(judge0Status(finishedExecution(status as never)).id).toBe(id);
  });
});

describe("Judge0 submissions", () => {
  const py = readyRuntime("python-3", { judge0: { languageId: 71 } });

  it("turns a submission into an Execution spec: source under the Runtime's file name, limits in its units", () => {
    const req = parseJudge0Submission(
      {
        source_code: "print(input())",
        language_id: 71,
        stdin: "hi",
        expected_output: "hi",
        cpu_time_limit: 1.5,
        memory_limit: 128000,
        command_line_arguments: "a 'b c'",
      },
      false,
    );
    const spec = judge0Spec(req, py);
    expect(spec.files).toEqual([{ name: "main.py", content: "print(input())", encoding: "utf8" }]);
    expect(spec.stdin).toBe("hi");
    expect(spec.expectedOutput).toBe("hi");
    expect(spec.args).toEqual(["a", "b c"]);
    expect(spec.limits?.run).toEqual({ cpuTimeMillis: 1500, memoryKiB: 128000 });
  });

  it("takes base64 source byte for byte and decodes stdin", () => {
    const req = parseJudge0Submission(
      { source_code: Buffer.from("print(1)").toString("base64"), language_id: 71, stdin: "aGk=" },
      true,
    );
    expect(req.spec.files[0]).toMatchObject({ encoding: "base64", content: "cHJpbnQoMSk=" });
    expect(req.spec.stdin).toBe("hi");
  });

  it.each([
    [{ language_id: 71 }, "source_code", "can't be blank"],
    [{ source_code: "x" }, "language_id", "can't be blank"],
    [{ source_code: "x", language_id: "71" }, "language_id", "is not a number"],
    [{ source_code: "x", language_id: 71, compiler_options: "-O3" }, "compiler_options", "not supported"],
    [{ source_code: "x", language_id: 71, cpu_time_limit: -1 }, "cpu_time_limit", "greater than 0"],
    [{ source_code: "x", language_id: 71, callback_url: "ftp://x" }, "callback_url", "http"],
    [
      { source_code: "x", language_id: 71, command_line_arguments: "'open" },
      "command_line_arguments",
      "unclosed",
    ],
  ])("refuses %j with 422 on %s", (body, field, words) => {
    const err = rejection(() => parseJudge0Submission(body, false));
    expect(err.status).toBe(422);
    expect(err.fields?.[field]?.[0]).toContain(words);
  });

  it("refuses limits over the Runtime's bounds, naming Judge0's field and the bound in its unit", () => {
    const req = parseJudge0Submission({ source_code: "x", language_id: 71, cpu_time_limit: 100 }, false);
    const err = rejection(() => judge0Spec(req, py));
    expect(err.fields).toEqual({ cpu_time_limit: ["must be less than or equal to 20"] });
  });

  it("refuses invalid base64", () => {
    const err = rejection(() => parseJudge0Submission({ source_code: "!!", language_id: 71 }, true));
    expect(err.fields?.source_code?.[0]).toContain("base64");
  });
});

describe("Judge0 submission view", () => {
  const accepted = finishedExecution({
    phase: "Succeeded",
    verdict: "Accepted",
    completionTime: "2026-01-01T00:00:01Z",
    tests: [
      {
        name: "1",
        verdict: "Accepted",
        stdout: "hello\n",
        exitCode: 0,
        cpuTimeMillis: 12,
        wallTimeMillis: 30,
        memoryKiB: 3200,
      },
    ],
  });

  it("has Judge0's default fields and shapes", () => {
    expect(submissionView(accepted, parseFields(null), false)).toEqual({
      stdout: "hello\n",
      time: "0.012",
      memory: 3200,
      stderr: null,
      token: "d9c1c3a0-1111-4222-8333-944455556666",
      compile_output: null,
      message: null,
      status: { id: 3, description: "Accepted" },
    });
  });

  it("encodes text fields with base64_encoded=true", () => {
    const v = submissionView(accepted, ["stdout", "source_code", "status"], true);
    expect(v.stdout).toBe(Buffer.from("hello\n").toString("base64"));
    expect(v.source_code).toBe(Buffer.from("print('hi')").toString("base64"));
  });

  it("gives all fields with fields=* and refuses unknown ones", () => {
    const all = submissionView(accepted, parseFields("*"), false, () => "Python (3)");
    expect(all).toMatchObject({
      language_id: 71,
      exit_code: 0,
      wall_time: "0.030",
      language: { id: 71, name: "Python (3)" },
    });
    expect(() => parseFields("stdout,bogus")).toThrow(/invalid fields: \[bogus\]/);
  });

  it("puts the compiler's output in compile_output", () => {
    const ce = finishedExecution({
      phase: "Succeeded",
      verdict: "CompilationError",
      compile: { verdict: "CompilationError", exitCode: 1, stderr: "main.c:1: error\n" },
    });
    expect(submissionView(ce, ["compile_output", "status", "message"], false)).toEqual({
      compile_output: "main.c:1: error\n",
      status: { id: 6, description: "Compilation Error" },
      message: null,
    });
  });
});
