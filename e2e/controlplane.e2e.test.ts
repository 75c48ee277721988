// The control plane itself: the real apiserver, the CRDs, garbage collection.
import { CoreV1Api } from "@kubernetes/client-node";
import { describe, expect, inject, it } from "vitest";
import { ensureNamespace, kubeConfig, kubectl, uniqueName, waitFor } from "./support/cluster.ts";

describe("control plane", () => {
  it("is a real kube-apiserver of the pinned version", async () => {
    const version = inject("apiserverVersion");
    console.log(`[e2e] kube-apiserver ${version}`);
    expect(version).toMatch(/^v1\.\d+\.\d+/);
    if (!process.env.ENVICUTOR_E2E_KUBECONFIG) expect(version).toMatch(/^v1\.36\./);
  });

  it("has the three CRDs Established", async () => {
    for (const crd of ["runtimes", "executions", "workers"]) {
      const out = await kubectl([
        "get",
        "crd",
        `${crd}.envicutor.io`,
        "-o",
        "jsonpath={.status.conditions[?(@.type=='Established')].status}",
      ]);
      expect(out).toBe("True");
    }
  });

  it("collects dependents of a deleted owner (kube-controller-manager's garbage collector)", async () => {
    const api = kubeConfig().makeApiClient(CoreV1Api);
    const ns = uniqueName("gc");
    await ensureNamespace(ns);
    const owner = await api.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "owner" } },
    });
    await api.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: "dependent",
          ownerReferences: [
            { apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata!.uid! },
          ],
        },
      },
    });
    await api.deleteNamespacedConfigMap({ namespace: ns, name: "owner" });
    await waitFor(
      async () => {
        const list = await api.listNamespacedConfigMap({ namespace: ns });
        return !list.items.some((c) => c.metadata?.name === "dependent");
      },
      { timeoutMs: 60_000, what: "the dependent ConfigMap to be garbage collected" },
    );
    await api.deleteNamespace({ name: ns });
  });

  it("serves kubectl get of every kind with printer columns", async () => {
    const out = await kubectl(["get", "runtimes,executions,workers", "-A"]);
    expect(out).toBeDefined();
    const header = await kubectl(["get", "runtimes", "-o", "wide"]).catch((e: Error) => e.message);
    expect(header).not.toContain("error");
  });
});
