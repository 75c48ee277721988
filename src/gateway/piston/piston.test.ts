import { describe, expect, it } from "vitest";
import { finishedExecution, readyRuntime } from "../test-fixtures.ts";
import { parsePistonExecute, pistonSpec } from "./execute-request.ts";
import { pistonResponse } from "./execute-response.ts";

const c = readyRuntime("c-gcc", {
  language: "c",
  version: "12",
  sourceFile: "main.c",
  compileCommand: ["gcc", "main.c"],
  runCommand: ["./main"],
});

describe("Piston execute requests", () => {
  it("maps files, stdin, args, timeouts (ms) and memory limits (bytes) onto the Execution", () => {
    const req = parsePistonExecute({
      language: "c",
      version: "12",
      files: [
        { name: "prog.c", content: "int main(){}" },
        { name: "lib.h", content: "6869", encoding: "hex" },
      ],
      stdin: "x",
      args: ["1", "2"],
      compile_timeout: 10000,
      run_timeout: 3000,
      compile_memory_limit: -1,
      run_memory_limit: 64 * 1024 * 1024,
    });
    const spec = pistonSpec(req, c);
    expect(spec.files).toEqual([
      { name: "main.c", content: "int main(){}", encoding: "utf8" },
      { name: "lib.h", content: "aGk=", encoding: "base64" },
    ]);
    expect(spec.args).toEqual(["1", "2"]);
    expect(spec.limits).toEqual({
      compile: { wallTimeMillis: 10000 },
      run: { wallTimeMillis: 3000, memoryKiB: 65536 },
    });
  });

  it.each([
    [{ version: "1", files: [] }, "language is required as a string"],
    [{ language: "c", files: [] }, "version is required as a string"],
    [{ language: "c", version: "1" }, "files is required as an array"],
    [{ language: "c", version: "1", files: [{}] }, "files[0].content is required as a string"],
  ])("refuses %j like Piston: %s", (body, message) => {
    expect(() => parsePistonExecute(body)).toThrow(message);
  });

  it("refuses a timeout over the Runtime's bound with Piston's wording", () => {
    const req = parsePistonExecute({
      language: "c",
      version: "12",
      files: [{ content: "x" }],
      run_timeout: 999_999,
    });
    expect(() => pistonSpec(req, c)).toThrow("run_timeout cannot exceed the configured limit of 60000");
  });

  it("refuses a file name the sandbox would not take", () => {
    const req = parsePistonExecute({
      language: "c",
      version: "12",
      files: [{ content: "x" }, { name: "../x", content: "" }],
    });
    expect(() => pistonSpec(req, c)).toThrow(/files\.1\.name/);
  });
});

describe("Piston execute responses", () => {
  it("returns compile and run with stdout, stderr, output, code, signal and status", () => {
    const ex = finishedExecution({
      phase: "Succeeded",
      verdict: "RuntimeError",
      compile: { verdict: "Accepted", exitCode: 0, stdout: "", stderr: "warning\n" },
      tests: [
        {
          name: "1",
          verdict: "RuntimeError",
          signal: 11,
          stdout: "a",
          stderr: "b",
          message: "Caught fatal signal 11",
        },
      ],
    });
    const r = pistonResponse(ex, "c", "12", true) as { compile: unknown; run: unknown };
    expect(r.compile).toMatchObject({
      stderr: "warning\n",
      output: "warning\n",
      code: 0,
      signal: null,
      status: null,
    });
    expect(r.run).toMatchObject({
      stdout: "a",
      stderr: "b",
      output: "ab",
      code: null,
      signal: "SIGSEGV",
      status: "SG",
    });
  });

  it("has no run when compiling failed, as Piston", () => {
    const ex = finishedExecution({
      phase: "Succeeded",
      verdict: "CompilationError",
      compile: { verdict: "CompilationError", exitCode: 1, stderr: "error" },
    });
    const r = pistonResponse(ex, "c", "12", true);
    expect(r.run).toBeUndefined();
    expect(r.compile).toMatchObject({ code: 1, status: "RE" });
  });

  it("reports an Execution that could not be judged as status XX with the reason", () => {
    const r = pistonResponse(
      finishedExecution({ phase: "Failed", message: "no node has the Runtime" }),
      "c",
      "12",
      true,
    );
    expect(r.run).toMatchObject({ status: "XX", message: "no node has the Runtime", code: null });
  });

  it("maps a timeout to TO with the exit code", () => {
    const ex = finishedExecution({
      phase: "Succeeded",
      verdict: "TimeLimitExceeded",
      tests: [
        {
          name: "1",
          verdict: "TimeLimitExceeded",
          signal: 9,
          message: "wall time limit of 3000 ms exceeded",
        },
      ],
    });
    expect((pistonResponse(ex, "python", "3", false) as { run: unknown }).run).toMatchObject({
      status: "TO",
      signal: "SIGKILL",
    });
  });
});
