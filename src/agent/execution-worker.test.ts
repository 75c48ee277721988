import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Execution, ExecutionStatus } from "../api/execution.ts";
import type { RuntimeSpec } from "../api/runtime.ts";
import { validCompiledRuntime, validExecution } from "../api/test-fixtures.ts";
import type { KubeClient } from "../k8s/client.ts";
import { ApiError, ConflictError, TransportError } from "../k8s/errors.ts";
import { encodedSize } from "./encoded-size.ts";
import { ExecutionWorker } from "./execution-worker.ts";
import type { ExecutionOutcome, ExecutionRunner } from "./ports.ts";
import type { ProblemResolver } from "./problem/problem-run.ts";
import { TestPlan } from "./problem/test-plan.ts";
import { OBJECT_BUDGET_BYTES } from "./result-fit.ts";
import type { RuntimeSync } from "./runtime-sync.ts";
import { truncateUtf8 } from "./sandbox/output-capture.ts";
import { StartedJournal } from "./started-journal.ts";

const NODE = "node-a";
const KEY = "ns/hostile";
const runtimeSpec = (validCompiledRuntime("c-gcc") as { spec: RuntimeSpec }).spec;

/**
 * A stand-in for the apiserver's Execution status endpoint: conditional writes
 * (resourceVersion), etcd's size limit on the encoded object, and errors a test
 * queues for the next writes.
 */
class FakeApiserver {
  obj: Execution;
  rv = 1;
  limitBytes: number;
  /** Per-write limit (e.g. only for the result, not for Running); default limitBytes. */
  limitFor?: (obj: Execution) => number;
  /** Called before each write (a test throws or queues errors here). */
  beforeWrite?: (obj: Execution) => void;
  writes: { bytes: number; ok: boolean; status: ExecutionStatus }[] = [];
  failNext: unknown[] = [];
  /** How long each write takes before it is checked (so a test can have two in flight). */
  writeDelayMs = 0;
  failReads = 0;

  constructor(status: ExecutionStatus, limitBytes = 1.5 * 1024 * 1024) {
    const e = validExecution("hostile", "ns") as unknown as Execution;
    e.spec.runtime = "c-gcc";
    e.metadata = { ...e.metadata, uid: "uid-1", resourceVersion: "1", generation: 1 };
    e.status = status;
    this.obj = e;
    this.limitBytes = limitBytes;
  }

  client(): KubeClient {
    return {
      tryGet: async () => {
        if (this.failReads-- > 0) throw new TransportError("connection refused", undefined);
        return structuredClone(this.obj);
      },
      replaceStatus: async (_res: unknown, obj: Execution) => {
        if (this.writeDelayMs) await new Promise((r) => setTimeout(r, this.writeDelayMs));
        const bytes = Buffer.byteLength(JSON.stringify(obj));
        const fail = (err: unknown) => {
          this.writes.push({ bytes, ok: false, status: obj.status! });
          throw err;
        };
        try {
          this.beforeWrite?.(obj);
        } catch (err) {
          fail(err);
        }
        const injected = this.failNext.shift();
        if (injected) fail(injected);
        if (obj.metadata.resourceVersion !== String(this.rv)) fail(new ConflictError("conflict", {}));
        if (bytes > (this.limitFor?.(obj) ?? this.limitBytes))
          fail(new ApiError(500, "InternalError", "etcdserver: request is too large", {}));
        this.writes.push({ bytes, ok: true, status: obj.status! });
        this.rv++;
        this.obj = {
          ...structuredClone(obj),
          metadata: { ...obj.metadata, resourceVersion: String(this.rv) },
        };
        return structuredClone(this.obj);
      },
    } as unknown as KubeClient;
  }
}

/** A runner that counts runs and, like the executor, caps each stream with truncateUtf8. */
function hostileRunner(stdout: Buffer, stderr: Buffer, verdict: "Accepted" | "InternalError" = "Accepted") {
  const r = {
    runs: 0,
    caps: [] as number[],
    runner: {
      run: async (_spec, rt): Promise<ExecutionOutcome> => {
        r.runs++;
        const cap = rt.outputCapBytes ?? 64 * 1024;
        r.caps.push(cap);
        const out = truncateUtf8(stdout, cap);
        const err = truncateUtf8(stderr, cap);
        return {
          verdict,
          tests: [
            {
              name: "1",
              verdict,
              exitCode: 0,
              stdout: out.text,
              stderr: err.text,
              ...(out.truncated ? { stdoutTruncated: true } : {}),
              ...(err.truncated ? { stderrTruncated: true } : {}),
            },
          ],
        };
      },
    } as ExecutionRunner,
  };
  return r;
}

function worker(
  api: FakeApiserver,
  runner: ExecutionRunner,
  opts: {
    installed?: boolean;
    objectBudgetBytes?: number;
    draining?: () => string | undefined;
    runningDelayMs?: number;
    journal?: StartedJournal;
    problems?: ProblemResolver;
  } = {},
) {
  return new ExecutionWorker({
    client: api.client(),
    nodeName: NODE,
    runner,
    runtimes: {
      runtimeFor: async () => (opts.installed === false ? undefined : { spec: runtimeSpec, env: {} }),
    } as unknown as RuntimeSync,
    logger: pino({ level: "silent" }),
    getExecution: () => structuredClone(api.obj),
    retryDelayMs: () => 0,
    newerWaitMs: 0,
    ...(opts.objectBudgetBytes ? { objectBudgetBytes: opts.objectBudgetBytes } : {}),
    ...(opts.draining ? { draining: opts.draining } : {}),
    ...(opts.runningDelayMs !== undefined ? { runningDelayMs: opts.runningDelayMs } : {}),
    ...(opts.journal ? { journal: opts.journal } : {}),
    ...(opts.problems ? { problems: opts.problems } : {}),
  });
}

const scheduled = (attempts = 1): ExecutionStatus => ({
  phase: "Scheduled",
  nodeName: NODE,
  runtimeGeneration: 1,
  attempts,
  scheduledTime: "2025-01-01T00:00:00Z",
  observedGeneration: 1,
  conditions: [
    {
      type: "Scheduled",
      status: "True",
      reason: "Scheduled",
      message: `assigned to node ${NODE} (attempt ${attempts})`,
      lastTransitionTime: "2025-01-01T00:00:00Z",
      observedGeneration: 1,
    },
  ],
});
const NULS = Buffer.alloc(400_000, 0);
const CONTROL = Buffer.from(Array.from({ length: 400_000 }, (_, i) => i % 32));
const INVALID = Buffer.alloc(400_000, 0xff);

function summary(api: FakeApiserver): string {
  return api.writes.map((w) => `${w.status.phase}:${w.bytes}B:${w.ok ? "ok" : "refused"}`).join(" → ");
}

describe("ExecutionWorker result writes", () => {
  it("400 KB of NULs and control bytes on stdout and stderr: one write, under the budget, run once", async () => {
    for (const [what, out, err] of [
      ["NULs", NULS, NULS],
      ["control bytes", CONTROL, CONTROL],
      ["invalid UTF-8", INVALID, INVALID],
      ["multi-byte", Buffer.from("😀".repeat(100_000)), Buffer.from("€".repeat(133_000))],
    ] as const) {
      const api = new FakeApiserver(scheduled());
      const r = hostileRunner(out, err);
      expect(await worker(api, r.runner).process(KEY)).toBeUndefined();
      const final = api.writes.at(-1)!;
      console.log(`${what}: per-stream cap ${r.caps[0]} B; writes ${summary(api)}`);
      expect(r.runs).toBe(1);
      expect(final.ok).toBe(true);
      expect(api.obj.status?.phase).toBe("Succeeded");
      expect(encodedSize(api.obj)).toBeLessThanOrEqual(OBJECT_BUDGET_BYTES);
      expect(api.obj.status?.tests?.[0]?.stdoutTruncated).toBe(true);
    }
  });

  it("a write refused as too large is rewritten with half the output, saying so, without a re-run", async () => {
    const api = new FakeApiserver(scheduled(), 100_000); // an etcd limit lower than the agent's budget
    const r = hostileRunner(NULS, CONTROL);
    await worker(api, r.runner).process(KEY);
    console.log(`etcd limit 100000 B: writes ${summary(api)}; message: ${api.obj.status?.message}`);
    expect(r.runs).toBe(1);
    expect(api.obj.status?.phase).toBe("Succeeded");
    expect(api.obj.status?.verdict).toBe("Accepted");
    expect(api.obj.status?.message).toMatch(/output cut to \d+ bytes to fit/);
    expect(api.writes.filter((w) => !w.ok).length).toBeGreaterThanOrEqual(1);
  });

  it("down to no output, then a bare Failed with the reason when even that does not fit", async () => {
    // The object without any output is already near the limit: outputs go, then the results.
    const api = new FakeApiserver(scheduled());
    const r = hostileRunner(NULS, NULS);
    const w = worker(api, r.runner);
    // Results do not fit at all (think: a spec near the limit and 64 tests): only a bare status does.
    api.limitFor = (obj) => (obj.status?.tests ? 500 : 1_000_000);
    await w.process(KEY);
    console.log(`no results fit: writes ${summary(api)}; message: ${api.obj.status?.message}`);
    expect(r.runs).toBe(1);
    const steps = api.writes.filter((w) => w.status.phase !== "Running");
    expect(steps.at(-1)?.ok).toBe(true);
    expect(api.obj.status?.phase).toBe("Failed");
    expect(api.obj.status?.conditions?.find((c) => c.type === "Failed")?.reason).toBe("ResultTooLarge");
    expect(api.obj.status?.message).toMatch(/verdict Accepted; the result could not be stored/);
    expect(api.obj.status?.tests).toBeUndefined();
    // the last refused step had no output at all
    const refused = steps.filter((s) => !s.ok);
    expect(refused.at(-1)?.status.tests?.[0]?.stdout).toBe("");
    expect(refused.at(-1)?.status.message).toMatch(/output dropped to fit/);
  });

  it("an InternalError verdict (phase Failed) with results steps down the same way, output first", async () => {
    const api = new FakeApiserver(scheduled());
    const r = hostileRunner(NULS, NULS, "InternalError");
    api.limitFor = (obj) => (obj.status?.tests ? 500 : 1_000_000);
    await worker(api, r.runner).process(KEY);
    const steps = api.writes.filter((w) => w.status.phase !== "Running");
    console.log(`InternalError result, no results fit: writes ${summary(api)}`);
    expect(steps.length).toBe(5); // as budgeted, 1/2, 1/4, none, bare
    expect(api.obj.status?.message).toMatch(/^verdict InternalError; the result could not be stored/);
  });

  it("when not even a bare Failed fits, a minimal Failed smaller than the Scheduled status does", async () => {
    const api = new FakeApiserver(scheduled());
    const r = hostileRunner(NULS, NULS);
    const w = worker(api, r.runner);
    const scheduledBytes = Buffer.byteLength(JSON.stringify(api.obj));
    api.limitFor = (obj) => (obj.status?.phase === "Running" ? 1_000_000 : scheduledBytes);
    await w.process(KEY);
    console.log(
      `limit = the Scheduled object (${scheduledBytes} B): writes ${summary(api)}; ${api.obj.status?.message}`,
    );
    expect(r.runs).toBe(1);
    expect(api.obj.status?.phase).toBe("Failed");
    expect(api.obj.status?.nodeName).toBeUndefined();
    expect(api.obj.status?.conditions?.find((c) => c.type === "Failed")?.reason).toBe("ResultTooLarge");
    expect(api.obj.status?.message).toBe("verdict Accepted; result too large to store");
  });

  it("when nothing can be written the result is given up: never re-run, never retried", async () => {
    const api = new FakeApiserver(scheduled());
    const r = hostileRunner(Buffer.from("hi"), Buffer.alloc(0));
    const w = worker(api, r.runner);
    api.limitFor = (obj) => (obj.status?.phase === "Running" ? 1_000_000 : 10);
    expect(await w.process(KEY)).toBeUndefined();
    const writes = api.writes.length;
    console.log(`nothing fits: writes ${summary(api)}`);
    expect(api.obj.status?.phase).toBe("Running");
    expect(w.wants(api.obj)).toBe(false);
    expect(await w.process(KEY)).toBeUndefined();
    expect(api.writes.length).toBe(writes);
    expect(r.runs).toBe(1);
  });

  it("transient write errors back off and retry the write only; conflicts re-read", async () => {
    const api = new FakeApiserver(scheduled());
    const r = hostileRunner(Buffer.from("ok\n"), Buffer.alloc(0));
    const w = worker(api, r.runner);
    let n = 0;
    api.beforeWrite = (obj) => {
      if (obj.status?.phase === "Running" || n++ > 0) return;
      api.failNext.push(
        new TransportError("socket hang up", undefined),
        new ConflictError("the object has been modified", {}),
      );
      api.failReads = 1;
      throw new ApiError(503, "ServiceUnavailable", "etcd leader changed", {});
    };
    await w.process(KEY);
    console.log(`transient errors: writes ${summary(api)}`);
    expect(r.runs).toBe(1);
    expect(api.obj.status?.phase).toBe("Succeeded");
    expect(api.obj.status?.tests?.[0]?.stdout).toBe("ok\n");
  });

  it("a write that keeps failing is kept and tried later, a bounded number of times, never re-run", async () => {
    const api = new FakeApiserver(scheduled());
    const r = hostileRunner(Buffer.from("ok\n"), Buffer.alloc(0));
    const w = worker(api, r.runner);
    api.beforeWrite = (obj) => {
      if (obj.status?.phase !== "Running") throw new TransportError("connection refused", undefined);
    };
    const results: unknown[] = [];
    for (let i = 0; i < 15; i++) results.push(await w.process(KEY));
    const deferred = results.filter((x) => (x as { requeueAfterMs?: number })?.requeueAfterMs === 30_000);
    console.log(`apiserver unreachable: ${deferred.length} deferrals, then given up; runs ${r.runs}`);
    expect(r.runs).toBe(1);
    expect(deferred.length).toBe(9);
    expect(w.wants(api.obj)).toBe(false);
  });
});

describe("ExecutionWorker attempts", () => {
  it("hands back a missing generation while attempts are left (placement left to the controller), then fails with a reason", async () => {
    const api = new FakeApiserver(scheduled(1));
    const r = hostileRunner(Buffer.alloc(0), Buffer.alloc(0));
    const w = worker(api, r.runner, { installed: false });
    await w.process(KEY);
    expect(api.obj.status?.phase).toBe("Pending");
    expect(api.obj.status?.nodeName).toBe(NODE);
    expect(api.obj.status?.attempts).toBe(1);
    expect(api.obj.status?.handBack).toMatchObject({ attempt: 1, reason: "RuntimeUnavailable" });
    expect(api.obj.status?.handBack?.message).toMatch(/handed back \(attempt 1 of 3 used\)/);
    expect(w.wants(api.obj)).toBe(false); // until the controller acts on it
    expect(api.writes).toHaveLength(1);

    const last = new FakeApiserver(scheduled(3));
    await worker(last, r.runner, { installed: false }).process(KEY);
    console.log(`hand-back at attempt 3: ${last.obj.status?.phase}: ${last.obj.status?.message}`);
    expect(last.obj.status?.phase).toBe("Failed");
    expect(last.obj.status?.conditions?.find((c) => c.type === "Failed")?.reason).toBe("RuntimeUnavailable");
    expect(r.runs).toBe(0);
  });

  it("finding its own Execution Running (a restart mid-run) hands the attempt back; past the last it fails", async () => {
    const api = new FakeApiserver({ ...scheduled(1), phase: "Running" });
    const r = hostileRunner(Buffer.from("x"), Buffer.alloc(0));
    await worker(api, r.runner).process(KEY);
    expect(api.obj.status).toMatchObject({ phase: "Pending", attempts: 1, nodeName: NODE });
    expect(api.obj.status?.handBack).toMatchObject({ attempt: 1, reason: "AgentRestarted" });
    expect(r.runs).toBe(0);

    const spent = new FakeApiserver({ ...scheduled(3), phase: "Running" });
    await worker(spent, r.runner).process(KEY);
    console.log(
      `running after a restart at attempt 3: ${spent.obj.status?.phase}: ${spent.obj.status?.message}`,
    );
    expect(spent.obj.status?.phase).toBe("Failed");
    expect(spent.obj.status?.conditions?.find((c) => c.type === "Failed")?.reason).toBe("TooManyAttempts");
    expect(r.runs).toBe(0);
  });
});

describe("ExecutionWorker restarts", () => {
  it("a Running write that landed but whose answer was lost is retried without counting a restart", async () => {
    const api = new FakeApiserver(scheduled());
    const r = hostileRunner(Buffer.from("ok"), Buffer.alloc(0));
    const w = worker(api, r.runner);
    // The apiserver stores the Running status, then the connection drops before the answer.
    let lose = true;
    const client = api.client();
    const replace = client.replaceStatus.bind(client);
    (client as { replaceStatus: unknown }).replaceStatus = async (res: unknown, obj: Execution) => {
      const written = await replace(res as never, obj);
      if (lose && obj.status?.phase === "Running") {
        lose = false;
        throw new TransportError("socket hang up", undefined);
      }
      return written;
    };
    (w as unknown as { client: KubeClient }).client = client;
    await expect(w.process(KEY)).rejects.toThrow(/socket hang up/);
    await w.process(KEY); // the work queue's retry
    expect(r.runs).toBe(1);
    expect(api.obj.status?.phase).toBe("Succeeded");
    expect(api.obj.status?.attempts).toBe(1);
  });

  it("once the controller has assigned the given-back attempt again, it runs: attempts stay the controller's", async () => {
    const api = new FakeApiserver({
      ...scheduled(2),
      handBack: { attempt: 1, reason: "AgentRestarted", message: "restarted" },
    });
    const r = hostileRunner(Buffer.from("ok"), Buffer.alloc(0));
    await worker(api, r.runner).process(KEY);
    expect(r.runs).toBe(1);
    expect(api.obj.status?.attempts).toBe(2);
    expect(api.obj.status?.phase).toBe("Succeeded");
  });

  it("an Execution requeued mid-run (its result dropped) and placed here again in a later attempt runs again", async () => {
    const api = new FakeApiserver(scheduled(1));
    const r = hostileRunner(Buffer.from("ok"), Buffer.alloc(0));
    const w = worker(api, r.runner);
    let requeued = false;
    api.beforeWrite = (obj) => {
      if (obj.status?.phase === "Running" || requeued) return;
      // The controller saw this node's Lease lapse and requeued it while it ran.
      requeued = true;
      api.obj = { ...api.obj, status: { phase: "Pending", attempts: 1 } };
      api.rv++;
      api.obj.metadata.resourceVersion = String(api.rv);
      throw new ConflictError("conflict", {});
    };
    await w.process(KEY);
    expect(api.obj.status?.phase).toBe("Pending");
    api.obj = { ...api.obj, status: scheduled(2) }; // placed on this node again
    expect(w.wants(api.obj)).toBe(true);
    await w.process(KEY);
    expect(r.runs).toBe(2);
    expect(api.obj.status?.phase).toBe("Succeeded");
    expect(api.obj.status?.attempts).toBe(2);
  });

  it("each transition is one conditional write from the cached copy, with no read first", async () => {
    const api = new FakeApiserver(scheduled());
    let reads = 0;
    const client = api.client();
    (client as { tryGet: unknown }).tryGet = async () => {
      reads++;
      return structuredClone(api.obj);
    };
    const r = hostileRunner(Buffer.from("ok"), Buffer.alloc(0));
    const w = worker(api, r.runner);
    const o = w as unknown as { client: KubeClient; getExecution: () => Execution };
    o.client = client;
    // An informer that has not caught up with the Running write yet: the result is written
    // over the object that write returned.
    const before = structuredClone(api.obj);
    o.getExecution = () => structuredClone(before);
    await w.process(KEY);
    expect(reads).toBe(0);
    expect(api.writes.map((x) => `${x.status.phase}:${x.ok}`)).toEqual(["Running:true", "Succeeded:true"]);
  });
});

describe("ExecutionWorker progress of an Execution's own tests", () => {
  it("the finish write says how many of its testCases ran (Done/Tests 2 of 2), with no write besides Running and the result", async () => {
    const api = new FakeApiserver(scheduled());
    const runner = {
      run: async (spec): Promise<ExecutionOutcome> => ({
        verdict: "Accepted",
        tests: (spec.testCases ?? []).map((_, i) => ({ name: String(i + 1), verdict: "Accepted" as const })),
      }),
    } as ExecutionRunner;
    await worker(api, runner).process(KEY);
    expect(api.writes.map((x) => `${x.status.phase}:${x.ok}`)).toEqual(["Running:true", "Succeeded:true"]);
    expect(api.writes[0]!.status.progress).toBeUndefined();
    expect(api.obj.status?.progress).toEqual({ completed: 2, total: 2 });
  });
});

describe("ExecutionWorker on a cordoned (draining) node", () => {
  const CORDONED = `node ${NODE} is cordoned`;
  const cases: {
    name: string;
    status: ExecutionStatus;
    /** The phase and hand-back reason after one process(). */
    want: { phase: string; handBack?: string; runs: number };
  }[] = [
    {
      name: "an assigned Execution it has not started is handed back as NodeDraining, not run",
      status: scheduled(1),
      want: { phase: "Pending", handBack: "NodeDraining", runs: 0 },
    },
    {
      name: "on the last attempt too: a drain's attempt is the controller's to excuse, so it is handed back, not failed",
      status: scheduled(3),
      want: { phase: "Pending", handBack: "NodeDraining", runs: 0 },
    },
    {
      name: "one already Running when the agent restarted goes the restart path (AgentRestarted), not the drain's",
      status: { ...scheduled(1), phase: "Running" },
      want: { phase: "Pending", handBack: "AgentRestarted", runs: 0 },
    },
  ];
  it.each(cases)("$name", async (c) => {
    const api = new FakeApiserver(c.status);
    const r = hostileRunner(Buffer.from("1"), Buffer.alloc(0));
    const w = worker(api, r.runner, { draining: () => CORDONED });
    await w.process(KEY);
    expect(api.obj.status?.phase).toBe(c.want.phase);
    expect(api.obj.status?.handBack?.reason).toBe(c.want.handBack);
    expect(api.obj.status?.attempts).toBe(c.status.attempts); // attempts stay the controller's
    expect(r.runs).toBe(c.want.runs);
    expect(w.wants(api.obj)).toBe(false);
  });

  it("the hand-back says the node is cordoned and which attempt it gives back", async () => {
    const api = new FakeApiserver(scheduled(2));
    await worker(api, hostileRunner(Buffer.alloc(0), Buffer.alloc(0)).runner, {
      draining: () => CORDONED,
    }).process(KEY);
    expect(api.obj.status?.handBack).toMatchObject({ attempt: 2, reason: "NodeDraining" });
    expect(api.obj.status?.handBack?.message).toBe(`${CORDONED}; handed back before it started`);
  });

  it("a run that started before the cordon finishes and its result is written", async () => {
    const api = new FakeApiserver(scheduled(1));
    let cordoned = false;
    const r = hostileRunner(Buffer.from("1"), Buffer.alloc(0));
    const run = r.runner.run.bind(r.runner);
    r.runner.run = async (...args) => {
      cordoned = true; // kubectl drain while it runs
      return run(...args);
    };
    await worker(api, r.runner, { draining: () => (cordoned ? CORDONED : undefined) }).process(KEY);
    expect(api.obj.status?.phase).toBe("Succeeded");
    expect(r.runs).toBe(1);
  });

  it("uncordoned, it runs what the controller places here again", async () => {
    let cordoned = true;
    const api = new FakeApiserver(scheduled(1));
    const r = hostileRunner(Buffer.from("1"), Buffer.alloc(0));
    const w = worker(api, r.runner, { draining: () => (cordoned ? CORDONED : undefined) });
    await w.process(KEY);
    expect(api.obj.status?.handBack?.reason).toBe("NodeDraining");
    cordoned = false;
    api.obj = { ...api.obj, status: { ...scheduled(2), excusedAttempts: 1 } }; // requeued, placed again
    expect(w.wants(api.obj)).toBe(true);
    await w.process(KEY);
    expect(api.obj.status?.phase).toBe("Succeeded");
    expect(r.runs).toBe(1);
  });

  it("handBackUnstarted hands back at once every assigned Execution not started, and only while cordoned", async () => {
    const api = new FakeApiserver(scheduled(1));
    const r = hostileRunner(Buffer.alloc(0), Buffer.alloc(0));
    let cordoned = false;
    const w = worker(api, r.runner, { draining: () => (cordoned ? CORDONED : undefined) });
    expect(await w.handBackUnstarted([structuredClone(api.obj)])).toBe(0);
    expect(api.writes).toHaveLength(0);
    cordoned = true;
    const running = { ...structuredClone(api.obj), status: { ...scheduled(1), phase: "Running" as const } };
    expect(await w.handBackUnstarted([running])).toBe(0); // a running one finishes
    expect(await w.handBackUnstarted([structuredClone(api.obj)])).toBe(1);
    expect(api.obj.status?.handBack?.reason).toBe("NodeDraining");
    expect(await w.handBackUnstarted([structuredClone(api.obj)])).toBe(0); // handed back already
    expect(r.runs).toBe(0);
  });
});

describe("ExecutionWorker: Running written only for runs that last (runningDelayMs, StartedJournal)", () => {
  const journalFile = () => join(mkdtempSync(join(tmpdir(), "envicutor-journal-")), "started-attempts");
  const phases = (api: FakeApiserver) => api.writes.map((x) => `${x.status.phase}:${x.ok}`);
  /** A runner whose program takes `ms`. */
  const slow = (ms: number) => {
    const r = hostileRunner(Buffer.from("ok"), Buffer.alloc(0));
    const run = r.runner.run.bind(r.runner);
    r.runner.run = async (...args) => {
      await new Promise((res) => setTimeout(res, ms));
      return run(...args);
    };
    return r;
  };

  it("a Problem's first progress write, due in the same second as the Running write, waits for it: both land", async () => {
    const api = new FakeApiserver(scheduled());
    api.obj.spec = { runtime: "c-gcc", problem: "p", files: api.obj.spec.files } as Execution["spec"];
    api.writeDelayMs = 40; // the Running write is still in flight when the first test ends
    const plan = new TestPlan(
      [1, 2].map((i) => ({ name: String(i), stdin: "", expectedOutput: "" })) as never,
      undefined,
    );
    const problems: ProblemResolver = async (ex) => ({
      spec: ex.spec,
      plan,
      judgedWith: {},
      showJudgeMessages: false,
      release: () => undefined,
    });
    const runner = {
      run: async (): Promise<ExecutionOutcome> => {
        await new Promise((r) => setTimeout(r, 1010)); // the first test ends just after the Running write began
        await plan.progress(1);
        return { verdict: "Accepted", tests: [] };
      },
    } as unknown as ExecutionRunner;
    const journal = new StartedJournal(journalFile());
    await worker(api, runner, { runningDelayMs: 1000, journal, problems }).process(KEY);
    expect(api.writes.map((w) => `${w.status.phase}:${w.status.progress?.completed}:${w.ok}`)).toEqual([
      "Running:0:true",
      "Running:1:true",
      "Succeeded:2:true",
    ]);
  });

  it("a short run is one write, its result, which carries startTime and the Running transition; its start is on the node", async () => {
    const api = new FakeApiserver(scheduled());
    const file = journalFile();
    const r = hostileRunner(Buffer.from("ok"), Buffer.alloc(0));
    await worker(api, r.runner, { runningDelayMs: 1000, journal: new StartedJournal(file) }).process(KEY);
    expect(phases(api)).toEqual(["Succeeded:true"]);
    const s = api.obj.status!;
    expect(s.startTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(s.conditions?.find((c) => c.type === "Running")).toMatchObject({
      status: "False",
      reason: "Finished",
    });
    expect(readFileSync(file, "utf8")).toBe("uid-1 1\n");
  });

  it("a run that goes on past the delay is marked Running meanwhile, then its result is written", async () => {
    const api = new FakeApiserver(scheduled());
    const r = slow(150);
    await worker(api, r.runner, { runningDelayMs: 20, journal: new StartedJournal(journalFile()) }).process(
      KEY,
    );
    expect(phases(api)).toEqual(["Running:true", "Succeeded:true"]);
    expect(api.writes[0]!.status.startTime).toBe(api.obj.status?.startTime);
    expect(r.runs).toBe(1);
  });

  it("an agent restarted during a short run (never marked Running) hands that attempt back, and runs the next", async () => {
    const file = journalFile();
    writeFileSync(file, "garbled line\nuid-1 1\n");
    const api = new FakeApiserver(scheduled(1));
    const r = hostileRunner(Buffer.from("ok"), Buffer.alloc(0));
    await worker(api, r.runner, { runningDelayMs: 1000, journal: new StartedJournal(file) }).process(KEY);
    expect(r.runs).toBe(0);
    expect(api.obj.status?.handBack).toMatchObject({ attempt: 1, reason: "AgentRestarted" });

    const again = new FakeApiserver(scheduled(2)); // the controller placed it here again
    await worker(again, r.runner, { runningDelayMs: 1000, journal: new StartedJournal(file) }).process(KEY);
    expect(r.runs).toBe(1);
    expect(again.obj.status?.phase).toBe("Succeeded");
  });

  it("a cordon hands back what has not started, not what an earlier agent process started (that one goes the restart way)", async () => {
    const file = journalFile();
    writeFileSync(file, "uid-1 1\n");
    const api = new FakeApiserver(scheduled(1));
    const r = hostileRunner(Buffer.from("ok"), Buffer.alloc(0));
    const w = worker(api, r.runner, { draining: () => "cordoned", journal: new StartedJournal(file) });
    expect(await w.handBackUnstarted([structuredClone(api.obj)])).toBe(0);
    await w.process(KEY);
    expect(api.obj.status?.handBack).toMatchObject({ reason: "AgentRestarted" });
  });

  it("a run started from a copy reassigned meanwhile has its result dropped (the result write is conditional)", async () => {
    const api = new FakeApiserver(scheduled(1));
    const r = hostileRunner(Buffer.from("ok"), Buffer.alloc(0));
    api.beforeWrite = () => {
      api.obj = { ...api.obj, status: { ...scheduled(2), nodeName: "node-b" } };
      api.rv++;
      api.obj.metadata.resourceVersion = String(api.rv);
      api.beforeWrite = undefined;
      throw new ConflictError("conflict", {});
    };
    await worker(api, r.runner, { runningDelayMs: 1000, journal: new StartedJournal(journalFile()) }).process(
      KEY,
    );
    expect(r.runs).toBe(1);
    expect(api.obj.status?.nodeName).toBe("node-b");
    expect(api.writes.filter((w) => w.ok)).toHaveLength(0);
  });

  it("where the start cannot be kept on the node, Running is written before the run, as with a delay of 0", async () => {
    for (const opts of [
      { runningDelayMs: 1000, journal: new StartedJournal("/nonexistent-dir/started-attempts") },
      { runningDelayMs: 0, journal: new StartedJournal(journalFile()) },
    ]) {
      const api = new FakeApiserver(scheduled());
      await worker(api, hostileRunner(Buffer.from("ok"), Buffer.alloc(0)).runner, opts).process(KEY);
      expect(phases(api)).toEqual(["Running:true", "Succeeded:true"]);
    }
  });
});

describe("StartedJournal", () => {
  it("keeps the most recent starts when it rewrites its file, and reads back only well-formed lines", () => {
    const file = join(mkdtempSync(join(tmpdir(), "envicutor-journal-")), "started-attempts");
    const j = new StartedJournal(file);
    for (let i = 0; i < 5000; i++) expect(j.record(`uid-${i}`, 1)).toBe(true);
    const lines = readFileSync(file, "utf8").trim().split("\n");
    expect(lines.length).toBeLessThanOrEqual(4096);
    expect(lines.at(-1)).toBe("uid-4999 1");
    const next = new StartedJournal(file);
    expect(next.startedBefore("uid-4999", 1)).toBe(true);
    expect(next.startedBefore("uid-4999", 2)).toBe(false);
    expect(next.startedBefore("uid-0", 1)).toBe(false); // compacted away long after it ended
    expect(new StartedJournal(join(file, "..", "none")).startedBefore("uid-1", 1)).toBe(false);
  });
});
