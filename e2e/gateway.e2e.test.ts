// The gateway (src/gateway) against the real control plane, a real agent with
// Nix runtimes and isolate, and the chart's least-privilege RBAC: Piston's own
// JavaScript client from npm, used unchanged; Judge0 CE's documented request
// and response examples as contract tests; auth, limits and callbacks.
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { piston } from "piston-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExecutionResource } from "../src/k8s/resources.ts";
import { kubectl } from "./support/cluster.ts";
import {
  BASH_GATEWAY,
  C_GATEWAY,
  type GatewayEnv,
  PY_GATEWAY,
  setUpGatewayEnv,
} from "./support/gateway-env.ts";
import { isolateAvailable } from "./support/stand-in-runtimes.ts";

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field below
type Json = any;

const isolateMissing = !(await isolateAvailable("gateway e2e tests"));
let env: GatewayEnv;

beforeAll(async () => {
  if (isolateMissing) return;
  env = await setUpGatewayEnv({
    name: "gateway-e2e",
    tenants: [
      { name: "alpha" },
      { name: "beta", data: { requestsPerSecond: "1", burst: "3", queueMax: "2" } },
    ],
    runtimes: { "gw-py": PY_GATEWAY, "gw-c": C_GATEWAY, "gw-bash": BASH_GATEWAY },
    agents: 1,
    slots: 2,
    boxIdBase: 500,
    gatewayEnv: {
      ENVICUTOR_GATEWAY_MAX_BODY_BYTES: String(256 * 1024),
      ENVICUTOR_GATEWAY_CALLBACK_BASE_DELAY_MS: "300",
      ENVICUTOR_GATEWAY_CALLBACK_ATTEMPTS: "4",
      ENVICUTOR_GATEWAY_WAIT_TIMEOUT_SECONDS: "120",
    },
  });
}, 600_000);

afterAll(async () => {
  await env?.stop();
}, 180_000);

const token = (tenant = "alpha") => env.tenants.get(tenant)!.token;

/** A request to the gateway with a tenant's bearer token; the body is sent as JSON. */
async function call(
  method: string,
  path: string,
  body?: unknown,
  opts: { tenant?: string | null; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Json; headers: Headers }> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.tenant !== null) headers.Authorization = `Bearer ${token(opts.tenant ?? "alpha")}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`${env.url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, headers: res.headers };
}

/** Polls GET /submissions/:token until the status is no longer In Queue or Processing. */
async function judged(tok: string, tenant = "alpha"): Promise<Json> {
  for (let i = 0; i < 300; i++) {
    const r = await call("GET", `/submissions/${tok}`, undefined, { tenant });
    if (r.status === 429) {
      await new Promise((res) => setTimeout(res, 1000)); // a rate-limited token polls slower
      continue;
    }
    expect(r.status).toBe(200);
    if (r.json.status.id > 2) return r.json;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`submission ${tok} never finished`);
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe.skipIf(isolateMissing)("Piston's JavaScript client (piston-client from npm, unchanged)", () => {
  it("lists the Ready Runtimes and runs code, only the base URL changed", async () => {
    // The client takes only a server URL: the token rides in it as HTTP Basic credentials.
    const client = piston({ server: env.url.replace("http://", `http://${token()}@`) });
    const runtimes = await client.runtimes();
    console.log("piston runtimes():", JSON.stringify(runtimes));
    expect(runtimes).toEqual(
      expect.arrayContaining([
        { language: "python", version: "3.11", aliases: ["py", "python3"], runtime: "gw-py" },
        { language: "c", version: "12", aliases: [], runtime: "gw-c" },
      ]),
    );
    const r = await client.execute("python", "import sys\nprint(input()[::-1], sys.argv[1:])", {
      stdin: "abc",
    });
    console.log("piston execute(python):", JSON.stringify(r));
    expect(r.language).toBe("python");
    expect(r.version).toBe("3.11");
    // piston-client sends args ["1","2","3"] by default.
    expect(r.run).toMatchObject({ stdout: "cba ['1', '2', '3']\n", stderr: "", code: 0, signal: null });
    expect(r.run.output).toBe("cba ['1', '2', '3']\n");
  });

  it("returns compile and run for a compiled language, and Piston's statuses on failure", async () => {
    const client = piston({ server: env.url.replace("http://", `http://${token()}@`) });
    const ok = await client.execute(
      "c",
      '#include <stdio.h>\nint main(int c, char**v){printf("%d\\n", c); return 3;}\n',
    );
    console.log("piston execute(c):", JSON.stringify(ok));
    expect(ok.compile).toMatchObject({ code: 0, signal: null });
    expect(ok.run).toMatchObject({ stdout: "4\n", code: 3, signal: null, status: "RE" });
    const ce = await client.execute("c", "int main( {");
    expect(ce.compile?.code).not.toBe(0);
    expect(ce.compile?.stderr).toContain("error");
    expect(ce.run).toBeUndefined();
    const segv = await client.execute("c", "int main(void){ *(volatile int*)0 = 1; return 0; }");
    expect(segv.run).toMatchObject({ signal: "SIGSEGV", code: null, status: "SG" });
    const slow = await client.execute("python", "while True: pass", { runTimeout: 1000 });
    console.log("piston execute(loop, run_timeout 1000):", JSON.stringify(slow.run));
    expect(slow.run.status).toBe("TO");
    // piston-client finds no version for an unknown language and sends none, as against Piston.
    const unknown = await client.execute("cobol", "x");
    expect(unknown).toEqual({ message: "version is required as a string" });
    const unknownVersion = await client.execute("python", "x", { version: "2.7" });
    expect(unknownVersion).toEqual({ message: "python-2.7 runtime is unknown" });
  });
});

describe.skipIf(isolateMissing)("Judge0 CE's documented examples (contract)", () => {
  it("GET /statuses lists Judge0's ids and descriptions", async () => {
    const r = await call("GET", "/statuses");
    expect(r.status).toBe(200);
    expect(r.json).toEqual([
      { id: 1, description: "In Queue" },
      { id: 2, description: "Processing" },
      { id: 3, description: "Accepted" },
      { id: 4, description: "Wrong Answer" },
      { id: 5, description: "Time Limit Exceeded" },
      { id: 6, description: "Compilation Error" },
      { id: 7, description: "Runtime Error (SIGSEGV)" },
      { id: 8, description: "Runtime Error (SIGXFSZ)" },
      { id: 9, description: "Runtime Error (SIGFPE)" },
      { id: 10, description: "Runtime Error (SIGABRT)" },
      { id: 11, description: "Runtime Error (NZEC)" },
      { id: 12, description: "Runtime Error (Other)" },
      { id: 13, description: "Internal Error" },
      { id: 14, description: "Exec Format Error" },
    ]);
  });

  it("GET /languages lists {id, name} by Judge0 CE's ids; GET /languages/:id has the details", async () => {
    const r = await call("GET", "/languages");
    console.log("GET /languages:", JSON.stringify(r.json));
    expect(r.json).toEqual(
      expect.arrayContaining([
        { id: 46, name: "Bash (5)" },
        { id: 50, name: "C (12)" },
        { id: 71, name: "Python (3.11)" },
      ]),
    );
    for (const l of r.json) expect(Object.keys(l).sort()).toEqual(["id", "name"]);
    const one = await call("GET", "/languages/50");
    expect(one.json).toMatchObject({ id: 50, name: "C (12)", is_archived: false, source_file: "main.c" });
    expect((await call("GET", "/languages/9999")).status).toBe(404);
  });

  it("GET /system_info and /config_info answer", async () => {
    const info = await call("GET", "/system_info");
    expect(info.status).toBe(200);
    expect(info.json["CPU(s)"]).toBeDefined();
    const config = await call("GET", "/config_info");
    expect(config.json).toMatchObject({ enable_wait_result: true, max_submission_batch_size: 20 });
  });

  it("POST /submissions then GET /submissions/:token (the docs' C hello-world with stdin 'world')", async () => {
    // Judge0's docs use language_id 4 (an old C); 50 is Judge0 CE's C (GCC 9.2.0).
    const created = await call("POST", "/submissions", {
      source_code:
        '#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf("%s", name);\n  printf("hello, %s\\n", name);\n  return 0;\n}',
      language_id: 50,
      stdin: "world",
    });
    console.log("POST /submissions:", created.status, JSON.stringify(created.json));
    expect(created.status).toBe(201);
    expect(Object.keys(created.json)).toEqual(["token"]);
    expect(created.json.token).toMatch(/^[0-9a-f-]{36}$/);
    const got = await judged(created.json.token);
    console.log("GET /submissions/:token:", JSON.stringify(got));
    expect(Object.keys(got).sort()).toEqual(
      ["compile_output", "memory", "message", "status", "stderr", "stdout", "time", "token"].sort(),
    );
    expect(got).toMatchObject({
      stdout: "hello, world\n",
      stderr: null,
      token: created.json.token,
      compile_output: null,
      message: null,
      status: { id: 3, description: "Accepted" },
    });
    expect(got.time).toMatch(/^\d+\.\d{3}$/);
    expect(typeof got.memory).toBe("number");
  });

  it("POST /submissions?base64_encoded=true&wait=true (the docs' example: stdin 'Judge0')", async () => {
    const r = await call("POST", "/submissions?base64_encoded=true&wait=true", {
      source_code:
        "I2luY2x1ZGUgPHN0ZGlvLmg+CgppbnQgbWFpbih2b2lkKSB7CiAgY2hhciBuYW1lWzEwXTsKICBzY2FuZigiJXMiLCBuYW1lKTsKICBwcmludGYoImhlbGxvLCAlc1xuIiwgbmFtZSk7CiAgcmV0dXJuIDA7Cn0=",
      language_id: 50,
      stdin: "SnVkZ2Uw",
    });
    console.log("POST wait=true base64:", r.status, JSON.stringify(r.json));
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({
      stdout: "aGVsbG8sIEp1ZGdlMAo=",
      stderr: null,
      compile_output: null,
      message: null,
      status: { id: 3, description: "Accepted" },
    });
  });

  it("a compilation error has status 6 and the compiler's output, base64-encoded when asked", async () => {
    const r = await call("POST", "/submissions?base64_encoded=true&wait=true", {
      source_code: b64('#include <stdio.h>\n\nint main(void) {\n  printf("hello")\n}'),
      language_id: 50,
    });
    expect(r.json.status).toEqual({ id: 6, description: "Compilation Error" });
    const out = Buffer.from(r.json.compile_output, "base64").toString();
    console.log("compile_output:", out);
    expect(out).toContain("error");
    expect(r.json.stdout).toBeNull();
  });

  it("expected_output judges Accepted and Wrong Answer", async () => {
    const ok = await call("POST", "/submissions?wait=true", {
      source_code: "print(int(input()) * 2)",
      language_id: 71,
      stdin: "21",
      expected_output: "42",
    });
    expect(ok.json.status.id).toBe(3);
    const wa = await call("POST", "/submissions?wait=true", {
      source_code: "print(int(input()) * 2)",
      language_id: 71,
      stdin: "21",
      expected_output: "43",
    });
    expect(wa.json.status).toEqual({ id: 4, description: "Wrong Answer" });
    expect(wa.json.stdout).toBe("42\n");
  });

  it.each([
    ["Runtime Error (NZEC)", 71, "import sys\nsys.exit(3)", {}, 11],
    ["Runtime Error (SIGSEGV)", 50, "int main(void){ *(volatile int*)0 = 1; return 0; }", {}, 7],
    ["Runtime Error (SIGFPE)", 50, "int main(void){ volatile int n = 7, z = 0; return n / z; }", {}, 9],
    ["Runtime Error (SIGABRT)", 50, "#include <stdlib.h>\nint main(void){ abort(); }", {}, 10],
    ["Time Limit Exceeded", 71, "while True: pass", { cpu_time_limit: 0.5 }, 5],
  ])("%s is status %i's description", async (description, language_id, source_code, limits, id) => {
    const r = await call("POST", "/submissions?wait=true&fields=status,exit_code,exit_signal,message,time", {
      source_code,
      language_id,
      ...limits,
    });
    console.log(`${description}:`, JSON.stringify(r.json));
    expect(r.json.status).toEqual({ id, description });
    if (id === 11) expect(r.json.exit_code).toBe(3);
    if (id === 7) expect(r.json.exit_signal).toBe(11);
  });

  it("?fields picks fields, * gives all, an unknown one is 400", async () => {
    const created = await call("POST", "/submissions?wait=true&fields=stdout,stderr,status_id,language_id", {
      source_code: "print('hi')",
      language_id: 71,
    });
    expect(created.json).toEqual({ stdout: "hi\n", stderr: null, status_id: 3, language_id: 71 });
    const all = await call("POST", "/submissions?wait=true&fields=*", {
      source_code: "print('hi')",
      language_id: 71,
    });
    expect(all.json).toMatchObject({
      source_code: "print('hi')",
      language_id: 71,
      language: { id: 71, name: "Python (3.11)" },
    });
    expect(all.json.finished_at).toBeTruthy();
    const bad = await call("GET", `/submissions/${all.json.token}?fields=stdout,nope`);
    expect(bad.status).toBe(400);
    expect(bad.json.error).toContain("nope");
  });

  it("POST /submissions/batch and GET /submissions/batch (the docs' Bash, Python and Ruby example)", async () => {
    const created = await call("POST", "/submissions/batch", {
      submissions: [
        { language_id: 46, source_code: "echo hello from Bash" },
        { language_id: 71, source_code: 'print("hello from Python")' },
        { language_id: 72, source_code: 'puts("hello from Ruby")' },
      ],
    });
    console.log("POST /submissions/batch:", created.status, JSON.stringify(created.json));
    expect(created.status).toBe(201);
    expect(created.json).toHaveLength(3);
    expect(created.json[0].token).toBeDefined();
    expect(created.json[1].token).toBeDefined();
    // No Runtime here has Judge0's Ruby id: that one submission is refused, the others run.
    expect(created.json[2]).toEqual({ language_id: ["language with id 72 doesn't exist"] });
    const tokens = [created.json[0].token, created.json[1].token];
    for (const t of tokens) await judged(t);
    const got = await call(
      "GET",
      `/submissions/batch?tokens=${tokens.join(",")},00000000-0000-4000-8000-000000000000&base64_encoded=true&fields=token,stdout,status_id,language_id`,
    );
    console.log("GET /submissions/batch:", JSON.stringify(got.json));
    expect(got.json).toEqual({
      submissions: [
        { token: tokens[0], stdout: b64("hello from Bash\n"), status_id: 3, language_id: 46 },
        { token: tokens[1], stdout: b64("hello from Python\n"), status_id: 3, language_id: 71 },
        null,
      ],
    });
  });

  it("refuses bad submissions with 422 and the field, as Judge0 does", async () => {
    const none = await call("POST", "/submissions", { source_code: "x" });
    expect(none).toMatchObject({ status: 422, json: { language_id: ["can't be blank"] } });
    const unknown = await call("POST", "/submissions", { source_code: "x", language_id: 9999 });
    expect(unknown).toMatchObject({
      status: 422,
      json: { language_id: ["language with id 9999 doesn't exist"] },
    });
    const tooLong = await call("POST", "/submissions", {
      source_code: "x",
      language_id: 71,
      cpu_time_limit: 1000,
    });
    expect(tooLong).toMatchObject({
      status: 422,
      json: { cpu_time_limit: ["must be less than or equal to 20"] },
    });
    expect((await call("GET", "/submissions/not-a-token")).status).toBe(404);
  });
});

describe.skipIf(isolateMissing)("auth, isolation and limits", () => {
  it("needs a valid token (401) and puts each token's Executions in its own namespace", async () => {
    const none = await call("GET", "/languages", undefined, { tenant: null });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    const wrong = await call("GET", "/languages", undefined, {
      tenant: null,
      headers: { Authorization: "Bearer nope" },
    });
    expect(wrong.status).toBe(401);
    const judge0Header = await call("GET", "/statuses", undefined, {
      tenant: null,
      headers: { "X-Auth-Token": token() },
    });
    expect(judge0Header.status).toBe(200);

    const created = await call("POST", "/submissions?wait=true&fields=token", {
      source_code: "print(1)",
      language_id: 71,
    });
    const ex = await env.client.get(
      ExecutionResource,
      created.json.token,
      env.tenants.get("alpha")!.namespace,
    );
    expect(ex.metadata.labels).toMatchObject({ "gateway.envicutor.io/tenant": "alpha" });
    // Another token cannot read it.
    const other = await call("GET", `/submissions/${created.json.token}`, undefined, { tenant: "beta" });
    console.log("beta reading alpha's submission:", other.status, JSON.stringify(other.json));
    expect(other.status).toBe(404);
  });

  it("answers 413 for a body over the limit, with or without Content-Length", async () => {
    const big = JSON.stringify({ source_code: "x".repeat(300 * 1024), language_id: 71 });
    const r = await call("POST", "/submissions", big);
    console.log("300 KiB body:", r.status, JSON.stringify(r.json));
    expect(r.status).toBe(413);
    const chunked = await new Promise<number>((resolve, reject) => {
      const u = new URL(`${env.url}/api/v2/execute`);
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: "POST",
          headers: { Authorization: `Bearer ${token()}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      for (let i = 0; i < 300; i++) req.write("x".repeat(1024));
      req.end();
    });
    expect(chunked).toBe(413);
  });

  it("rate-limits per token (429 with Retry-After) without touching other tokens", async () => {
    await new Promise((r) => setTimeout(r, 3000)); // beta's bucket refills (1/s, burst 3)
    const codes: number[] = [];
    for (let i = 0; i < 5; i++)
      codes.push((await call("GET", "/statuses", undefined, { tenant: "beta" })).status);
    console.log("beta, 5 requests at once with burst 3:", codes);
    expect(codes.slice(0, 3)).toEqual([200, 200, 200]);
    expect(codes.slice(3)).toEqual([429, 429]);
    const limited = await call("GET", "/statuses", undefined, { tenant: "beta" });
    expect(limited.headers.get("retry-after")).toBe("1");
    expect((await call("GET", "/statuses")).status).toBe(200);
  });

  it("answers 503 when the token's queue is full (queueMax 2), and takes submissions again once it drains", async () => {
    await new Promise((r) => setTimeout(r, 3000));
    const slow = { source_code: "import time\ntime.sleep(3)", language_id: 71 };
    const a = await call("POST", "/submissions", slow, { tenant: "beta" });
    const b = await call("POST", "/submissions", slow, { tenant: "beta" });
    const c = await call("POST", "/submissions", slow, { tenant: "beta" });
    console.log("beta queue:", a.status, b.status, c.status, JSON.stringify(c.json));
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(c.status).toBe(503);
    expect(c.json.error).toContain("queue is full");
    await judged(a.json.token, "beta");
    await judged(b.json.token, "beta");
    await new Promise((r) => setTimeout(r, 1500));
    const d = await call(
      "POST",
      "/submissions",
      { source_code: "print(1)", language_id: 71 },
      { tenant: "beta" },
    );
    expect(d.status).toBe(201);
  });

  it("the gateway's ServiceAccount can create, read and watch Executions in tenant namespaces only", async () => {
    const sa = `system:serviceaccount:${env.namespace}:gateway-envicutor-gateway`;
    // kubectl auth can-i exits 0 for yes and 1 for no.
    const can = (verb: string, resource: string, ns?: string) =>
      kubectl(["auth", "can-i", verb, resource, "--as", sa, ...(ns ? ["-n", ns] : [])]).then(
        () => "yes",
        () => "no",
      );
    const alpha = env.tenants.get("alpha")!.namespace;
    const checks = {
      createInTenant: await can("create", "executions.envicutor.io", alpha),
      watchInTenant: await can("watch", "executions.envicutor.io", alpha),
      deleteInTenant: await can("delete", "executions.envicutor.io", alpha),
      updateStatusInTenant: await can("update", "executions.envicutor.io/status", alpha),
      createElsewhere: await can("create", "executions.envicutor.io", "default"),
      secretsElsewhere: await can("list", "secrets", "default"),
      runtimesWrite: await can("update", "runtimes.envicutor.io"),
    };
    console.log("gateway RBAC:", JSON.stringify(checks));
    expect(checks.createInTenant).toBe("yes");
    expect(checks.watchInTenant).toBe("yes");
    for (const k of [
      "deleteInTenant",
      "updateStatusInTenant",
      "createElsewhere",
      "secretsElsewhere",
      "runtimesWrite",
    ] as const)
      expect(checks[k], k).toBe("no");
  });
});

describe.skipIf(isolateMissing)("Judge0 callbacks", () => {
  it("PUTs the finished submission to callback_url, retrying with growing delays after failures", async () => {
    const seen: { at: number; body: Json }[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        seen.push({ at: Date.now(), body: JSON.parse(body) });
        // The first two tries fail (500, then no answer until the gateway's 5 s timeout would hit is too slow: a 503).
        res.writeHead(seen.length <= 2 ? (seen.length === 1 ? 500 : 503) : 204).end();
      });
      expect(req.method).toBe("PUT");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/judge0-callback`;
    try {
      const created = await call("POST", "/submissions", {
        source_code: "print(6 * 7)",
        language_id: 71,
        callback_url: url,
      });
      expect(created.status).toBe(201);
      for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 1500)); // no fourth try after the success
      const gaps = seen.slice(1).map((s, i) => s.at - seen[i]!.at);
      console.log("callback tries:", seen.length, "gaps ms:", gaps, "body:", JSON.stringify(seen[2]?.body));
      expect(seen).toHaveLength(3);
      expect(seen[2]!.body).toMatchObject({
        token: created.json.token,
        stdout: "42\n",
        status: { id: 3, description: "Accepted" },
      });
      expect(gaps[0]).toBeGreaterThanOrEqual(200); // 300 ms ± 20 %
      expect(gaps[1]).toBeGreaterThan(gaps[0]! * 1.3); // doubled
    } finally {
      server.close();
    }
  });
});
