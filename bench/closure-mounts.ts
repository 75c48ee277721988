// `npm run bench:closure` (`node bench/closure-mounts.ts`, issue 17): what mounting a Runtime's closure
// costs against its number of store paths, path by path (one isolate --dir per
// store path) against one prepared view (ClosureViews: hard links of the
// store's files, one read-only --dir). Runs the agent's own IsolateBox (isolate 1.x, --cg) in
// box 829 on CPU 1, with N stand-in store directories (this machine has no
// big /nix/store) mounted path by path at their host paths, or as one view at
// /nix/store, as the agent mounts a closure,
// and the host's /usr, /bin, /lib, /lib64 for /bin/true. Prints a JSON
// summary: per N, isolate --init and --run wall time (p50) and isolate's CPU
// per run (the bench's reaped children), and the view's one-time cost. Two
// last rows repeat N = 64 beside other closures' views, as on a node with 16
// Runtimes in use: 15 other views of 64 store paths (links, no mounts), then
// instead 960 bind mounts elsewhere in the bench's mount namespace, which is
// what views made of one bind per store path (their first design) left in the
// agent's, and which every isolate process copies.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { prepareBoxDevices } from "../src/agent/sandbox/box-devices.ts";
import { unmountStaleBoxStorage } from "../src/agent/sandbox/box-storage.ts";
import { ClosureViews } from "../src/agent/sandbox/closure-view.ts";
import { IsolateBox, type SandboxSettings } from "../src/agent/sandbox/isolate-box.ts";
import { detectIsolate } from "../src/agent/sandbox/isolate-detect.ts";
import { readCpu } from "./node-cpu.ts";
import { round, summarize } from "./stats.ts";

const BOX_ID = 829;
const CPU = 1;
const RUNS = Number(process.env.BENCH_CLOSURE_RUNS ?? 40);
const SIZES = [1, 16, 64, 256];
/** The last row: views of other closures in the mount namespace, and their size. */
const OTHER_VIEWS = 15;
const OTHER_VIEW_PATHS = 64;
const OTHER_BINDS = OTHER_VIEWS * OTHER_VIEW_PATHS;
const HOST = ["/usr", "/bin", "/lib", "/lib64"];
const LIMITS = {
  cpuTimeMillis: 2000,
  wallTimeMillis: 5000,
  memoryKiB: 64 * 1024,
  processes: 4,
  openFiles: 64,
  fileSizeKiB: 1024,
  outputBytes: 1024,
};
const STORAGE = { storageKiB: 1024, storageFiles: 100 };

/** init, run /bin/true, cleanup RUNS times: wall p50 of --init and --run, and isolate's CPU per run. */
async function measure(settings: SandboxSettings) {
  const box = new IsolateBox(settings, BOX_ID);
  const init: number[] = [];
  const run: number[] = [];
  const cpu0 = readCpu(process.pid).childrenMs;
  for (let i = 0; i < RUNS; i++) {
    await box.cleanup();
    let t = performance.now();
    await box.init(STORAGE);
    init.push(performance.now() - t);
    t = performance.now();
    const r = await box.run({ argv: ["/bin/true"], env: {}, stdin: "", limits: LIMITS, allowNetwork: false });
    run.push(performance.now() - t);
    if (r.meta.status || r.isolateError)
      throw new Error(`run failed: ${JSON.stringify(r.meta)} ${r.isolateError}`);
  }
  await box.cleanup();
  // Every command's CPU (cleanup, init, mount, run, umount) divided by the runs.
  const cpuMs = (readCpu(process.pid).childrenMs - cpu0) / RUNS;
  return { initP50Ms: summarize(init).p50, runP50Ms: summarize(run).p50, cyclesCpuMs: round(cpuMs, 2) };
}

async function main(): Promise<void> {
  execFileSync("taskset", ["-p", "-c", String(CPU), String(process.pid)]);
  const isolate = await detectIsolate("isolate");
  if (!isolate?.useCg) throw new Error("isolate 1.x with --cg needed");
  // Not below /tmp: the box's /tmp is its own, and the stand-in store paths keep their host paths inside.
  const tmp = mkdtempSync(join("/var/tmp", "envicutor-closure-bench-"));
  const workDir = join(tmp, "work");
  mkdirSync(workDir, { mode: 0o700 });
  const devDir = join(workDir, "dev");
  await prepareBoxDevices(devDir);
  const base: SandboxSettings = {
    isolate,
    workDir,
    devDir,
    firstUid: 60000,
    firstGid: 60000,
    clearKeyrings: false,
    extraDirs: [],
    hideHostDirs: true,
  };
  const rows: Record<string, unknown>[] = [];
  const storeOf = (n: number, set: string) =>
    Array.from({ length: n }, (_, i) => {
      const d = join(tmp, set, `${String(i).padStart(32, "0")}-pkg-${i}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, "file"), "x");
      return d;
    });
  const row = async (n: number, beside: { otherViews: number; otherBinds: number }) => {
    const store = storeOf(n, "store");
    const pathByPath = await measure({ ...base, mounts: [...store, ...HOST] });
    const views = new ClosureViews(join(tmp, "views"));
    const t = performance.now();
    const view = await views.use(store);
    const viewMs = round(performance.now() - t, 1);
    const oneView = await measure({ ...base, mounts: HOST, storeView: view.dir });
    view.release();
    await views.removeAll();
    rmSync(join(tmp, "store"), { recursive: true, force: true });
    rows.push({ storePaths: n, ...beside, pathByPath, oneView, viewMadeOnceMs: viewMs });
    process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
  };
  try {
    for (const n of SIZES) await row(n, { otherViews: 0, otherBinds: 0 });
    const others = new ClosureViews(join(tmp, "other-views"));
    for (let k = 0; k < OTHER_VIEWS; k++) await others.use(storeOf(OTHER_VIEW_PATHS, `other-${k}`));
    await row(64, { otherViews: OTHER_VIEWS, otherBinds: 0 });
    await others.removeAll();
    // Below workDir, so the finally's unmount takes them away whatever happens.
    for (const [i, d] of storeOf(OTHER_BINDS, "bound").entries()) {
      const at = join(workDir, "binds", String(i));
      mkdirSync(at, { recursive: true });
      execFileSync("mount", ["--bind", "-o", "ro", d, at]);
    }
    await row(64, { otherViews: 0, otherBinds: OTHER_BINDS });
  } finally {
    await unmountStaleBoxStorage(workDir).catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ date: new Date().toISOString(), runs: RUNS, cpu: CPU, rows }, null, 2));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
