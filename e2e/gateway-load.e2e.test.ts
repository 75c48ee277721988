// 1,000 concurrent Judge0 wait=true requests held by one gateway process, run by
// a real agent with isolate: every request gets its own program's answer, the
// gateway holds them over one shared watch (the apiserver's count of Execution
// watches does not grow with the requests), and its memory stays bounded.
import { readFileSync } from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeClient } from "../src/k8s/client.ts";
import { kubeConfig } from "./support/cluster.ts";
import { type GatewayEnv, PY_GATEWAY, setUpGatewayEnv } from "./support/gateway-env.ts";
import { isolateAvailable } from "./support/stand-in-runtimes.ts";

const REQUESTS = Number(process.env.GATEWAY_LOAD_REQUESTS ?? 1000);
const isolateMissing = !(await isolateAvailable("gateway load test"));
let env: GatewayEnv;

beforeAll(async () => {
  if (isolateMissing) return;
  env = await setUpGatewayEnv({
    name: "gwload-e2e",
    tenants: [{ name: "load", data: { requestsPerSecond: "0", queueMax: String(REQUESTS * 2) } }],
    runtimes: { "gwl-py": PY_GATEWAY },
    agents: 1,
    slots: 2,
    boxIdBase: 520,
    gatewayEnv: {
      ENVICUTOR_GATEWAY_MAX_WAITING: String(REQUESTS * 2),
      ENVICUTOR_GATEWAY_WAIT_TIMEOUT_SECONDS: "900",
    },
  });
}, 600_000);

afterAll(async () => {
  await env?.stop();
}, 300_000);

const rssKiB = (pid: number) =>
  Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);

/** The apiserver's count of open WATCH requests on Executions (every client's), from its /metrics. */
async function apiserverExecutionWatches(): Promise<number> {
  const text = await new KubeClient(kubeConfig()).rest.request<string>("GET", "/metrics");
  return [...text.matchAll(/^apiserver_longrunning_requests\{([^}]*)\} (\S+)$/gm)]
    .filter(([, labels]) => /resource="executions"/.test(labels!) && /verb="WATCH"/.test(labels!))
    .reduce((n, m) => n + Number(m[2]), 0);
}

async function gatewayMetric(name: string): Promise<number> {
  const text = await (await fetch(`${env.metricsUrl}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
}

describe.skipIf(isolateMissing)(`${REQUESTS} concurrent wait=true requests on one gateway`, () => {
  it("are all answered with their own result, over one shared watch, in bounded memory", async () => {
    const url = new URL(`${env.url}/submissions?wait=true&fields=stdout,status_id,message`);
    const token = env.tenants.get("load")!.token;
    const agent = new http.Agent({ keepAlive: false, maxSockets: REQUESTS + 10 });
    const post = (i: number) =>
      new Promise<{ status: number; body: { stdout?: string; status_id?: number; message?: string } }>(
        (resolve, reject) => {
          const body = JSON.stringify({
            source_code: "print(int(input()) * 2)",
            language_id: 71,
            stdin: String(i),
          });
          const req = http.request(
            url,
            {
              method: "POST",
              agent,
              headers: {
                Authorization: `Bearer ${token}`,
                "Content-Type": "application/json",
                "Content-Length": Buffer.byteLength(body),
              },
            },
            (res) => {
              let text = "";
              res.setEncoding("utf8");
              res.on("data", (c) => (text += c));
              res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
            },
          );
          req.setTimeout(900_000);
          req.on("error", reject);
          req.end(body);
        },
      );
    // Warm up (the tenant's watch starts, code paths load), then the baseline.
    for (let i = 0; i < 3; i++) expect((await post(-1)).body.status_id).toBe(3);
    const pid = env.gateway.pid!;
    await new Promise((r) => setTimeout(r, 1000));
    const baselineKiB = rssKiB(pid);
    const watchesBefore = await apiserverExecutionWatches();

    const started = performance.now();
    let peakKiB = baselineKiB;
    let peakWaiting = 0;
    let watchesAtPeak = watchesBefore;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peakKiB = Math.max(peakKiB, rssKiB(pid));
        const waiting = await gatewayMetric("envicutor_gateway_waiting_requests");
        if (waiting > peakWaiting) {
          peakWaiting = waiting;
          watchesAtPeak = await apiserverExecutionWatches();
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const results = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => post(i)));
    const seconds = (performance.now() - started) / 1000;
    sampling = false;
    await sampler;
    agent.destroy();
    const gatewayWatches = await gatewayMetric("envicutor_gateway_execution_watches");

    // Status 13 is an Execution the agent could not run (its message says why): reported, and counted apart.
    const internal = results.filter((r) => r.status === 201 && r.body.status_id === 13);
    const wrong = results.filter(
      (r, i) =>
        r.status !== 201 ||
        (r.body.status_id !== 13 && (r.body.status_id !== 3 || r.body.stdout !== `${i * 2}\n`)),
    );
    const summary = {
      requests: REQUESTS,
      secondsToAnswerAll: Math.round(seconds * 10) / 10,
      peakWaiting,
      gatewayRssBaselineMiB: Math.round(baselineKiB / 102.4) / 10,
      gatewayRssPeakMiB: Math.round(peakKiB / 102.4) / 10,
      rssGrowthKiBPerWaitingRequest: Math.round((peakKiB - baselineKiB) / Math.max(1, peakWaiting)),
      gatewayExecutionWatches: gatewayWatches,
      apiserverExecutionWatchesBefore: watchesBefore,
      apiserverExecutionWatchesAtPeak: watchesAtPeak,
      wrong: wrong.length,
      internalErrors: internal.length,
      internalErrorMessages: [...new Set(internal.map((r) => r.body.message))].slice(0, 3),
    };
    console.log("gateway load:", JSON.stringify(summary));
    expect(wrong.slice(0, 3)).toEqual([]);
    expect(internal.length, "Executions the agent failed to run").toBeLessThanOrEqual(REQUESTS * 0.02);
    expect(peakWaiting).toBeGreaterThanOrEqual(REQUESTS * 0.9);
    expect(gatewayWatches).toBe(1);
    expect(watchesAtPeak - watchesBefore).toBeLessThanOrEqual(1);
    // Bounded: a waiting request costs the gateway a socket and a callback, not a watch or a buffer of its own.
    expect(peakKiB - baselineKiB).toBeLessThan(REQUESTS * 150);
  });
});
