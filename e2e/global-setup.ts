// vitest globalSetup of the e2e project: one real control plane for every e2e
// file (or an existing cluster from ENVICUTOR_E2E_KUBECONFIG), with the CRDs
// installed and Established.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { ControlPlane, controlPlaneBinDir } from "./controlplane/control-plane.ts";

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfig: string;
    apiserverVersion: string;
    controlPlaneBin: string;
    controlPlaneDir: string;
  }
}

const ROOT = join(import.meta.dirname, "..");

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const existing = process.env.ENVICUTOR_E2E_KUBECONFIG;
  const bin = controlPlaneBinDir();
  const cp = existing ? undefined : new ControlPlane(bin);
  try {
    let kubeconfig = existing ?? "";
    if (cp) {
      const started = Date.now();
      kubeconfig = (await cp.start()).kubeconfigPath;
      process.stderr.write(`[e2e] control plane up in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    }
    return await prepare(project, bin, kubeconfig, cp, Boolean(existing));
  } catch (err) {
    await cp?.stop();
    throw err;
  }
}

async function prepare(
  project: TestProject,
  bin: string,
  kubeconfig: string,
  cp: ControlPlane | undefined,
  existing: boolean,
): Promise<() => Promise<void>> {
  const kubectl = (...args: string[]) =>
    execFileSync(join(bin, "kubectl"), [`--kubeconfig=${kubeconfig}`, ...args], { encoding: "utf8" });
  kubectl("apply", "--server-side", "--force-conflicts", "-f", join(ROOT, "crds"));
  kubectl(
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/runtimes.envicutor.io",
    "crd/executions.envicutor.io",
    "crd/workers.envicutor.io",
  );
  const version = (JSON.parse(kubectl("version", "-o", "json")) as { serverVersion: { gitVersion: string } })
    .serverVersion.gitVersion;
  process.stderr.write(
    `[e2e] kube-apiserver ${version} (${existing ? `existing cluster from ENVICUTOR_E2E_KUBECONFIG` : "built from k8s.io/kubernetes"}) at ${cp?.server ?? kubeconfig}\n`,
  );
  project.provide("kubeconfig", kubeconfig);
  project.provide("apiserverVersion", version);
  project.provide("controlPlaneBin", bin);
  project.provide("controlPlaneDir", cp?.dir ?? "");
  return async () => {
    await cp?.stop();
  };
}
