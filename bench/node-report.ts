// The node section of bench/README.md (issue 17) from bench/node-results.json:
// the last runs, up to six of `npm run bench:node`, side by side.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const NODE_RESULTS = join(import.meta.dirname, "node-results.json");
const START = "<!-- node-bench:start -->";
const END = "<!-- node-bench:end -->";
const CMD = "`npm run bench:node`";

// biome-ignore lint/suspicious/noExplicitAny: figures read back from node-results.json
type R = Record<string, any>;

const cp = (c: R) => c["kube-apiserver"].selfMs + c.etcd.selfMs + c.controller.selfMs;
const r2 = (x: number) => Math.round(x * 100) / 100;

/** One row: a figure per run, and what it is held against (a target or the baseline of the same run). */
type Row = [what: string, figure: (r: R) => string, against: (r: R) => string];

const ROWS: Row[] = [
  [
    "agent CPU per Execution (its own threads, idle subtracted; raw in brackets)",
    (r) => `${r.latency.cpuPerExecution.agent.selfMs} ms (${r.latency.cpuPerExecution.agent.selfRawMs} ms)`,
    () => "target ≤ 2 ms",
  ],
  ["agent CPU per extra test case", (r) => `${r.tests.agentMsPerExtraTest} ms`, () => "target ≤ 1 ms"],
  [
    "isolate and the program per Execution (agent's reaped children); program alone (cgroup time)",
    (r) =>
      `${r.latency.cpuPerExecution.agent.childrenMs} ms; program ${r.latency.programCpuMsPerExecution} ms`,
    (r) =>
      `bare isolate init-run-cleanup: ${r.latency.cpuPerExecution["bench client"].childrenMs} ms (the bench's reaped children)`,
  ],
  [
    "isolate and the program per extra test case",
    (r) => `${r.tests.agentChildrenMsPerExtraTest} ms`,
    () => "–",
  ],
  [
    "kube-apiserver CPU per Execution",
    (r) =>
      `${r.latency.cpuPerExecution["kube-apiserver"].selfMs} ms (${r.latency.cpuPerExecution["kube-apiserver"].selfRawMs} ms)`,
    () => "–",
  ],
  [
    "etcd CPU per Execution",
    (r) => `${r.latency.cpuPerExecution.etcd.selfMs} ms (${r.latency.cpuPerExecution.etcd.selfRawMs} ms)`,
    () => "–",
  ],
  [
    "controller CPU per Execution",
    (r) =>
      `${r.latency.cpuPerExecution.controller.selfMs} ms (${r.latency.cpuPerExecution.controller.selfRawMs} ms)`,
    () => "–",
  ],
  [
    "kube-apiserver + etcd + controller per Execution",
    (r) => `${r2(cp(r.latency.cpuPerExecution))} ms`,
    () => "target ≤ 12 ms",
  ],
  [
    "kube-controller-manager per Execution (not in the target: it does not act on Executions)",
    (r) => `${r.latency.cpuPerExecution["kube-controller-manager"].selfMs} ms`,
    () => "–",
  ],
  [
    "the same, 2 in flight (throughput phase): agent; apiserver + etcd + controller",
    (r) => `${r.throughput.cpuPerExecution.agent.selfMs} ms; ${r2(cp(r.throughput.cpuPerExecution))} ms`,
    () => "targets ≤ 2 ms; ≤ 12 ms",
  ],
  [
    "latency p50, one at a time (POST to the client's watch event)",
    (r) => `${r.latency.systemMs.p50} ms (p95 ${r.latency.systemMs.p95} ms)`,
    (r) =>
      `bare ${r.latency.bareMs.p50} ms (p95 ${r.latency.bareMs.p95} ms); +${r.latency.p50OverBareMs} ms; target ≤ bare + 15 ms`,
  ],
  [
    "throughput, 2 in flight on the node's CPU",
    (r) => `${r.throughput.systemPerSecond}/s (${r.throughput.systemSeconds} s)`,
    (r) =>
      `bare ${r.throughput.barePerSecond}/s (${r.throughput.bareSeconds} s); ${r.throughput.ratio}×; target ≥ 1.0×`,
  ],
  ["go-judge", (r) => r.goJudge, () => "not run: not built on this machine"],
];

export function nodeSection(runs: R[]): string {
  const sep = `| --- | ${runs.map(() => "---").join(" | ")} | --- |`;
  const rows = ROWS.map(
    ([what, fig, against]) =>
      `| ${what} | ${runs.map((r) => fig(r)).join(" | ")} | ${runs
        .map((r) => against(r))
        .filter((x, i, a) => a.indexOf(x) === i)
        .join(" / ")} |`,
  );
  const hopHead = `| hop of one Execution (p50 over ${runs[0]?.latency.runs} sequential runs) | ${runs.map((_, i) => `run ${i + 1}`).join(" | ")} |`;
  const hopSep = `| --- | ${runs.map(() => "---").join(" | ")} |`;
  const names = [...new Set(runs.flatMap((r) => (r.latency.hops.rows as R[]).map((h) => h.hop as string)))];
  const hop = (r: R, name: string) => {
    const h = (r.latency.hops.rows as R[]).find((x) => x.hop === name);
    return h && h.n > 0 ? `${h.p50Ms} ms (n=${h.n})` : "–";
  };
  const hopRows = names.map((name) => `| ${name} | ${runs.map((r) => hop(r, name)).join(" | ")} |`);
  return `${START}
## One node against bare isolate (issue 17)

Command: ${CMD} (\`node bench/node.ts\`; raw numbers: [\`node-results.json\`](node-results.json), the last runs, up to six).
The agent (and every isolate it starts) runs on CPU 1; etcd, kube-apiserver,
kube-controller-manager, the controller and the bench client on CPU 0
(\`taskset\`). This machine has 2 cores, so that is the best separation it
allows: the control plane and the client share one core, and the node's two
slots share the other. Bare isolate runs (init, source in, run, cleanup, with
the agent's arguments and the Runtime's closure mounted path by path) are
pinned to CPU 1 too. The program is python3 \`print(1)\`. CPU is utime + stime
from \`/proc/<pid>/stat\` (10 ms ticks) over the phase, divided by the
Executions in it; "idle subtracted" takes off each process's rate over a 5 s
idle window before the phases (leases, heartbeats, watches), scaled to the
phase's length. Other helpers' work shared these 2 cores during the runs;
ratios within one run are what count.

| what | ${runs.map((_, i) => `run ${i + 1}`).join(" | ")} | held against |
${sep}
${rows.join("\n")}

${runs.map((r, i) => `- run ${i + 1}: ${r.date}, commit ${r.commit}, ${r.cores} cores (${r.cpu}), load average ${r.loadAverage1mAtEnd} at its end`).join("\n")}

${hopHead}
${hopSep}
${hopRows.join("\n")}
${END}`;
}

export function lastNodeSection(): string | undefined {
  if (!existsSync(NODE_RESULTS)) return undefined;
  return nodeSection(JSON.parse(readFileSync(NODE_RESULTS, "utf8")) as R[]);
}

/** Replaces the node section of the README (or appends it). */
export function writeNodeSection(readme: string): void {
  const section = lastNodeSection();
  if (!section) return;
  const text = readFileSync(readme, "utf8");
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  const next =
    a >= 0 && b > a
      ? `${text.slice(0, a)}${section}${text.slice(b + END.length)}`
      : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(readme, next);
}
