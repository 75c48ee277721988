// The Runtimes of the stand-in package set (nix/pkgs, frozen for the agent's
// pod by frozen-package-set.ts: python3, bash, coreutils) that the node's
// agent installs, in the test and in bench/pods.ts alike.
const runtime = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: "envicutor.io/v1alpha1",
  kind: "Runtime",
  metadata: { name },
  spec,
});

export const PY_NODE = "py-node";
export const SH_NODE = "sh-node";

export function pythonRuntime() {
  return runtime(PY_NODE, {
    language: "python",
    version: "3.11",
    packages: ["python3"],
    sourceFile: "main.py",
    runCommand: ["python3", "main.py"],
    smokeTest: { source: "print('ok')", expectedOutput: "ok\n" },
  });
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
