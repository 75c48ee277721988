// What starting one command costs the agent's own CPU, by way of starting it
// (issue 17: the agent's CPU per test case is mostly its forks). Same run,
// same command, interleaved rounds; the command's own CPU is not counted
// (it is the child's, as isolate's is in bench:node):
//
//   execFile        child_process.execFile, output captured (runCommand today: the baseline)
//   spawn-ignore    child_process.spawn with no stdio at all (Node's floor: no output)
//   shell-per-slot  the agent's CommandShell: one long-lived /bin/sh (dash) per slot, a
//                   command line in, pid and exit status out, the command's stdout and
//                   stderr through files read back; the shell's own CPU (its forks) is
//                   counted with the agent's (/proc/<pid>/schedstat)
//
// Each is measured with the agent's heap as the bench found it and again
// with about 256 MiB of live objects (the agent's heap in bench:node): fork()
// copies the parent's page tables, so its cost grows with the parent.
//
//   npm run bench:spawn   (BENCH_SPAWN_N commands per method and round, default 200)
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { CommandShell } from "../src/agent/sandbox/command-shell.ts";

const N = Number(process.env.BENCH_SPAWN_N ?? 200);
const ROUNDS = 5;
/** The command: prints one line, as isolate --init prints its box directory. */
const CMD = ["/bin/echo", "/var/local/lib/isolate/800"];

interface Method {
  name: string;
  run(): Promise<string>;
  /** CPU (ns) of helper processes so far, counted with the agent's. */
  helperCpuNs(): number;
  close(): void;
}

/** A process's CPU time on the CPU so far, in ns (/proc/<pid>/schedstat's first field). */
const schedNs = (pid: number) => Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]);

const viaExecFile = (): Method => ({
  name: "execFile",
  run: () =>
    new Promise((resolve, reject) =>
      execFile(CMD[0]!, CMD.slice(1), { encoding: "utf8" }, (err, out) => (err ? reject(err) : resolve(out))),
    ),
  helperCpuNs: () => 0,
  close: () => undefined,
});

const viaSpawnIgnore = (): Method => ({
  name: "spawn-ignore",
  run: () =>
    new Promise((resolve, reject) => {
      const p = spawn(CMD[0]!, CMD.slice(1), { stdio: "ignore" });
      p.once("error", reject);
      p.once("close", (code) => (code === 0 ? resolve("") : reject(new Error(`exit ${code}`))));
    }),
  helperCpuNs: () => 0,
  close: () => undefined,
});

/** The agent's own CommandShell (src/agent/sandbox/command-shell.ts): one per slot. */
function viaShell(): Method {
  const sh = new CommandShell();
  return {
    name: "shell-per-slot",
    run: async () => {
      const res = await sh.run(CMD[0]!, CMD.slice(1), 10_000);
      if (res?.exitCode !== 0) throw new Error(`exit ${res?.exitCode}: ${res?.stderr}`);
      return res.stdout;
    },
    helperCpuNs: () => schedNs(sh.pid!),
    close: () => sh.close(),
  };
}

const cpuNs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};

/** CPU per command (µs) in one round: the agent process's, its helper's, both. */
interface Round {
  agent: number;
  helper: number;
  total: number;
}

/** CPU per command of each method over ROUNDS interleaved rounds of N commands. */
async function measure(methods: Method[]): Promise<Record<string, Round[]>> {
  const perRound: Record<string, Round[]> = Object.fromEntries(methods.map((m) => [m.name, []]));
  for (const m of methods) for (let i = 0; i < 20; i++) await m.run(); // warm-up
  for (let r = 0; r < ROUNDS; r++)
    for (const m of methods) {
      const [a0, h0] = [cpuNs(), m.helperCpuNs()];
      for (let i = 0; i < N; i++) await m.run();
      const [agent, helper] = [(cpuNs() - a0) / N / 1000, (m.helperCpuNs() - h0) / N / 1000];
      perRound[m.name]!.push({ agent, helper, total: agent + helper });
    }
  return perRound;
}

/** About `mib` MiB of live, scattered objects, as a long-running agent holds. */
function growHeap(mib: number): unknown[] {
  const keep: unknown[] = [];
  for (let i = 0; i < mib * 16; i++)
    keep.push(Array.from({ length: 8192 }, (_, j) => ({ j })).slice(0, 2048));
  return keep;
}

/** The round of median total CPU. */
const median = (rounds: Round[]) =>
  [...rounds].sort((a, b) => a.total - b.total)[Math.floor(rounds.length / 2)]!;
const rssMiB = () => Math.round(process.memoryUsage().rss / 2 ** 20);
const ms = (us: number) => `${(us / 1000).toFixed(3)} ms`;

async function main() {
  const methods = [viaExecFile(), viaSpawnIgnore(), viaShell()];
  const rows: { heap: string; name: string; median: Round; rounds: Round[] }[] = [];
  for (const [heap, grow] of [
    ["as started", 0],
    ["about 256 MiB live", 256],
  ] as const) {
    const held = growHeap(grow);
    const label = `${heap} (RSS ${rssMiB()} MiB)`;
    const res = await measure(methods);
    for (const m of methods)
      rows.push({ heap: label, name: m.name, median: median(res[m.name]!), rounds: res[m.name]! });
    held.length = 0;
  }
  for (const m of methods) m.close();
  console.log(
    `| heap | method | CPU per command: agent + helper, median round of ${ROUNDS} × ${N} | agent; helper | ÷ execFile | each round's total (µs) |`,
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    const base = rows.find((b) => b.heap === r.heap && b.name === "execFile")!.median.total;
    const rounds = r.rounds.map((x) => x.total.toFixed(0)).join(", ");
    const split = `${ms(r.median.agent)}; ${ms(r.median.helper)}`;
    console.log(
      `| ${r.heap} | ${r.name} | ${ms(r.median.total)} | ${split} | ${(r.median.total / base).toFixed(3)}× | ${rounds} |`,
    );
  }
}

await main();
