// Executions in e2e tests against the control plane: create one, and wait
// until its Complete condition is True (what a judge's client waits for).
import type { Execution } from "../../src/api/execution.ts";
import { API_VERSION } from "../../src/api/group.ts";
import type { KubeClient } from "../../src/k8s/client.ts";
import { ExecutionResource } from "../../src/k8s/resources.ts";
import { waitFor } from "./cluster.ts";

export interface CompleteOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Sees every copy read while waiting (e.g. its progress). */
  onPoll?: (ex: Execution) => void;
}

export async function createExecution(
  client: KubeClient,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  const obj = { apiVersion: API_VERSION, kind: "Execution", metadata: { name, namespace }, spec };
  await client.create(ExecutionResource, obj as never);
}

export function waitComplete(
  client: KubeClient,
  namespace: string,
  name: string,
  { timeoutMs = 120_000, intervalMs = 300, onPoll }: CompleteOptions = {},
): Promise<Execution> {
  return waitFor(
    async () => {
      const ex = await client.get(ExecutionResource, name, namespace);
      onPoll?.(ex);
      return ex.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True")
        ? ex
        : undefined;
    },
    { timeoutMs, intervalMs, what: `Execution ${name} Complete` },
  );
}

/** Creates the Execution and resolves with it once it is Complete. */
export async function submitAndWait(
  client: KubeClient,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  opts?: CompleteOptions,
): Promise<Execution> {
  await createExecution(client, namespace, name, spec);
  return waitComplete(client, namespace, name, opts);
}
