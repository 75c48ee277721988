// bench/README.md from the results of one run.
import { writeFileSync } from "node:fs";
import { lastNodeSection } from "./node-report.ts";
import { lastPodsSection } from "./pods-report.ts";
import { lastSchedulerSection } from "./scheduler-report.ts";

// biome-ignore lint/suspicious/noExplicitAny: the results are free-form JSON written by run.ts
type R = Record<string, any>;

const ms = (x: number | undefined) => (x === undefined ? "–" : `${x} ms`);
const round2 = (x: number) => Math.round(x * 100) / 100;
const s = (x: number | undefined) => (x === undefined ? "–" : `${x} s`);

export function renderReport(r: R): string {
  const m = r.machine as R;
  const rows: string[][] = [];
  const l = r.latency as R | undefined;
  const inst = r.install as R | undefined;
  if (l) {
    for (const p of ["p50", "p95", "p99"])
      rows.push([
        `latency, trivial Execution (${l.program}), ${p}, n=${l.runs}`,
        ms(l.systemMs[p]),
        ms(l.bareIsolateMs[p]),
        `${l[`ratio${p.toUpperCase()}`]}×`,
        `+${l[`overheadMs${p.toUpperCase()}`]} ms`,
      ]);
  }
  const g = r.gateway as R | undefined;
  if (g)
    for (const [api, key, over] of [
      ["Judge0 POST /submissions?wait=true", "judge0WaitMs", "judge0OverheadMs"],
      ["Piston POST /api/v2/execute", "pistonExecuteMs", "pistonOverheadMs"],
    ] as const)
      for (const p of ["p50", "p95"])
        rows.push([
          `gateway, ${api} (${g.program}), ${p}, n=${g.runs}`,
          ms(g[key][p]),
          `${ms(g.directMs[p])} (direct Execution, same run)`,
          `${round2(g[key][p] / g.directMs[p])}×`,
          `+${g[`${over}${p.toUpperCase()}`]} ms over creating the Execution and watching it`,
        ]);
  const t = r.throughput as R | undefined;
  if (t)
    rows.push([
      `throughput, 1 node × ${t.slots} slots, ${t.executions} CPU-bound runs (${t.cpuMsPerRunP50} ms CPU each)`,
      `${t.systemPerSecond}/s (${s(t.systemSeconds)})`,
      `${t.barePerSecond}/s (${s(t.bareSeconds)})`,
      `${t.ratio}×`,
      "system ÷ bare executions per second",
    ]);
  const c = r.compileOnce as R | undefined;
  if (c) {
    rows.push([
      `compile-once: ${c.tests} single-test Executions one after another vs one Execution with ${c.tests} tests`,
      `${ms(c.systemSequentialExecutionsMs)} vs ${ms(c.systemOneExecutionMs.p50)}`,
      `${ms(c.bareCompileEachMs)} vs ${ms(c.bareCompileOnceMs)}`,
      `${c.ratioSequential}× (bare ${c.ratioBare}×)`,
      `recompiling ÷ compile-once; compile ≈ ${c.compileWallMsInBoxP50} ms wall in the box`,
    ]);
    rows.push([
      `compile-once: ${c.tests} single-test Executions submitted at once (2 slots) vs one with ${c.tests} tests`,
      `${ms(c.systemParallelExecutionsMs)} vs ${ms(c.systemOneExecutionMs.p50)}`,
      "–",
      `${c.ratioParallel}×`,
      "the single Execution uses one slot; the 20 use both",
    ]);
  }
  const cc = r.compileCache as R | undefined;
  if (cc)
    rows.push([
      `compile cache: ${cc.runs} single-test C Executions of one source (hits) vs ${cc.runs} of new sources (misses)`,
      `${ms(cc.hitMs.p50)} vs ${ms(cc.missMs.p50)} (p50)`,
      "–",
      `${cc.ratio}×`,
      `miss ÷ hit; ${cc.hitsSaidInStatus} of ${cc.runs} statuses say compile.cacheHit`,
    ]);
  const pr = r.problem as R | undefined;
  if (pr)
    rows.push([
      `Problem: one Execution of a ${pr.tests}-test Problem vs ${pr.tests} single-test Executions submitted at once (2 slots)`,
      `${ms(pr.problemExecutionMs.p50)} vs ${ms(pr.singleExecutionsMs)}`,
      "–",
      `${pr.ratio}×`,
      "the 100 single Executions ÷ the Problem's one (p50 of 3); a source of its own each, so no compile cache hits",
    ]);
  if (inst)
    for (const [name, x] of Object.entries(inst.runtimes as R)) {
      const per = (x.perNodeNixSeconds as R[]).map((p) => `${p.node} ${s(p.nixSeconds)}`).join(", ");
      rows.push([
        `Runtime install, ${name} (package ${x.package}, ${x.narMiB} MiB), ${inst.agents} agents, ${x.cold ? "cold: store path deleted first" : "warm: store path held by others on this machine"}`,
        `Ready after ${s(x.timeToReadySeconds)}`,
        "–",
        "–",
        `install (nix-build … to GC root) per agent: ${per}`,
      ]);
    }
  const sc = r.controllerScaling as R | undefined;
  if (sc) {
    rows.push([
      `controller scaling: create ${sc.executions} Executions (20 in flight)`,
      `${sc.createPerSecond}/s (${s(sc.createSeconds)})`,
      "–",
      "–",
      sc.stoppedCreatingEarly
        ? `stopped at ${sc.executions} of ${sc.target} to fit the 10-minute budget`
        : `all ${sc.target}`,
    ]);
    rows.push([
      `controller scaling: drain ${sc.executions} queued Executions, ${sc.simulatedNodes} simulated nodes × ${sc.slotsPerNode} slots`,
      `${s(sc.secondsToDrain)} (${sc.drainPerSecond}/s)`,
      "–",
      "–",
      `${sc.drained ? "drained" : `NOT drained: ${sc.finished} finished`}; first assignment ${ms(sc.firstAssignmentAfterStartMs)} after the controller process started; ${sc.schedulerPasses} scheduling passes of ${sc.schedulerPassMeanMs} ms on average; nothing finished for ${s(sc.longestStallSeconds)} from second ${sc.longestStallFromSecond}; ${sc.reassigned} reassigned`,
    ]);
    rows.push([
      "controller peak RSS (VmHWM) while draining",
      `${sc.controllerPeakRssMiB} MiB`,
      "–",
      "–",
      "one fresh controller process, from start to drained",
    ]);
  }
  const table = [
    "| scenario | system | baseline (bare isolate, same run) | ratio | notes |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map((row) => `| ${row.map((x) => String(x).replace(/\|/g, "\\|")).join(" | ")} |`),
  ].join("\n");

  return `# Benchmarks

Produced by \`npm run bench\` (\`bash scripts/setup.sh && node bench/run.ts\`) on
${m.date}; total ${r.totalSeconds} s. Raw numbers: [\`results.json\`](results.json).

${table}

## Machine

| | |
| --- | --- |
| cores | ${m.cores} (${m.cpu}) |
| memory | ${m.memoryGiB} GiB |
| kernel | ${m.kernel} |
| isolate | ${m.isolate}, cgroup ${m.cgroupMode}${m.isolateUsesCg ? " (--cg)" : " (no --cg)"} |
| kube-apiserver | ${m.apiserver} (built from k8s.io/kubernetes; etcd with --unsafe-no-fsync) |
| Nix | ${m.nix} |
| Node.js | ${m.node} |

Everything runs on this one machine: etcd, kube-apiserver, the controller, the
agents, the sandboxed programs and the bench itself share its ${m.cores} cores,
so the system's numbers include the cost of its own control plane.

## What each number means

- **Latency**: one Execution at a time, from just before the \`POST\` to the
  watch event that shows it finished (what a judge waiting with a watch sees):
  the controller's scheduling pass and status write, the agent's watch, its
  \`Running\` and result writes, and isolate (init, run, cleanup) with the
  Runtime's closure. Baseline: the same program with the same isolate
  arguments, mounts (each store path of the Runtime's closure, as the agent
  mounts them) and environment, both read from the agent's install record;
  init → copy the source in → run → cleanup, interleaved run by run
  with the system's so both see the same machine. Ratio = system ÷ bare;
  overhead = system − bare, at the same percentile.
- **Gateway**: the same program through the gateway (\`src/gateway\`, its own
  process): Judge0's \`POST /submissions?wait=true\` and Piston's
  \`POST /api/v2/execute\`, from just before the HTTP request to the parsed
  answer, interleaved run by run with a direct Execution (created and
  watched as in Latency). Overhead = gateway − direct, at the same percentile:
  authentication, the rate limit, checking and translating the request, the
  create, the gateway's shared watch and the answer.
- **Throughput**: all Executions created at once on one node with 2 slots
  (the other agents stopped); the time until the last one finished. Baseline:
  the same runs through bare isolate with 2 in parallel. Ratio < 1 means the
  system gets that fraction of bare isolate's rate on the same cores.
- **Compile-once**: one Execution with ${c?.tests ?? 20} test cases compiles once and runs
  each test in a fresh box; the alternative is one Execution per test case
  (each compiles), one after another, or all submitted at once. Baseline: bare
  isolate compile + 20 runs vs (compile + run) × 20. Ratio = recompiling ÷
  compile-once.
- **Runtime install**: two rounds, each creating two Runtimes at once on
  ${inst?.agents ?? 3} agents that substitute them from the local \`file://\` binary
  cache, smoke-test them in isolate and report; "Ready after" is from the
  create to Ready with every node Installed; the per-agent time is the
  installer's (from its "installing" to its "installed" log line: nix-build
  with substitution, GC roots, closure, environment). Before the rounds the
  closures' store paths are deleted (\`nix-store --delete\`) where nothing else
  holds them; on a machine where other processes hold \`python3\` and \`gcc\`
  (a demo or a test run), those installs are warm (Nix only evaluates and
  finds the paths), and the row says so. The second round installs
  \`python3Copy\` and \`gccCopy\`: byte-for-byte copies of the two packages,
  built for each run under a unique name and deleted from the store before
  the install, so they are always substituted from the cache (they reference
  the originals, so only the copy itself is fetched). The agents share this
  machine's \`/nix/store\`, so the first agent's substitution serves the
  others (Nix locks the path); on real nodes each substitutes by itself.
- **Controller scaling**: Workers, Nodes and heartbeat Leases of simulated
  nodes are written by the bench, which also plays their agent: it marks every
  Execution assigned to a simulated node Succeeded as soon as it sees it. The
  Executions are created with no controller running (creation rate measured
  alone); then a fresh controller process starts and the time until all are
  finished is measured, with its peak RSS (\`VmHWM\` from /proc). Each
  Execution costs the apiserver a create, the controller's assignment write
  (and a "waiting" write while no slot is free) and the agent's result write.

## Observations

${observations(r).join("\n")}

## Limits of these numbers

- One 2-core machine: the apiserver, etcd and the bench compete with the
  sandboxes; a cluster spreads them over machines.
- The package set is the stand-in \`nix/pkgs\` (see nix/README.md), not nixpkgs;
  install times of real nixpkgs closures are larger.
- Percentiles are nearest-rank over ${l?.runs ?? 50} runs: p99 is the largest sample.
`;
}

/** What the numbers of this run say, in sentences (only what the data supports). */
function observations(r: R): string[] {
  const out: string[] = [];
  const sc = r.controllerScaling as R | undefined;
  if (sc && sc.longestStallSeconds > 5)
    out.push(
      `- Controller: after it starts with ${sc.executions} queued Executions, its first scheduling pass assigns the first ${sc.simulatedNodes * sc.slotsPerNode} slots and also writes a "waiting" status (Scheduled=False, NoFreeSlot) to every other queued Execution, and only then starts the next pass: no freed slot is refilled for ${sc.longestStallSeconds} s. After that pass the rate is set by the passes (${sc.schedulerPasses} of ${sc.schedulerPassMeanMs} ms on average), not by free slots: the simulated nodes rarely had more than a fraction of their slots busy (see \`timeline\` in results.json). Writing the waiting statuses outside the pass, or only for the head of the queue, would remove the stall.`,
    );
  const l = r.latency as R | undefined;
  if (l)
    out.push(
      `- Latency: the system adds ${l.overheadMsP50} ms at the median to a ${l.bareIsolateMs.p50} ms bare isolate run: the apiserver round trips (create, the controller's assignment, the agent's Running and result writes, each seen through a watch) and the agent's own box handling.`,
    );
  const t = r.throughput as R | undefined;
  if (t)
    out.push(
      `- Throughput: ${Math.round(t.ratio * 100)} % of bare isolate's rate with the same 2-way parallelism: the work around each run (apiserver writes and watches, the controller's pass, the agent's box handling) competes with the sandboxes for the same 2 cores.`,
    );
  return out.length ? out : ["- (none)"];
}

/** The full bench's report, with the sections of bench:scheduler, bench:node and bench:pods kept. */
export function writeReport(path: string, results: R): void {
  const kept = [lastSchedulerSection(), lastNodeSection(), lastPodsSection()].filter((x) => x !== undefined);
  writeFileSync(path, `${[renderReport(results).trimEnd(), ...kept].join("\n\n")}\n`);
}
