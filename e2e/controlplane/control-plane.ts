// A real Kubernetes control plane on loopback for the e2e suite: etcd,
// kube-apiserver and kube-controller-manager (for owner-reference garbage
// collection and namespace deletion), built from Go modules by
// build-binaries.sh. Static-token auth; everything lives in one temp dir.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));

/** Builds (first run) or finds the cached control-plane binaries; returns their directory. */
export function controlPlaneBinDir(): string {
  const out = execFileSync("bash", [join(HERE, "build-binaries.sh")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return out.toString().trim().split("\n").pop()!;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Managed {
  name: string;
  args: string[];
  proc?: ChildProcess;
  logFile: string;
}

/** Every control plane started by this process, so an abrupt exit still kills them. */
const live = new Set<ControlPlane>();
process.once("exit", () => {
  for (const cp of live) cp.killAllSync();
});
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    for (const cp of live) cp.killAllSync();
    process.exit(130);
  });
}

export interface ControlPlaneInfo {
  kubeconfigPath: string;
  server: string;
  token: string;
  dir: string;
}

export class ControlPlane {
  readonly dir: string;
  readonly token = randomBytes(24).toString("hex");
  private readonly bin: string;
  private readonly procs = new Map<string, Managed>();
  private apiserverPort = 0;

  constructor(binDir = controlPlaneBinDir()) {
    this.bin = binDir;
    this.dir = mkdtempSync(join(tmpdir(), "envicutor-cp-"));
  }

  get server(): string {
    return `https://127.0.0.1:${this.apiserverPort}`;
  }

  get kubeconfigPath(): string {
    return join(this.dir, "admin.kubeconfig");
  }

  info(): ControlPlaneInfo {
    return { kubeconfigPath: this.kubeconfigPath, server: this.server, token: this.token, dir: this.dir };
  }

  async start(): Promise<ControlPlaneInfo> {
    live.add(this);
    const [etcdClient, etcdPeer, apiserver] = [await freePort(), await freePort(), await freePort()];
    this.apiserverPort = apiserver;
    const pki = join(this.dir, "pki");
    mkdirSync(pki, { recursive: true });
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    writeFileSync(join(pki, "sa.key"), privateKey.export({ type: "pkcs1", format: "pem" }));
    writeFileSync(join(pki, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));
    writeFileSync(join(pki, "tokens.csv"), `${this.token},admin,admin,"system:masters"\n`);
    this.writeKubeconfig();

    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    this.define("etcd", [
      "--name=e2e",
      `--data-dir=${join(this.dir, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=e2e=http://127.0.0.1:${etcdPeer}`,
      "--unsafe-no-fsync=true",
      "--log-level=warn",
    ]);
    this.define("kube-apiserver", [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiserver}`,
      `--cert-dir=${join(this.dir, "certs")}`,
      `--token-auth-file=${join(pki, "tokens.csv")}`,
      "--authorization-mode=RBAC",
      `--service-account-key-file=${join(pki, "sa.pub")}`,
      `--service-account-signing-key-file=${join(pki, "sa.key")}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      "--service-cluster-ip-range=10.96.0.0/24",
      "--allow-privileged=true",
      "--profiling=false",
      "--v=1",
    ]);
    this.define("kube-controller-manager", [
      `--kubeconfig=${this.kubeconfigPath}`,
      `--authentication-kubeconfig=${this.kubeconfigPath}`,
      `--authorization-kubeconfig=${this.kubeconfigPath}`,
      "--controllers=garbagecollector,namespace,serviceaccount",
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${await freePort()}`,
      "--concurrent-gc-syncs=5",
      "--v=1",
    ]);

    this.launch("etcd");
    await this.waitFor("etcd", () => httpOk(`${etcdUrl}/health`), 30_000);
    this.launch("kube-apiserver");
    await this.waitForApiserver();
    this.launch("kube-controller-manager");
    return this.info();
  }

  /** Stops kube-apiserver and starts it again on the same port (etcd keeps the data). */
  async restartApiserver(downMs = 0): Promise<void> {
    await this.stopProcess("kube-apiserver");
    if (downMs > 0) await sleep(downMs);
    this.launch("kube-apiserver");
    await this.waitForApiserver();
  }

  async stop(): Promise<void> {
    for (const name of ["kube-controller-manager", "kube-apiserver", "etcd"]) await this.stopProcess(name);
    live.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Last resort on process exit: SIGKILL every process group, synchronously. */
  killAllSync(): void {
    for (const m of this.procs.values()) {
      if (m.proc?.pid && m.proc.exitCode === null) {
        try {
          process.kill(-m.proc.pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
    }
  }

  logTail(name: string, lines = 30): string {
    const m = this.procs.get(name);
    if (!m || !existsSync(m.logFile)) return "";
    return readFileSync(m.logFile, "utf8").split("\n").slice(-lines).join("\n");
  }

  private define(name: string, args: string[]): void {
    this.procs.set(name, { name, args, logFile: join(this.dir, `${name}.log`) });
  }

  private launch(name: string): void {
    const m = this.procs.get(name)!;
    const fd = openSync(m.logFile, "a");
    // Own process group, so stop() and the exit hook kill the whole tree.
    m.proc = spawn(join(this.bin, name), m.args, { detached: true, stdio: ["ignore", fd, fd] });
    closeSync(fd);
    m.proc.unref();
  }

  private async stopProcess(name: string): Promise<void> {
    const proc = this.procs.get(name)?.proc;
    if (!proc?.pid || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    try {
      process.kill(-proc.pid, "SIGTERM");
    } catch {
      return;
    }
    const timedOut = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)]);
    if (timedOut) {
      try {
        process.kill(-proc.pid, "SIGKILL");
      } catch {
        /* gone */
      }
      await exited;
    }
  }

  private async waitForApiserver(): Promise<void> {
    await this.waitFor("kube-apiserver", () => httpsOk(`${this.server}/readyz`, this.token), 90_000);
  }

  private async waitFor(name: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const proc = this.procs.get(name)?.proc;
      if (proc && proc.exitCode !== null) {
        throw new Error(`${name} exited with code ${proc.exitCode}:\n${this.logTail(name)}`);
      }
      if (await probe()) return;
      await sleep(250);
    }
    throw new Error(`${name} not ready after ${timeoutMs} ms:\n${this.logTail(name)}`);
  }

  private writeKubeconfig(): void {
    writeFileSync(
      this.kubeconfigPath,
      `apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: ${this.server}
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: ${this.token}
contexts:
- name: e2e
  context:
    cluster: e2e
    user: admin
    namespace: default
current-context: e2e
`,
      { mode: 0o600 },
    );
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** GET over TLS with the apiserver's self-signed certificate. */
function httpsOk(url: string, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      url,
      { rejectUnauthorized: false, headers: { Authorization: `Bearer ${token}` }, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}
