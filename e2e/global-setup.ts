// vitest globalSetup of the e2e project: one real control plane for every e2e
// file (or an existing cluster from ENVICUTOR_E2E_KUBECONFIG), with the CRDs
// installed and Established.
//
// Tests run in worker processes and cannot call the ControlPlane object here,
// so a loopback HTTP endpoint (secret URL, provided as controlPlaneControl) lets
// them restart the shared kube-apiserver: see restartApiserver() in
// support/cluster.ts.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer } from "node:http";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";
import { buildControlPlaneBinaries, ControlPlane } from "./controlplane/control-plane.ts";
import { applyCrdManifests } from "./controlplane/crds.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Path of an admin kubeconfig. */
    kubeconfig: string;
    /** kube-apiserver's gitVersion, e.g. v1.36.3. */
    apiserverVersion: string;
    /** Directory of the built kubectl (and, unless the cluster is external, the control-plane binaries). */
    controlPlaneBin: string;
    /** Temp dir of the local control plane (its logs); "" for an external cluster. */
    controlPlaneDir: string;
    /** Secret URL to POST to restart the local kube-apiserver; "" for an external cluster. */
    controlPlaneControl: string;
  }
}

const ROOT = join(import.meta.dirname, "..");
const run = promisify(execFile);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const existing = process.env.ENVICUTOR_E2E_KUBECONFIG;
  const bin = await binDir(Boolean(existing));
  const kubectl = join(bin, "kubectl");
  let cp: ControlPlane | undefined;
  let control: Control | undefined;
  try {
    let kubeconfig: string;
    let where: string;
    let ready = "";
    if (existing) {
      kubeconfig = existing;
      where = `existing cluster from ENVICUTOR_E2E_KUBECONFIG=${existing}`;
      await applyCrdManifests(kubectl, kubeconfig, join(ROOT, "crds"));
    } else {
      // CRDs go in before kube-controller-manager starts, so its garbage
      // collector watches them (Workers owned by Nodes) from the first test.
      cp = new ControlPlane(bin, { crds: join(ROOT, "crds") });
      await cp.start();
      kubeconfig = cp.kubeconfigPath;
      where = "built from k8s.io/kubernetes";
      const s = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
      const t = cp.timings;
      ready = `; ready in ${s(t.totalMs)} (apiserver ${s(t.apiserverMs)}, CRDs ${s(t.crdsMs)}, controllers ${s(t.controllerManagerMs)})`;
      control = await controlServer(cp);
    }
    const { stdout } = await run(kubectl, [`--kubeconfig=${kubeconfig}`, "version", "-o", "json"]);
    const version = (JSON.parse(stdout) as { serverVersion: { gitVersion: string } }).serverVersion
      .gitVersion;
    const server = cp?.server ?? (await currentServer(kubectl, kubeconfig));
    process.stderr.write(`[e2e] kube-apiserver ${version} (${where}) on ${server}${ready}\n`);

    project.provide("kubeconfig", kubeconfig);
    project.provide("apiserverVersion", version);
    project.provide("controlPlaneBin", bin);
    project.provide("controlPlaneDir", cp?.dir ?? "");
    project.provide("controlPlaneControl", control?.url ?? "");
  } catch (err) {
    control?.close();
    await cp?.stop();
    throw err;
  }
  return async () => {
    control?.close();
    await cp?.stop();
  };
}

/** The built binaries (cached after the first run, which prints its progress); for an external cluster, any kubectl on PATH will do if they cannot be built. */
async function binDir(external: boolean): Promise<string> {
  try {
    return await buildControlPlaneBinaries();
  } catch (err) {
    const onPath = (process.env.PATH ?? "").split(delimiter).find((d) => d && existsSync(join(d, "kubectl")));
    if (!external || !onPath) throw err;
    process.stderr.write(`[e2e] ${(err as Error).message}; using ${join(onPath, "kubectl")}\n`);
    return onPath;
  }
}

async function currentServer(kubectl: string, kubeconfig: string): Promise<string> {
  const { stdout } = await run(kubectl, [
    `--kubeconfig=${kubeconfig}`,
    "config",
    "view",
    "--minify",
    "-o",
    "jsonpath={.clusters[0].cluster.server}",
  ]);
  return stdout;
}

interface Control {
  url: string;
  close(): void;
}

/** POST /<secret>/restart-apiserver?downMs=N restarts kube-apiserver; answers {"readyMs": …} or 500 with the error. */
async function controlServer(cp: ControlPlane): Promise<Control> {
  const secret = randomBytes(16).toString("hex");
  let busy = false;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
    };
    if (req.method !== "POST" || url.pathname !== `/${secret}/restart-apiserver`) return reply(404, {});
    if (busy) return reply(409, { error: "a restart is already in progress" });
    busy = true;
    const downMs = Math.max(0, Number(url.searchParams.get("downMs")) || 0);
    cp.restartApiserver(downMs)
      .then(
        (readyMs) => reply(200, { readyMs }),
        (err: Error) => reply(500, { error: err.message }),
      )
      .finally(() => {
        busy = false;
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  server.unref();
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/${secret}`, close: () => server.close() };
}
