// Agents and the controller as real processes against the real apiserver,
// installing Runtimes with real Nix and running Executions in real isolate.
//
// The packages come from nix/pkgs, a small STAND-IN FOR NIXPKGS assembled from
// this machine's Debian binaries (no Nix cache or nixpkgs is reachable here),
// served from a signed local file:// binary cache: the Nix commands are the
// production ones. Both "nodes" are agents on this one machine, sharing its
// /nix/store, each with its own state directory and box-id range.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Execution } from "../src/api/execution.ts";
import { API_VERSION } from "../src/api/group.ts";
import type { Runtime } from "../src/api/runtime.ts";
import { validRuntime } from "../src/api/test-fixtures.ts";
import type { Worker } from "../src/api/worker.ts";
import { KubeClient } from "../src/k8s/client.ts";
import { ApiError } from "../src/k8s/errors.ts";
import { ExecutionResource, RuntimeResource, WorkerResource } from "../src/k8s/resources.ts";
import {
  createNode,
  deleteNode,
  ensureNamespace,
  kubeConfig,
  kubeconfigPath,
  waitFor,
} from "./support/cluster.ts";
import { submitAndWait } from "./support/executions.ts";
import { type ManagedProcess, startAgent, startController } from "./support/processes.ts";
import { C_SPEC, isolateAvailable } from "./support/stand-in-runtimes.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const NS = "envicutor-agent-e2e";
const NODES = ["agent-e2e-a", "agent-e2e-b"];
const isolateMissing = !(await isolateAvailable("agent e2e tests"));

let tmp: string;
let client: KubeClient;
let cache: { url: string; publicKey: string };
let packageSet: string;
let controller: ManagedProcess;
const agents = new Map<string, ManagedProcess>();

/** The second node makes each slot's next box ahead of its run (ENVICUTOR_WARM_BOXES). */
const WARM_NODE = NODES[1]!;
/** Every box id a node's agent may use: its 2 slots, then its 2 install smoke tests. */
const boxIdsOf = (i: number) => [0, 1, 2, 3].map((k) => 400 + i * 10 + k);

function agentFor(node: string, i: number): ManagedProcess {
  return startAgent({
    kubeconfig: kubeconfigPath(),
    namespace: NS,
    nodeName: node,
    stateDir: join(tmp, `state-${node}`),
    logDir: join(tmp, "logs"),
    slots: 2,
    boxIdBase: 400 + i * 10,
    env: {
      ENVICUTOR_PACKAGE_SET: packageSet,
      ENVICUTOR_NIX_SUBSTITUTERS: cache.url,
      ENVICUTOR_NIX_TRUSTED_PUBLIC_KEYS: cache.publicKey,
      ENVICUTOR_INSTALL_TIMEOUT_SECONDS: "25",
      ENVICUTOR_INSTALL_CONCURRENCY: "2",
      // No Execution of this file is marked Running (none runs 5 s): their starts are only in the
      // node's journal, which the restart test below reads. The default (1 s) runs everywhere else.
      ENVICUTOR_RUNNING_DELAY_MS: "5000",
      ...(node === WARM_NODE ? { ENVICUTOR_WARM_BOXES: "true" } : {}),
    },
  });
}

/** The API fixtures' Python Runtime, limited to this file's nodes, with overrides. */
const runtime = (name: string, spec: Partial<Runtime["spec"]>): Runtime => {
  const base = validRuntime(name) as unknown as Runtime;
  return { ...base, spec: { ...base.spec, nodeSelector: { "envicutor.io/e2e": "agent" }, ...spec } };
};

const C_RUNTIME: Partial<Runtime["spec"]> = C_SPEC;

async function workers(): Promise<Worker[]> {
  return (await client.list(WorkerResource)).items.filter((w) => NODES.includes(w.metadata.name!));
}

function installsOf(ws: Worker[], name: string) {
  return ws.flatMap((w) =>
    (w.status?.runtimes ?? []).filter((r) => r.name === name).map((r) => ({ node: w.metadata.name, ...r })),
  );
}

async function waitReady(name: string, timeoutMs = 240_000): Promise<Runtime> {
  return waitFor(
    async () => {
      const rt = await client.get(RuntimeResource, name);
      const ready = rt.status?.conditions?.find((c) => c.type === "Ready");
      return ready?.status === "True" && rt.status?.installedNodes === NODES.length ? rt : undefined;
    },
    { timeoutMs, intervalMs: 500, what: `Runtime ${name} Ready on ${NODES.length} nodes` },
  );
}

const submit = (name: string, spec: Record<string, unknown>): Promise<Execution> =>
  submitAndWait(client, NS, name, spec);

/** Sum of envicutor_agent_compiles_total over the agents, read from their /metrics. */
async function compileCount(): Promise<number> {
  let total = 0;
  for (const a of agents.values()) {
    const port = a.logEntries((e) => e.msg === "serving /healthz, /readyz, /metrics").pop()?.port;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    total += Number(/^envicutor_agent_compiles_total (\d+)/m.exec(text)?.[1] ?? 0);
  }
  return total;
}

function gcRootsOf(node: string, name: string): string[] {
  const dir = join(tmp, `state-${node}`, "gcroots", name);
  return existsSync(dir) ? readdirSync(dir).filter((e) => !e.startsWith(".")) : [];
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "envicutor-agent-e2e-"));
  client = new KubeClient(kubeConfig());
  const out = await run(
    "bash",
    [join(ROOT, "nix/pkgs/make-binary-cache.sh"), join(tmp, "cache"), "python3", "gcc", "bash", "coreutils"],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  cache = JSON.parse(out.stdout.trim().split("\n").pop()!);
  // The stand-in package set plus one package whose build never ends (to test install timeouts).
  packageSet = join(tmp, "pkgs.nix");
  await writeFile(
    packageSet,
    `{ ... }: let pkgs = import ${join(ROOT, "nix/pkgs")} {}; in pkgs // {
  hang = derivation { name = "hang-${Date.now()}"; system = builtins.currentSystem; builder = "\${pkgs.busyboxStatic}/bin/sh"; args = [ "-c" "while :; do sleep 1; done" ]; PATH = "\${pkgs.busyboxStatic}/bin"; };
}\n`,
  );
  await ensureNamespace(NS);
  for (const n of NODES)
    await createNode(n, {
      "envicutor.io/e2e": "agent",
      ...(n === WARM_NODE ? { "envicutor.io/warm": "yes" } : {}),
    });
  controller = startController({
    kubeconfig: kubeconfigPath(),
    namespace: NS,
    identity: "agent-e2e",
    logDir: join(tmp, "logs"),
    env: {
      ENVICUTOR_LEASE_DURATION_SECONDS: "6",
      ENVICUTOR_RENEW_DEADLINE_SECONDS: "4",
      ENVICUTOR_RETRY_PERIOD_SECONDS: "1",
    },
  });
  for (const [i, n] of NODES.entries()) agents.set(n, agentFor(n, i));
}, 600_000);

afterAll(async () => {
  for (const name of ["py-e2e", "c-e2e", "broken-pkg", "broken-smoke", "hang-e2e", "warm-e2e"]) {
    await client?.delete(RuntimeResource, name).catch(() => undefined);
  }
  await waitFor(
    async () => (await client.list(RuntimeResource)).items.every((r) => !r.metadata.name?.endsWith("-e2e")),
    {
      timeoutMs: 60_000,
      what: "e2e Runtimes to be deleted",
    },
  ).catch(() => undefined);
  for (const a of agents.values()) await a.stop();
  await controller?.stop();
  for (const n of NODES) await deleteNode(n);
  if (process.env.KEEP_E2E_LOGS) console.log(`[e2e] logs kept in ${tmp}/logs`);
  else await rm(tmp, { recursive: true, force: true });
}, 120_000);

describe.skipIf(isolateMissing)("agents with Nix and isolate", () => {
  it("install a Runtime on every node with the same closure, and only then is it Ready", async () => {
    await client.create(RuntimeResource, runtime("py-e2e", {}));
    const rt = await waitReady("py-e2e");
    const installs = installsOf(await workers(), "py-e2e");
    expect(installs).toHaveLength(2);
    expect(new Set(installs.map((i) => i.closureHash)).size).toBe(1);
    expect(installs.every((i) => i.phase === "Installed" && i.generation === rt.metadata.generation)).toBe(
      true,
    );
    expect(rt.status?.activeClosureHash).toBe(installs[0]!.closureHash);
    for (const n of NODES) expect(gcRootsOf(n, "py-e2e")).toEqual([String(rt.metadata.generation)]);
  });

  it("runs Executions in isolate with Nix runtimes and judges them", async () => {
    const ok = await submit("py-hello", {
      runtime: "py-e2e",
      files: [{ name: "main.py", content: "import sys\nprint(sys.stdin.read().upper(), end='')" }],
      testCases: [
        { stdin: "abc\n", expectedOutput: "ABC\n" },
        { stdin: "x\n", expectedOutput: "nope\n" },
      ],
    });
    expect(ok.status?.phase).toBe("Succeeded");
    expect(ok.status?.verdict).toBe("WrongAnswer");
    expect(ok.status?.tests?.map((t) => t.verdict)).toEqual(["Accepted", "WrongAnswer"]);
    expect(NODES).toContain(ok.status?.nodeName);
  });

  it("a full node takes one Execution more than its slots (the controller's nodePrefetch), holds it unstarted, and never runs more than its slots at once", async () => {
    const tag = Date.now();
    const names = Array.from({ length: 8 }, (_, i) => `prefetch-${i}-${tag}`);
    const spec = {
      runtime: "py-e2e",
      files: [{ name: "main.py", content: "import time\ntime.sleep(1.5)\nprint(1)" }],
      expectedOutput: "1\n",
    };
    // The most Executions each node held at once, assigned and unfinished, sampled as they run.
    const most = new Map<string, number>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const held = new Map<string, number>();
        for (const e of (await client.list(ExecutionResource, { namespace: NS })).items)
          if (names.includes(e.metadata.name!) && e.status?.nodeName && !e.status.completionTime)
            held.set(e.status.nodeName, (held.get(e.status.nodeName) ?? 0) + 1);
        for (const [n, c] of held) most.set(n, Math.max(most.get(n) ?? 0, c));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let done: Execution[];
    try {
      done = await Promise.all(names.map((n) => submit(n, spec)));
    } finally {
      sampling = false;
      await sampler;
    }
    expect(done.map((e) => e.status?.verdict)).toEqual(names.map(() => "Accepted"));
    expect(done.every((e) => e.status?.attempts === 1)).toBe(true);
    // 8 for 2 nodes of 2 slots: each node was given its slots and one ahead, never more.
    expect(Math.max(...most.values()), JSON.stringify(Object.fromEntries(most))).toBe(3);
    // What ran overlapped at most 2 at a time on a node (start and completion, RFC 3339 seconds:
    // truncation keeps their order, so runs that did not overlap never look as if they did).
    for (const node of NODES) {
      const runs = done
        .filter((e) => e.status?.nodeName === node)
        .map((e) => [Date.parse(e.status!.startTime!), Date.parse(e.status!.completionTime!)] as const);
      for (const [start] of runs) {
        const atOnce = runs.filter(([s, c]) => s <= start && start < c).length;
        expect(atOnce, `${node}: runs in progress at ${new Date(start).toISOString()}`).toBeLessThanOrEqual(
          2,
        );
      }
    }
  }, 120_000);

  it("a box sees exactly the Runtime's Nix closure, read-only, and nothing of the host", async () => {
    const ex = await submit("py-store", {
      runtime: "py-e2e",
      files: [
        {
          name: "main.py",
          content: [
            "import os",
            "print(' '.join(sorted(os.listdir('/nix/store'))))",
            "print(os.path.exists('/usr/bin'), os.path.exists('/etc/shadow'))",
            "try:",
            "    open('/nix/store/x', 'w')",
            "except OSError as e:",
            "    print('readonly', e.errno)",
          ].join("\n"),
        },
      ],
    });
    const [listing, host, ro] = (ex.status?.tests?.[0]?.stdout ?? "").trim().split("\n");
    const storePaths = installsOf(await workers(), "py-e2e")[0]!.storePaths!;
    const closure = (await run("nix-store", ["-qR", ...storePaths])).stdout.split("\n").filter(Boolean);
    const visible = listing!.split(" ").map((n) => `/nix/store/${n}`);
    expect(visible.length).toBeGreaterThan(0);
    expect(
      visible.every((p) => closure.includes(p)),
      `not in the closure: ${visible.filter((p) => !closure.includes(p))}`,
    ).toBe(true);
    expect(host).toBe("False False");
    expect(ro).toMatch(/^readonly (30|13)$/); // EROFS or EACCES
  });

  it("the CLI submits a file, waits, and prints the verdicts like a judge", async () => {
    const dir = join(tmp, "cli");
    await mkdir(join(dir, "tests"), { recursive: true });
    await writeFile(join(dir, "echo.py"), "print(input()[::-1])\n");
    await writeFile(join(dir, "tests", "1.in"), "abc\n");
    await writeFile(join(dir, "tests", "1.out"), "cba\n");
    await writeFile(join(dir, "tests", "2.in"), "xy\n");
    await writeFile(join(dir, "tests", "2.out"), "xx\n");
    const cli = (args: string[]) =>
      run(
        process.execPath,
        [join(ROOT, "src/cli/main.ts"), "run", ...args, "--kubeconfig", kubeconfigPath(), "-n", NS],
        { cwd: dir },
      ).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
      );
    const ok = await cli(["echo.py", "--runtime", "py-e2e", "--stdin", join(dir, "tests", "1.in")]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/: Accepted/);
    expect(ok.stdout).toContain("cba");
    const wa = await cli(["echo.py", "--runtime", "py-e2e", "--tests", join(dir, "tests")]);
    expect(wa.code).toBe(1);
    expect(wa.stdout).toMatch(/1\s+Accepted/);
    expect(wa.stdout).toMatch(/2\s+WrongAnswer/);
  });

  it("compiles once for ten test cases, each in its own box", async () => {
    await client.create(RuntimeResource, runtime("c-e2e", C_RUNTIME));
    await waitReady("c-e2e");
    const compilesBefore = await compileCount();
    const ex = await submit("c-ten", {
      runtime: "c-e2e",
      files: [
        {
          name: "main.c",
          content:
            '#include <stdio.h>\n#include <stdlib.h>\nint main(void){int n; if(scanf("%d",&n)!=1) return 1;\n FILE*f=fopen("/tmp/seen","r"); if(f){puts("shared");return 0;} f=fopen("/tmp/seen","w"); fputs("x",f); fclose(f);\n printf("%d\\n", n*n); return 0;}\n',
        },
      ],
      testCases: Array.from({ length: 10 }, (_, i) => ({ stdin: `${i}\n`, expectedOutput: `${i * i}\n` })),
    });
    expect(ex.status?.verdict).toBe("Accepted");
    expect(ex.status?.tests).toHaveLength(10);
    expect(ex.status?.compile?.exitCode).toBe(0);
    // The compile counter of the agents: one compile for ten test cases.
    expect((await compileCount()) - compilesBefore).toBe(1);
  });

  it("reports a Runtime with an unknown package as failed on every node, and keeps serving others", async () => {
    await client.create(RuntimeResource, runtime("broken-pkg", { packages: ["no-such-package"] }));
    const rt = await waitFor(
      async () => {
        const r = await client.get(RuntimeResource, "broken-pkg");
        return (r.status?.failedNodes ?? 0) === NODES.length ? r : undefined;
      },
      { timeoutMs: 120_000, what: "broken-pkg failed on all nodes" },
    );
    expect(rt.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("False");
    const failures = installsOf(await workers(), "broken-pkg");
    expect(failures.every((f) => f.phase === "Failed" && f.reason === "UnknownPackage")).toBe(true);
    expect(failures[0]?.message).toContain("no-such-package");
    const again = await submit("py-still", {
      runtime: "py-e2e",
      files: [{ name: "main.py", content: "print(2+2)" }],
      expectedOutput: "4\n",
    });
    expect(again.status?.verdict).toBe("Accepted");
  });

  it("a Runtime that asks for network where the platform turned it off is not Ready, and says why", async () => {
    await client.create(RuntimeResource, runtime("net-off", { allowNetwork: true }));
    const rt = await waitFor(
      async () => {
        const r = await client.get(RuntimeResource, "net-off");
        return (r.status?.failedNodes ?? 0) === NODES.length ? r : undefined;
      },
      { timeoutMs: 120_000, what: "net-off failed on all nodes" },
    );
    const ready = rt.status?.conditions?.find((c) => c.type === "Ready");
    const failures = installsOf(await workers(), "net-off");
    console.log(
      `[agent] allowNetwork with networking off: Ready=${ready?.status} (${ready?.message}); nodes: ${failures.map((f) => `${f.reason}: ${f.message}`).join("; ")}`,
    );
    expect(ready?.status).toBe("False");
    expect(failures.every((f) => f.phase === "Failed" && f.reason === "NetworkDisabled")).toBe(true);
    expect(failures[0]?.message).toMatch(/turned networked Runtimes off/);
  });

  it("each Worker says what contains its boxes", async () => {
    for (const w of await workers()) {
      console.log(
        `[agent] ${w.metadata.name}: isolate ${w.status?.isolateVersion}, ${w.status?.sandboxProtections?.join(" ")}`,
      );
      expect(w.status?.sandboxProtections).toEqual(
        expect.arrayContaining([
          "dev:null,zero,full,random,urandom",
          "dev-shm:private",
          "storage:private-tmpfs",
          "network:none",
        ]),
      );
    }
  });

  it("fails a Runtime whose smoke test fails, with the output in the message", async () => {
    await client.create(
      RuntimeResource,
      runtime("broken-smoke", { smokeTest: { source: "print('nope')", expectedOutput: "ok\n" } }),
    );
    const failures = await waitFor(
      async () => {
        const f = installsOf(await workers(), "broken-smoke");
        return f.length === NODES.length && f.every((x) => x.phase === "Failed") ? f : undefined;
      },
      { timeoutMs: 120_000, what: "broken-smoke failed on all nodes" },
    );
    expect(failures[0]?.reason).toBe("SmokeTestFailed");
    expect(failures[0]?.message).toContain("nope");
  });

  it("times out an install that hangs, within its timeout", async () => {
    const started = Date.now();
    await client.create(RuntimeResource, runtime("hang-e2e", { packages: ["hang"] }));
    const failures = await waitFor(
      async () => {
        const f = installsOf(await workers(), "hang-e2e");
        return f.length === NODES.length && f.every((x) => x.phase === "Failed") ? f : undefined;
      },
      { timeoutMs: 90_000, what: "hang-e2e to time out on all nodes" },
    );
    expect(failures[0]?.reason).toBe("Timeout");
    expect(Date.now() - started).toBeLessThan(80_000);
    await client.delete(RuntimeResource, "hang-e2e");
  });

  it("deleting a Runtime removes its GC roots everywhere before the object goes", async () => {
    await client.delete(RuntimeResource, "broken-smoke");
    await client.delete(RuntimeResource, "broken-pkg");
    const storePaths = installsOf(await workers(), "c-e2e")[0]?.storePaths ?? [];
    await client.delete(RuntimeResource, "c-e2e");
    await waitFor(async () => !(await client.tryGet(RuntimeResource, "c-e2e")), {
      timeoutMs: 60_000,
      what: "c-e2e to be deleted",
    });
    for (const n of NODES) expect(gcRootsOf(n, "c-e2e")).toEqual([]);
    expect(installsOf(await workers(), "c-e2e")).toEqual([]);
    // gcc's store paths are collected by the agents, unless something outside this test holds them
    // (the machine's store is shared: e.g. a demo's Runtimes keep their own roots).
    await waitFor(
      async () => {
        for (const p of storePaths) {
          const valid = await run("nix-store", ["--check-validity", p]).then(
            () => true,
            () => false,
          );
          if (!valid) continue;
          const roots = (await run("nix-store", ["--query", "--roots", p])).stdout
            .split("\n")
            .filter(Boolean);
          if (roots.length === 0 || roots.some((r) => r.includes(tmp))) return false;
        }
        return true;
      },
      {
        timeoutMs: 60_000,
        what: "gcc store paths to be collected (or held only by roots outside this test)",
      },
    );
  });

  it("an agent killed mid-install installs the Runtime exactly once after it restarts", async () => {
    const node = NODES[0]!;
    await agents.get(node)!.kill();
    // Remove the cached store paths of gcc so the next install takes a while (substitution from the cache).
    await client.create(RuntimeResource, runtime("c-e2e", C_RUNTIME));
    const other = agentFor(node, 0);
    agents.set(node, other);
    await waitFor(
      async () =>
        installsOf(await workers(), "c-e2e").some((i) => i.node === node && i.phase === "Installing"),
      {
        timeoutMs: 60_000,
        intervalMs: 50,
        what: "the install to start",
      },
    );
    await other.kill();
    agents.set(node, agentFor(node, 0));
    const rt = await waitReady("c-e2e");
    expect(gcRootsOf(node, "c-e2e")).toEqual([String(rt.metadata.generation)]);
    const mine = installsOf(await workers(), "c-e2e").filter((i) => i.node === node);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.phase).toBe("Installed");
  });

  it("a node with warm boxes has its next box ready after a run, judges the same, and cleans them all when it stops", async () => {
    const i = NODES.indexOf(WARM_NODE);
    const boxDirs = () => boxIdsOf(i).filter((id) => existsSync(`/var/local/lib/isolate/${id}/box`));
    const spec = { ...runtime("warm-e2e", {}).spec, nodeSelector: { "envicutor.io/warm": "yes" } };
    // A retry of this test finds the Runtime of the first attempt.
    await client.create(RuntimeResource, { ...runtime("warm-e2e", {}), spec }).catch((e: unknown) => {
      if (!(e instanceof ApiError && e.reason === "AlreadyExists")) throw e;
    });
    await waitFor(
      async () => {
        const rt = await client.get(RuntimeResource, "warm-e2e");
        return rt.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      },
      { timeoutMs: 240_000, intervalMs: 500, what: "Runtime warm-e2e Ready on the warm node" },
    );
    for (const name of ["warm-1", "warm-2"]) {
      const ex = await submit(`${name}-${Date.now()}`, {
        runtime: "warm-e2e",
        files: [{ name: "main.py", content: "import os\nprint(sorted(os.listdir('.')))" }],
        testCases: [{ expectedOutput: "['main.py']\n" }, { expectedOutput: "['main.py']\n" }],
      });
      expect(ex.status?.nodeName).toBe(WARM_NODE);
      // A warm box is empty when it is taken: each test case sees only its own source.
      expect(ex.status?.tests?.map((t) => t.verdict)).toEqual(["Accepted", "Accepted"]);
    }
    // Without warm boxes isolate --cleanup leaves no box directory once a run is over; a box
    // still there a second later is a warm one, not a cleanup in progress.
    await waitFor(async () => boxDirs().length > 0, {
      timeoutMs: 15_000,
      what: "a warm box on the warm node",
    });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(boxDirs().length).toBeGreaterThan(0);
    try {
      // Longer than the agent's own 20 s forced exit, so a hang shows as a non-zero code.
      expect(await agents.get(WARM_NODE)!.stop(25_000)).toBe(0);
      expect(boxDirs()).toEqual([]);
    } finally {
      agents.set(WARM_NODE, agentFor(WARM_NODE, i));
    }
  });

  it("an agent killed during a run never marked Running hands that attempt back when it restarts, and the next attempt runs", async () => {
    const name = `short-restart-${Date.now()}`;
    await client.create(ExecutionResource, {
      apiVersion: API_VERSION,
      kind: "Execution",
      metadata: { name, namespace: NS },
      spec: {
        runtime: "py-e2e",
        files: [{ name: "main.py", content: "import time\ntime.sleep(3)\nprint('late')" }],
        expectedOutput: "late\n",
      },
    } as never);
    const uid = (await client.get(ExecutionResource, name, NS)).metadata.uid!;
    const journal = (node: string) => join(tmp, `state-${node}`, "started-attempts");
    // The start is recorded just before isolate --run: the agent that has it is running it.
    const node = await waitFor(
      async () =>
        NODES.find((n) => existsSync(journal(n)) && readFileSync(journal(n), "utf8").includes(`${uid} 1\n`)),
      { timeoutMs: 60_000, intervalMs: 20, what: `the start of ${name} in a node's journal` },
    );
    const i = NODES.indexOf(node);
    const killedPid = agents.get(node)!.pid!;
    const shellDirsOf = (pid: number) =>
      readdirSync(tmpdir()).filter((d) => d.startsWith(`envicutor-cmd-${pid}-`));
    expect(shellDirsOf(killedPid).length, "the running agent's command-shell directories").toBeGreaterThan(0);
    await agents.get(node)!.kill();
    const atKill = await client.get(ExecutionResource, name, NS);
    expect(atKill.status).toMatchObject({ phase: "Scheduled", nodeName: node, attempts: 1 });
    const restarted = agentFor(node, i);
    agents.set(node, restarted);
    const done = await waitFor(
      async () => {
        const ex = await client.get(ExecutionResource, name, NS);
        return ex.status?.phase === "Succeeded" || ex.status?.phase === "Failed" ? ex : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200, what: `${name} to finish` },
    );
    const handBacks = restarted.logEntries(
      (e) =>
        e.msg === "cannot run it here; handing it back to the controller" && e.execution === `${NS}/${name}`,
    );
    console.log(
      `[agent] killed during a ${name} run on ${node} (no Running write): restarted agent handed back ${JSON.stringify(handBacks.map((h) => h.reason))}; then ${done.status?.verdict} on ${done.status?.nodeName}, attempt ${done.status?.attempts}`,
    );
    expect(handBacks.map((h) => h.reason)).toEqual(["AgentRestarted"]);
    expect(done.status).toMatchObject({ phase: "Succeeded", verdict: "Accepted", attempts: 2 });
    // SIGKILLed, it could not remove its shells' directories (FIFOs, a run's input): the next agent did.
    expect(shellDirsOf(killedPid), "the killed agent's command-shell directories").toEqual([]);
    expect(done.status?.startTime).toBeDefined();
  });
});
