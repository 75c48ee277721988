// A real Kubernetes node on this machine for the e2e suite: containerd 2 with
// runc and Debian's CNI plugins (a bridge with host-local addresses), and
// kubelet, built from Go modules by build-node.sh. It joins a ControlPlane
// started with bindAddress 0.0.0.0 (see e2e/node-helm.e2e.test.ts).
//
// Everything lives in one directory: containerd's root and state, kubelet's
// root, pod logs, CNI state and network namespaces (all mounted under it), and
// a cgroup subtree of its own (kubelet's cgroupRoot). cleanup.sh takes it all
// down, from stop() or from a watchdog when the test process dies, so nothing
// is left behind.
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const HERE = import.meta.dirname;
const BUILD_SCRIPT = join(HERE, "build-node.sh");
const CLEANUP_SCRIPT = join(HERE, "cleanup.sh");
const CNI_BIN = "/usr/lib/cni";
const run = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Paths kubelet and the CNI library write to whatever their configuration says
 * (device plugins' socket, the container-log symlinks, the flexvolume dir, the
 * CNI results cache). cleanup.sh removes the ones this node made, and only
 * this node's entries of those that were there before.
 */
const HOST_PATHS = ["/var/lib/kubelet", "/var/log/containers", "/usr/libexec/kubernetes", "/var/lib/cni"];

/** Kernel settings kubelet changes to what it expects; cleanup.sh puts them back. */
const KUBELET_SYSCTLS = [
  "vm.overcommit_memory",
  "vm.panic_on_oom",
  "kernel.panic",
  "kernel.panic_on_oops",
  "kernel.keys.root_maxkeys",
  "kernel.keys.root_maxbytes",
];

/** Builds (first run, progress on stderr) or finds the node's binaries; resolves with their directory. */
export function buildNodeBinaries(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [BUILD_SCRIPT], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    child.once("error", reject);
    child.once("close", (code) =>
      code === 0
        ? resolve(out.trim().split("\n").pop() ?? "")
        : reject(new Error(`${BUILD_SCRIPT} exited with code ${code}`)),
    );
  });
}

export interface NodeOptions {
  /** Directory of kubelet, containerd, ctr, containerd-shim-runc-v2, runc, pause. */
  bin: string;
  /** Node name (also the kubelet's identity system:node:<name>). */
  name: string;
  /** kube-apiserver URL the kubelet uses (it runs on the host: loopback is fine). */
  server: string;
  /** A static token of user system:node:<name>, group system:nodes. */
  token: string;
  /** The node's InternalIP: kube-apiserver reaches the kubelet (logs, exec) there. Never loopback (kubelet refuses it). */
  nodeIp: string;
  /** Pods' addresses (host-local on the bridge), e.g. 10.234.0.0/24. */
  podCidr: string;
  /**
   * kube-proxy's one job here: pods reach kube-apiserver through the kubernetes
   * Service (its ClusterIP:443 from KUBERNETES_SERVICE_HOST), so one nft DNAT
   * rule sends that address to where kube-apiserver listens. No other Service
   * is reached from pods; the test reads the metrics Services through the
   * apiserver's service proxy, which connects to the endpoints directly.
   */
  apiserverService: { clusterIp: string; target: string };
  labels?: Record<string, string>;
}

/** An OCI archive (images/build.sh) and the reference it is imported as. */
export interface ImageArchive {
  ref: string;
  archive: string;
}

export interface NodeVersions {
  kubelet: string;
  containerd: string;
  runc: string;
  cni: string;
}

export class KubeNode {
  readonly dir = mkdtempSync(join(tmpdir(), "envicutor-node-"));
  private readonly id = randomBytes(3).toString("hex");
  readonly cgroupRoot = `envicutor-node-${this.id}`;
  readonly bridge = `envn${this.id}`;
  readonly nftTable = `envicutor_node_${this.id}`;
  private readonly procs = new Map<string, ChildProcess>();
  private watchdog: ChildProcess | undefined;
  private madePaths: string[] = [];
  private stopped = false;

  private readonly o: NodeOptions;

  constructor(options: NodeOptions) {
    this.o = options;
  }

  get socket(): string {
    return join(this.dir, "containerd", "containerd.sock");
  }

  logFile(name: "kubelet" | "containerd"): string {
    return join(this.dir, `${name}.log`);
  }

  /** kubelet, containerd, runc and the CNI plugins' versions, as they print them. */
  async versions(): Promise<NodeVersions> {
    const out = async (cmd: string, args: string[]) =>
      (await run(cmd, args).then((r) => r.stdout + r.stderr)).trim();
    return {
      kubelet: await out(join(this.o.bin, "kubelet"), ["--version"]),
      containerd: await out(join(this.o.bin, "containerd"), ["--version"]),
      runc: (await out(join(this.o.bin, "runc"), ["--version"])).split("\n")[0] ?? "",
      cni: (await out("dpkg-query", ["-W", "-f=$" + "{Version}", "containernetworking-plugins"])).trim(),
    };
  }

  /** Starts containerd, imports `images` (OCI archives) and starts kubelet; resolves once containerd answers. */
  async start(images: ImageArchive[]): Promise<void> {
    this.startWatchdog();
    try {
      this.recordHostState();
      this.makeCgroupRoot();
      this.writeConfigs();
      this.nftDnat();
      this.launch("containerd", [
        join(this.o.bin, "containerd"),
        "--config",
        join(this.dir, "containerd.toml"),
      ]);
      await this.waitFor("containerd", () => this.ctr(["version"]).then(() => true), 30_000);
      for (const image of images) await this.importImage(image);
      this.launch("kubelet", [join(this.o.bin, "kubelet"), ...this.kubeletArgs()]);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Loads an OCI archive into containerd's k8s.io namespace (where the CRI looks), named `ref`. */
  async importImage({ ref, archive }: ImageArchive): Promise<void> {
    // The archive names its image by tag only (umoci); --base-name makes it ref.
    await this.ctr(["images", "import", "--base-name", ref.slice(0, ref.lastIndexOf(":")), archive]);
  }

  ctr(args: string[]): Promise<string> {
    return run(join(this.o.bin, "ctr"), ["--address", this.socket, "--namespace", "k8s.io", ...args], {
      maxBuffer: 16 * 1024 * 1024,
    }).then((r) => r.stdout);
  }

  /** Stops kubelet and containerd and removes everything (cleanup.sh). Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await run("bash", [CLEANUP_SCRIPT, this.dir, this.cgroupRoot, this.bridge, this.nftTable]).catch(
      () => undefined,
    );
    this.watchdog?.kill("SIGKILL");
  }

  /** What is left of this node on the machine (expected: nothing). */
  leftovers(): string[] {
    const left: string[] = [];
    if (existsSync(this.dir)) left.push(this.dir);
    const mounts = readFileSync("/proc/self/mountinfo", "utf8");
    if (mounts.includes(`${this.dir}/`)) left.push(`mounts under ${this.dir}`);
    for (const h of cgroupHierarchies())
      if (existsSync(join(h, this.cgroupRoot))) left.push(join(h, this.cgroupRoot));
    if (existsSync(`/sys/class/net/${this.bridge}`)) left.push(`link ${this.bridge}`);
    for (const p of this.madePaths) if (existsSync(p)) left.push(p);
    const results = "/var/lib/cni/results";
    if (existsSync(results))
      for (const f of readdirSync(results))
        if (f.startsWith(`${this.cgroupRoot}-`)) left.push(join(results, f));
    return left;
  }

  private startWatchdog(): void {
    const script = `while kill -0 "$1" 2>/dev/null; do sleep 1; done; shift; exec bash "$@"`;
    const args = [String(process.pid), CLEANUP_SCRIPT, this.dir, this.cgroupRoot, this.bridge, this.nftTable];
    this.watchdog = spawn("sh", ["-c", script, "envicutor-node-watchdog", ...args], {
      detached: true,
      stdio: "ignore",
    });
    this.watchdog.unref();
  }

  /** What cleanup.sh must put back or remove: kubelet's sysctls as they are, the host paths not there yet. */
  private recordHostState(): void {
    const lines = KUBELET_SYSCTLS.map((k) => {
      const v = readFileSync(`/proc/sys/${k.replaceAll(".", "/")}`, "utf8").trim();
      return `${k} ${v}`;
    });
    writeFileSync(join(this.dir, "sysctls"), `${lines.join("\n")}\n`);
    this.madePaths = HOST_PATHS.filter((p) => !existsSync(p));
    writeFileSync(join(this.dir, "made-paths"), this.madePaths.map((p) => `${p}\n`).join(""));
  }

  /** kubelet wants its cgroupRoot to exist in every hierarchy; cpuset needs its cpus and mems filled in. */
  private makeCgroupRoot(): void {
    for (const h of cgroupHierarchies()) {
      const d = join(h, this.cgroupRoot);
      mkdirSync(d, { recursive: true });
      if (h.endsWith("/cpuset"))
        for (const f of ["cpuset.cpus", "cpuset.mems"]) writeFileSync(join(d, f), readFileSync(join(h, f)));
    }
  }

  private nftDnat(): void {
    const { clusterIp, target } = this.o.apiserverService;
    const rules = `table ip ${this.nftTable} {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${clusterIp} tcp dport 443 dnat to ${target}
  }
}
`;
    execFileSync("nft", ["-f", "-"], { input: rules });
  }

  private writeConfigs(): void {
    const d = this.dir;
    for (const sub of [
      "containerd",
      "cni/net.d",
      "cni/ipam",
      "cni/cache",
      "kubelet",
      "pod-logs",
      "volume-plugins",
      "pki",
    ])
      mkdirSync(join(d, sub), { recursive: true });
    writeFileSync(join(d, "containerd.toml"), containerdConfig(d, this.o.bin));
    writeFileSync(
      join(d, "cni/net.d/10-envicutor.conflist"),
      JSON.stringify(cniConfig(this.cgroupRoot, this.bridge, this.o.podCidr, join(d, "cni/ipam"))),
    );
    writeFileSync(join(d, "kubelet.kubeconfig"), kubeletKubeconfig(this.o.server, this.o.token), {
      mode: 0o600,
    });
    writeFileSync(join(d, "kubelet.yaml"), kubeletConfig(this, this.socket));
  }

  private kubeletArgs(): string[] {
    const labels = Object.entries(this.o.labels ?? {}).map(([k, v]) => `${k}=${v}`);
    return [
      `--config=${join(this.dir, "kubelet.yaml")}`,
      `--kubeconfig=${join(this.dir, "kubelet.kubeconfig")}`,
      `--root-dir=${join(this.dir, "kubelet")}`,
      `--cert-dir=${join(this.dir, "pki")}`,
      `--hostname-override=${this.o.name}`,
      `--node-ip=${this.o.nodeIp}`,
      ...(labels.length ? [`--node-labels=${labels.join(",")}`] : []),
      "--v=2",
    ];
  }

  private launch(name: "kubelet" | "containerd", argv: string[]): void {
    const fd = openSync(this.logFile(name), "a");
    try {
      // containerd finds containerd-shim-runc-v2 on PATH; the CNI plugins need ip tools.
      const env = { ...process.env, PATH: `${this.o.bin}:/usr/sbin:/usr/bin:/sbin:/bin` };
      const proc = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ["ignore", fd, fd], env });
      proc.unref();
      this.procs.set(name, proc);
    } finally {
      closeSync(fd);
    }
    const pgids = [...this.procs.values()].map((p) => p.pid).filter(Boolean);
    writeFileSync(join(this.dir, "pgids"), `${pgids.join("\n")}\n`);
  }

  private async waitFor(name: "kubelet" | "containerd", probe: () => Promise<boolean>, timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = this.procs.get(name);
      if (p?.exitCode !== null || p.signalCode) throw new Error(`${name} exited:\n${this.tail(name)}`);
      if (await probe().catch(() => false)) return;
      if (Date.now() > deadline)
        throw new Error(`${name} not ready after ${timeoutMs} ms:\n${this.tail(name)}`);
      await sleep(200);
    }
  }

  tail(name: "kubelet" | "containerd", lines = 30): string {
    try {
      return readFileSync(this.logFile(name), "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }
}

/** The mounted cgroup v1 hierarchies (cpu, memory, pids, name=systemd, ...). */
function cgroupHierarchies(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[f.indexOf("-") + 1] === "cgroup")
    .map((f) => f[4]!);
}

function containerdConfig(dir: string, bin: string): string {
  const c = join(dir, "containerd");
  return `version = 3
root = "${c}/root"
state = "${c}/state"
# Not needed, and each would write outside this node's directory (/opt/containerd, /var/run/nri).
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt", "io.containerd.image-verifier.v1.bindir"]

[grpc]
  address = "${c}/containerd.sock"
[ttrpc]
  address = "${c}/containerd.sock.ttrpc"

# Shims' sockets here, not in /run/containerd/s.
[plugins."io.containerd.shim.v1.manager"]
  socket_dir = "${c}/s"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "envicutor.local/pause:e2e"

[plugins."io.containerd.cri.v1.runtime"]
  cdi_spec_dirs = []
  # This machine's processes lack CAP_SYS_RESOURCE, so none may lower its OOM
  # score: the -998 kubelet wants for sandboxes fails in runc ("failed to update
  # /proc/self/oom_score_adj"). Containers get at least containerd's own score.
  restrict_oom_score_adj = true
  # Network namespaces under the state dir (not /var/run/netns): cleanup.sh unmounts them with the rest.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["${CNI_BIN}"]
    conf_dir = "${dir}/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "${bin}/runc"
        Root = "${c}/runc"
        # kubelet's cgroupDriver is cgroupfs (no systemd here).
        SystemdCgroup = false
`;
}

function cniConfig(name: string, bridge: string, subnet: string, dataDir: string) {
  return {
    cniVersion: "1.0.0",
    name,
    plugins: [
      {
        type: "bridge",
        bridge,
        isGateway: true,
        // Pods talk to the host and each other only; nothing is NATed to the outside.
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: "host-local", ranges: [[{ subnet }]], routes: [{ dst: "0.0.0.0/0" }], dataDir },
      },
    ],
  };
}

function kubeletKubeconfig(server: string, token: string): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: ${server}
    insecure-skip-tls-verify: true
users:
- name: kubelet
  user:
    token: ${token}
contexts:
- name: e2e
  context: {cluster: e2e, user: kubelet}
current-context: e2e
`;
}

function kubeletConfig(node: KubeNode, socket: string): string {
  const d = node.dir;
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine runs cgroup v1 (hybrid: v1 controllers, an empty v2 tree at
# /sys/fs/cgroup/unified). Kubelet 1.35+ refuses to start on cgroup v1 unless
# told otherwise; the nodes Envicutor supports include cgroup v1 ones (isolate
# 1.x), so the test node runs on it.
failCgroupV1: false
cgroupDriver: cgroupfs
# Pods' cgroups under a subtree of this node's own, so cleanup.sh can find and remove them.
cgroupRoot: /${node.cgroupRoot}
containerRuntimeEndpoint: unix://${socket}
address: 0.0.0.0
port: ${10250 + Math.floor(Math.random() * 500)}
readOnlyPort: 0
healthzPort: 0
# No client certificate on kube-apiserver's side: it reaches the kubelet anonymously (logs, exec).
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
failSwapOn: false
podLogsDir: ${d}/pod-logs
volumePluginDir: ${d}/volume-plugins
# The machine's disk is shared with everything else: evict only when it is really full.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
imageGCHighThresholdPercent: 100
serializeImagePulls: false
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
registerNode: true
nodeStatusUpdateFrequency: 4s
`;
}
