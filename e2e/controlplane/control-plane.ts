// A real Kubernetes control plane on loopback for the e2e suite: etcd,
// kube-apiserver and kube-controller-manager (owner-reference garbage
// collection, namespace deletion, default service accounts), built from Go
// modules by build-binaries.sh. Static-token auth for an admin in
// system:masters, Node,RBAC authorization; everything lives in one temp dir.
//
// Nothing may outlive the test run: every process runs in its own process
// group, stop() kills the groups, an exit hook kills them if the run dies
// without stop(), and a small watchdog (a shell loop) kills them and removes
// the temp dir when the owning Node process disappears, even by SIGKILL.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyCrdManifests } from "./crds.ts";

const HERE = import.meta.dirname;
const BUILD_SCRIPT = join(HERE, "build-binaries.sh");
/** Set to keep the temp dir (logs, etcd data) after stop() for debugging. */
const KEEP_ENV = "ENVICUTOR_E2E_KEEP_CONTROLPLANE";

/** Builds (first run, progress on stderr) or finds the cached control-plane binaries; returns their directory. */
export function controlPlaneBinDir(): string {
  const out = execFileSync("bash", [BUILD_SCRIPT], { stdio: ["ignore", "pipe", "inherit"] });
  return lastLine(out.toString());
}

/** Like controlPlaneBinDir, without blocking the event loop during a first, long build. */
export function buildControlPlaneBinaries(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [BUILD_SCRIPT], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    child.once("error", reject);
    child.once("close", (code) =>
      code === 0 ? resolve(lastLine(out)) : reject(new Error(`${BUILD_SCRIPT} exited with code ${code}`)),
    );
  });
}

function lastLine(s: string): string {
  return s.trim().split("\n").pop() ?? "";
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A free loopback port below the kernel's ephemeral range, so neither an
 * outgoing connection nor another `listen(0)` takes it between now and the
 * moment our process binds it (and again after restartApiserver()).
 */
async function freePort(): Promise<number> {
  let low = 32768;
  try {
    low =
      Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || low;
  } catch {
    /* not Linux: keep the default */
  }
  const min = 10_000;
  for (let i = 0; i < 50 && low - min > 1000; i++) {
    const port = min + Math.floor(Math.random() * (low - min));
    if (await canListen(port)) return port;
  }
  return listenAny();
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

function listenAny(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

type Name = "etcd" | "kube-apiserver" | "kube-controller-manager" | "kube-scheduler";

interface Managed {
  name: Name;
  args: string[];
  logFile: string;
  /** Log size when the current process was launched: errors show only its own output. */
  logOffset: number;
  proc?: ChildProcess;
  exited?: Promise<void>;
  exit?: string;
}

/** Every control plane started by this process, for the exit and signal hooks. */
const live = new Set<ControlPlane>();
process.once("exit", () => {
  for (const cp of live) cp.killAllSync();
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(sig, () => {
    // Someone else handles this signal (vitest, the demo): they stop us, and the
    // exit hook and the watchdog are the backstops. Otherwise do what the default
    // action would have done, after killing the control plane.
    if (process.listenerCount(sig) > 0) return;
    for (const cp of live) cp.killAllSync();
    process.kill(process.pid, sig);
  });
}

// Runs detached; $1 = pid to watch, $2 = temp dir, $3 = "keep" to leave the dir.
const WATCHDOG = `
while kill -0 "$1" 2>/dev/null; do sleep 1; done
for g in $(cat "$2/pgids" 2>/dev/null); do kill -9 -"$g" 2>/dev/null; done
[ "$3" = keep ] || rm -rf "$2"
`;

export interface ControlPlaneOptions {
  /**
   * CRD manifests (file or directory) applied, and Established, before
   * kube-controller-manager starts, so its garbage collector watches those kinds
   * from the start instead of after its next 30 s discovery resync.
   */
  crds?: string;
  /**
   * Address kube-apiserver listens on (default 127.0.0.1). A real node's pods
   * reach it through the kubernetes Service, so e2e/node binds 0.0.0.0.
   */
  bindAddress?: string;
  /** The address kube-apiserver advertises (the kubernetes Endpoints); default 127.0.0.1. */
  advertiseAddress?: string;
  /**
   * kube-controller-manager's controllers (default: the three the suite needs).
   * When set, the root CA of kube-apiserver's serving certificate is published
   * in every namespace (kube-root-ca.crt), which pods' service-account volumes need.
   */
  controllers?: string[];
  /** More static-token users, as [token, user, uid, group] (e.g. a kubelet's system:node:<name>). */
  tokens?: [string, string, string, string][];
  /** kube-scheduler to run too (a real node's pods need scheduling); its path. */
  scheduler?: string;
}

export interface ControlPlaneInfo {
  kubeconfigPath: string;
  server: string;
  token: string;
  dir: string;
}

export interface ControlPlaneTimings {
  etcdMs: number;
  /** From launching kube-apiserver to /readyz and the default namespace. */
  apiserverMs: number;
  crdsMs: number;
  /** From launching kube-controller-manager to its garbage collector collecting a probe. */
  controllerManagerMs: number;
  totalMs: number;
}

export class ControlPlane {
  readonly dir: string;
  readonly token = randomBytes(24).toString("hex");
  readonly bin: string;
  readonly timings: ControlPlaneTimings = {
    etcdMs: 0,
    apiserverMs: 0,
    crdsMs: 0,
    controllerManagerMs: 0,
    totalMs: 0,
  };
  private readonly options: ControlPlaneOptions;
  private readonly procs = new Map<Name, Managed>();
  private readonly keep = Boolean(process.env[KEEP_ENV]);
  private apiserverPort = 0;
  private watchdog: ChildProcess | undefined;
  private stopped = false;

  constructor(binDir = controlPlaneBinDir(), options: ControlPlaneOptions = {}) {
    this.bin = binDir;
    this.options = options;
    for (const name of ["etcd", "kube-apiserver", "kube-controller-manager"] as const) {
      if (!existsSync(join(binDir, name)))
        throw new Error(`${name} not found in ${binDir} (run ${BUILD_SCRIPT})`);
    }
    this.dir = mkdtempSync(join(tmpdir(), "envicutor-cp-"));
  }

  get server(): string {
    return `https://127.0.0.1:${this.apiserverPort}`;
  }

  get kubeconfigPath(): string {
    return join(this.dir, "admin.kubeconfig");
  }

  get kubectlPath(): string {
    return join(this.bin, "kubectl");
  }

  info(): ControlPlaneInfo {
    return { kubeconfigPath: this.kubeconfigPath, server: this.server, token: this.token, dir: this.dir };
  }

  /** Starts etcd, kube-apiserver and kube-controller-manager; resolves once all three work. On failure, stops everything and throws with the relevant log's tail. */
  async start(): Promise<ControlPlaneInfo> {
    if (this.stopped) throw new Error("ControlPlane cannot be restarted after stop(); create a new one");
    live.add(this);
    this.startWatchdog();
    const t0 = Date.now();
    try {
      const pki = join(this.dir, "pki");
      mkdirSync(pki, { recursive: true });
      const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      writeFileSync(join(pki, "sa.key"), privateKey.export({ type: "pkcs1", format: "pem" }), {
        mode: 0o600,
      });
      writeFileSync(join(pki, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));
      const tokens = [[this.token, "admin", "admin", "system:masters"], ...(this.options.tokens ?? [])];
      writeFileSync(
        join(pki, "tokens.csv"),
        tokens.map(([t, u, id, g]) => `${t},${u},${id},"${g}"\n`).join(""),
        {
          mode: 0o600,
        },
      );

      let t = Date.now();
      const etcdUrl = await this.withPortRetry("etcd", async () => {
        const [client, peer] = [await freePort(), await freePort()];
        const url = `http://127.0.0.1:${client}`;
        this.launch("etcd", [
          "--name=e2e",
          `--data-dir=${join(this.dir, "etcd")}`,
          `--listen-client-urls=${url}`,
          `--advertise-client-urls=${url}`,
          `--listen-peer-urls=http://127.0.0.1:${peer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
          `--initial-cluster=e2e=http://127.0.0.1:${peer}`,
          "--listen-metrics-urls=",
          "--unsafe-no-fsync=true",
          "--log-level=warn",
        ]);
        // 60 s: once, under CI load, a new etcd was not healthy within 30 s (cause not recorded).
        await this.waitUntil("etcd", () => httpOk(`${url}/health`), 60_000);
        return url;
      });
      this.timings.etcdMs = Date.now() - t;

      t = Date.now();
      await this.withPortRetry("kube-apiserver", async () => {
        this.apiserverPort = await freePort();
        this.writeKubeconfig();
        this.launch("kube-apiserver", this.apiserverArgs(etcdUrl, pki));
        await this.waitForApiserver();
      });
      this.timings.apiserverMs = Date.now() - t;

      t = Date.now();
      if (this.options.crds)
        await applyCrdManifests(this.kubectlPath, this.kubeconfigPath, this.options.crds);
      this.timings.crdsMs = Date.now() - t;

      t = Date.now();
      await this.withPortRetry("kube-controller-manager", async () => {
        const port = await freePort();
        this.launch("kube-controller-manager", [
          `--kubeconfig=${this.kubeconfigPath}`,
          `--authentication-kubeconfig=${this.kubeconfigPath}`,
          `--authorization-kubeconfig=${this.kubeconfigPath}`,
          // No client CA or request-header config to look up in kube-system.
          "--authentication-skip-lookup=true",
          ...this.controllerArgs(pki),
          "--leader-elect=false",
          "--bind-address=127.0.0.1",
          `--secure-port=${port}`,
          "--concurrent-gc-syncs=5",
          "--kube-api-qps=100",
          "--kube-api-burst=200",
          "--v=1",
        ]);
        await this.waitUntil(
          "kube-controller-manager",
          () => httpsOk(`https://127.0.0.1:${port}/healthz`),
          60_000,
        );
      });
      await this.waitForControllers();
      this.timings.controllerManagerMs = Date.now() - t;
      if (this.options.scheduler) await this.startScheduler(this.options.scheduler);
      this.timings.totalMs = Date.now() - t0;
      return this.info();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * Stops kube-apiserver (SIGTERM, as a real restart would) and starts it again
   * on the same port; etcd keeps the data. Resolves when it is ready again, with
   * the time it took to become ready.
   */
  async restartApiserver(downMs = 0): Promise<number> {
    const m = this.procs.get("kube-apiserver");
    if (!m || this.stopped) throw new Error("restartApiserver: the control plane is not running");
    await this.stopProcess("kube-apiserver");
    if (downMs > 0) await sleep(downMs);
    const t = Date.now();
    this.launch("kube-apiserver", m.args);
    await this.waitForApiserver();
    return Date.now() - t;
  }

  /** Kills every process (SIGTERM, then SIGKILL after 10 s) and removes the temp dir. Safe to call twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const name of ["kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"] as const)
      await this.stopProcess(name);
    this.cleanUpSync();
  }

  /** Last resort (exit hook): SIGKILL every process group and remove the temp dir, synchronously. */
  killAllSync(): void {
    this.stopped = true;
    for (const m of this.procs.values()) killGroup(m.proc, "SIGKILL");
    this.cleanUpSync();
  }

  /** The last lines a process wrote since it was last launched. */
  logTail(name: Name, lines = 40): string {
    const m = this.procs.get(name);
    if (!m || !existsSync(m.logFile)) return "";
    const size = statSync(m.logFile).size;
    const start = Math.max(m.logOffset, size - 256 * 1024);
    const buf = Buffer.alloc(size - start);
    const fd = openSync(m.logFile, "r");
    try {
      readSync(fd, buf, 0, buf.length, start);
    } finally {
      closeSync(fd);
    }
    return buf.toString("utf8").trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** kube-controller-manager's --controllers, and what the extra ones need. */
  private controllerArgs(pki: string): string[] {
    const { controllers } = this.options;
    if (!controllers) return ["--controllers=garbagecollector,namespace,serviceaccount"];
    // apiserver.crt (self-signed by kube-apiserver, SANs include the kubernetes
    // Service's IP) holds the serving certificate, then the CA that signed it.
    const pems = readFileSync(join(this.dir, "certs", "apiserver.crt"), "utf8").match(
      /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g,
    );
    writeFileSync(join(pki, "ca.crt"), pems?.at(-1) ?? "");
    return [
      `--controllers=${controllers.join(",")}`,
      `--root-ca-file=${join(pki, "ca.crt")}`,
      `--service-account-private-key-file=${join(pki, "sa.key")}`,
      // The attach-detach controller would make /usr/libexec/kubernetes/... otherwise.
      `--flex-volume-plugin-dir=${join(this.dir, "flexvolume")}`,
    ];
  }

  private async startScheduler(path: string): Promise<void> {
    await this.withPortRetry("kube-scheduler", async () => {
      const port = await freePort();
      this.launch(
        "kube-scheduler",
        [
          `--kubeconfig=${this.kubeconfigPath}`,
          `--authentication-kubeconfig=${this.kubeconfigPath}`,
          `--authorization-kubeconfig=${this.kubeconfigPath}`,
          "--authentication-skip-lookup=true",
          "--leader-elect=false",
          "--bind-address=127.0.0.1",
          `--secure-port=${port}`,
          "--v=1",
        ],
        path,
      );
      await this.waitUntil("kube-scheduler", () => httpsOk(`https://127.0.0.1:${port}/healthz`), 60_000);
    });
  }

  private apiserverArgs(etcdUrl: string, pki: string): string[] {
    return [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${this.options.bindAddress ?? "127.0.0.1"}`,
      `--advertise-address=${this.options.advertiseAddress ?? "127.0.0.1"}`,
      // A real node registers its hostname, which nothing here resolves: logs and exec go to its InternalIP.
      "--kubelet-preferred-address-types=InternalIP,Hostname",
      `--secure-port=${this.apiserverPort}`,
      `--cert-dir=${join(this.dir, "certs")}`,
      `--token-auth-file=${join(pki, "tokens.csv")}`,
      "--authorization-mode=Node,RBAC",
      `--service-account-key-file=${join(pki, "sa.pub")}`,
      `--service-account-signing-key-file=${join(pki, "sa.key")}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      "--service-cluster-ip-range=10.96.0.0/24",
      "--allow-privileged=true",
      // Ends open watches on SIGTERM: without it the HTTP/2 server waits for
      // the controller-manager's watches and a restart hangs until SIGKILL.
      "--shutdown-watch-termination-grace-period=2s",
      // ENVICUTOR_APISERVER_PROFILING=1 serves /debug/pprof (bench:node's profile of a run).
      `--profiling=${process.env.ENVICUTOR_APISERVER_PROFILING === "1"}`,
      "--v=1",
    ];
  }

  private cleanUpSync(): void {
    live.delete(this);
    if (this.keep) {
      process.stderr.write(`[controlplane] kept ${this.dir} (${KEEP_ENV})\n`);
    } else {
      try {
        rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        return; // a process was still writing: the watchdog removes it once we exit
      }
    }
    // Only now: until the processes are gone and the dir removed, it is the backstop.
    killGroup(this.watchdog, "SIGKILL");
  }

  private startWatchdog(): void {
    if (this.watchdog) return;
    this.watchdog = spawn(
      "sh",
      ["-c", WATCHDOG, "envicutor-cp-watchdog", String(process.pid), this.dir, this.keep ? "keep" : ""],
      { detached: true, stdio: "ignore" },
    );
    this.watchdog.once("error", () => undefined);
    this.watchdog.unref();
  }

  /** The process groups the watchdog kills if we die. */
  private writePgids(): void {
    const pids = [...this.procs.values()]
      .filter((m) => m.proc?.pid && m.exit === undefined)
      .map((m) => m.proc!.pid);
    try {
      writeFileSync(join(this.dir, "pgids"), `${pids.join("\n")}\n`);
    } catch {
      /* dir already removed */
    }
  }

  private launch(name: Name, args: string[], path = join(this.bin, name)): void {
    const logFile = join(this.dir, `${name}.log`);
    const fd = openSync(logFile, "a");
    const m: Managed = { name, args, logFile, logOffset: statSync(logFile).size };
    this.procs.set(name, m);
    try {
      // Own process group, so stop() and the hooks kill the whole tree.
      m.proc = spawn(path, args, { detached: true, stdio: ["ignore", fd, fd] });
    } finally {
      closeSync(fd);
    }
    const proc = m.proc;
    m.exited = new Promise<void>((resolve) => {
      proc.once("error", (err) => {
        m.exit ??= `failed to start: ${err.message}`;
        resolve();
      });
      proc.once("exit", (code, signal) => {
        m.exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
        this.writePgids();
        resolve();
      });
    });
    proc.unref();
    this.writePgids();
  }

  private async stopProcess(name: Name): Promise<void> {
    const m = this.procs.get(name);
    if (!m?.proc || m.exit !== undefined) return;
    killGroup(m.proc, "SIGTERM");
    // Ref'd (the children are not), so Node waits for the exit even after the SIGKILL.
    const timer = setTimeout(() => killGroup(m.proc, "SIGKILL"), 10_000);
    const keepAlive = setInterval(() => undefined, 1000);
    await m.exited;
    clearTimeout(timer);
    clearInterval(keepAlive);
    // A child it may have left in the group (none expected) goes too.
    killGroup(m.proc, "SIGKILL");
  }

  /** Retries a launch on fresh ports when the process lost a race for one. */
  private async withPortRetry<T>(name: Name, attempt: () => Promise<T>): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        if (i >= 3 || !/address already in use/i.test(this.logTail(name, 200))) throw err;
        await this.stopProcess(name);
      }
    }
  }

  private async waitForApiserver(): Promise<void> {
    await this.waitUntil(
      "kube-apiserver",
      async () =>
        (await this.api("GET", "/readyz")).status === 200 &&
        (await this.api("GET", "/api/v1/namespaces/default")).status === 200,
      120_000,
    );
  }

  /**
   * The controllers the suite relies on are working: the serviceaccount
   * controller made the default ServiceAccount, and the garbage collector
   * collects a dependent whose owner is deleted (proof that its monitors synced).
   */
  private async waitForControllers(): Promise<void> {
    const name = "kube-controller-manager";
    await this.waitUntil(
      name,
      async () =>
        (await this.api("GET", "/api/v1/namespaces/default/serviceaccounts/default")).status === 200,
      60_000,
      "the default ServiceAccount",
    );
    const base = "/api/v1/namespaces/default/configmaps";
    const probe = `envicutor-gc-probe-${randomBytes(4).toString("hex")}`;
    const owner = await this.api("POST", base, { metadata: { name: `${probe}-owner` } });
    const uid = (owner.body as { metadata?: { uid?: string } } | undefined)?.metadata?.uid;
    if (owner.status !== 201 || !uid)
      throw new Error(`creating the GC probe failed: ${owner.status} ${owner.text}`);
    const ownerReferences = [{ apiVersion: "v1", kind: "ConfigMap", name: `${probe}-owner`, uid }];
    const dep = await this.api("POST", base, { metadata: { name: `${probe}-dependent`, ownerReferences } });
    if (dep.status !== 201) throw new Error(`creating the GC probe failed: ${dep.status} ${dep.text}`);
    await this.api("DELETE", `${base}/${probe}-owner`);
    await this.waitUntil(
      name,
      async () => (await this.api("GET", `${base}/${probe}-dependent`)).status === 404,
      60_000,
      "the garbage collector to collect a probe ConfigMap",
    );
  }

  private async waitUntil(
    name: Name,
    probe: () => Promise<boolean>,
    timeoutMs: number,
    what = "ready",
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.procs.get(name);
      if (m?.exit !== undefined) {
        throw new Error(`${name} ${m.exit}${this.logHint(m)}:\n${this.logTail(name)}`);
      }
      if (await probe().catch(() => false)) return;
      if (Date.now() > deadline) {
        // The last log line on the first line too: CI's summary of a retried test keeps only that line.
        const last = this.logTail(name, 1).trim().slice(0, 300);
        throw new Error(
          `${name}: not ${what} after ${timeoutMs} ms (its last log line: ${last || "none"})${this.logHint(m)}:\n${this.logTail(name)}`,
        );
      }
      await sleep(100);
    }
  }

  private logHint(m: Managed | undefined): string {
    if (!m) return "";
    return this.keep ? ` (log: ${m.logFile})` : ` (set ${KEEP_ENV}=1 to keep ${m.logFile})`;
  }

  /** A request to kube-apiserver as the admin (self-signed serving certificate). */
  private api(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    return httpsRequest(`${this.server}${path}`, method, this.token, body);
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

function killGroup(proc: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (!proc?.pid) return;
  try {
    process.kill(-proc.pid, signal);
  } catch {
    /* already gone */
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

async function httpsOk(url: string): Promise<boolean> {
  return (await httpsRequest(url, "GET")).status === 200;
}

interface ApiResponse {
  status: number;
  text: string;
  body?: unknown;
}

/** HTTPS without verifying the self-signed certificate; status 0 on a connection error or timeout. */
function httpsRequest(url: string, method: string, token?: string, body?: unknown): Promise<ApiResponse> {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (payload) headers["Content-Type"] = "application/json";
    const req = request(url, { method, rejectUnauthorized: false, headers, timeout: 5000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
      });
      res.on("end", () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, text, body: parsed });
      });
      res.on("error", () => resolve({ status: 0, text }));
    });
    req.on("error", (err) => resolve({ status: 0, text: err.message }));
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end(payload);
  });
}

/** For scripts: `node e2e/controlplane/control-plane.ts` starts one and prints its kubeconfig until Ctrl-C. */
export async function runStandalone(): Promise<void> {
  const cp = new ControlPlane(await buildControlPlaneBinaries());
  await cp.start();
  process.stdout.write(`KUBECONFIG=${cp.kubeconfigPath}\n${JSON.stringify(cp.timings)}\n`);
  const keepAlive = setInterval(() => undefined, 60_000); // the children are unref'd
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  clearInterval(keepAlive);
  await cp.stop();
}

if (import.meta.main) await runStandalone();
