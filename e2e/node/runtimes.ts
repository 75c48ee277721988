// The Runtimes of the stand-in package set (nix/pkgs, frozen for the agent's
// pod by frozen-package-set.ts: python3, bash, coreutils) that the node's
// agent installs, in the test and in bench/pods.ts alike.
import { API_VERSION } from "../../src/api/group.ts";
import { PYTHON_3_SPEC } from "../../src/api/test-fixtures.ts";

const runtime = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: API_VERSION,
  kind: "Runtime",
  metadata: { name },
  spec,
});

export const PY_NODE = "py-node";
export const SH_NODE = "sh-node";

export function pythonRuntime() {
  return runtime(PY_NODE, { ...PYTHON_3_SPEC, version: "3.11" });
}

export function shellRuntime() {
  return runtime(SH_NODE, {
    language: "bash",
    version: "5",
    packages: ["bash", "coreutils"],
    sourceFile: "main.sh",
    runCommand: ["bash", "main.sh"],
    smokeTest: { source: "echo ok", expectedOutput: "ok\n" },
  });
}
