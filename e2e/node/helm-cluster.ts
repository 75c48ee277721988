// A cluster of one real node to `helm install` charts/envicutor into, as a
// platform team would: a control plane like the suite's (e2e/controlplane)
// but listening where pods reach it, with the controllers Deployments and
// DaemonSets need and kube-scheduler; a kubelet/containerd node (node.ts)
// with the images built from this checkout loaded; the stand-in package set
// frozen for the agent's pod (frozen-package-set.ts). Used by
// e2e/node-helm.e2e.test.ts and bench/pods.ts, so that the bench measures the
// install the test checks. README "Install on a cluster" follows these steps.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildControlPlaneBinaries, ControlPlane } from "../controlplane/control-plane.ts";
import { waitFor } from "../support/cluster.ts";
import { type FrozenPackageSet, frozenPackageSet } from "./frozen-package-set.ts";
import { buildImages } from "./images.ts";
import { KubeNode } from "./node.ts";
import { NODE_IP } from "./prerequisites.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");
export const NODE = "envicutor-e2e-node";
export const NS = "envicutor-system";
export const RELEASE = "envicutor";
const POD_CIDR = "10.234.0.0/24";

/** Runs a tool; rejects with its stderr in the message. */
async function tool(name: string, bin: string, args: string[], input?: string): Promise<string> {
  const child = run(bin, args, { maxBuffer: 64 << 20 });
  if (input !== undefined) child.child.stdin?.end(input);
  try {
    return (await child).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(
      `${name} ${args.filter((a) => !a.startsWith("--kubeconfig")).join(" ")}: ${e.stderr?.trim() || e.message}`,
    );
  }
}

export interface HelmClusterOptions {
  /** The agent's isolate box ids: boxIdBase .. boxIdBase+7 (each user of this machine has its own). */
  boxIdBase: number;
  log: (msg: string) => void;
}

async function nodeReady(cp: ControlPlane): Promise<boolean> {
  type N = { status?: { conditions?: { type: string; status: string }[] } };
  const args = [`--kubeconfig=${cp.kubeconfigPath}`, "get", "node", NODE, "-o", "json"];
  const n = await tool("kubectl", cp.kubectlPath, args).then(
    (o) => JSON.parse(o) as N,
    () => undefined,
  );
  return n?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** The images built and loaded, kubelet started and the Node Ready; logs the versions it runs. */
async function startNode(
  node: KubeNode,
  cp: ControlPlane,
  dirs: { images: string; nodeBin: string },
  log: (m: string) => void,
) {
  let t = Date.now();
  const images = await buildImages(dirs.images, dirs.nodeBin);
  log(`images built in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  t = Date.now();
  await node.start(images);
  await waitFor(() => nodeReady(cp), {
    timeoutMs: 120_000,
    intervalMs: 500,
    what: `Node ${NODE} Ready`,
  }).catch((err) => {
    throw new Error(`${(err as Error).message}\n--- kubelet:\n${node.tail("kubelet")}`);
  });
  const v = await node.versions();
  log(
    `node ${NODE} Ready in ${((Date.now() - t) / 1000).toFixed(1)} s: ${v.kubelet}; ${v.containerd}; ${v.runc}; CNI plugins ${v.cni} (Debian)`,
  );
}

export class HelmCluster {
  readonly tmp: string;
  readonly cp: ControlPlane;
  readonly node: KubeNode;
  readonly pkgs: FrozenPackageSet;
  private readonly helmBin: string;
  private readonly o: HelmClusterOptions;

  private constructor(
    parts: { tmp: string; cp: ControlPlane; node: KubeNode; pkgs: FrozenPackageSet; helmBin: string },
    o: HelmClusterOptions,
  ) {
    this.tmp = parts.tmp;
    this.cp = parts.cp;
    this.node = parts.node;
    this.pkgs = parts.pkgs;
    this.helmBin = parts.helmBin;
    this.o = o;
  }

  /** Builds what is not built yet, starts the control plane and the node, and freezes the package set. */
  static async start(o: HelmClusterOptions): Promise<HelmCluster> {
    const tmp = await mkdtemp(join(tmpdir(), "envicutor-node-e2e-"));
    const token = `node-${Date.now().toString(16)}-${process.pid}`;
    const nodeBin = (await run("bash", [join(ROOT, "e2e/node/build-node.sh")])).stdout.trim();
    const helmBin = join((await run("bash", [join(ROOT, "scripts/build-helm.sh")])).stdout.trim(), "helm");
    const cp = new ControlPlane(await buildControlPlaneBinaries(), {
      crds: join(ROOT, "charts/envicutor/crds"),
      bindAddress: "0.0.0.0",
      advertiseAddress: NODE_IP,
      controllers: ["*"],
      tokens: [[token, `system:node:${NODE}`, `node-${NODE}`, "system:nodes"]],
      scheduler: join(nodeBin, "kube-scheduler"),
    });
    await cp.start();
    const node = new KubeNode({
      bin: nodeBin,
      name: NODE,
      server: cp.server,
      token,
      nodeIp: NODE_IP,
      podCidr: POD_CIDR,
      apiserverService: { clusterIp: "10.96.0.1", target: `${NODE_IP}:${new URL(cp.server).port}` },
      labels: { "envicutor.io/e2e": "node" },
    });
    try {
      await startNode(node, cp, { images: join(tmp, "images"), nodeBin }, o.log);
      const frozen = join(tmp, "state", "e2e");
      await mkdir(frozen, { recursive: true });
      const pkgs = await frozenPackageSet(frozen, ["python3", "bash", "coreutils"]);
      return new HelmCluster({ tmp, cp, node, pkgs, helmBin }, o);
    } catch (err) {
      await node.stop();
      await cp.stop();
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /** The agent's state directory on the node (hostPath, mounted at the same path in its pod). */
  get stateDir(): string {
    return join(this.tmp, "state");
  }

  get valuesFile(): string {
    return join(this.tmp, "values.yaml");
  }

  kubectl(args: string[], input?: string): Promise<string> {
    // Its discovery cache in the cluster's directory, not ~/.kube/cache.
    const pre = [`--kubeconfig=${this.cp.kubeconfigPath}`, `--cache-dir=${join(this.tmp, "kube-cache")}`];
    return tool("kubectl", this.cp.kubectlPath, [...pre, ...args], input);
  }

  helm(args: string[]): Promise<string> {
    return tool("helm", this.helmBin, [`--kubeconfig=${this.cp.kubeconfigPath}`, ...args]);
  }

  async getJson<T = Record<string, unknown>>(args: string[]): Promise<T> {
    return JSON.parse(await this.kubectl([...args, "-o", "json"])) as T;
  }

  /** The chart's values for this cluster: everything else is the chart's default. */
  values(): string {
    return `# What the e2e node needs beyond the chart's defaults (see README "Install on a cluster").
agent:
  slots: 2
  boxIdBase: ${this.o.boxIdBase}
  hostPaths:
    stateDir: ${this.stateDir}
  nix:
    packageSet: ${this.pkgs.location}
    substituters: ["${this.pkgs.cache.url}"]
    trustedPublicKeys: ["${this.pkgs.cache.publicKey}"]
    installTimeoutSeconds: 120
  resources:
    requests: {cpu: 100m, memory: 256Mi}
controller:
  resources:
    requests: {cpu: 50m, memory: 64Mi}
`;
  }

  /**
   * `helm install --wait` with values() and waits for the agent's pod and both
   * controller replicas too (helm --wait counts a DaemonSet ready with
   * maxUnavailable pods missing); resolves with the seconds it took.
   */
  async install(): Promise<number> {
    await writeFile(this.valuesFile, this.values());
    const t = Date.now();
    await this.helm([
      ...["install", RELEASE, join(ROOT, "charts/envicutor"), "--namespace", NS, "--create-namespace"],
      ...["-f", this.valuesFile, "--wait", "--timeout", "5m"],
    ]).catch(async (err) => {
      throw new Error(`${(err as Error).message}\n${await this.podsReport()}`);
    });
    await this.kubectl(["-n", NS, "rollout", "status", `ds/${RELEASE}-agent`, "--timeout=180s"]);
    await this.kubectl(["-n", NS, "rollout", "status", `deploy/${RELEASE}-controller`, "--timeout=180s"]);
    return (Date.now() - t) / 1000;
  }

  agentLogs(): Promise<string> {
    return this.kubectl(["-n", NS, "logs", `ds/${RELEASE}-agent`, "-c", "agent", "--tail=40"]).catch((e) =>
      String(e),
    );
  }

  async podsReport(): Promise<string> {
    const pods = await this.kubectl(["-n", NS, "get", "pods", "-o", "wide"]).catch((e) => String(e));
    const events = await this.kubectl(["-n", NS, "get", "events", "--sort-by=.lastTimestamp"]).catch((e) =>
      String(e),
    );
    const kubelet = this.node.tail("kubelet", 20);
    return `${pods}\n${events.split("\n").slice(-25).join("\n")}\n--- kubelet:\n${kubelet}`;
  }

  /** Stops the node and the control plane, removes the directory; resolves with what the node left behind. */
  async stop(): Promise<string[]> {
    await this.node.stop();
    await this.cp.stop();
    const left = this.node.leftovers();
    await rm(this.tmp, { recursive: true, force: true });
    for (let id = this.o.boxIdBase; id < this.o.boxIdBase + 8; id++)
      await rm(`/var/local/lib/isolate/${id}`, { recursive: true, force: true });
    return left;
  }
}
