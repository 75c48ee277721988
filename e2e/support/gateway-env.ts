// A gateway test environment on the shared control plane: a controller, agents
// with real Nix runtimes and isolate, the chart's gateway RBAC applied for a
// ServiceAccount, and the gateway process running as that ServiceAccount (so
// the tests also prove the least-privilege RBAC is enough).
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { API_VERSION } from "../../src/api/group.ts";
import type { Runtime } from "../../src/api/runtime.ts";
import { KubeClient } from "../../src/k8s/client.ts";
import { RuntimeResource } from "../../src/k8s/resources.ts";
import {
  createNode,
  deleteNode,
  ensureNamespace,
  kubeConfig,
  kubeconfigPath,
  kubectl,
  waitFor,
} from "./cluster.ts";
import { ManagedProcess, startAgent, startController } from "./processes.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");

export interface GatewayEnvOptions {
  /** Prefix of namespaces, nodes and the release: unique per test file. */
  name: string;
  tenants: { name: string; data?: Record<string, string> }[];
  runtimes: Record<string, Runtime["spec"]>;
  agents: number;
  slots: number;
  boxIdBase: number;
  gatewayEnv?: Record<string, string>;
}

export interface GatewayEnv {
  client: KubeClient;
  tmp: string;
  /** The gateway's own namespace (token Secrets, controller Leases). */
  namespace: string;
  /** Tenant name → its namespace and token. */
  tenants: Map<string, { namespace: string; token: string }>;
  gateway: ManagedProcess;
  url: string;
  metricsUrl: string;
  agents: ManagedProcess[];
  serviceAccountKubeconfig: string;
  restartGateway(env?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

const label = (o: GatewayEnvOptions) => ({ "envicutor.io/e2e": o.name });

/** Renders the chart with the gateway on and applies its ServiceAccount and RBAC (nothing else). */
async function applyGatewayRbac(release: string, ns: string, tenantNamespaces: string[]): Promise<string> {
  const helmDir = execFileSync("bash", [join(ROOT, "scripts", "build-helm.sh")], { encoding: "utf8" }).trim();
  const { stdout } = await run(join(helmDir, "helm"), [
    "template",
    release,
    join(ROOT, "charts", "envicutor"),
    "--namespace",
    ns,
    "--set",
    "gateway.enabled=true",
    "--set",
    `gateway.tenantNamespaces={${tenantNamespaces.join(",")}}`,
  ]);
  const rbacKinds = ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"];
  const objects = parseAllDocuments(stdout)
    .map((d) => d.toJS() as { kind: string; metadata: { labels?: Record<string, string> } } | null)
    .filter(
      (o) =>
        o && rbacKinds.includes(o.kind) && o.metadata.labels?.["app.kubernetes.io/component"] === "gateway",
    );
  await kubectl(["apply", "-f", "-"], objects.map((o) => JSON.stringify(o)).join("\n"));
  return `${release}-envicutor-gateway`;
}

async function serviceAccountKubeconfig(path: string, sa: string, ns: string): Promise<void> {
  const token = (await kubectl(["create", "token", sa, "-n", ns, "--duration=3h"])).trim();
  const server = (
    await kubectl(["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"])
  ).trim();
  await writeFile(
    path,
    `apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: "${server}", insecure-skip-tls-verify: true}
users:
- name: gateway
  user: {token: "${token}"}
contexts:
- name: e2e
  context: {cluster: e2e, user: gateway}
current-context: e2e
`,
    { mode: 0o600 },
  );
}

export async function setUpGatewayEnv(o: GatewayEnvOptions): Promise<GatewayEnv> {
  const tmp = await mkdtemp(join(tmpdir(), `envicutor-${o.name}-`));
  const client = new KubeClient(kubeConfig());
  const ns = `${o.name}-system`;
  const logDir = join(tmp, "logs");
  await ensureNamespace(ns);
  const tenants = new Map<string, { namespace: string; token: string }>();
  for (const t of o.tenants) {
    const tns = `${o.name}-${t.name}`;
    await ensureNamespace(tns);
    tenants.set(t.name, {
      namespace: tns,
      token: `tok-${t.name}-${Math.random().toString(36).slice(2)}${Date.now()}`,
    });
  }
  const release = o.name.replace(/-e2e$/, "").slice(0, 20);
  const sa = await applyGatewayRbac(
    release,
    ns,
    [...tenants.values()].map((t) => t.namespace),
  );
  const saKubeconfig = join(tmp, "gateway.kubeconfig");
  await serviceAccountKubeconfig(saKubeconfig, sa, ns);
  for (const t of o.tenants) {
    const { namespace, token } = tenants.get(t.name)!;
    const secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: t.name, namespace: ns, labels: { "gateway.envicutor.io/token": "true" } },
      stringData: { token, namespace, ...t.data },
    };
    await kubectl(["apply", "-f", "-"], JSON.stringify(secret));
  }

  const out = await run(
    "bash",
    [join(ROOT, "nix/pkgs/make-binary-cache.sh"), join(tmp, "cache"), "python3", "gcc", "bash", "coreutils"],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const cache = JSON.parse(out.stdout.trim().split("\n").pop()!) as { url: string; publicKey: string };
  const nodes = Array.from({ length: o.agents }, (_, i) => `${o.name}-node-${i}`);
  for (const n of nodes) await createNode(n, label(o));
  const controller = startController({
    kubeconfig: kubeconfigPath(),
    namespace: ns,
    identity: o.name,
    logDir,
    env: {
      ENVICUTOR_LEASE_DURATION_SECONDS: "6",
      ENVICUTOR_RENEW_DEADLINE_SECONDS: "4",
      ENVICUTOR_RETRY_PERIOD_SECONDS: "1",
    },
  });
  const agents = nodes.map((n, i) =>
    startAgent({
      kubeconfig: kubeconfigPath(),
      namespace: ns,
      nodeName: n,
      stateDir: join(tmp, `state-${n}`),
      logDir,
      slots: o.slots,
      boxIdBase: o.boxIdBase + i * o.slots * 2,
      env: {
        ENVICUTOR_PACKAGE_SET: join(ROOT, "nix/pkgs"),
        ENVICUTOR_NIX_SUBSTITUTERS: cache.url,
        ENVICUTOR_NIX_TRUSTED_PUBLIC_KEYS: cache.publicKey,
      },
    }),
  );
  for (const [name, spec] of Object.entries(o.runtimes)) {
    await client.delete(RuntimeResource, name);
    await waitFor(async () => !(await client.tryGet(RuntimeResource, name)), {
      timeoutMs: 60_000,
      what: `old ${name} gone`,
    });
    await client.create(RuntimeResource, {
      apiVersion: API_VERSION,
      kind: "Runtime",
      metadata: { name },
      spec: { ...spec, nodeSelector: label(o) },
    } as Runtime);
  }
  for (const name of Object.keys(o.runtimes)) {
    await waitFor(
      async () => {
        const rt = await client.get(RuntimeResource, name);
        if ((rt.status?.failedNodes ?? 0) > 0)
          throw new Error(`${name} failed: ${JSON.stringify(rt.status?.failures)}`);
        const ready = rt.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
        return ready && rt.status?.installedNodes === nodes.length;
      },
      { timeoutMs: 240_000, intervalMs: 500, what: `Runtime ${name} Ready` },
    );
  }

  const startGateway = async (extra: Record<string, string> = {}) => {
    const p = new ManagedProcess(
      `gateway-${o.name}`,
      "src/gateway/main.ts",
      {
        KUBECONFIG: saKubeconfig,
        ENVICUTOR_GATEWAY_NAMESPACE: ns,
        ENVICUTOR_GATEWAY_PORT: "0",
        ENVICUTOR_GATEWAY_HOST: "127.0.0.1",
        ENVICUTOR_GATEWAY_METRICS_PORT: "0",
        ENVICUTOR_GATEWAY_METRICS_HOST: "127.0.0.1",
        ...o.gatewayEnv,
        ...extra,
      },
      logDir,
    ).start();
    const port = await waitFor(
      () => {
        if (!p.running) throw new Error(`gateway exited: ${p.logs().slice(-2000)}`);
        return p.logEntries((e) => e.msg === "serving the Piston and Judge0 APIs").pop()?.port as
          | number
          | undefined;
      },
      { timeoutMs: 30_000, what: "the gateway to listen" },
    );
    const metricsPort = p.logEntries((e) => e.msg === "serving /healthz, /readyz, /metrics").pop()?.port;
    env.gateway = p;
    env.url = `http://127.0.0.1:${port}`;
    env.metricsUrl = `http://127.0.0.1:${metricsPort}`;
  };
  const env: GatewayEnv = {
    client,
    tmp,
    namespace: ns,
    tenants,
    gateway: undefined as unknown as ManagedProcess,
    url: "",
    metricsUrl: "",
    agents,
    serviceAccountKubeconfig: saKubeconfig,
    restartGateway: async (extra) => {
      await env.gateway.stop();
      await startGateway(extra);
    },
    stop: async () => {
      await env.gateway?.stop();
      for (const name of Object.keys(o.runtimes))
        await client.delete(RuntimeResource, name).catch(() => undefined);
      await waitFor(
        async () => {
          for (const name of Object.keys(o.runtimes))
            if (await client.tryGet(RuntimeResource, name)) return false;
          return true;
        },
        { timeoutMs: 60_000, what: "the Runtimes to be deleted" },
      ).catch(() => undefined);
      for (const a of agents) await a.stop();
      await controller.stop();
      for (const n of nodes) await deleteNode(n);
      await kubectl([
        "delete",
        "clusterrole,clusterrolebinding",
        `${release}-envicutor-gateway`,
        "--ignore-not-found",
      ]).catch(() => undefined);
      for (const nsName of [ns, ...[...tenants.values()].map((t) => t.namespace)])
        await kubectl(["delete", "namespace", nsName, "--wait=false", "--ignore-not-found"]).catch(
          () => undefined,
        );
      if (process.env.KEEP_E2E_LOGS) console.log(`[e2e] logs kept in ${logDir}`);
      else await rm(tmp, { recursive: true, force: true });
    },
  };
  await startGateway();
  return env;
}

/** A Python Runtime on nix/pkgs' python3 with Judge0 CE's id 71 and Piston's name. */
export const PY_GATEWAY: Runtime["spec"] = {
  language: "python",
  version: "3.11",
  aliases: ["py"],
  judge0: { languageId: 71 },
  piston: { language: "python", aliases: ["py", "python3"] },
  packages: ["python3"],
  sourceFile: "main.py",
  runCommand: ["python3", "main.py"],
  env: [{ name: "PYTHONUNBUFFERED", value: "1" }],
  allowNetwork: false,
  smokeTest: { source: "print('ok')", expectedOutput: "ok\n" },
};

/** C with gcc, Judge0 CE's id 50. */
export const C_GATEWAY: Runtime["spec"] = {
  language: "c",
  version: "12",
  judge0: { languageId: 50 },
  packages: ["gcc"],
  sourceFile: "main.c",
  compileCommand: ["gcc", "-O2", "-o", "main", "main.c"],
  runCommand: ["./main"],
  allowNetwork: false,
  smokeTest: { source: '#include <stdio.h>\nint main(void){puts("ok");return 0;}\n', expectedOutput: "ok\n" },
};

/** Bash, Judge0 CE's id 46. */
export const BASH_GATEWAY: Runtime["spec"] = {
  language: "bash",
  version: "5",
  judge0: { languageId: 46 },
  packages: ["bash", "coreutils"],
  sourceFile: "main.sh",
  runCommand: ["bash", "main.sh"],
  allowNetwork: false,
  smokeTest: { source: "echo ok", expectedOutput: "ok\n" },
};
