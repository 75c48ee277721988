// Fixtures shared by the API's unit tests (zod) and e2e tests (the real apiserver):
// one valid object per kind and a table of invalid ones, each with the words the
// rejection must contain (the field it names).
import { API_VERSION } from "./group.ts";
import type { RuntimeSpec } from "./runtime.ts";

type Json = Record<string, unknown>;

/** A Runtime's spec for the host's (or a closure's) python3, as the gateway's and the sandbox's tests use it. */
export const PYTHON_3_SPEC = {
  language: "python",
  version: "3",
  packages: ["python3"],
  sourceFile: "main.py",
  runCommand: ["python3", "main.py"],
  smokeTest: { source: "print('ok')", expectedOutput: "ok\n" },
  allowNetwork: false,
} satisfies Partial<RuntimeSpec>;

export function validRuntime(name = "python-3"): Json {
  return {
    apiVersion: API_VERSION,
    kind: "Runtime",
    metadata: { name },
    spec: {
      language: "python",
      version: "3.11",
      aliases: ["py", "python3"],
      packages: ["python3"],
      sourceFile: "main.py",
      runCommand: ["python3", "main.py"],
      env: [{ name: "PYTHONUNBUFFERED", value: "1" }],
      smokeTest: { source: "print('ok')", expectedOutput: "ok\n" },
    },
  };
}

export function validCompiledRuntime(name = "c-gcc"): Json {
  return {
    apiVersion: API_VERSION,
    kind: "Runtime",
    metadata: { name },
    spec: {
      language: "c",
      version: "12",
      packages: ["gcc", "coreutils"],
      sourceFile: "main.c",
      compileCommand: ["gcc", "-O2", "-o", "main", "main.c"],
      runCommand: ["./main"],
      limits: {
        compile: {
          cpuTimeMillis: 10000,
          wallTimeMillis: 20000,
          memoryKiB: 524288,
          processes: 64,
          openFiles: 256,
          fileSizeKiB: 65536,
          outputBytes: 1048576,
        },
        run: {
          cpuTimeMillis: 1000,
          wallTimeMillis: 3000,
          memoryKiB: 262144,
          processes: 1,
          openFiles: 64,
          fileSizeKiB: 1024,
          outputBytes: 65536,
        },
      },
      maxLimits: {
        compile: {
          cpuTimeMillis: 20000,
          wallTimeMillis: 40000,
          memoryKiB: 1048576,
          processes: 128,
          openFiles: 512,
          fileSizeKiB: 131072,
          outputBytes: 1048576,
        },
        run: {
          cpuTimeMillis: 5000,
          wallTimeMillis: 10000,
          memoryKiB: 524288,
          processes: 8,
          openFiles: 128,
          fileSizeKiB: 4096,
          outputBytes: 1048576,
        },
      },
      nodeSelector: { "kubernetes.io/os": "linux" },
      smokeTest: {
        source: '#include <stdio.h>\nint main(){puts("ok");}',
        expectedOutput: "ok\n",
      },
    },
  };
}

export function validExecution(name = "hello", namespace = "default"): Json {
  return {
    apiVersion: API_VERSION,
    kind: "Execution",
    metadata: { name, namespace },
    spec: {
      runtime: "python-3",
      files: [{ name: "main.py", content: "print(input())" }],
      testCases: [
        { name: "one", stdin: "1\n", expectedOutput: "1\n" },
        { stdin: "2\n", expectedOutput: "2\n" },
      ],
      limits: { run: { cpuTimeMillis: 1000 } },
      ttlSecondsAfterFinished: 600,
      priority: 5,
    },
  };
}

export interface InvalidCase {
  name: string;
  object: Json;
  /** Words the rejection message must contain: the field path, and the problem where stable. */
  expect: string[];
  /** Only the apiserver can see it (transition rules, apiserver-side bounds). */
  apiserverOnly?: boolean;
}

function patch(base: Json, mutate: (spec: Json) => void): Json {
  const copy = structuredClone(base);
  mutate(copy.spec as Json);
  return copy;
}

const rt = (name: string, mutate: (spec: Json) => void) => patch(validRuntime(name), mutate);
const cc = (name: string, mutate: (spec: Json) => void) => patch(validCompiledRuntime(name), mutate);
const ex = (name: string, mutate: (spec: Json) => void) => patch(validExecution(name), mutate);
const limits = (spec: Json) => spec.limits as { run: Json; compile: Json };
const files = (spec: Json) => spec.files as Json[];

export const INVALID_CASES: InvalidCase[] = [
  {
    name: "runtime without runCommand",
    object: rt("bad-1", (s) => delete s.runCommand),
    expect: ["spec.runCommand", "Required"],
  },
  {
    name: "runtime with empty runCommand",
    object: rt("bad-2", (s) => (s.runCommand = [])),
    expect: ["spec.runCommand"],
  },
  {
    name: "runtime without packages",
    object: rt("bad-3", (s) => (s.packages = [])),
    expect: ["spec.packages"],
  },
  {
    name: "runtime package that is not a Nix attribute",
    object: rt("bad-4", (s) => (s.packages = ["python3; rm -rf /"])),
    expect: ["spec.packages[0]", "Nix attribute path"],
  },
  {
    name: "runtime sourceFile with a directory",
    object: rt("bad-5", (s) => (s.sourceFile = "src/main.py")),
    expect: ["spec.sourceFile", "plain file name"],
  },
  {
    name: "runtime sourceFile '..'",
    object: rt("bad-6", (s) => (s.sourceFile = "..")),
    expect: ["spec.sourceFile", "plain file name"],
  },
  {
    name: "runtime without smoke test",
    object: rt("bad-7", (s) => delete s.smokeTest),
    expect: ["spec.smokeTest", "Required"],
  },
  {
    name: "runtime with an upper-case language",
    object: rt("bad-8", (s) => (s.language = "Python")),
    expect: ["spec.language"],
  },
  {
    name: "runtime env var with a bad name",
    object: rt("bad-9", (s) => (s.env = [{ name: "1BAD", value: "x" }])),
    expect: ["spec.env[0].name"],
  },
  {
    name: "runtime with duplicate env names",
    object: rt(
      "bad-10",
      (s) =>
        (s.env = [
          { name: "A", value: "1" },
          { name: "A", value: "2" },
        ]),
    ),
    expect: ["spec.env[1]", "Duplicate"],
    apiserverOnly: true,
  },
  {
    name: "runtime negative cpu limit",
    object: cc("bad-11", (s) => (limits(s).run.cpuTimeMillis = -1)),
    expect: ["spec.limits.run.cpuTimeMillis"],
  },
  {
    name: "runtime zero memory limit",
    object: cc("bad-12", (s) => (limits(s).compile.memoryKiB = 0)),
    expect: ["spec.limits.compile.memoryKiB"],
  },
  {
    name: "runtime default limit over its own bound",
    object: cc("bad-13", (s) => (limits(s).run.cpuTimeMillis = 9000)),
    expect: ["spec.limits.run.cpuTimeMillis", "must not exceed maxLimits.run.cpuTimeMillis"],
  },
  {
    name: "runtime memory default over bound",
    object: cc("bad-14", (s) => (limits(s).run.memoryKiB = 600000)),
    expect: ["spec.limits.run.memoryKiB", "must not exceed maxLimits.run.memoryKiB"],
  },
  {
    name: "runtime limit that is not an integer",
    object: cc("bad-15", (s) => (limits(s).run.wallTimeMillis = "3s")),
    expect: ["spec.limits.run.wallTimeMillis"],
  },
  {
    name: "runtime limits missing a field",
    object: cc("bad-16", (s) => delete limits(s).run.processes),
    expect: ["spec.limits.run.processes", "Required"],
  },
  {
    name: "execution file name with a slash",
    object: ex("bad-17", (s) => (files(s)[0]!.name = "../etc/passwd")),
    expect: ["spec.files[0].name", "plain file name"],
  },
  {
    name: "execution hidden file name",
    object: ex("bad-18", (s) => (files(s)[0]!.name = ".bashrc")),
    expect: ["spec.files[0].name", "plain file name"],
  },
  {
    name: "execution duplicate file names",
    object: ex("bad-19", (s) => files(s).push({ name: "main.py", content: "x" })),
    expect: ["spec.files"],
  },
  {
    name: "execution unknown encoding",
    object: ex("bad-20", (s) => (files(s)[0]!.encoding = "utf16")),
    expect: ["spec.files[0].encoding"],
  },
  {
    name: "execution invalid base64",
    object: ex("bad-21", (s) => Object.assign(files(s)[0]!, { encoding: "base64", content: "not base64!" })),
    expect: ["spec.files[0].content", "not valid base64"],
  },
  { name: "execution without files", object: ex("bad-22", (s) => (s.files = [])), expect: ["spec.files"] },
  {
    name: "execution without runtime",
    object: ex("bad-23", (s) => delete s.runtime),
    expect: ["spec.runtime", "Required"],
  },
  {
    name: "execution with stdin and testCases",
    object: ex("bad-24", (s) => (s.stdin = "x")),
    expect: ["spec", "either stdin or testCases"],
  },
  {
    name: "execution negative cpu override",
    object: ex("bad-25", (s) => (s.limits = { run: { cpuTimeMillis: -5 } })),
    expect: ["spec.limits.run.cpuTimeMillis"],
  },
  {
    name: "execution absurd memory override",
    object: ex("bad-26", (s) => (s.limits = { compile: { memoryKiB: 1e12 } })),
    expect: ["spec.limits.compile.memoryKiB"],
  },
  {
    name: "execution unknown output comparison",
    object: ex("bad-27", (s) => (s.outputComparison = "Fuzzy")),
    expect: ["spec.outputComparison"],
  },
  {
    name: "execution oversized stdin",
    object: ex("bad-28", (s) => {
      delete s.testCases;
      s.stdin = "x".repeat(600 * 1024);
    }),
    expect: ["spec.stdin", "Too long"],
  },
  {
    name: "execution oversized files in total",
    object: ex("bad-29", (s) => {
      s.files = [0, 1, 2, 3, 4, 5].map((i) => ({ name: `f${i}.txt`, content: "y".repeat(190 * 1024) }));
    }),
    expect: ["spec.files", "bytes in total"],
  },
  {
    name: "execution too many test cases",
    object: ex("bad-30", (s) => (s.testCases = Array.from({ length: 65 }, () => ({ stdin: "" })))),
    expect: ["spec.testCases", "must have at most 64 items"],
  },
  {
    name: "execution negative TTL",
    object: ex("bad-31", (s) => (s.ttlSecondsAfterFinished = -1)),
    expect: ["spec.ttlSecondsAfterFinished"],
  },
  {
    name: "execution bad runtime name",
    object: ex("bad-32", (s) => (s.runtime = "Python 3")),
    expect: ["spec.runtime"],
  },
  {
    name: "execution checker with both a comparison and a program",
    object: ex("bad-33", (s) => {
      s.checker = { comparison: "Tokens", program: { files: [{ name: "check.py", content: "x" }] } };
    }),
    expect: ["spec.checker", "exactly one of comparison and program"],
  },
  {
    name: "execution checker tolerance without the Float comparison",
    object: ex("bad-34", (s) => (s.checker = { comparison: "Tokens", absoluteTolerance: 0.1 })),
    expect: ["spec.checker", "only to the Float comparison"],
  },
  {
    name: "execution with a checker and an interactor",
    object: ex("bad-35", (s) => {
      s.checker = { comparison: "Tokens" };
      s.interactor = { files: [{ name: "interact.py", content: "x" }] };
    }),
    expect: ["spec", "either checker or interactor"],
  },
  {
    name: "execution checker program with a hidden file name",
    object: ex("bad-36", (s) => (s.checker = { program: { files: [{ name: ".check.py", content: "x" }] } })),
    expect: ["spec.checker.program.files[0].name"],
  },
  {
    name: "execution negative float tolerance",
    object: ex("bad-37", (s) => (s.checker = { comparison: "Float", relativeTolerance: -1 })),
    expect: ["spec.checker.relativeTolerance"],
  },
];
