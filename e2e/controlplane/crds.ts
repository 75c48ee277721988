// Installs CRD manifests with the built kubectl and waits until the apiserver
// serves them. Shared by the control plane, global-setup.ts and test helpers.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * Server-side applies every manifest in `path` (a file or a directory) and waits
 * until each CustomResourceDefinition is Established; returns their names.
 */
export async function applyCrdManifests(
  kubectl: string,
  kubeconfig: string,
  path: string,
  timeoutSeconds = 60,
): Promise<string[]> {
  const k = async (...args: string[]) => {
    try {
      return (await run(kubectl, [`--kubeconfig=${kubeconfig}`, ...args], { maxBuffer: 16 << 20 })).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`);
    }
  };
  const applied = await k(
    "apply",
    "--server-side",
    "--force-conflicts",
    "--field-manager=envicutor-e2e",
    "-f",
    path,
    "-o",
    "name",
  );
  const crds = applied
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("customresourcedefinition."));
  if (crds.length > 0) {
    await k("wait", "--for=condition=Established", `--timeout=${timeoutSeconds}s`, ...crds);
  }
  return crds.map((l) => l.slice(l.indexOf("/") + 1));
}
