// Closure views (issue 17) against REAL isolate and REAL Nix store paths,
// without Kubernetes: the executor mounts a Runtime's closure at /nix/store
// as one read-only directory of hard links (ClosureViews) instead of one
// isolate --dir per store path. The box must see exactly the closure, be
// unable to change anything of it, and programs must run from it as from the
// store. The Runtimes are python3 and gcc of nix/pkgs, the project's small
// STAND-IN FOR NIXPKGS, built by nix-build here (rooted for this file only).
//
// Box ids 392..393 (isolate 1.x, --cg on cgroup v1) and 394..395 (isolate 2.x
// from /opt/isolate-2, without cgroups on cgroup v1) belong to this file alone.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IsolateExecutor } from "../src/agent/executor/executor.ts";
import { parseBuildOutputs, parseStorePaths } from "../src/agent/nix/closure.ts";
import type { RuntimeForExecution } from "../src/agent/ports.ts";
import { mountsBelow } from "../src/agent/sandbox/box-storage.ts";
import { viewsRootFor } from "../src/agent/sandbox/closure-view.ts";
import type { Sandbox } from "../src/agent/sandbox/setup.ts";
import type { StageLimits } from "../src/api/common.ts";
import { ISOLATE_1, ISOLATE_2, isolateInstalls, TIME_SCALE } from "./support/isolate-installs.ts";
import {
  type Boxes,
  executionSpec,
  executorOn,
  hostRuntime,
  sandboxFixture,
} from "./support/sandbox-fixture.ts";
import { C_SPEC } from "./support/stand-in-runtimes.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const { isolate1: isolateOk, isolate2: isolate2Ok } = isolateInstalls("closure view tests");
const logger = pino({ level: "error" });

const LIMITS: StageLimits = {
  cpuTimeMillis: 10_000 * TIME_SCALE,
  wallTimeMillis: 30_000 * TIME_SCALE,
  memoryKiB: 512 * 1024,
  processes: 32,
  openFiles: 256,
  fileSizeKiB: 16 * 1024,
  outputBytes: 1024 * 1024,
};

/** A stand-in package's store path and closure, rooted below `roots` while this file runs. */
async function built(attr: string, roots: string): Promise<{ out: string; closure: string[] }> {
  const { stdout } = await run(
    "nix-build",
    [join(ROOT, "nix/pkgs"), "-A", attr, "--out-link", join(roots, attr)],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const out = parseBuildOutputs(stdout).pop()!;
  const q = await run("nix-store", ["-qR", out]);
  return { out, closure: parseStorePaths(q.stdout) };
}

const names = (closure: string[]) => closure.map((p) => p.split("/").pop()!).sort();

/** Lists /nix/store, tries to change it four ways, and prints the mounts at or below it. */
const PROBE = `import errno, json, os, sys
store = "/nix/store"
mine = os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))
tries = {}
def attempt(name, fn):
    try:
        fn(); tries[name] = "done"
    except OSError as e:
        tries[name] = errno.errorcode.get(e.errno, str(e.errno))
attempt("create in a store path", lambda: open(os.path.join(mine, "x"), "w"))
attempt("mkdir in /nix/store", lambda: os.mkdir(os.path.join(store, "y")))
attempt("chmod a store file", lambda: os.chmod(os.path.realpath(sys.executable), 0o4777))
attempt("unlink a store file", lambda: os.unlink(os.path.realpath(sys.executable)))
mounts = []
for line in open("/proc/self/mountinfo"):
    f = line.split()
    if f[4] == store or f[4].startswith(store + "/"):
        mounts.append([f[4], sorted(f[5].split(","))])
print(json.dumps({"listing": sorted(os.listdir(store)), "tries": tries, "mounts": mounts}))
`;

function closureViewCases(o: Boxes) {
  describe(o.name, () => {
    let tmp: string;
    let sandbox: Sandbox;
    let executor: IsolateExecutor;
    let python: { out: string; closure: string[] };
    let gcc: { out: string; closure: string[] };
    const viewsRoot = () => viewsRootFor(sandbox.settings.workDir);
    const views = () => (existsSync(viewsRoot()) ? readdirSync(viewsRoot()) : []);
    const rt = (b: { out: string; closure: string[] }, spec = {}): RuntimeForExecution => ({
      ...hostRuntime({ compile: LIMITS, run: LIMITS }, { PATH: `${b.out}/bin` }, spec),
      closure: b.closure,
    });

    beforeAll(async () => {
      ({ tmp, sandbox } = await sandboxFixture(o, "closure-views-e2e-", { logger }));
      python = await built("python3", join(tmp, "roots"));
      gcc = await built("gcc", join(tmp, "roots"));
      executor = executorOn(sandbox, logger, { closureViews: true });
    }, 600_000);

    afterAll(async () => {
      await executor?.coolDown();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it("a box sees exactly the Runtime's closure at /nix/store, as one read-only, nosuid, nodev mount it cannot change", async () => {
      const out = await executor.run(
        executionSpec(PROBE, {}, { file: "main.py" }),
        rt(python, { runCommand: ["python3", "main.py"] }),
      );
      expect(out.verdict, out.tests[0]?.stderr).toBe("Accepted");
      const seen = JSON.parse(out.tests[0]!.stdout!) as {
        listing: string[];
        tries: Record<string, string>;
        mounts: [string, string[]][];
      };
      expect(seen.listing).toEqual(names(python.closure));
      expect(seen.tries).toEqual({
        "create in a store path": "EROFS",
        "mkdir in /nix/store": "EROFS",
        "chmod a store file": "EROFS",
        "unlink a store file": "EROFS",
      });
      expect(seen.mounts).toHaveLength(1);
      expect(seen.mounts[0]![0]).toBe("/nix/store");
      expect(seen.mounts[0]![1]).toEqual(expect.arrayContaining(["ro", "nosuid", "nodev"]));
      // Made as links beside the store, nothing mounted in the agent's namespace for it.
      expect(views()).toHaveLength(1);
      expect(await mountsBelow(viewsRoot())).toEqual([]);
      const pyInView = join(viewsRoot(), views()[0]!, python.out.split("/").pop()!, "bin");
      expect(readdirSync(pyInView)).toEqual(readdirSync(join(python.out, "bin")));
    });

    it("gcc compiles and links C in its view, and the program runs", async () => {
      const source =
        '#include <stdio.h>\n#include <math.h>\nint main(void){printf("%d\\n",(int)sqrt(1764.0));return 0;}\n';
      const out = await executor.run(
        executionSpec(source, { testCases: [{ stdin: "", expectedOutput: "42\n" }] }, { file: "main.c" }),
        rt(gcc, { ...C_SPEC, compileCommand: ["gcc", "-O2", "-o", "main", "main.c", "-lm"] }),
      );
      expect(out.compile?.exitCode, out.compile?.stderr).toBe(0);
      expect(out.verdict, JSON.stringify(out.tests[0])).toBe("Accepted");
    });

    it("each closure has one view, taken again by the next run of its Runtime", async () => {
      const before = views().sort();
      expect(before).toHaveLength(2);
      const again = await executor.run(
        executionSpec(
          "print(6 * 7)",
          { testCases: [{ stdin: "", expectedOutput: "42\n" }] },
          { file: "main.py" },
        ),
        rt(python, { runCommand: ["python3", "main.py"] }),
      );
      expect(again.verdict).toBe("Accepted");
      expect(views().sort()).toEqual(before);
    });

    it("coolDown (the agent stopping) removes every view; the store's files keep their own link counts", async () => {
      const file = join(python.out, "bin", readdirSync(join(python.out, "bin"))[0]!);
      const links = statSync(file).nlink;
      await executor.coolDown();
      expect(existsSync(viewsRoot())).toBe(false);
      expect(statSync(file).nlink).toBe(links - 1);
      // The next run makes its view again.
      const out = await executor.run(
        executionSpec("print(1)", { testCases: [{ stdin: "", expectedOutput: "1\n" }] }, { file: "main.py" }),
        rt(python, { runCommand: ["python3", "main.py"] }),
      );
      expect(out.verdict).toBe("Accepted");
      expect(views()).toHaveLength(1);
    });
  });
}

describe.skipIf(!isolateOk && !isolate2Ok)("closure views", () => {
  describe.skipIf(!isolateOk)("isolate 1.x", () => {
    closureViewCases({ ...ISOLATE_1, ids: [392, 393] });
  });
  describe.skipIf(!isolate2Ok)("isolate 2.x", () => {
    closureViewCases({ ...ISOLATE_2, ids: [394, 395] });
  });
});
