// The pods section of bench/README.md (issue 12) from bench/pods-results.json:
// the last runs (up to eight) of `npm run bench:pods`, the newest first.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Summary } from "./stats.ts";

export const PODS_RESULTS = join(import.meta.dirname, "pods-results.json");
const README = join(import.meta.dirname, "README.md");
const SECTION = /<!-- pods-bench:start -->[\s\S]*?<!-- pods-bench:end -->/;

export interface PodsResult {
  date: string;
  machine: string;
  /** kubelet, containerd and runc as they print their versions. */
  node: string;
  order: string;
  program: string;
  runs: number;
  warmup: number;
  processesMs: Summary;
  podsMs: Summary;
  ratioP50: number;
  ratioP95: number;
  samples: { processes: number[]; pods: number[] };
}

const row = (r: PodsResult) =>
  `| ${r.date.slice(0, 19)}Z | ${r.runs} + ${r.runs} | ${r.podsMs.p50} ms / ${r.podsMs.p95} ms | ${r.processesMs.p50} ms / ${r.processesMs.p95} ms | ${r.ratioP50}× / ${r.ratioP95}× | ${r.machine} |`;

export function podsSection(runs: PodsResult[]): string {
  const last = runs.at(-1)!;
  return [
    "<!-- pods-bench:start -->",
    "## Execution latency through pods vs the same through processes (issue 12)",
    "",
    "Command: `npm run bench:pods` (`node bench/pods.ts`, as root, with what the node-helm e2e test needs; raw numbers: [`pods-results.json`](pods-results.json), the last runs, up to eight).",
    "One run starts the node-helm test's cluster (`e2e/node/helm-cluster.ts`: a control plane, a real kubelet/containerd node, the images built here). First the controller and the agent run as processes on this machine (the agent as that node's, isolate boxes 840–849), then, after they stop, the chart is installed with `helm install` as the test installs it (the agent's pod uses boxes 700–707). Both judge the same Runtime object (`py-node`, installed once: the agent's pod finds it in the state directory the processes used) and the same program, " +
      `${last.program}; ${last.warmup} warm-up Executions each, not counted. Latency is from the client's create to its watch showing the Execution finished. ${last.node}.`,
    "",
    "| run | n (processes + pods) | pods p50 / p95 | processes p50 / p95 | pods ÷ processes p50 / p95 | machine |",
    "| --- | --- | --- | --- | --- | --- |",
    ...[...runs].reverse().map(row),
    "",
    `Order in each run: ${last.order} (not interleaved: one controller at a time may own the Executions). Other work on this shared 2-core machine was not stopped, so the load average is recorded with each run.`,
    "<!-- pods-bench:end -->",
  ].join("\n");
}

export function lastPodsSection(): string | undefined {
  if (!existsSync(PODS_RESULTS)) return undefined;
  return podsSection(JSON.parse(readFileSync(PODS_RESULTS, "utf8")) as PodsResult[]);
}

/** Appends `r` to pods-results.json (the last eight kept) and rewrites the README's section (or appends it). */
export function writePodsResult(r: PodsResult): void {
  const runs = existsSync(PODS_RESULTS)
    ? (JSON.parse(readFileSync(PODS_RESULTS, "utf8")) as PodsResult[])
    : [];
  const kept = [...runs, r].slice(-8);
  writeFileSync(PODS_RESULTS, `${JSON.stringify(kept, null, 2)}\n`);
  const text = readFileSync(README, "utf8");
  const section = podsSection(kept);
  writeFileSync(
    README,
    SECTION.test(text) ? text.replace(SECTION, () => section) : `${text.trimEnd()}\n\n${section}\n`,
  );
}
