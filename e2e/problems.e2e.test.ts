// Problems end to end: a Problem with 100 tests (200 MiB of test data by
// reference, served by a loopback HTTP server this file starts), a custom C
// checker and three scored groups, judged by the controller and an agent as
// real processes against the real apiserver, in real isolate, with a Runtime
// installed by real Nix from nix/pkgs (see agent.e2e.test.ts).
//
// Box ids 770..799 belong to this file alone.
import { execFile } from "node:child_process";
import { createReadStream, readFileSync } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { type TarMember, writeTar } from "../src/agent/testdata/tar-fixture.ts";
import { TestDataCache } from "../src/agent/testdata/test-data-cache.ts";
import type { Execution } from "../src/api/execution.ts";
import { API_VERSION } from "../src/api/group.ts";
import type { Problem } from "../src/api/problem.ts";
import type { Runtime } from "../src/api/runtime.ts";
import { validRuntime } from "../src/api/test-fixtures.ts";
import { REJUDGE_OF_LABEL, rejudge } from "../src/cli/rejudge.ts";
import { KubeClient } from "../src/k8s/client.ts";
import {
  ConfigMapResource,
  ExecutionResource,
  ProblemResource,
  RuntimeResource,
} from "../src/k8s/resources.ts";
import {
  createNode,
  deleteNode,
  ensureNamespace,
  kubeConfig,
  kubeconfigPath,
  waitFor,
} from "./support/cluster.ts";
import { createExecution, waitComplete } from "./support/executions.ts";
import { type ManagedProcess, startAgent, startController } from "./support/processes.ts";
import { C_SPEC, isolateAvailable } from "./support/stand-in-runtimes.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const NS = "envicutor-problems-e2e";
const NODE = "problems-e2e-a";
const RT = "c-problems-e2e";
const TESTS = 100;
/** Bytes of 'a' in each input: 100 tests of 2 MiB are 200 MiB. */
const BODY = 2 * 1024 * 1024;
const isolateMissing = !(await isolateAvailable("Problem e2e tests"));

let tmp: string;
let client: KubeClient;
let controller: ManagedProcess;
let agent: ManagedProcess;
let server: Server;
let data: { url: string; sha256: string; bytes: number };
let requests = 0;

const file = (name: string, content: string) => ({ name, content });

/** The tests: input `<i>\n` then BODY bytes of 'a'; the answer is BODY. */
function* members(): Iterable<TarMember> {
  const body = Buffer.alloc(BODY, "a");
  for (let i = 1; i <= TESTS; i++) {
    const name = String(i).padStart(3, "0");
    yield { name: `${name}.in`, data: Buffer.concat([Buffer.from(`${i}\n`), body]) };
    yield { name: `${name}.ans`, data: Buffer.from(`${BODY}\n`) };
  }
}

/** Counts the bytes after the first line; wrong (one more) on test `wrongOn`. */
const submission = (wrongOn: number) => `#include <stdio.h>
static char buf[1 << 16];
int main(void) {
  int k; long long n = 0; size_t r;
  if (scanf("%d", &k) != 1) return 1;
  getchar();
  while ((r = fread(buf, 1, sizeof buf, stdin)) > 0) n += r;
  printf("%lld\\n", n + (k == ${wrongOn}));
  return 0;
}
`;

/** testlib's convention: input output answer; 0 accepted, 1 wrong answer, 3 checker failure. */
const CHECKER_C = `#include <stdio.h>
int main(int argc, char **argv) {
  long long got, want; int k;
  FILE *in = fopen(argv[1], "r"), *out = fopen(argv[2], "r"), *ans = fopen(argv[3], "r");
  if (!in || fscanf(in, "%d", &k) != 1 || !ans || fscanf(ans, "%lld", &want) != 1) { fprintf(stderr, "bad test"); return 3; }
  if (!out || fscanf(out, "%lld", &got) != 1) { fprintf(stderr, "test %d: no number", k); return 2; }
  if (got != want) { fprintf(stderr, "test %d: wrong count", k); return 1; }
  fprintf(stderr, "test %d: ok", k);
  return 0;
}
`;

async function serve(path: string): Promise<string> {
  server = createServer((req, res) => {
    requests++;
    if (req.url !== "/set.tar") return res.writeHead(404).end();
    createReadStream(path).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/set.tar`;
}

const create = (name: string, spec: Record<string, unknown>) => createExecution(client, NS, name, spec);
const complete = (name: string, timeoutMs = 600_000, onPoll?: (ex: Execution) => void) =>
  waitComplete(client, NS, name, { timeoutMs, intervalMs: 250, ...(onPoll ? { onPoll } : {}) });

async function agentMetric(series: string): Promise<number> {
  const port = agent.logEntries((e) => e.msg === "serving /healthz, /readyz, /metrics").pop()?.port;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return Number(line?.split(" ")[1] ?? Number.NaN);
}

beforeAll(async () => {
  if (isolateMissing) return;
  tmp = await mkdtemp(join(tmpdir(), "envicutor-problems-e2e-"));
  client = new KubeClient(kubeConfig());
  const t0 = performance.now();
  const archive = join(tmp, "set.tar");
  const written = await writeTar(archive, members());
  console.log(`[e2e] wrote a ${written.bytes}-byte archive in ${Math.round(performance.now() - t0)} ms`);
  data = { url: await serve(archive), sha256: written.sha256, bytes: written.bytes };
  const out = await run("bash", [join(ROOT, "nix/pkgs/make-binary-cache.sh"), join(tmp, "cache"), "gcc"], {
    maxBuffer: 16 * 1024 * 1024,
  });
  const cache = JSON.parse(out.stdout.trim().split("\n").pop()!) as { url: string; publicKey: string };
  await ensureNamespace(NS);
  await createNode(NODE, { "envicutor.io/e2e": "problems" });
  const logDir = join(tmp, "logs");
  controller = startController({
    kubeconfig: kubeconfigPath(),
    namespace: NS,
    identity: "problems-e2e",
    logDir,
  });
  agent = startAgent({
    kubeconfig: kubeconfigPath(),
    namespace: NS,
    nodeName: NODE,
    stateDir: join(tmp, "state"),
    logDir,
    slots: 2,
    boxIdBase: 770,
    env: {
      ENVICUTOR_PACKAGE_SET: join(ROOT, "nix/pkgs"),
      ENVICUTOR_NIX_SUBSTITUTERS: cache.url,
      ENVICUTOR_NIX_TRUSTED_PUBLIC_KEYS: cache.publicKey,
      ENVICUTOR_INSTALL_CONCURRENCY: "1",
    },
  });
  const base = validRuntime(RT) as unknown as Runtime;
  await client.create(RuntimeResource, {
    ...base,
    spec: { ...base.spec, ...C_SPEC, nodeSelector: { "envicutor.io/e2e": "problems" } },
  });
  await waitFor(
    async () => {
      const rt = await client.get(RuntimeResource, RT);
      return rt.status?.conditions?.find((c) => c.type === "Ready")?.status === "True" ? rt : undefined;
    },
    { timeoutMs: 300_000, intervalMs: 500, what: `Runtime ${RT} Ready` },
  );
}, 900_000);

afterAll(async () => {
  if (isolateMissing) return;
  await client?.delete(RuntimeResource, RT).catch(() => undefined);
  await waitFor(async () => !(await client.tryGet(RuntimeResource, RT)), {
    timeoutMs: 60_000,
    what: "the Runtime to be deleted",
  }).catch(() => undefined);
  await agent?.stop();
  await controller?.stop();
  server?.close();
  await deleteNode(NODE);
  if (process.env.KEEP_E2E_LOGS) console.log(`[e2e] logs kept in ${tmp}/logs`);
  else await rm(tmp, { recursive: true, force: true });
}, 120_000);

const problem = (name: string, spec: Record<string, unknown>): Problem =>
  ({ apiVersion: API_VERSION, kind: "Problem", metadata: { name, namespace: NS }, spec }) as Problem;

describe.skipIf(isolateMissing)("Problems through the control plane", () => {
  it("100 tests, 200 MiB by reference, a C checker and three scored groups: judged, scored, no hidden data in the status", async () => {
    await client.create(
      ProblemResource,
      problem("count-bytes", {
        testData: { url: data.url, sha256: data.sha256 },
        checker: { program: { files: [file("check.c", CHECKER_C)] } },
        groups: [
          { name: "small", tests: 10, points: 20, stopAtFirstFailure: true },
          { name: "medium", tests: 40, points: 30, stopAtFirstFailure: true },
          { name: "large", tests: 50, points: 50, stopAtFirstFailure: true },
        ],
        outputComparison: "IgnoreTrailingWhitespace",
      }),
    );
    const t0 = performance.now();
    await create("count-wrong-77", {
      runtime: RT,
      problem: "count-bytes",
      files: [file("main.c", submission(77))],
    });
    const seen: number[] = [];
    const ex = await complete("count-wrong-77", 600_000, (e) => {
      const p = e.status?.progress;
      if (p && !e.status?.completionTime) seen.push(p.completed);
    });
    const wallMs = Math.round(performance.now() - t0);
    const fetchSeconds = await agentMetric("envicutor_agent_test_data_fetch_seconds_sum");
    const runMs = Date.parse(ex.status!.completionTime!) - Date.parse(ex.status!.startTime!);
    console.log(
      `[e2e] 100-test problem: ${wallMs} ms from create to Complete, ${runMs} ms Running to done; agent fetched ${data.bytes} bytes in ${fetchSeconds} s; progress seen: ${[...new Set(seen)].join(",")}`,
    );
    expect(ex.status?.phase).toBe("Succeeded");
    expect(ex.status?.verdict).toBe("WrongAnswer");
    expect(ex.status?.score).toEqual({
      points: 50,
      maxPoints: 100,
      groups: [
        { name: "small", points: 20, maxPoints: 20, verdict: "Accepted", tests: 10 },
        { name: "medium", points: 30, maxPoints: 30, verdict: "Accepted", tests: 40 },
        { name: "large", points: 0, maxPoints: 50, verdict: "WrongAnswer", tests: 50, skipped: 23 },
      ],
    });
    expect(ex.status?.progress).toEqual({ completed: 100, total: 100 });
    expect(seen.some((n) => n > 0 && n < 100)).toBe(true);
    const tests = ex.status?.tests ?? [];
    expect(tests).toHaveLength(77);
    // What the checker said stays hidden (showJudgeMessages is off): testlib checkers print answers.
    expect(tests[0]).toMatchObject({
      name: "001",
      verdict: "Accepted",
      message: "accepted (the judge's message is hidden)",
    });
    expect(tests[76]).toMatchObject({
      name: "077",
      verdict: "WrongAnswer",
      message: "wrong answer (the judge's message is hidden)",
    });
    expect(tests.every((t) => t.judge === undefined)).toBe(true);
    // Hidden data never reaches the status: no test output, no input bytes, no answer.
    const text = JSON.stringify(ex.status);
    expect(tests.every((t) => t.stdout === undefined && t.stderr === undefined)).toBe(true);
    expect(text).not.toContain("aaaa");
    expect(text).not.toContain("wrong count");
    expect(text).not.toContain(String(BODY));
    expect(ex.status?.judgedWith).toMatchObject({ problem: "count-bytes", testDataSha256: data.sha256 });
    expect(ex.status?.judgedWith?.closureHash).toMatch(/.+/);
    expect(requests).toBe(1);
  }, 900_000);

  it("a second submission of the problem takes the node's copy: no fetch, every group's points", async () => {
    const before = requests;
    const t0 = performance.now();
    await create("count-right", {
      runtime: RT,
      problem: "count-bytes",
      files: [file("main.c", submission(-1))],
    });
    const ex = await complete("count-right");
    console.log(
      `[e2e] second submission (cache hit): ${Math.round(performance.now() - t0)} ms create to Complete`,
    );
    expect(requests).toBe(before);
    expect(ex.status?.verdict).toBe("Accepted");
    expect(ex.status?.score?.points).toBe(100);
    expect(ex.status?.tests).toHaveLength(100);
    expect(await agentMetric('envicutor_agent_test_data_cache_lookups_total{result="hit"}')).toBe(1);
  }, 900_000);

  it("the node's cache of test data: a miss fetches and checks 200 MiB, a hit is a directory listing", async () => {
    const cache = new TestDataCache(join(tmp, "in-process-cache"), 1024 * 1024 * 1024);
    let t = performance.now();
    (await cache.acquire(data)).release();
    const missMs = performance.now() - t;
    t = performance.now();
    const held = await cache.acquire(data);
    const hitMs = performance.now() - t;
    held.release();
    console.log(`[e2e] test data cache: miss ${missMs.toFixed(0)} ms, hit ${hitMs.toFixed(2)} ms`);
    expect(held.tests).toHaveLength(100);
    expect((await stat(held.tests[0]!.input)).size).toBe(BODY + 2);
  }, 300_000);

  it("a small set from a ConfigMap, a built-in comparison, no groups: 100 points for all three tests", async () => {
    await client.create(ConfigMapResource, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "small-set", namespace: NS },
      data: {
        "1.in": "1\naaa",
        "1.ans": "3\n",
        "2.in": "2\naaaaa",
        "2.ans": "5",
        "3.in": "3\n",
        "3.ans": "0\n",
      },
    } as never);
    await client.create(
      ProblemResource,
      problem("count-small", { testData: { configMap: "small-set" }, outputComparison: "Tokens" }),
    );
    await create("count-small-right", {
      runtime: RT,
      problem: "count-small",
      files: [file("main.c", submission(-1))],
    });
    const ex = await complete("count-small-right", 120_000);
    expect(ex.status?.verdict).toBe("Accepted");
    expect(ex.status?.tests?.map((t) => t.name)).toEqual(["1", "2", "3"]);
    expect(ex.status?.score).toEqual({
      points: 100,
      maxPoints: 100,
      groups: [{ name: "all", points: 100, maxPoints: 100, verdict: "Accepted", tests: 3 }],
    });
    expect(ex.status?.judgedWith?.testDataSha256).toMatch(/^[0-9a-f]{64}$/);
  }, 180_000);

  it("examples/problems: the a-plus-b Problem's groups give 100 points, or 40 with int overflowing in the large group", async () => {
    const [prob] = parseAllDocuments(
      readFileSync(join(ROOT, "examples/problems/a-plus-b-groups.yaml"), "utf8"),
    );
    const sub = parse(readFileSync(join(ROOT, "examples/problems/a-plus-b-submission.yaml"), "utf8"));
    const p = prob!.toJS() as Problem;
    await client.create(ProblemResource, { ...p, metadata: { name: p.metadata.name, namespace: NS } });
    const source = sub.spec.files[0].content as string;
    const spec = (content: string) => ({ ...sub.spec, runtime: RT, files: [file("main.c", content)] });
    await create("a-plus-b-right", spec(source));
    await create("a-plus-b-int", spec(source.replaceAll("long long", "int").replaceAll("%lld", "%d")));
    const [right, int] = [await complete("a-plus-b-right", 120_000), await complete("a-plus-b-int", 120_000)];
    expect([right.status?.verdict, right.status?.score?.points]).toEqual(["Accepted", 100]);
    expect([int.status?.verdict, int.status?.score?.points]).toEqual(["WrongAnswer", 40]);
    expect(int.status?.tests?.map((t) => [t.name, t.verdict])).toEqual([
      ["small-1", "Accepted"],
      ["small-2", "Accepted"],
      ["large-1", "WrongAnswer"],
    ]);
    expect(int.status?.score?.groups[1]).toMatchObject({ name: "large", points: 0, skipped: 1 });
  }, 300_000);

  it("rejudging a Problem's Executions after it changed: new Executions, the new points, the new generation", async () => {
    const p = await client.get(ProblemResource, "a-plus-b", NS);
    p.spec.groups = p.spec.groups!.map((g) => ({ ...g, points: 50 }));
    await client.replace(ProblemResource, p);
    const names = await rejudge(kubeConfig(), { namespace: NS, problem: "a-plus-b" });
    expect(names).toHaveLength(2);
    const results = await Promise.all(names.map((n) => complete(n, 120_000)));
    const byOld = Object.fromEntries(
      results.map((r) => [
        r.metadata.labels?.[REJUDGE_OF_LABEL],
        [r.status?.verdict, r.status?.score?.points],
      ]),
    );
    expect(byOld).toEqual({ "a-plus-b-right": ["Accepted", 100], "a-plus-b-int": ["WrongAnswer", 50] });
    const old = await client.get(ExecutionResource, "a-plus-b-int", NS);
    expect(results[0]!.status?.judgedWith?.problemGeneration).toBe(
      (old.status?.judgedWith?.problemGeneration ?? 0) + 1,
    );
    expect(results[0]!.status?.judgedWith?.closureHash).toBe(old.status?.judgedWith?.closureHash);
  }, 300_000);

  it("a Problem's submission that does not compile shows its compiler's message (its own output, not hidden data)", async () => {
    await create("count-small-broken", {
      runtime: RT,
      problem: "count-small",
      files: [file("main.c", "int main(void) { return undefined_name; }\n")],
    });
    const ex = await complete("count-small-broken", 120_000);
    expect(ex.status?.verdict).toBe("CompilationError");
    expect(ex.status?.compile?.stderr ?? "").toContain("undefined_name");
  }, 180_000);

  it("an interactive Problem: a C interactor judges a binary search Accepted and a fixed guess WrongAnswer", async () => {
    const INTERACTOR_C = [
      "#include <stdio.h>",
      "int main(int argc, char **argv) {",
      '  int n = 0, g = 0; FILE *in = fopen(argv[1], "r"); if (!in || fscanf(in, "%d", &n) != 1) return 3;',
      "  for (int i = 1; i <= 10; i++) {",
      '    if (scanf("%d", &g) != 1) { fprintf(stderr, "no guess"); return 1; }',
      '    if (g == n) { printf("=\\n"); fflush(stdout); fprintf(stderr, "ok in %d", i); return 0; }',
      '    printf(g > n ? "<\\n" : ">\\n"); fflush(stdout);',
      "  }",
      '  fprintf(stderr, "not guessed"); return 1;',
      "}",
    ].join("\n");
    const SEARCH_C =
      "#include <stdio.h>\nint main(void){int lo=1,hi=1000;char r[4];for(;;){int m=(lo+hi)/2;printf(\"%d\\n\",m);fflush(stdout);if(scanf(\"%3s\",r)!=1)return 0;if(r[0]=='=')return 0;if(r[0]=='<')hi=m-1;else lo=m+1;}}\n";
    const FIXED_C =
      '#include <stdio.h>\nint main(void){char r[4];for(;;){printf("5\\n");fflush(stdout);if(scanf("%3s",r)!=1)return 0;}}\n';
    await client.create(
      ProblemResource,
      problem("guess", {
        testCases: [
          { name: "n-1", stdin: "1\n" },
          { name: "n-777", stdin: "777\n" },
        ],
        interactor: { files: [file("interactor.c", INTERACTOR_C)] },
        showJudgeMessages: true,
      }),
    );
    await create("guess-search", { runtime: RT, problem: "guess", files: [file("main.c", SEARCH_C)] });
    await create("guess-fixed", { runtime: RT, problem: "guess", files: [file("main.c", FIXED_C)] });
    const [ok, wrong] = [await complete("guess-search", 180_000), await complete("guess-fixed", 180_000)];
    expect(ok.status?.verdict).toBe("Accepted");
    expect(ok.status?.tests?.map((t) => [t.name, t.verdict, t.message])).toEqual([
      ["n-1", "Accepted", "ok in 9"],
      ["n-777", "Accepted", "ok in 8"],
    ]);
    expect(ok.status?.score?.points).toBe(100);
    expect(wrong.status?.verdict).toBe("WrongAnswer");
    expect(wrong.status?.tests?.[0]?.message).toBe("not guessed");
    expect(wrong.status?.score?.points).toBe(0);
  }, 300_000);

  it("an Execution of a missing Problem fails with ProblemNotFound", async () => {
    await create("no-problem", { runtime: RT, problem: "nope", files: [file("main.c", submission(0))] });
    const ex = await complete("no-problem", 60_000);
    expect(ex.status?.phase).toBe("Failed");
    expect(ex.status?.conditions?.find((c) => c.type === "Failed")?.reason).toBe("ProblemNotFound");
  }, 120_000);
});
