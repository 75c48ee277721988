// Every file in examples/ is valid: against the zod schemas (the same the
// controller and agent use), against each other (an Execution's Runtime exists
// and its limit overrides are within that Runtime's bounds), and against the
// CRDs and CEL rules in a real kube-apiserver (server-side dry run).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { execution, resolveExecutionLimits, runtime } from "../src/api/index.ts";
import { ensureNamespace, kubectl, uniqueName } from "./support/cluster.ts";

const EXAMPLES = join(import.meta.dirname, "..", "examples");
const namespace = uniqueName("envicutor-examples");

function load(dir: string): [file: string, object: Record<string, unknown>][] {
  const path = join(EXAMPLES, dir);
  return readdirSync(path)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(path, f), "utf8")).map(
        (d) => [`${dir}/${f}`, d.toJS() as Record<string, unknown>] as [string, Record<string, unknown>],
      ),
    );
}

const runtimeFiles = load("runtimes");
const executionFiles = load("executions");
const runtimes = new Map(runtimeFiles.map(([, o]) => [runtime.parse(o).metadata.name!, runtime.parse(o)]));

beforeAll(async () => {
  await ensureNamespace(namespace);
});

afterAll(async () => {
  await kubectl(["delete", "namespace", namespace, "--wait=false", "--ignore-not-found"]).catch(
    () => undefined,
  );
});

describe("examples/runtimes", () => {
  it("has a Runtime for each language the examples promise", () => {
    expect(runtimeFiles.map(([, o]) => runtime.parse(o).spec.language).sort()).toEqual(
      ["bash", "c", "c++", "go", "java", "javascript", "python", "rust"].sort(),
    );
    expect(runtimes.size, "Runtime names are unique").toBe(runtimeFiles.length);
  });

  it.each(runtimeFiles)("%s is a valid Runtime (zod)", (_file, object) => {
    const result = runtime.safeParse(object);
    expect(result.error?.issues ?? []).toEqual([]);
    const spec = result.data!.spec;
    // The run and compile commands name the source file they are given.
    const commands = [...(spec.compileCommand ?? []), ...spec.runCommand].join(" ");
    expect(commands).toContain(spec.compileCommand ? spec.sourceFile : spec.sourceFile.split(".")[0]);
    expect(spec.smokeTest.expectedOutput.endsWith("\n")).toBe(true);
  });
});

describe("examples/executions", () => {
  it.each(executionFiles)("%s is a valid Execution for an example Runtime (zod)", (_file, object) => {
    const result = execution.safeParse(object);
    expect(result.error?.issues ?? []).toEqual([]);
    const spec = result.data!.spec;
    const rt = runtimes.get(spec.runtime);
    expect(rt, `Runtime ${spec.runtime} is among the examples`).toBeDefined();
    expect(spec.files.map((f) => f.name)).toContain(rt!.spec.sourceFile);
    expect(resolveExecutionLimits(rt!.spec, spec).violations).toEqual([]);
    // A checker or interactor names an example Runtime (the Execution's when unset), within its bounds.
    const judge = spec.checker?.program ?? spec.interactor;
    if (judge) {
      const judgeRt = runtimes.get(judge.runtime ?? spec.runtime);
      expect(judgeRt, `Runtime ${judge.runtime} is among the examples`).toBeDefined();
      expect(resolveExecutionLimits(judgeRt!.spec, judge).violations).toEqual([]);
    }
  });

  it("has a single run with stdin, test cases with one wrong expectation, and a C compile error", () => {
    const specs = new Map(
      executionFiles.map(([, o]) => [execution.parse(o).metadata.name!, execution.parse(o).spec]),
    );
    expect(specs.get("hello")).toMatchObject({ stdin: "world\n", expectedOutput: "hello, world\n" });
    expect(specs.get("a-plus-b-tests")?.testCases?.every((t) => t.expectedOutput !== undefined)).toBe(true);
    expect(specs.get("c-compile-error")?.runtime).toBe("c-gcc");
  });
});

// The example programs themselves, run with this machine's toolchains where it
// has them (no sandbox, no Nix: this checks the programs, commands and expected
// outputs, not the Runtime's packages).
const trimEnd = (s: string) => s.replace(/\s+$/, "");

/** Whether the program is there and works (a rustup proxy without a toolchain does not). */
function works(program: string): boolean {
  const probe = program === "go" ? ["version"] : ["--version"];
  return spawnSync(program, probe, { stdio: "ignore", timeout: 30_000 }).status === 0;
}

function runStage(dir: string, argv: string[], env: Record<string, string>, stdin = "") {
  return spawnSync(argv[0]!, argv.slice(1), {
    cwd: dir,
    input: stdin,
    encoding: "utf8",
    timeout: 120_000,
    // A rustup proxy finds its toolchains through HOME, which Runtimes point at the sandbox's /tmp.
    env: { RUSTUP_HOME: join(homedir(), ".rustup"), ...process.env, ...env },
  });
}

function localRun(
  rtName: string,
  files: { name: string; content: string }[],
  inputs: { stdin: string; args?: string[] }[],
) {
  const rt = runtimes.get(rtName)!.spec;
  const dir = mkdtempSync(join(tmpdir(), "envicutor-example-"));
  try {
    const env = Object.fromEntries((rt.env ?? []).map((e) => [e.name, e.value.replace(/^\/tmp/, dir)]));
    for (const f of files) writeFileSync(join(dir, f.name), f.content);
    if (rt.compileCommand) {
      const c = runStage(dir, rt.compileCommand, env);
      if (c.status !== 0) return { compiled: false, stderr: c.stderr, outputs: [] as string[] };
    }
    const outputs = inputs.map((i) => {
      const r = runStage(dir, [...rt.runCommand, ...(i.args ?? [])], env, i.stdin);
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    });
    return { compiled: true, stderr: "", outputs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const missing = new Set<string>();
function available(rtName: string): boolean {
  const rt = runtimes.get(rtName)!.spec;
  const programs = [rt.compileCommand?.[0], rt.runCommand[0]].filter(
    (p): p is string => !!p && !p.startsWith("./"),
  );
  const absent = programs.filter((p) => !works(p));
  if (absent.length > 0 && !missing.has(rtName)) {
    missing.add(rtName);
    console.log(
      `[e2e] !!! SKIPPING local run of example Runtime ${rtName}: ${absent.join(", ")} not working on this machine`,
    );
  }
  return absent.length === 0;
}

describe("the example programs, with this machine's toolchains", () => {
  it.each([...runtimes.keys()])("smoke test of %s prints its expected output", (name) => {
    if (!available(name)) return;
    const rt = runtimes.get(name)!.spec;
    const r = localRun(
      name,
      [{ name: rt.sourceFile, content: rt.smokeTest.source }],
      [{ stdin: rt.smokeTest.stdin ?? "" }],
    );
    expect(r.compiled, r.stderr).toBe(true);
    expect(trimEnd(r.outputs[0]!)).toBe(trimEnd(rt.smokeTest.expectedOutput));
  });

  it.each(executionFiles.map(([file, o]) => [file, execution.parse(o).spec] as const))(
    "%s judges as its comments say",
    (file, spec) => {
      if (!available(spec.runtime)) return;
      if (spec.interactor) return; // only the agent runs it, with its interactor (e2e/judging.e2e.test.ts)
      const cases = spec.testCases ?? [{ stdin: spec.stdin ?? "", expectedOutput: spec.expectedOutput }];
      const r = localRun(
        spec.runtime,
        spec.files,
        cases.map((c) => ({ stdin: c.stdin, args: spec.args })),
      );
      if (file.endsWith("c-compile-error.yaml")) {
        expect(r.compiled).toBe(false);
        expect(r.stderr).toContain("error");
        return;
      }
      expect(r.compiled, r.stderr).toBe(true);
      const verdicts = cases.map((c, i) =>
        c.expectedOutput === undefined || trimEnd(r.outputs[i]!) === trimEnd(c.expectedOutput)
          ? "ok"
          : "wrong",
      );
      expect(verdicts).toEqual(
        file.endsWith("a-plus-b-tests.yaml") ? ["ok", "ok", "wrong"] : cases.map(() => "ok"),
      );
    },
  );
});

describe("the examples against the real apiserver (server-side dry run)", () => {
  it("accepts every Runtime", async () => {
    const out = await kubectl(["apply", "--dry-run=server", "-f", join(EXAMPLES, "runtimes")]);
    for (const name of runtimes.keys())
      expect(out).toContain(`runtime.envicutor.io/${name} created (server dry run)`);
  });

  it("accepts every Execution", async () => {
    const out = await kubectl([
      "apply",
      "--dry-run=server",
      "-n",
      namespace,
      "-f",
      join(EXAMPLES, "executions"),
    ]);
    for (const [, o] of executionFiles) {
      const name = (o.metadata as { name: string }).name;
      expect(out).toContain(`execution.envicutor.io/${name} created (server dry run)`);
    }
  });
});
