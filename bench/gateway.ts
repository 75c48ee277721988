// The gateway (src/gateway) as a process for the bench: one token whose
// Executions go to the bench's namespace, and requests timed from before the
// POST to the answer.
import { randomBytes } from "node:crypto";
import { ManagedProcess } from "../e2e/support/processes.ts";
import type { KubeClient } from "../src/k8s/client.ts";

export interface BenchGateway {
  process: ManagedProcess;
  url: string;
  token: string;
}

export async function startBenchGateway(
  client: KubeClient,
  o: { kubeconfig: string; namespace: string; logDir: string },
): Promise<BenchGateway> {
  const token = randomBytes(24).toString("hex");
  await client.rest.request("POST", `/api/v1/namespaces/${o.namespace}/secrets`, {
    body: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "bench-token", labels: { "gateway.envicutor.io/token": "true" } },
      stringData: { token, namespace: o.namespace, requestsPerSecond: "0" },
    },
  });
  const p = new ManagedProcess(
    "gateway",
    "src/gateway/main.ts",
    {
      KUBECONFIG: o.kubeconfig,
      ENVICUTOR_GATEWAY_NAMESPACE: o.namespace,
      ENVICUTOR_GATEWAY_PORT: "0",
      ENVICUTOR_GATEWAY_HOST: "127.0.0.1",
      ENVICUTOR_GATEWAY_METRICS_PORT: "-1",
    },
    o.logDir,
  ).start();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const port = p.logEntries((e) => e.msg === "serving the Piston and Judge0 APIs").pop()?.port;
    if (port) return { process: p, url: `http://127.0.0.1:${port}`, token };
    if (!p.running || Date.now() > deadline)
      throw new Error(`gateway did not start: ${p.logs().slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** POSTs JSON with the token; resolves with the answer and the milliseconds from before the request to the parsed answer. */
export async function timedPost(
  gw: BenchGateway,
  path: string,
  body: unknown,
): Promise<{ ms: number; status: number; json: Record<string, unknown> }> {
  const t = performance.now();
  const res = await fetch(`${gw.url}${path}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${gw.token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  return { ms: performance.now() - t, status: res.status, json };
}
