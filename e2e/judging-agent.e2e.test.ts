// Checkers, interactors and the compile cache end to end: the controller and
// an agent as real processes against the real apiserver, Runtimes installed
// with real Nix from nix/pkgs (the offline STAND-IN FOR NIXPKGS, see
// agent.e2e.test.ts), Executions judged in real isolate. What the status says
// is read back from the apiserver.
//
// Box ids 740..743 belong to this file alone.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Execution } from "../src/api/execution.ts";
import type { Runtime } from "../src/api/runtime.ts";
import { validRuntime } from "../src/api/test-fixtures.ts";
import { KubeClient } from "../src/k8s/client.ts";
import { RuntimeResource } from "../src/k8s/resources.ts";
import {
  createNode,
  deleteNode,
  ensureNamespace,
  kubeConfig,
  kubeconfigPath,
  kubectl,
  waitFor,
} from "./support/cluster.ts";
import { submitAndWait } from "./support/executions.ts";
import { type ManagedProcess, startAgent, startController } from "./support/processes.ts";
import { C_SPEC, isolateAvailable } from "./support/stand-in-runtimes.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const NS = "envicutor-judging-e2e";
const NODE = "judging-e2e-a";
const isolateMissing = !(await isolateAvailable("agent judging e2e tests"));

let tmp: string;
let client: KubeClient;
let controller: ManagedProcess;
let agent: ManagedProcess;

const runtime = (name: string, spec: Partial<Runtime["spec"]>): Runtime => {
  const base = validRuntime(name) as unknown as Runtime;
  return { ...base, spec: { ...base.spec, nodeSelector: { "envicutor.io/e2e": "judging" }, ...spec } };
};

async function waitReady(name: string): Promise<void> {
  await waitFor(
    async () => {
      const rt = await client.get(RuntimeResource, name);
      return rt.status?.conditions?.find((c) => c.type === "Ready")?.status === "True" ? rt : undefined;
    },
    { timeoutMs: 300_000, intervalMs: 500, what: `Runtime ${name} Ready` },
  );
}

const submit = (name: string, spec: Record<string, unknown>): Promise<Execution> =>
  submitAndWait(client, NS, name, spec);

const file = (name: string, content: string) => ({ name, content });

/** One value of the agent's /metrics. */
async function agentMetric(series: string): Promise<number> {
  const port = agent.logEntries((e) => e.msg === "serving /healthz, /readyz, /metrics").pop()?.port;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return Number(line?.split(" ")[1] ?? Number.NaN);
}

const SUM_CHECKER_C = `#include <stdio.h>
int main(int argc, char **argv) {
  long long a, b, got;
  FILE *in = fopen(argv[1], "r"), *out = fopen(argv[2], "r");
  if (!in || fscanf(in, "%lld %lld", &a, &b) != 2) { fprintf(stderr, "bad input"); return 3; }
  if (!out || fscanf(out, "%lld", &got) != 1) { fprintf(stderr, "no number"); return 2; }
  if (got != a + b) { fprintf(stderr, "expected %lld, found %lld", a + b, got); return 1; }
  fprintf(stderr, "ok %lld", got);
  return 0;
}
`;

beforeAll(async () => {
  if (isolateMissing) return;
  tmp = await mkdtemp(join(tmpdir(), "envicutor-judging-e2e-"));
  client = new KubeClient(kubeConfig());
  const out = await run(
    "bash",
    [join(ROOT, "nix/pkgs/make-binary-cache.sh"), join(tmp, "cache"), "python3", "gcc", "coreutils"],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const cache = JSON.parse(out.stdout.trim().split("\n").pop()!) as { url: string; publicKey: string };
  await ensureNamespace(NS);
  await createNode(NODE, { "envicutor.io/e2e": "judging" });
  controller = startController({
    kubeconfig: kubeconfigPath(),
    namespace: NS,
    identity: "judging-e2e",
    logDir: join(tmp, "logs"),
  });
  agent = startAgent({
    kubeconfig: kubeconfigPath(),
    namespace: NS,
    nodeName: NODE,
    stateDir: join(tmp, "state"),
    logDir: join(tmp, "logs"),
    slots: 2,
    boxIdBase: 740,
    env: {
      ENVICUTOR_PACKAGE_SET: join(ROOT, "nix/pkgs"),
      ENVICUTOR_NIX_SUBSTITUTERS: cache.url,
      ENVICUTOR_NIX_TRUSTED_PUBLIC_KEYS: cache.publicKey,
      ENVICUTOR_INSTALL_CONCURRENCY: "2",
    },
  });
  await client.create(RuntimeResource, runtime("py-judging-e2e", {}));
  await client.create(RuntimeResource, runtime("c-judging-e2e", C_SPEC));
  await waitReady("py-judging-e2e");
  await waitReady("c-judging-e2e");
}, 600_000);

afterAll(async () => {
  if (isolateMissing) return;
  for (const name of ["py-judging-e2e", "c-judging-e2e"])
    await client?.delete(RuntimeResource, name).catch(() => undefined);
  await waitFor(
    async () =>
      (await client.list(RuntimeResource)).items.every((r) => !r.metadata.name?.endsWith("-judging-e2e")),
    { timeoutMs: 60_000, what: "the Runtimes to be deleted" },
  ).catch(() => undefined);
  await agent?.stop();
  await controller?.stop();
  await deleteNode(NODE);
  if (process.env.KEEP_E2E_LOGS) console.log(`[e2e] logs kept in ${tmp}/logs`);
  else await rm(tmp, { recursive: true, force: true });
}, 120_000);

describe.skipIf(isolateMissing)("judging through the control plane", () => {
  it("a C checker (another Runtime) judges a Python submission; its messages are in the status", async () => {
    const ex = await submit("checker-c", {
      runtime: "py-judging-e2e",
      files: [file("main.py", "a, b = map(int, input().split())\nprint(a + b + (a == 7))\n")],
      testCases: [
        { name: "small", stdin: "1 2\n" },
        { name: "off-by-one", stdin: "7 1\n" },
      ],
      checker: { program: { runtime: "c-judging-e2e", files: [file("check.c", SUM_CHECKER_C)] } },
    });
    expect(ex.status?.phase).toBe("Succeeded");
    expect(ex.status?.verdict).toBe("WrongAnswer");
    expect(ex.status?.tests?.map((t) => [t.name, t.verdict, t.message, t.judge?.exitCode])).toEqual([
      ["small", "Accepted", "ok 3", 0],
      ["off-by-one", "WrongAnswer", "expected 8, found 9", 1],
    ]);
    // Its own tests in kubectl get's Done and Tests columns (status.progress, written with the result).
    const [head = "", row = ""] = (await kubectl(["get", "execution", "checker-c", "-n", NS])).split("\n");
    const cell = (column: string, next: string) => row.slice(head.indexOf(column), head.indexOf(next)).trim();
    expect([cell("DONE", "TESTS"), cell("TESTS", "POINTS")]).toEqual(["2", "2"]);
  });

  it("a crashing checker is a judge error: InternalError, phase Failed, never WrongAnswer", async () => {
    const ex = await submit("checker-crash", {
      runtime: "py-judging-e2e",
      files: [file("main.py", "print(1)\n")],
      checker: {
        program: { files: [file("check.py", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")] },
      },
    });
    expect(ex.status?.phase).toBe("Failed");
    expect(ex.status?.verdict).toBe("InternalError");
    expect(ex.status?.message).toMatch(/^test 1: judge error: the checker .*signal 11/);
  });

  it("an interactive problem: the binary search is Accepted, a deadlock is TimeLimitExceeded", async () => {
    const interactor = `import sys
n = int(open(sys.argv[1]).read())
for i in range(10):
    line = sys.stdin.readline()
    if not line:
        print("unexpected EOF", file=sys.stderr); sys.exit(2)
    g = int(line)
    if g == n:
        print("=", flush=True); print("ok in %d" % (i + 1), file=sys.stderr); sys.exit(0)
    print("<" if n < g else ">", flush=True)
print("not guessed", file=sys.stderr); sys.exit(1)
`;
    const search = `lo, hi = 1, 1000
while True:
    mid = (lo + hi) // 2
    print(mid, flush=True)
    r = input()
    if r == "=": break
    if r == "<": hi = mid - 1
    else: lo = mid + 1
`;
    const spec = (source: string) => ({
      runtime: "py-judging-e2e",
      files: [file("main.py", source)],
      testCases: [{ stdin: "777\n" }],
      interactor: { files: [file("interactor.py", interactor)] },
      limits: { run: { wallTimeMillis: 3000 } },
    });
    const [ok, stuck] = await Promise.all([
      submit("guess-ok", spec(search)),
      submit("guess-stuck", spec("input()\n")),
    ]);
    expect(ok.status?.tests?.map((t) => [t.verdict, t.message])).toEqual([["Accepted", "ok in 8"]]);
    expect(stuck.status?.verdict).toBe("TimeLimitExceeded");
    expect(stuck.status?.tests?.[0]?.message).toBe("wall time limit of 3000 ms exceeded");
  });

  it("the same C source twice: the second Execution's compile is a cache hit, and no compiler ran", async () => {
    const source = `#include <stdio.h>\nint main(void){int n; scanf("%d",&n); printf("%d\\n", n*2); /* ${Date.now()} */ return 0;}\n`;
    const spec = {
      runtime: "c-judging-e2e",
      files: [file("main.c", source)],
      testCases: [{ stdin: "21\n", expectedOutput: "42\n" }],
    };
    const first = await submit("cache-miss", spec);
    const compilesBefore = await agentMetric("envicutor_agent_compiles_total");
    const second = await submit("cache-hit", spec);
    expect(await agentMetric("envicutor_agent_compiles_total")).toBe(compilesBefore);
    expect(first.status?.verdict).toBe("Accepted");
    expect(first.status?.compile?.cacheHit).toBeUndefined();
    expect(second.status?.verdict).toBe("Accepted");
    expect(second.status?.compile).toMatchObject({ cacheHit: true, exitCode: 0 });
    expect(
      await agentMetric('envicutor_agent_compile_cache_lookups_total{result="hit"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(await agentMetric("envicutor_agent_compile_cache_entries")).toBeGreaterThanOrEqual(1);
  });
});
