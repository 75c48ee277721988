// Helpers for e2e tests against the control plane from global-setup.ts.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { CoreV1Api, KubeConfig, type V1Node } from "@kubernetes/client-node";
import { inject } from "vitest";
import { applyCrdManifests } from "../controlplane/crds.ts";

const execFileAsync = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");

/** Path of the admin kubeconfig of the e2e cluster. */
export function kubeconfigPath(): string {
  return inject("kubeconfig");
}

/** A fresh KubeConfig for the e2e cluster (admin, in group system:masters). */
export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return kc;
}

/** Path of the kubectl built with the control plane. */
export function kubectlPath(): string {
  return join(inject("controlPlaneBin"), "kubectl");
}

/**
 * Runs the built kubectl against the e2e cluster, with `input` on stdin if
 * given; resolves with stdout, rejects with stderr in the message.
 */
export async function kubectl(args: string[], input?: string): Promise<string> {
  const child = execFileAsync(kubectlPath(), [`--kubeconfig=${kubeconfigPath()}`, ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  if (input !== undefined) child.child.stdin?.end(input);
  try {
    return (await child).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/**
 * Server-side applies CRD manifests (default: the repository's crds/) and waits
 * until they are Established; returns the CRD names. Global setup already did
 * this for crds/; call it again after changing them.
 */
export async function applyCrds(path = join(ROOT, "crds")): Promise<string[]> {
  return applyCrdManifests(kubectlPath(), kubeconfigPath(), path);
}

/** `prefix-` and 10 random hex digits: a valid name for any kind. */
export function uniqueName(prefix: string): string {
  // 40 bits: a test that creates hundreds of objects in one namespace must not meet a namesake.
  return `${prefix}-${randomBytes(5).toString("hex")}`;
}

/**
 * A Node object that looks like a real, Ready node (no kubelet behind it, and no
 * node-lifecycle controller runs, so it stays Ready). A leftover Node of the
 * same name (an earlier run against the same cluster) is replaced.
 */
export async function createNode(name: string, labels: Record<string, string> = {}): Promise<V1Node> {
  const api = kubeConfig().makeApiClient(CoreV1Api);
  const body: V1Node = {
    metadata: {
      name,
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": process.arch === "arm64" ? "arm64" : "amd64",
        ...labels,
      },
    },
  };
  let node: V1Node;
  try {
    node = await api.createNode({ body });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
    await api.deleteNode({ name });
    node = await waitFor(() => api.createNode({ body }).catch(() => undefined), {
      timeoutMs: 10_000,
      what: `Node ${name} to be re-created`,
    });
  }
  const now = new Date();
  return api.replaceNodeStatus({
    name,
    body: {
      ...node,
      status: {
        conditions: [
          {
            type: "Ready",
            status: "True",
            reason: "KubeletReady",
            message: "e2e node (no kubelet)",
            lastHeartbeatTime: now,
            lastTransitionTime: now,
          },
        ],
        addresses: [
          { type: "InternalIP", address: "127.0.0.1" },
          { type: "Hostname", address: name },
        ],
        capacity: { cpu: "2", memory: "4Gi", pods: "110" },
        allocatable: { cpu: "2", memory: "4Gi", pods: "110" },
        nodeInfo: {
          architecture: process.arch === "arm64" ? "arm64" : "amd64",
          operatingSystem: "linux",
          osImage: "envicutor e2e",
          kernelVersion: "",
          kubeletVersion: inject("apiserverVersion"),
          kubeProxyVersion: "",
          containerRuntimeVersion: "",
          machineID: "",
          systemUUID: "",
          bootID: "",
        },
      },
    },
  });
}

/** Deletes a Node; a missing one is fine. */
export async function deleteNode(name: string): Promise<void> {
  try {
    await kubeConfig().makeApiClient(CoreV1Api).deleteNode({ name });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
  }
}

/** Creates a namespace unless it exists. */
export async function ensureNamespace(name: string): Promise<void> {
  await kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name } } })
    .catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
}

/** Whether restartApiserver() can work: false against an external cluster (ENVICUTOR_E2E_KUBECONFIG). */
export function canRestartApiserver(): boolean {
  return inject("controlPlaneControl") !== "";
}

/**
 * Restarts the shared kube-apiserver (SIGTERM, `downMs` down, start on the same
 * port) and resolves when it is ready again, with how long that took. Every
 * client of the cluster sees the outage: use it only in tests about it.
 */
export async function restartApiserver(opts: { downMs?: number } = {}): Promise<number> {
  const control = inject("controlPlaneControl");
  if (!control) throw new Error("restartApiserver: the e2e cluster is external (ENVICUTOR_E2E_KUBECONFIG)");
  const res = await fetch(`${control}/restart-apiserver?downMs=${opts.downMs ?? 0}`, { method: "POST" });
  const body = (await res.json()) as { readyMs?: number; error?: string };
  if (!res.ok || body.readyMs === undefined) {
    throw new Error(`restarting kube-apiserver failed (${res.status}): ${body.error ?? "no detail"}`);
  }
  return body.readyMs;
}

export interface WaitOptions {
  /** Default 30 s. */
  timeoutMs?: number;
  /** Default 200 ms. */
  intervalMs?: number;
  /** What is awaited, for the timeout message. */
  what?: string;
}

/**
 * Polls fn until it returns a value other than undefined/false/null and
 * resolves with it. A throwing fn counts as "not yet". On timeout, the message
 * names `what` and shows the last error or value.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  opts: WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 30_000, intervalMs = 200, what = "condition" } = opts;
  const started = Date.now();
  let last: unknown;
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      const value = await fn();
      if (value !== undefined && value !== false && value !== null) return value as T;
      last = value;
    } catch (err) {
      last = err;
    }
    const elapsed = Date.now() - started;
    if (elapsed >= timeoutMs) {
      const detail =
        last instanceof Error ? `error: ${last.message}` : `value: ${JSON.stringify(last)?.slice(0, 500)}`;
      throw new Error(
        `timed out after ${elapsed} ms (${attempts} attempts) waiting for ${what}; last ${detail}`,
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, timeoutMs - elapsed)));
  }
}
