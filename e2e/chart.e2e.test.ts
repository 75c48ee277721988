// The Helm chart, checked by helm itself (lint, render, values schema) and by
// the real kube-apiserver: every rendered object is applied with a server-side
// dry run, so schema errors, bad RBAC rules and invalid pod specs fail here.
import { execFile, execFileSync } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { ensureNamespace, kubectl, uniqueName } from "./support/cluster.ts";

const execFileAsync = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const CHART = join(ROOT, "charts", "envicutor");
const ALL_ON = join(CHART, "ci", "all-on-values.yaml");
const SERVICE_MONITOR_API = "monitoring.coreos.com/v1/ServiceMonitor";

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field below
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: idem
  rules?: any[];
};

let helmBin: string;
const namespace = uniqueName("envicutor-chart");
const release = "ec";

beforeAll(async () => {
  // Builds helm from its Go module on the first run, then reuses the cache.
  helmBin = join(
    execFileSync("bash", [join(ROOT, "scripts", "build-helm.sh")], { encoding: "utf8" }).trim(),
    "helm",
  );
  const version = execFileSync(helmBin, ["version", "--short"], { encoding: "utf8" }).trim();
  console.log(`[e2e] chart checks with helm ${version}`);
  await ensureNamespace(namespace);
});

afterAll(async () => {
  await kubectl(["delete", "namespace", namespace, "--wait=false", "--ignore-not-found"]).catch(
    () => undefined,
  );
});

async function helm(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(helmBin, args, { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`helm ${args.join(" ")} failed: ${e.stderr || e.message}`);
  }
}

async function render(extra: string[] = []): Promise<{ text: string; objects: Obj[] }> {
  const text = await helm(["template", release, CHART, "--namespace", namespace, ...extra]);
  const objects = parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
  return { text, objects };
}

const find = (objects: Obj[], kind: string, nameSuffix = "") =>
  objects.filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));

const one = (objects: Obj[], kind: string, nameSuffix = ""): Obj => {
  const found = find(objects, kind, nameSuffix);
  expect(found, `${kind} *${nameSuffix}`).toHaveLength(1);
  return found[0]!;
};

// biome-ignore lint/suspicious/noExplicitAny: container env as rendered
const envOf = (container: any): Record<string, unknown> =>
  Object.fromEntries(
    // biome-ignore lint/suspicious/noExplicitAny: idem
    (container.env as any[]).map((e) => [e.name, e.value ?? e.valueFrom]),
  );

/** Whether a ClusterRole/Role grants the verb on group/resource. */
const grants = (role: Obj, group: string, resource: string, verb: string) =>
  (role.rules ?? []).some(
    (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb),
  );

describe("helm lint", () => {
  it("passes --strict with the defaults", async () => {
    const out = await helm(["lint", "--strict", CHART]);
    expect(out).toContain("0 chart(s) failed");
  });

  it("passes --strict with every optional part on", async () => {
    const out = await helm(["lint", "--strict", CHART, "-f", ALL_ON]);
    expect(out).toContain("0 chart(s) failed");
  });
});

describe("helm template with the defaults", () => {
  let objects: Obj[];
  beforeAll(async () => {
    ({ objects } = await render());
  });

  it("renders the expected objects, and no ServiceMonitor", () => {
    const kinds = objects.map((o) => o.kind).sort();
    expect(kinds).toEqual(
      [
        "ClusterRole",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterRoleBinding",
        "DaemonSet",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "Role",
        "RoleBinding",
        "RoleBinding",
        "Service",
        "Service",
        "ServiceAccount",
        "ServiceAccount",
        // Node-scoped agent writes (agent-admission-policy.yaml; tested in agent-credentials.e2e.test.ts).
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        // The uninstall hooks (uninstall-hooks.yaml): two Jobs and their own ServiceAccount and RBAC.
        "Job",
        "Job",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
      ].sort(),
    );
    for (const o of objects) {
      expect(o.metadata.labels?.["app.kubernetes.io/name"], o.metadata.name).toBe("envicutor");
      expect(o.metadata.labels?.["app.kubernetes.io/instance"]).toBe(release);
      expect(o.metadata.labels?.["app.kubernetes.io/managed-by"]).toBe("Helm");
      expect(o.metadata.labels?.["app.kubernetes.io/version"]).toBe("0.1.0");
    }
  });

  it("runs a leader-elected, hardened controller with probes on the metrics port", () => {
    const deploy = one(objects, "Deployment", "-controller");
    expect(deploy.spec.replicas).toBe(2);
    const pod = deploy.spec.template.spec;
    const c = pod.containers[0];
    expect(c.image).toBe("ghcr.io/envicutor/envicutor-controller:0.1.0");
    expect(c.ports).toEqual([{ name: "metrics", containerPort: 8080, protocol: "TCP" }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
    });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.resources.requests).toBeDefined();
    const env = envOf(c);
    expect(env.ENVICUTOR_LEADER_ELECT).toBe("true");
    expect(env.ENVICUTOR_LEASE_NAME).toBe(`${release}-envicutor-controller`);
    expect(env.ENVICUTOR_DEFAULT_TTL_SECONDS).toBe("3600");
    expect(env.ENVICUTOR_MAX_ATTEMPTS).toBe("3");
    expect(env.ENVICUTOR_NAMESPACE).toEqual({ fieldRef: { fieldPath: "metadata.namespace" } });
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    expect(pod.topologySpreadConstraints[0].labelSelector.matchLabels["app.kubernetes.io/component"]).toBe(
      "controller",
    );
    const pdb = one(objects, "PodDisruptionBudget");
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(deploy.spec.selector.matchLabels);
  });

  it("runs a privileged agent per node with the host's /nix, state and box root", () => {
    const ds = one(objects, "DaemonSet", "-agent");
    expect(ds.spec.updateStrategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } });
    const pod = ds.spec.template.spec;
    const c = pod.containers[0];
    expect(c.securityContext.privileged).toBe(true);
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    expect(c.ports[0].containerPort).toBe(8081);
    // biome-ignore lint/suspicious/noExplicitAny: rendered volumes
    const hostPaths = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v.hostPath?.path]));
    expect(hostPaths).toEqual({
      nix: "/nix",
      state: "/var/lib/envicutor",
      "isolate-boxes": "/var/local/lib/isolate",
    });
    // biome-ignore lint/suspicious/noExplicitAny: rendered mounts
    const mounts = Object.fromEntries(c.volumeMounts.map((m: any) => [m.name, m.mountPath]));
    expect(mounts.nix).toBe("/nix");
    const env = envOf(c);
    expect(env.NODE_NAME).toEqual({ fieldRef: { fieldPath: "spec.nodeName" } });
    expect(env.ENVICUTOR_NODE_NAME).toEqual({ fieldRef: { fieldPath: "spec.nodeName" } });
    expect(env.POD_NAMESPACE).toEqual({ fieldRef: { fieldPath: "metadata.namespace" } });
    expect(env.ENVICUTOR_PACKAGE_SET).toBe("<nixpkgs>");
    expect(env.ENVICUTOR_NIX_SUBSTITUTERS).toBe("https://cache.nixos.org");
    expect(env.ENVICUTOR_NIX_TRUSTED_PUBLIC_KEYS).toMatch(/^cache\.nixos\.org-1:/);
    expect(env.ENVICUTOR_SLOTS, "0 slots = the agent's own default (CPU count)").toBeUndefined();
    // Where isolate built from source (images/Containerfile) reads it.
    expect(env.ISOLATE_CONFIG_FILE).toBe("/usr/local/etc/isolate");
    // Networked Runtimes are off unless the platform turns them on; boxes' networks live in the pod's own.
    expect(env.ENVICUTOR_NETWORK_ENABLED).toBe("false");
    expect(env.ENVICUTOR_NETWORK_RESOLVER).toBeUndefined();
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.initContainers[0].name).toBe("seed-nix-store");
  });

  it("gives controller and agent separate least-privilege RBAC", () => {
    const controller = one(objects, "ClusterRole", "-controller");
    const agent = one(objects, "ClusterRole", "-agent");
    const g = "envicutor.io";
    for (const r of ["runtimes", "executions", "workers"]) {
      for (const v of ["get", "list", "watch"]) expect(grants(controller, g, r, v), `${r} ${v}`).toBe(true);
    }
    expect(grants(controller, g, "runtimes/status", "update")).toBe(true);
    expect(grants(controller, g, "executions/status", "patch")).toBe(true);
    expect(grants(controller, g, "runtimes/finalizers", "update")).toBe(true);
    expect(grants(controller, g, "executions", "delete")).toBe(true);
    expect(grants(controller, g, "executions", "create")).toBe(false);
    expect(grants(controller, g, "workers", "update")).toBe(false);
    expect(grants(controller, "", "nodes", "watch")).toBe(true);
    expect(grants(controller, "events.k8s.io", "events", "create")).toBe(true);

    expect(grants(agent, g, "workers", "create")).toBe(true);
    expect(grants(agent, g, "workers/status", "patch")).toBe(true);
    expect(grants(agent, g, "executions/status", "update")).toBe(true);
    expect(grants(agent, g, "executions", "update")).toBe(false);
    expect(grants(agent, g, "executions", "delete")).toBe(false);
    expect(grants(agent, g, "runtimes", "watch")).toBe(true);
    expect(grants(agent, g, "runtimes/status", "update")).toBe(false);
    expect(grants(agent, "", "nodes", "get")).toBe(true);
    for (const role of [controller, agent]) {
      for (const rule of role.rules ?? []) {
        expect(rule.verbs).not.toContain("*");
        expect(rule.resources).not.toContain("*");
        expect(rule.resources).not.toContain("secrets");
      }
    }
    const controllerLeases = one(objects, "Role", "-controller");
    const agentLeases = one(objects, "Role", "-agent");
    expect(controllerLeases.metadata.namespace).toBe(namespace);
    expect(grants(controllerLeases, "coordination.k8s.io", "leases", "watch")).toBe(true);
    expect(grants(agentLeases, "coordination.k8s.io", "leases", "create")).toBe(true);
    expect(grants(agentLeases, "coordination.k8s.io", "leases", "list")).toBe(false);
  });
});

describe("helm template with every optional part on", () => {
  it("skips the ServiceMonitors when the cluster lacks the API", async () => {
    const { objects, text } = await render(["-f", ALL_ON]);
    expect(find(objects, "ServiceMonitor")).toHaveLength(0);
    expect(text).not.toContain("monitoring.coreos.com");
  });

  it("renders them when the API exists, with the values' settings", async () => {
    const { objects } = await render(["-f", ALL_ON, "--api-versions", SERVICE_MONITOR_API]);
    const monitors = find(objects, "ServiceMonitor");
    expect(monitors).toHaveLength(2);
    expect(monitors[0]!.metadata.labels?.release).toBe("prometheus");
    expect(monitors[0]!.spec.endpoints[0]).toMatchObject({ port: "metrics", interval: "15s" });
    const deploy = one(objects, "Deployment");
    const pod = deploy.spec.template.spec;
    expect(deploy.spec.replicas).toBe(3);
    expect(pod.containers[0].image).toMatch(/^ghcr\.io\/envicutor\/envicutor-controller@sha256:/);
    expect(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    const agent = one(objects, "DaemonSet").spec.template.spec;
    const env = envOf(agent.containers[0]);
    expect(env.ENVICUTOR_SLOTS).toBe("8");
    expect(env.ENVICUTOR_NIX_SUBSTITUTERS).toBe("https://cache.example.com https://cache.nixos.org");
    expect(agent.tolerations).toEqual([{ operator: "Exists" }]);
    expect(one(objects, "DaemonSet").spec.updateStrategy.rollingUpdate.maxUnavailable).toBe("10%");
  });
});

describe("the uninstall hooks (uninstallCleanup)", () => {
  let objects: Obj[];
  beforeAll(async () => {
    ({ objects } = await render());
  });
  const hook = (o: Obj) => (o.metadata as { annotations?: Record<string, string> }).annotations ?? {};

  it("a pre-delete and a post-delete Job run the controller image's uninstall-cleanup, once, hardened", () => {
    for (const phase of ["pre-delete", "post-delete"]) {
      const job = one(objects, "Job", `-${phase}`);
      expect(hook(job)["helm.sh/hook"]).toBe(phase);
      // Deleted when it succeeded; a failed one stays so that its log can be read.
      expect(hook(job)["helm.sh/hook-delete-policy"]).toBe("before-hook-creation,hook-succeeded");
      // helm uninstall prints the log of a failed one: what still holds which Runtime.
      expect(hook(job)["helm.sh/hook-output-log-policy"]).toBe("hook-failed");
      expect(job.spec.backoffLimit).toBe(0);
      expect(job.spec.activeDeadlineSeconds).toBe(300);
      const pod = job.spec.template.spec;
      expect(pod.serviceAccountName).toBe(`${release}-envicutor-uninstall`);
      expect(pod.restartPolicy).toBe("Never");
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      const c = pod.containers[0];
      expect(c.image).toBe("ghcr.io/envicutor/envicutor-controller:0.1.0");
      expect(c.command).toBeUndefined(); // the image's entrypoint: node dist/controller/main.js
      expect(c.args).toEqual([
        "uninstall-cleanup",
        `--phase=${phase}`,
        `--namespace=${namespace}`,
        `--release=${release}`,
        `--lease-name=${release}-envicutor-controller`,
        "--timeout-seconds=240",
      ]);
      expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
      expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    }
  });

  it("has its own ServiceAccount and RBAC as hook resources, created first and deleted after", () => {
    const rbac = objects.filter(
      (o) => o.metadata.labels?.["app.kubernetes.io/component"] === "uninstall" && o.kind !== "Job",
    );
    expect(rbac.map((o) => o.kind).sort()).toEqual(
      ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount"].sort(),
    );
    for (const o of rbac) {
      expect(hook(o)["helm.sh/hook"], o.kind).toBe("pre-delete,post-delete");
      expect(Number(hook(o)["helm.sh/hook-weight"])).toBeLessThan(0);
      expect(hook(o)["helm.sh/hook-delete-policy"]).toBe("before-hook-creation,hook-succeeded");
    }
  });

  it("may only list and delete what it removes", () => {
    const cluster = one(objects, "ClusterRole", "-uninstall");
    const ns = one(objects, "Role", "-uninstall");
    const g = "envicutor.io";
    for (const r of ["executions", "runtimes", "workers"])
      for (const v of ["list", "delete"]) expect(grants(cluster, g, r, v), `${r} ${v}`).toBe(true);
    for (const v of ["get", "watch", "create", "update", "patch", "deletecollection"])
      expect(grants(cluster, g, "runtimes", v), v).toBe(false);
    expect(grants(cluster, g, "problems", "delete")).toBe(false); // Problems stay
    expect(grants(cluster, g, "runtimes/finalizers", "update")).toBe(false); // finalizers are the controller's
    expect(ns.metadata.namespace).toBe(namespace);
    expect(grants(ns, "coordination.k8s.io", "leases", "delete")).toBe(true);
    expect(grants(ns, "coordination.k8s.io", "leases", "update")).toBe(false);
    expect(grants(ns, "", "pods", "list")).toBe(true);
    expect(grants(ns, "", "pods", "delete")).toBe(false);
    expect(
      [...(cluster.rules ?? []), ...(ns.rules ?? [])].flatMap((r) => r.apiGroups as string[]).sort(),
    ).toEqual(["", "coordination.k8s.io", "envicutor.io"]);
  });

  it("uninstallCleanup.enabled=false renders none of it; timeoutSeconds sets the Job's wait and deadline", async () => {
    const off = await render(["--set", "uninstallCleanup.enabled=false"]);
    expect(
      off.objects.filter((o) => o.metadata.labels?.["app.kubernetes.io/component"] === "uninstall"),
    ).toEqual([]);
    expect(off.text).not.toContain("helm.sh/hook");
    const slow = await render(["--set", "uninstallCleanup.timeoutSeconds=600"]);
    const job = one(slow.objects, "Job", "-pre-delete");
    expect(job.spec.activeDeadlineSeconds).toBe(660);
    expect(job.spec.template.spec.containers[0].args).toContain("--timeout-seconds=600");
  });
});

describe("values.schema.json", () => {
  const rejected = async (args: string[]) => {
    try {
      await helm(["template", release, CHART, ...args]);
    } catch (err) {
      return (err as Error).message;
    }
    return undefined;
  };

  it.each([
    ["replicas as a word", ["--set-string", "controller.replicas=two"], "/controller/replicas"],
    ["zero replicas", ["--set", "controller.replicas=0"], "/controller/replicas"],
    ["an unknown key", ["--set", "controller.replica=2"], "replica"],
    ["an unknown top-level key", ["--set", "agents.slots=2"], "agents"],
    ["a bad pull policy", ["--set", "agent.image.pullPolicy=Sometimes"], "/agent/image/pullPolicy"],
    ["a bad log level", ["--set", "logLevel=loud"], "/logLevel"],
    [
      "a substituter that is not a URL",
      ["--set", "agent.nix.substituters[0]=cache.example.com"],
      "substituters",
    ],
    ["a relative host path", ["--set", "agent.hostPaths.nix=nix"], "/agent/hostPaths/nix"],
    ["negative slots", ["--set", "agent.slots=-1"], "/agent/slots"],
    ["an anti-affinity preset typo", ["--set", "controller.podAntiAffinity=strict"], "podAntiAffinity"],
    ["an unknown uninstall hook key", ["--set", "uninstallCleanup.deleteAll=true"], "deleteAll"],
    [
      "an uninstall timeout of zero",
      ["--set", "uninstallCleanup.timeoutSeconds=0"],
      "/uninstallCleanup/timeoutSeconds",
    ],
  ])("rejects %s", async (_name, args, where) => {
    const message = await rejected(args);
    expect(message, "helm accepted the values").toBeDefined();
    expect(message).toContain("values don't meet the specifications of the schema");
    expect(message).toContain(where);
  });

  it("refuses several controllers without leader election", async () => {
    const message = await rejected(["--set", "controller.leaderElection.enabled=false"]);
    expect(message).toContain("needs controller.replicas=1");
    await expect(
      helm([
        "template",
        release,
        CHART,
        "--set",
        "controller.leaderElection.enabled=false",
        "--set",
        "controller.replicas=1",
      ]),
    ).resolves.toContain("ENVICUTOR_LEADER_ELECT");
  });
});

describe("the rendered chart against the real apiserver (server-side dry run)", () => {
  const dryRun = (manifests: string) =>
    kubectl(
      ["apply", "--server-side", "--dry-run=server", "--field-manager=helm-e2e", "-n", namespace, "-f", "-"],
      manifests,
    );

  it("accepts every object with the defaults", async () => {
    const { text, objects } = await render();
    const out = await dryRun(text);
    for (const o of objects) {
      expect(out, `${o.kind} ${o.metadata.name}`).toContain(
        `${o.metadata.name} serverside-applied (server dry run)`,
      );
    }
  });

  it("accepts every object with the optional parts on", async () => {
    const { text, objects } = await render(["-f", ALL_ON]);
    const out = await dryRun(text);
    expect(out.match(/serverside-applied \(server dry run\)/g)).toHaveLength(objects.length);
  });

  describe("with the ServiceMonitor API installed", () => {
    // A stand-in for the Prometheus Operator's CRD (same group, kind and scope;
    // no schema), so the ServiceMonitors' names, namespace and kind are checked.
    const crdName = "servicemonitors.monitoring.coreos.com";
    beforeAll(async () => {
      const crd = {
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: { name: crdName },
        spec: {
          group: "monitoring.coreos.com",
          scope: "Namespaced",
          names: {
            kind: "ServiceMonitor",
            listKind: "ServiceMonitorList",
            plural: "servicemonitors",
            singular: "servicemonitor",
          },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
            },
          ],
        },
      };
      await kubectl(["apply", "--server-side", "-f", "-"], JSON.stringify(crd));
      await kubectl(["wait", "--for=condition=Established", "--timeout=60s", `crd/${crdName}`]);
    });
    afterAll(async () => {
      await kubectl(["delete", "crd", crdName, "--ignore-not-found"]).catch(() => undefined);
    });

    it("accepts the ServiceMonitors too", async () => {
      const { text, objects } = await render(["-f", ALL_ON, "--api-versions", SERVICE_MONITOR_API]);
      expect(find(objects, "ServiceMonitor")).toHaveLength(2);
      const out = await dryRun(text);
      expect(out).toContain(
        `servicemonitor.monitoring.coreos.com/${release}-envicutor-agent serverside-applied`,
      );
      expect(out.match(/serverside-applied \(server dry run\)/g)).toHaveLength(objects.length);
    });
  });
});

describe("the gateway (gateway.enabled)", () => {
  const tenants = [`${namespace}-t1`, `${namespace}-t2`];
  const gatewayArgs = [
    "--set",
    "gateway.enabled=true",
    "--set",
    `gateway.tenantNamespaces={${tenants.join(",")}}`,
  ];
  let objects: Obj[];
  let text: string;
  beforeAll(async () => {
    ({ objects, text } = await render(gatewayArgs));
    for (const t of tenants) await ensureNamespace(t);
  });
  afterAll(async () => {
    for (const t of tenants)
      await kubectl(["delete", "namespace", t, "--wait=false", "--ignore-not-found"]).catch(() => undefined);
  });

  it("adds a hardened Deployment, its Services and a PDB, with probes on the metrics port", () => {
    const gw = objects.filter((o) => o.metadata.labels?.["app.kubernetes.io/component"] === "gateway");
    expect(gw.map((o) => o.kind).sort()).toEqual(
      [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "Role",
        "Role",
        "RoleBinding",
        "RoleBinding",
        "RoleBinding",
        "Service",
        "Service",
        "ServiceAccount",
      ].sort(),
    );
    const deploy = one(objects, "Deployment", "-gateway");
    expect(deploy.spec.replicas).toBe(2);
    const c = deploy.spec.template.spec.containers[0];
    expect(c.image).toBe("ghcr.io/envicutor/envicutor-gateway:0.1.0");
    expect(c.ports).toEqual([
      { name: "http", containerPort: 2358, protocol: "TCP" },
      { name: "metrics", containerPort: 8082, protocol: "TCP" },
    ]);
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    const env = envOf(c);
    expect(env.ENVICUTOR_GATEWAY_NAMESPACE).toEqual({ fieldRef: { fieldPath: "metadata.namespace" } });
    expect(env.ENVICUTOR_GATEWAY_QUEUE_MAX).toBe("100");
    expect(env.ENVICUTOR_GATEWAY_MAX_BODY_BYTES).toBe("2097152");
    const svc = one(objects, "Service", "-gateway");
    expect(svc.spec.ports).toEqual([{ name: "http", port: 2358, targetPort: "http", protocol: "TCP" }]);
    expect(svc.spec.selector).toEqual(deploy.spec.selector.matchLabels);
    const pdb = objects.find(
      (o) => o.kind === "PodDisruptionBudget" && o.metadata.name.endsWith("-gateway"),
    )!;
    expect(pdb.spec.selector.matchLabels).toEqual(deploy.spec.selector.matchLabels);
  });

  it("grants create/get/list/watch of Executions in the tenant namespaces only, and nothing to write elsewhere", () => {
    const g = "envicutor.io";
    const cluster = one(objects, "ClusterRole", "-gateway");
    expect(cluster.rules).toEqual([
      { apiGroups: [g], resources: ["runtimes"], verbs: ["get", "list", "watch"] },
    ]);
    const roles = objects.filter((o) => o.kind === "Role" && o.metadata.name.includes("-gateway"));
    const secrets = roles.find((r) => r.metadata.namespace === namespace)!;
    expect(grants(secrets, "", "secrets", "list")).toBe(true);
    expect(grants(secrets, g, "executions", "create")).toBe(false);
    for (const t of tenants) {
      const role = roles.find((r) => r.metadata.namespace === t)!;
      for (const v of ["create", "get", "list", "watch"])
        expect(grants(role, g, "executions", v), v).toBe(true);
      for (const v of ["update", "patch", "delete"]) expect(grants(role, g, "executions", v), v).toBe(false);
      expect(grants(role, g, "executions/status", "update")).toBe(false);
    }
    for (const role of [cluster, ...roles])
      for (const rule of role.rules ?? []) {
        expect(rule.verbs).not.toContain("*");
        expect(rule.resources).not.toContain("*");
      }
  });

  it("is accepted by the apiserver (server-side dry run)", async () => {
    const out = await kubectl(
      // No -n: the tenants' Roles live in their own namespaces, as the chart renders them.
      ["apply", "--server-side", "--dry-run=server", "--field-manager=helm-e2e", "-f", "-"],
      text,
    );
    expect(out.match(/serverside-applied \(server dry run\)/g)).toHaveLength(objects.length);
  });

  it("refuses a tenant namespace that is not a namespace name", async () => {
    const message = await helm([
      "template",
      release,
      CHART,
      "--set",
      "gateway.tenantNamespaces={Team_A}",
    ]).then(
      () => undefined,
      (err: Error) => err.message,
    );
    expect(message).toContain("/gateway/tenantNamespaces/0");
  });
});
