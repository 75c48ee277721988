// A Runtime can only name a package set the platform configured for the
// agents. One real agent (real apiserver, real Nix, real isolate for the smoke
// test) is configured with ENVICUTOR_PACKAGE_SETS = {"stand-in": nix/pkgs} and
// no "default"; nix/pkgs is the project's offline STAND-IN FOR NIXPKGS (it is
// NOT nixpkgs). A Runtime naming anything else fails on the node with reason
// UnknownPackageSet in the Worker's status, once, and the agent stays healthy.
// (Paths and URLs never get this far: the CRD refuses them, see
// crd-validation.e2e.test.ts.)
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Runtime } from "../src/api/runtime.ts";
import { validRuntime } from "../src/api/test-fixtures.ts";
import type { Worker } from "../src/api/worker.ts";
import { KubeClient } from "../src/k8s/client.ts";
import { RuntimeResource, WorkerResource } from "../src/k8s/resources.ts";
import {
  createNode,
  deleteNode,
  ensureNamespace,
  kubeConfig,
  kubeconfigPath,
  waitFor,
} from "./support/cluster.ts";
import { type ManagedProcess, startAgent } from "./support/processes.ts";
import { isolateAvailable } from "./support/stand-in-runtimes.ts";

const ROOT = join(import.meta.dirname, "..");
const NS = "envicutor-pkgset-e2e";
const NODE = "pkgset-e2e";
const RUNTIMES = ["pkgset-unknown-e2e", "pkgset-default-e2e", "pkgset-known-e2e"];
const isolateMissing = !(await isolateAvailable("package set e2e tests"));

let tmp: string;
let client: KubeClient;
let agent: ManagedProcess;

const runtime = (name: string, packageSet?: string): Runtime => {
  const base = validRuntime(name) as unknown as Runtime;
  return {
    ...base,
    spec: {
      ...base.spec,
      nodeSelector: { "envicutor.io/e2e": "pkgset" },
      ...(packageSet ? { packageSet } : {}),
    },
  };
};

async function installOf(name: string) {
  const w: Worker = await client.get(WorkerResource, NODE);
  return w.status?.runtimes?.find((r) => r.name === name);
}

async function healthy(): Promise<boolean> {
  const port = agent.logEntries((e) => e.msg === "serving /healthz, /readyz, /metrics").pop()?.port;
  return port !== undefined && (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "envicutor-pkgset-e2e-"));
  client = new KubeClient(kubeConfig());
  await ensureNamespace(NS);
  await createNode(NODE, { "envicutor.io/e2e": "pkgset" });
  agent = startAgent({
    kubeconfig: kubeconfigPath(),
    namespace: NS,
    nodeName: NODE,
    stateDir: join(tmp, "state"),
    logDir: join(tmp, "logs"),
    slots: 1,
    boxIdBase: 900,
    env: {
      ENVICUTOR_PACKAGE_SET: "",
      ENVICUTOR_PACKAGE_SETS: JSON.stringify({ "stand-in": join(ROOT, "nix/pkgs") }),
      ENVICUTOR_INSTALL_CONCURRENCY: "1",
      ENVICUTOR_INSTALL_TIMEOUT_SECONDS: "120",
    },
  });
  await waitFor(healthy, { timeoutMs: 60_000, what: "the agent to serve /healthz" });
}, 120_000);

afterAll(async () => {
  for (const name of RUNTIMES) await client?.delete(RuntimeResource, name).catch(() => undefined);
  await waitFor(async () => !existsSync(join(tmp, "state", "gcroots", "pkgset-known-e2e")), {
    timeoutMs: 30_000,
    what: "the agent to drop the Runtime's roots",
  }).catch(() => undefined);
  await agent?.stop();
  await deleteNode(NODE);
  if (process.env.KEEP_E2E_LOGS) console.log(`[e2e] logs kept in ${tmp}/logs`);
  else if (tmp) await rm(tmp, { recursive: true, force: true });
}, 120_000);

describe.skipIf(isolateMissing)("Runtimes name the agents' package sets", () => {
  it("a name the node was not configured with fails there with UnknownPackageSet, once, and nothing is installed", async () => {
    for (const [name, packageSet] of [
      ["pkgset-unknown-e2e", "not-configured"],
      ["pkgset-default-e2e", undefined],
    ] as const) {
      await client.create(RuntimeResource, runtime(name, packageSet));
      const entry = await waitFor(
        async () => {
          const e = await installOf(name);
          return e?.phase === "Failed" ? e : undefined;
        },
        { timeoutMs: 60_000, what: `${name} Failed in the Worker status` },
      );
      console.log(
        `[e2e] hostile: Runtime ${name} with spec.packageSet ${JSON.stringify(packageSet)} -> Worker: ${entry.phase} ${entry.reason}: ${entry.message} (attempts ${entry.attempts})`,
      );
      expect(entry).toMatchObject({ phase: "Failed", reason: "UnknownPackageSet", attempts: 1 });
      expect(entry.message).toContain(
        `"${packageSet ?? "default"}" is not configured on this node (known: stand-in)`,
      );
      expect(existsSync(join(tmp, "state", "gcroots", name))).toBe(false);
    }
    // No retry loop: still one attempt a while later, and the agent is healthy.
    await new Promise((r) => setTimeout(r, 8_000));
    for (const name of ["pkgset-unknown-e2e", "pkgset-default-e2e"]) {
      expect((await installOf(name))?.attempts).toBe(1);
    }
    expect(await healthy()).toBe(true);
    expect(agent.running).toBe(true);
  });

  it("a configured name installs and passes its smoke test on the same agent", async () => {
    await client.create(RuntimeResource, runtime("pkgset-known-e2e", "stand-in"));
    const entry = await waitFor(
      async () => {
        const e = await installOf("pkgset-known-e2e");
        return e?.phase === "Installed" || e?.phase === "Failed" ? e : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 500, what: "pkgset-known-e2e installed" },
    );
    console.log(
      `[e2e] Runtime with spec.packageSet "stand-in" -> ${entry.phase} ${entry.reason}: ${entry.message}`,
    );
    expect(entry).toMatchObject({ phase: "Installed" });
  });
});
