// Helpers for e2e tests against the control plane from global-setup.ts.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { CoreV1Api, KubeConfig, type V1Node } from "@kubernetes/client-node";
import { inject } from "vitest";

const execFileAsync = promisify(execFile);

export function kubeconfigPath(): string {
  return inject("kubeconfig");
}

export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return kc;
}

/** Runs the kubectl built with the control plane; resolves with stdout, rejects with stderr in the message. */
export async function kubectl(args: string[], input?: string): Promise<string> {
  const bin = join(inject("controlPlaneBin"), "kubectl");
  const child = execFileAsync(bin, [`--kubeconfig=${kubeconfigPath()}`, ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    return (await child).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(" ")} failed: ${e.stderr || e.message}`);
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString("hex")}`;
}

/** A Node object that looks like a real, Ready node (no kubelet behind it). */
export async function createNode(name: string, labels: Record<string, string> = {}): Promise<V1Node> {
  const api = kubeConfig().makeApiClient(CoreV1Api);
  const node = await api.createNode({
    body: {
      metadata: { name, labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", ...labels } },
    },
  });
  await api.replaceNodeStatus({
    name,
    body: {
      ...node,
      status: {
        conditions: [
          {
            type: "Ready",
            status: "True",
            reason: "KubeletReady",
            message: "e2e node",
            lastHeartbeatTime: new Date(),
            lastTransitionTime: new Date(),
          },
        ],
      },
    },
  });
  return node;
}

export async function deleteNode(name: string): Promise<void> {
  await kubeConfig()
    .makeApiClient(CoreV1Api)
    .deleteNode({ name })
    .catch(() => undefined);
}

export async function ensureNamespace(name: string): Promise<void> {
  await kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name } } })
    .catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  what?: string;
}

/** Polls fn until it returns a value other than undefined/false; the last error or value is in the timeout message. */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 30_000, intervalMs = 200, what = "condition" } = opts;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value as T;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
