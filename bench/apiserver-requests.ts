// kube-apiserver's own counters of Execution traffic (its /metrics): requests
// by verb and subresource, and watch events sent with their bytes, so the
// bench can say how many of each one Execution costs.
import type { KubeClient } from "../src/k8s/client.ts";

export type Counts = Record<string, number>;

/** Sums the samples of `metric` whose labels mention Executions, keyed by the labels named in `by`. */
function sum(text: string, metric: string, by: string[], out: Counts, prefix: string): void {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${metric}{`) || !/"executions"|"Execution"/.test(line)) continue;
    const labels = line.slice(line.indexOf("{") + 1, line.lastIndexOf("}"));
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    const key = by.map((l) => new RegExp(`${l}="([^"]*)"`).exec(labels)?.[1] ?? "").join(" ");
    out[`${prefix}${key}`.trim()] = (out[`${prefix}${key}`.trim()] ?? 0) + value;
  }
}

/** `by` names the request labels to count by: add "code" to tell 409s (conflicts) from 200s. */
export async function executionTraffic(client: KubeClient, by = ["verb", "subresource"]): Promise<Counts> {
  const text = String(await client.rest.request("GET", "/metrics"));
  const out: Counts = {};
  sum(text, "apiserver_request_total", by, out, "");
  sum(text, "apiserver_watch_events_total", [], out, "watch events");
  sum(text, "apiserver_watch_events_sizes_sum", [], out, "watch event bytes");
  return out;
}

/** Per Execution: (after − before) ÷ n, for every key. */
export function perExecutionTraffic(before: Counts, after: Counts, n: number): Counts {
  const out: Counts = {};
  for (const k of Object.keys(after)) {
    const d = (after[k]! - (before[k] ?? 0)) / n;
    if (d !== 0) out[k] = Math.round(d * 100) / 100;
  }
  return out;
}
