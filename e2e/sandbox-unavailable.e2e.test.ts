// A node without isolate, as a new user's machine is: the agent (a real
// process, pointed at an isolate that is not there) fails every install at
// once with reason SandboxUnavailable, without a Nix build, and
// `kubectl get runtimes` says why in its Reason and Message columns.
// Runs nothing in isolate, so it needs no box ids and runs on any machine.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Runtime } from "../src/api/runtime.ts";
import { validRuntime } from "../src/api/test-fixtures.ts";
import { KubeClient } from "../src/k8s/client.ts";
import { RuntimeResource, WorkerResource } from "../src/k8s/resources.ts";
import {
  createNode,
  deleteNode,
  ensureNamespace,
  kubeConfig,
  kubeconfigPath,
  kubectl,
  uniqueName,
  waitFor,
} from "./support/cluster.ts";
import { type ManagedProcess, startAgent, startController } from "./support/processes.ts";

const ROOT = join(import.meta.dirname, "..");
const NS = uniqueName("envicutor-nosandbox");
const NODE = uniqueName("no-isolate");
const RUNTIME = uniqueName("py");
const LABEL = { "envicutor.io/e2e": NODE };

let tmp: string;
let client: KubeClient;
const procs: ManagedProcess[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "envicutor-nosandbox-"));
  client = new KubeClient(kubeConfig(), { fieldManager: "e2e" });
  await ensureNamespace(NS);
  await createNode(NODE, LABEL);
  procs.push(startController({ kubeconfig: kubeconfigPath(), namespace: NS, identity: NODE, logDir: tmp }));
  procs.push(
    startAgent({
      kubeconfig: kubeconfigPath(),
      namespace: NS,
      nodeName: NODE,
      stateDir: join(tmp, "state"),
      logDir: tmp,
      env: { ENVICUTOR_ISOLATE_BIN: "/nonexistent/isolate", ENVICUTOR_PACKAGE_SET: join(ROOT, "nix/pkgs") },
    }),
  );
  const base = validRuntime(RUNTIME) as unknown as Runtime;
  await client.create(RuntimeResource, { ...base, spec: { ...base.spec, nodeSelector: LABEL } });
}, 60_000);

afterAll(async () => {
  for (const p of procs) await p.stop();
  await client.delete(RuntimeResource, RUNTIME).catch(() => undefined);
  await client.delete(WorkerResource, NODE).catch(() => undefined);
  await deleteNode(NODE).catch(() => undefined);
  await kubectl(["delete", "namespace", NS, "--wait=false", "--ignore-not-found"]).catch(() => undefined);
  await rm(tmp, { recursive: true, force: true });
});

describe("a node without isolate", () => {
  it("fails the install at once, and kubectl get runtimes says why", async () => {
    const t0 = Date.now();
    const rt = await waitFor(
      async () => {
        const r = await client.get(RuntimeResource, RUNTIME);
        return (r.status?.failedNodes ?? 0) > 0 ? r : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: `Runtime ${RUNTIME} failed on ${NODE}` },
    );
    const seconds = (Date.now() - t0) / 1000;
    expect(rt.status?.failures?.[0]).toMatchObject({ node: NODE, reason: "SandboxUnavailable" });
    expect(rt.status?.failures?.[0]?.message).toContain(
      `isolate (/nonexistent/isolate) is not installed on node ${NODE}`,
    );
    const ready = rt.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "InstallFailed" });

    const table = await kubectl(["get", "runtime", RUNTIME]);
    console.log(`[e2e] install failed after ${seconds.toFixed(1)} s (agent start included):\n${table}`);
    const [header, row] = table.trim().split("\n");
    expect(header).toMatch(/READY\s+REASON\s+.*MESSAGE/);
    expect(row).toMatch(/False\s+InstallFailed\s+/);
    expect(row).toContain("/nonexistent/isolate) is not installed");
    // No Nix build was tried: the Worker's entry failed on its first attempt, straight from Installing.
    const worker = await client.get(WorkerResource, NODE);
    expect(worker.status?.runtimes?.find((e) => e.name === RUNTIME)).toMatchObject({
      phase: "Failed",
      reason: "SandboxUnavailable",
    });
    const agentLog = procs[1]!.logs();
    expect(agentLog).not.toContain("nix-build");
  });
});
