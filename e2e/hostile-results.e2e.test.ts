// Hostile results against the real apiserver, a real agent process and real
// isolate: output that grows sixfold when JSON-encoded, an Execution whose spec
// leaves no room for its result, a node that keeps handing an Execution back,
// and a 30-day TTL. Each case prints what it tried and what it saw.
//
// One agent with ONE slot (box ids 400..), so "the slot is freed" is seen by the
// next Execution running at all. Packages come from nix/pkgs, the offline
// STAND-IN FOR NIXPKGS, through a local file:// binary cache.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Execution, ExecutionStatus } from "../src/api/execution.ts";
import { schedule as scheduledStatus } from "../src/api/execution-lifecycle.ts";
import { API_VERSION } from "../src/api/group.ts";
import type { Runtime } from "../src/api/runtime.ts";
import { validRuntime } from "../src/api/test-fixtures.ts";
import { KubeClient } from "../src/k8s/client.ts";
import { errText, isTooLarge } from "../src/k8s/errors.ts";
import { ExecutionResource, RuntimeResource, resourcePath } from "../src/k8s/resources.ts";
import { boxesLeft as boxesHolding } from "./support/boxes-left.ts";
import {
  createNode,
  deleteNode,
  ensureNamespace,
  kubeConfig,
  kubeconfigPath,
  waitFor,
} from "./support/cluster.ts";
import { type ManagedProcess, startAgent, startController } from "./support/processes.ts";
import { isolateAvailable } from "./support/stand-in-runtimes.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const NS = "envicutor-hostile-results-e2e";
const NODE = "hostile-results-a";
const LABEL = { "envicutor.io/e2e": "hostile-results" };
const RUNTIME = "py-hostile-results";
const BOX_BASE = 400;
const BOX_ROOT = "/var/local/lib/isolate";
const KiB = 1024;

const isolateMissing = !(await isolateAvailable("hostile-results e2e tests"));

let tmp: string;
let client: KubeClient;
let cache: { url: string; publicKey: string };
let agent: ManagedProcess;
let controller: ManagedProcess | undefined;
let seq = 0;

function startOurAgent(): ManagedProcess {
  return startAgent({
    kubeconfig: kubeconfigPath(),
    namespace: NS,
    nodeName: NODE,
    stateDir: join(tmp, "state"),
    logDir: join(tmp, "logs"),
    slots: 1,
    boxIdBase: BOX_BASE,
    env: {
      ENVICUTOR_PACKAGE_SET: join(ROOT, "nix/pkgs"),
      ENVICUTOR_NIX_SUBSTITUTERS: cache.url,
      ENVICUTOR_NIX_TRUSTED_PUBLIC_KEYS: cache.publicKey,
      ENVICUTOR_LEASE_DURATION_SECONDS: "6",
    },
  });
}

function startOurController(): ManagedProcess {
  return startController({
    kubeconfig: kubeconfigPath(),
    namespace: NS,
    identity: `hostile-results-${seq++}`,
    logDir: join(tmp, "logs"),
    env: {
      LOG_LEVEL: "debug", // every reconcile is logged: the TTL case counts them
      ENVICUTOR_LEASE_DURATION_SECONDS: "6",
      ENVICUTOR_RENEW_DEADLINE_SECONDS: "4",
      ENVICUTOR_RETRY_PERIOD_SECONDS: "1",
    },
  });
}

function pyRuntime(): Runtime {
  const base = validRuntime(RUNTIME) as unknown as Runtime;
  return { ...base, spec: { ...base.spec, nodeSelector: LABEL } };
}

const newName = (what: string) => `hr-${what}-${(seq++).toString().padStart(2, "0")}`;

async function create(name: string, spec: Record<string, unknown>): Promise<void> {
  await client.create(ExecutionResource, {
    apiVersion: API_VERSION,
    kind: "Execution",
    metadata: { name, namespace: NS },
    spec: { runtime: RUNTIME, ...spec },
  } as never);
}

const isComplete = (e: Execution | undefined) =>
  e?.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True") ?? false;

async function waitComplete(name: string, timeoutMs = 120_000): Promise<Execution> {
  return waitFor(
    async () => {
      const e = await client.get(ExecutionResource, name, NS);
      return isComplete(e) ? e : undefined;
    },
    { timeoutMs, intervalMs: 300, what: `Execution ${name} Complete` },
  );
}

/** The object as the apiserver returns it (managedFields included), and its size as compact JSON. */
async function rawExecution(name: string): Promise<{ obj: Record<string, unknown>; bytes: number }> {
  const obj = (await client.rest.request("GET", resourcePath(ExecutionResource, NS, name))) as Record<
    string,
    unknown
  >;
  return { obj, bytes: Buffer.byteLength(JSON.stringify(obj)) };
}

/** How many times the agent ran the program of an Execution, from its log (all incarnations). */
function runsOf(name: string): number {
  return agent.logEntries((e) => e.msg === "execution finished" && e.execution === `${NS}/${name}`).length;
}

/** Box directories of this agent's id range that hold anything of a run (a kept box holds nothing: boxesLeft). */
function boxesLeft(): string[] {
  const ids = Array.from({ length: 4 }, (_, i) => BOX_BASE + i);
  return boxesHolding(BOX_ROOT, ids, join(tmp, "state", "sandbox"));
}

/** The next Execution on the node runs and is judged: the slot is free and the agent healthy. */
async function nextOneSucceeds(after: string): Promise<void> {
  const name = newName("next");
  await create(name, { files: [{ name: "main.py", content: "print(6*7)" }], expectedOutput: "42\n" });
  const e = await waitComplete(name, 60_000);
  console.log(`  after ${after}: next Execution ${name} → ${e.status?.phase}/${e.status?.verdict}`);
  expect(e.status?.verdict).toBe("Accepted");
  expect(e.status?.nodeName).toBe(NODE);
  expect(boxesLeft()).toEqual([]);
}

beforeAll(async () => {
  if (isolateMissing) return;
  tmp = await mkdtemp(join(tmpdir(), "envicutor-hostile-results-e2e-"));
  client = new KubeClient(kubeConfig(), { fieldManager: "hostile-results-e2e" });
  const out = await run(
    "bash",
    [join(ROOT, "nix/pkgs/make-binary-cache.sh"), join(tmp, "cache"), "python3"],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  cache = JSON.parse(out.stdout.trim().split("\n").pop()!);
  await ensureNamespace(NS);
  await createNode(NODE, LABEL);
  controller = startOurController();
  agent = startOurAgent();
  await client.create(RuntimeResource, pyRuntime());
  await waitFor(
    async () => {
      const rt = await client.get(RuntimeResource, RUNTIME);
      return rt.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    },
    { timeoutMs: 180_000, intervalMs: 500, what: `Runtime ${RUNTIME} Ready` },
  );
}, 240_000);

afterAll(async () => {
  if (isolateMissing) return;
  await client?.delete(RuntimeResource, RUNTIME).catch(() => undefined);
  await waitFor(async () => !(await client.tryGet(RuntimeResource, RUNTIME)), {
    timeoutMs: 30_000,
    what: `${RUNTIME} deleted`,
  }).catch(() => undefined);
  await agent?.stop();
  await controller?.stop();
  await deleteNode(NODE);
  if (process.env.KEEP_E2E_LOGS) console.log(`[hostile-results] logs kept in ${tmp}/logs`);
  else if (tmp) await rm(tmp, { recursive: true, force: true });
}, 60_000);

/** Largest object etcd takes here, found by growing a finished Execution's status; set by the first test. */
let etcdLimitBytes = 0;

describe.skipIf(isolateMissing)("hostile results", () => {
  it("the real apiserver refuses an oversized status the way the agent recognises", async () => {
    // A finished Execution (its Runtime does not exist: the controller fails it) nobody writes again.
    const name = newName("probe");
    await create(name, { runtime: "no-such-runtime", files: [{ name: "main.py", content: "" }] });
    await waitComplete(name, 30_000);
    const write = async (n: number): Promise<unknown> => {
      const cur = await client.get(ExecutionResource, name, NS);
      const status: ExecutionStatus = { ...cur.status, tests: [{ name: "1", stdout: "x".repeat(n) }] };
      return client.replaceStatus(ExecutionResource, { ...cur, status }).then(
        () => undefined,
        (err: unknown) => err,
      );
    };
    // Two refusals: etcd's own limit (1.5 MiB) and, above 2 MiB, the etcd client's in the apiserver.
    for (const size of [1.7 * 1024 * KiB, 2 * 1024 * KiB]) {
      const refused = await write(size);
      const e = refused as { status?: number; reason?: string; message?: string };
      console.log(
        `[hostile-results] a ${(size / 1024 / KiB).toFixed(1)} MiB status: HTTP ${e?.status} reason ${e?.reason}: ${e?.message}; isTooLarge → ${isTooLarge(refused)}`,
      );
      expect(refused).toBeDefined();
      expect(isTooLarge(refused)).toBe(true);
    }
    // Bisect the largest stdout that fits, to know etcd's limit on this object.
    let lo = 0;
    let hi = 2 * 1024 * KiB;
    while (hi - lo > 256) {
      const mid = Math.floor((lo + hi) / 2);
      const err = await write(mid);
      if (err === undefined) lo = mid;
      else if (isTooLarge(err)) hi = mid;
      else throw new Error(`unexpected error at ${mid}: ${errText(err)}`);
    }
    await write(lo);
    etcdLimitBytes = (await rawExecution(name)).bytes;
    console.log(`[hostile-results] largest Execution etcd stored: ~${etcdLimitBytes} B as compact JSON`);
    expect(etcdLimitBytes).toBeGreaterThan(1024 * KiB);
    await client.delete(ExecutionResource, name, { namespace: NS });
  }, 120_000);

  const programs: [string, string][] = [
    ["control bytes", "bytes(range(32)) * 12500"],
    ["NULs", "bytes(400000)"],
    ["invalid UTF-8", "b'\\xff\\xfe\\x80' * 133334"],
    ["HTML characters (Go escapes them sixfold)", "b'<>&' * 133334"],
  ];
  for (const [what, expr] of programs) {
    it(`400 KB of ${what} on stdout and stderr: a verdict, one run, the slot freed`, async () => {
      const name = newName("flood");
      const source = `import sys\ndata = ${expr}\nsys.stdout.buffer.write(data)\nsys.stdout.flush()\nsys.stderr.buffer.write(data)\n`;
      const t0 = Date.now();
      await create(name, { files: [{ name: "main.py", content: source }] });
      const e = await waitComplete(name, 90_000);
      const { bytes } = await rawExecution(name);
      const t = e.status?.tests?.[0];
      await new Promise((r) => setTimeout(r, 1500)); // a second run, if any, would have started by now
      console.log(
        `[hostile-results] 400 KB of ${what} ×2: ${e.status?.phase}/${e.status?.verdict} after ${((Date.now() - t0) / 1000).toFixed(1)} s; stored ${t?.stdout?.length} + ${t?.stderr?.length} chars (truncated ${t?.stdoutTruncated}/${t?.stderrTruncated}), object ${bytes} B; runs ${runsOf(name)}; attempts ${e.status?.attempts}`,
      );
      expect(e.status?.phase).toBe("Succeeded");
      expect(e.status?.verdict).toBe("Accepted");
      expect(t?.stdoutTruncated).toBe(true);
      expect(bytes).toBeLessThan(1024 * KiB);
      expect(runsOf(name)).toBe(1);
      expect(e.status?.attempts).toBe(1);
      await nextOneSucceeds(what);
    }, 150_000);
  }

  it("a 900 KB spec and 400 KB of NULs ×2: the output gets what the spec leaves under the 1 MiB budget", async () => {
    const name = newName("big");
    const main = {
      name: "main.py",
      content:
        "import sys\nd = bytes(400000)\nsys.stdout.buffer.write(d)\nsys.stdout.flush()\nsys.stderr.buffer.write(d)\n",
    };
    const files = [main, ...[0, 1, 2].map((i) => ({ name: `pad${i}.txt`, content: "€".repeat(100_000) }))];
    await create(name, { files });
    const created = await rawExecution(name);
    const e = await waitComplete(name, 90_000);
    const final = await rawExecution(name);
    const t = e.status?.tests?.[0];
    const outBytes = Buffer.byteLength(JSON.stringify([t?.stdout, t?.stderr]));
    console.log(
      `[hostile-results] spec object ${created.bytes} B + 400 KB of NULs ×2: ${e.status?.phase}/${e.status?.verdict}; output stored ${outBytes} B as JSON; object ${final.bytes} B; runs ${runsOf(name)}`,
    );
    expect(e.status?.verdict).toBe("Accepted");
    expect(t?.stdoutTruncated).toBe(true);
    expect(outBytes).toBeGreaterThan(0);
    expect(final.bytes).toBeLessThanOrEqual(1024 * KiB);
    expect(runsOf(name)).toBe(1);
    await client.delete(ExecutionResource, name, { namespace: NS });
  }, 120_000);

  it("a spec that leaves no room: no output kept, and when even that is refused, Failed ResultTooLarge with the verdict", async () => {
    expect(etcdLimitBytes, "the probe test runs first").toBeGreaterThan(0);
    // 64 test cases (their results, even without output, outweigh the margin) and padding files
    // of 3-byte characters, so the created object sits ~8 KiB under etcd's limit.
    const name = newName("huge");
    const testCases = Array.from({ length: 64 }, (_, i) => ({ name: `t${i}`, stdin: "" }));
    const main = { name: "main.py", content: "import sys\nsys.stdout.buffer.write(bytes(400000))\n" };
    const base = { files: [main], testCases };
    const baseBytes = Buffer.byteLength(JSON.stringify(base)) + 1500; // + metadata and managedFields
    const pad = Math.floor((etcdLimitBytes - 8 * KiB - baseBytes) / 3);
    const files = [main];
    for (let left = pad, i = 0; left > 0; i++, left -= 150_000)
      files.push({ name: `pad${i}.txt`, content: "€".repeat(Math.min(left, 150_000)) });
    await create(name, { files, testCases });
    const created = await rawExecution(name);
    console.log(
      `[hostile-results] spec near the limit: created ${created.bytes} B (etcd took ${etcdLimitBytes} B); 64 tests printing 400 KB of NULs`,
    );
    const e = await waitComplete(name, 180_000);
    const final = await rawExecution(name);
    const refusals = agent.logEntries(
      (x) => x.msg === "result refused; writing it smaller" && x.execution === `${NS}/${name}`,
    );
    const failed = e.status?.conditions?.find((c) => c.type === "Failed");
    console.log(
      `[hostile-results]   → ${e.status?.phase} (${failed?.reason}) after ${refusals.length} refused write(s) [${refusals.map((r) => `${r.bytes} B with ${r.outputBytes} B of output, "${r.message}"`).join(", ")}]; object ${final.bytes} B; runs ${runsOf(name)}; message: ${e.status?.message}`,
    );
    expect(runsOf(name)).toBe(1);
    expect(refusals.length).toBeGreaterThan(0);
    // The refused write already carried no output (the spec left no room) and said so.
    expect(refusals[0]?.outputBytes).toBe(0);
    expect(refusals[0]?.message).toMatch(/output dropped to fit the Execution's size limit/);
    expect(e.status?.phase).toBe("Failed");
    expect(failed?.reason).toBe("ResultTooLarge");
    expect(e.status?.message).toMatch(/the result could not be stored/);
    expect(e.status?.tests).toBeUndefined();
    await client.delete(ExecutionResource, name, { namespace: NS });
    await nextOneSucceeds("a result too large to store");
  }, 300_000);

  it("a spec so near the limit that hardly any status fits: no slot held, no loop, the next one runs", async () => {
    expect(etcdLimitBytes, "the probe test runs first").toBeGreaterThan(0);
    const name = newName("brim");
    const main = { name: "main.py", content: "print(1)\n" };
    const baseBytes = Buffer.byteLength(JSON.stringify({ files: [main] })) + 1000;
    let created = 0;
    // Aim ~400 B under the limit (a Scheduled status adds ~700 B); step back if the create itself is refused.
    for (let margin = 400; !created && margin < 3000; margin += 300) {
      const pad = Math.floor((etcdLimitBytes - margin - baseBytes) / 3);
      const files = [main];
      for (let left = pad, i = 0; left > 0; i++, left -= 150_000)
        files.push({ name: `pad${i}.txt`, content: "€".repeat(Math.min(left, 150_000)) });
      try {
        await create(name, { files });
        created = (await rawExecution(name)).bytes;
      } catch (err) {
        if (!isTooLarge(err)) throw err;
      }
    }
    const skipped = () =>
      controller!.logEntries(
        (x) =>
          x.msg === "execution too large for any status write; skipping it" &&
          x.execution === `${NS}/${name}`,
      );
    const refused = () =>
      agent.logEntries(
        (x) => x.msg === "result refused; writing it smaller" && x.execution === `${NS}/${name}`,
      );
    // Either the scheduler's own write is refused (it skips the Execution for good), or the
    // Scheduled status fits and the agent's Running does not: it writes the smallest Failed it can.
    const e = await waitFor(
      async () => {
        const x = await client.get(ExecutionResource, name, NS);
        return skipped().length > 0 || x.status?.phase === "Failed" ? x : undefined;
      },
      { timeoutMs: 30_000, what: "the scheduler to skip it or the agent to fail it" },
    );
    console.log(
      `[hostile-results] created ${created} B (etcd limit ~${etcdLimitBytes} B): phase ${e.status?.phase ?? "(none)"} (${e.status?.conditions?.find((c) => c.type === "Failed")?.reason ?? "-"}, "${e.status?.message ?? ""}"); scheduler skipped it ${skipped().length}×; agent writes refused ${refused().length}× [${refused()
        .map((r) => r.step)
        .join(", ")}]; runs ${runsOf(name)}`,
    );
    expect(runsOf(name)).toBeLessThanOrEqual(1);
    if (skipped().length === 0) {
      expect(e.status?.phase).toBe("Failed");
      expect(e.status?.conditions?.find((c) => c.type === "Failed")?.reason).toBe("ResultTooLarge");
      expect(e.status?.nodeName).toBeUndefined();
    }
    const before = { skips: skipped().length, refusals: refused().length };
    await nextOneSucceeds("an Execution too large for any status");
    await new Promise((r) => setTimeout(r, 2000));
    expect({ skips: skipped().length, refusals: refused().length }).toEqual(before); // no retry loop
    await client.delete(ExecutionResource, name, { namespace: NS });
  }, 120_000);

  it("a node that keeps handing an Execution back: bounded attempts, then Failed with the reason", async () => {
    // Without a controller the test assigns, with the controller's own status function, a
    // generation the node does not have; the agent hands it back each time.
    await controller?.stop();
    controller = undefined;
    const name = newName("handback");
    await create(name, { files: [{ name: "main.py", content: "print(1)" }] });
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      const cur = await client.get(ExecutionResource, name, NS);
      if (isComplete(cur)) break;
      await client.replaceStatus(ExecutionResource, {
        ...cur,
        status: scheduledStatus(cur, NODE, 999, new Date()),
      });
      const after = await waitFor(
        async () => {
          const x = await client.get(ExecutionResource, name, NS);
          return x.status?.phase === "Pending" || isComplete(x) ? x : undefined;
        },
        { timeoutMs: 30_000, what: `${name} handed back or finished` },
      );
      seen.push(`attempt ${after.status?.attempts}: ${after.status?.phase}`);
    }
    const e = await client.get(ExecutionResource, name, NS);
    const failed = e.status?.conditions?.find((c) => c.type === "Failed");
    console.log(
      `[hostile-results] hand-back loop: ${seen.join(" → ")}; ${failed?.reason}: ${e.status?.message}`,
    );
    expect(seen).toEqual(["attempt 1: Pending", "attempt 2: Pending", "attempt 3: Failed"]);
    expect(failed?.reason).toBe("RuntimeUnavailable");
    expect(runsOf(name)).toBe(0);

    // Handed back after its last attempt (say by an agent allowed more): the scheduler fails it.
    const spent = newName("spent");
    await create(spent, { files: [{ name: "main.py", content: "print(1)" }] });
    const cur = await client.get(ExecutionResource, spent, NS);
    await client.replaceStatus(ExecutionResource, {
      ...cur,
      status: { phase: "Pending" as const, attempts: 3, message: "handed back by node x" },
    });
    controller = startOurController();
    const s = await waitComplete(spent, 60_000);
    const sf = s.status?.conditions?.find((c) => c.type === "Failed");
    console.log(
      `[hostile-results] Pending with 3 attempts spent → scheduler: ${sf?.reason}: ${s.status?.message}`,
    );
    expect(sf?.reason).toBe("TooManyAttempts");
    expect(s.status?.nodeName).toBeUndefined();
    await nextOneSucceeds("the hand-back loop");
  }, 180_000);

  it("ttlSecondsAfterFinished 2592000: no TimeoutOverflowWarning, no repeated reconciles", async () => {
    const name = newName("ttl");
    await create(name, {
      files: [{ name: "main.py", content: "print(1)" }],
      ttlSecondsAfterFinished: 2592000,
    });
    await waitComplete(name, 60_000);
    await new Promise((r) => setTimeout(r, 5000));
    const c = controller!;
    const reconciles = c.logEntries((x) => x.msg === "reconciled" && x.key === `${NS}/${name}`).length;
    const overflow = c
      .logs()
      .split("\n")
      .filter((l) => l.includes("TimeoutOverflowWarning"));
    console.log(
      `[hostile-results] TTL 30 days on a finished Execution: ${reconciles} reconcile(s) of it in the controller's log, ${overflow.length} TimeoutOverflowWarning line(s); still there: ${Boolean(await client.tryGet(ExecutionResource, name, NS))}`,
    );
    expect(overflow).toEqual([]);
    expect(reconciles).toBeGreaterThan(0);
    expect(reconciles).toBeLessThan(10);
    expect(await client.tryGet(ExecutionResource, name, NS)).toBeDefined();
  }, 90_000);
});
