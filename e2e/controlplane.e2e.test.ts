// The control plane itself: the real apiserver, the CRDs, garbage collection,
// namespace deletion, kubectl, and an apiserver restart.
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, VersionApi } from "@kubernetes/client-node";
import { describe, expect, inject, it } from "vitest";
import {
  canRestartApiserver,
  createNode,
  deleteNode,
  ensureNamespace,
  kubeConfig,
  kubectl,
  restartApiserver,
  uniqueName,
  waitFor,
} from "./support/cluster.ts";

const external = Boolean(process.env.ENVICUTOR_E2E_KUBECONFIG);
const gone = (err: unknown) => (err as { code?: number }).code === 404;

/** Creates a ConfigMap owned by another, deletes the owner, and waits for the garbage collector to delete the dependent. */
async function expectDependentCollected(ns: string): Promise<void> {
  const api = kubeConfig().makeApiClient(CoreV1Api);
  const owner = await api.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "owner" } } });
  const ownerReferences = [{ apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata!.uid! }];
  await api.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: "dependent", ownerReferences } },
  });
  await api.deleteNamespacedConfigMap({ namespace: ns, name: "owner" });
  await waitFor(
    () => api.readNamespacedConfigMap({ namespace: ns, name: "dependent" }).then(() => false, gone),
    {
      timeoutMs: 60_000,
      what: `garbage collection of ConfigMap ${ns}/dependent after its owner was deleted`,
    },
  );
}

describe("control plane", () => {
  it("is a real kube-apiserver of the pinned version", async () => {
    const version = inject("apiserverVersion");
    expect(version).toMatch(/^v1\.\d+\.\d+/);
    if (!external) expect(version).toMatch(/^v1\.36\./);
    const info = await kubeConfig().makeApiClient(VersionApi).getCode();
    expect(info.gitVersion).toBe(version);
  });

  it("has the three CRDs Established", async () => {
    const api = kubeConfig().makeApiClient(ApiextensionsV1Api);
    for (const name of ["runtimes.envicutor.io", "executions.envicutor.io", "workers.envicutor.io"]) {
      const crd = await api.readCustomResourceDefinition({ name });
      const established = crd.status?.conditions?.find((c) => c.type === "Established");
      expect(established?.status, name).toBe("True");
    }
  });

  it("collects dependents of a deleted owner (kube-controller-manager's garbage collector)", async () => {
    const api = kubeConfig().makeApiClient(CoreV1Api);
    const ns = uniqueName("gc");
    await ensureNamespace(ns);
    try {
      await api.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "bystander" } } });
      await expectDependentCollected(ns);
      await api.readNamespacedConfigMap({ namespace: ns, name: "bystander" });
    } finally {
      await api.deleteNamespace({ name: ns });
    }
  });

  it("collects a Worker whose Node is deleted (garbage collection of custom resources)", async () => {
    const objects = kubeConfig().makeApiClient(CustomObjectsApi);
    const name = uniqueName("gc-node");
    const node = await createNode(name, { "envicutor.io/e2e": "controlplane" });
    const worker = { group: "envicutor.io", version: "v1alpha1", plural: "workers", name };
    try {
      await objects.createClusterCustomObject({
        ...worker,
        body: {
          apiVersion: "envicutor.io/v1alpha1",
          kind: "Worker",
          metadata: {
            name,
            ownerReferences: [{ apiVersion: "v1", kind: "Node", name, uid: node.metadata!.uid! }],
          },
          spec: { nodeName: name },
        },
      });
      await deleteNode(name);
      await waitFor(() => objects.getClusterCustomObject(worker).then(() => false, gone), {
        timeoutMs: 60_000,
        what: `Worker ${name} to be garbage collected after its Node was deleted`,
      });
    } finally {
      await deleteNode(name);
      await objects.deleteClusterCustomObject(worker).catch(() => undefined);
    }
  });

  it("deletes a namespace with its contents (namespace controller)", async () => {
    const api = kubeConfig().makeApiClient(CoreV1Api);
    const ns = uniqueName("nsdel");
    await ensureNamespace(ns);
    await api.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "content" } } });
    await api.deleteNamespace({ name: ns });
    await waitFor(() => api.readNamespace({ name: ns }).then(() => false, gone), {
      timeoutMs: 60_000,
      what: `namespace ${ns} to be deleted`,
    });
  });

  it("serves kubectl get of every kind", async () => {
    const out = await kubectl(["get", "runtimes,executions,workers,problems", "-A"]);
    // Empty lists print "No resources found" on stderr and nothing on stdout; an
    // unknown kind would have thrown. Other files' objects may be listed (with
    // verdicts such as RuntimeError), so only kubectl's own error lines count.
    expect(out).not.toMatch(/^(error:|Error from server)/m);
    const names = await kubectl(["api-resources", "--api-group=envicutor.io", "-o", "name"]);
    expect(names.trim().split("\n").sort()).toEqual([
      "executions.envicutor.io",
      "problems.envicutor.io",
      "runtimes.envicutor.io",
      "workers.envicutor.io",
    ]);
  });

  it.skipIf(!canRestartApiserver())(
    "answers again after kube-apiserver restarts, with its data",
    async () => {
      const api = kubeConfig().makeApiClient(CoreV1Api);
      const ns = uniqueName("restart");
      await ensureNamespace(ns);
      await api.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: "kept" }, data: { a: "1" } },
      });
      const readyMs = await restartApiserver({ downMs: 500 });
      console.log(`[e2e] kube-apiserver ready again ${readyMs} ms after restart`);
      // The same KubeConfig (same port, token and certificate) works again.
      const cm = await waitFor(() => api.readNamespacedConfigMap({ namespace: ns, name: "kept" }), {
        timeoutMs: 30_000,
        what: "the API to answer after the restart",
      });
      expect(cm.data).toEqual({ a: "1" });
      await expect(kubectl(["get", "runtimes,executions,workers", "-A"])).resolves.toBeTypeOf("string");
      // kube-controller-manager survived it too: its garbage collector still works.
      await expectDependentCollected(ns);
      await api.deleteNamespace({ name: ns });
    },
  );
});

if (!canRestartApiserver()) {
  console.warn("!!! external cluster (ENVICUTOR_E2E_KUBECONFIG): the apiserver restart test is SKIPPED");
}
