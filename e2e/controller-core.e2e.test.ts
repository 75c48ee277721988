// src/k8s against a real kube-apiserver: typed client and its errors, status
// writes with optimistic concurrency, informers (selectors, invalid objects,
// surviving an apiserver restart), Lease leader election and Events.
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Execution, Runtime } from "../src/api/index.ts";
import { validExecution, validRuntime } from "../src/api/test-fixtures.ts";
import {
  ConflictError,
  EventRecorder,
  EventResource,
  ExecutionResource,
  Informer,
  type InformerEvent,
  InvalidObjectError,
  KubeClient,
  LeaderElector,
  type Lease,
  LeaseResource,
  microTime,
  RuntimeResource,
  sleep,
} from "../src/k8s/index.ts";
import { createLogger } from "../src/logging.ts";
import { ControlPlane, controlPlaneBinDir } from "./controlplane/control-plane.ts";
import { ensureNamespace, kubeConfig, uniqueName, waitFor } from "./support/cluster.ts";

const log = createLogger("e2e-core", {});
log.level = process.env.LOG_LEVEL ?? "warn";
let client: KubeClient;
let ns: string;

beforeAll(async () => {
  client = new KubeClient(kubeConfig(), { fieldManager: "e2e-core" });
  ns = uniqueName("core");
  await ensureNamespace(ns);
});

afterAll(() => client.close());

describe("KubeClient", () => {
  it("creates, reads with validation, patches, replaces status with conflicts, deletes", async () => {
    const name = uniqueName("rt");
    const created = await client.create(RuntimeResource, validRuntime(name) as unknown as Runtime);
    expect(created.metadata.uid).toBeTruthy();
    expect(created.spec.allowNetwork).toBe(false); // zod default applied on read
    const got = await client.get(RuntimeResource, name);
    expect(got.spec.language).toBe(created.spec.language);

    const st = await client.patchStatus(RuntimeResource, name, { status: { eligibleNodes: 3 } });
    expect(st.status?.eligibleNodes).toBe(3);

    // Replace with the current resourceVersion works; with a stale one it is a ConflictError.
    const fresh = await client.replaceStatus(RuntimeResource, {
      ...st,
      status: { ...st.status, installedNodes: 1 },
    });
    expect(fresh.status).toMatchObject({ eligibleNodes: 3, installedNodes: 1 });
    await expect(
      client.replaceStatus(RuntimeResource, { ...st, status: { ...st.status, installedNodes: 2 } }),
    ).rejects.toBeInstanceOf(ConflictError);

    expect(await client.tryGet(RuntimeResource, `${name}-missing`)).toBeUndefined();
    expect(await client.delete(RuntimeResource, name)).toBe(true);
    expect(await client.delete(RuntimeResource, name)).toBe(false);
  });

  it("lists with a field selector on the CRD's selectable field, following pages", async () => {
    const node = uniqueName("n");
    for (let i = 0; i < 5; i++) {
      const e = await client.create(
        ExecutionResource,
        validExecution(`sel-${i}`, ns) as unknown as Execution,
      );
      if (i % 2 === 0)
        await client.patchStatus(
          ExecutionResource,
          e.metadata.name!,
          { status: { nodeName: node } },
          { namespace: ns },
        );
    }
    const res = await client.list(ExecutionResource, {
      namespace: ns,
      fieldSelector: `status.nodeName=${node}`,
      limit: 2,
    });
    expect(res.items.map((e) => e.metadata.name).sort()).toEqual(["sel-0", "sel-2", "sel-4"]);
    expect(res.invalid).toEqual([]);
  });
});

describe("Informer", () => {
  it("delivers add/update/delete, honours field selectors and reports invalid objects without crashing", async () => {
    const node = uniqueName("node");
    const inf = new Informer(client, ExecutionResource, {
      namespace: ns,
      fieldSelector: `status.nodeName=${node}`,
      logger: log,
    });
    const events: InformerEvent<Execution>[] = [];
    inf.on((ev) => events.push(ev));
    inf.addIndex("runtime", (e) => [e.spec.runtime]);
    inf.start();
    await inf.waitForSync();
    expect(inf.hasSynced()).toBe(true);

    const e = await client.create(
      ExecutionResource,
      validExecution(uniqueName("inf"), ns) as unknown as Execution,
    );
    const key = `${ns}/${e.metadata.name}`;
    await sleep(300);
    expect(inf.get(key)).toBeUndefined(); // not assigned to our node yet
    await client.patchStatus(
      ExecutionResource,
      e.metadata.name!,
      { status: { nodeName: node, phase: "Scheduled" } },
      { namespace: ns },
    );
    await waitFor(() => inf.get(key)?.status?.phase === "Scheduled", { what: "informer add" });
    expect(inf.byIndex("runtime", "python-3").map((x) => x.metadata.name)).toContain(e.metadata.name);

    // An object the apiserver accepts but our schema rejects (base64 whose length is not a
    // multiple of 4 passes the CEL pattern only) becomes an 'invalid' event, not a crash.
    const bad = validExecution(uniqueName("bad"), ns) as unknown as Execution;
    bad.spec.files = [{ name: "main.py", content: "YQ", encoding: "base64" }];
    const badName = bad.metadata.name!;
    await client.rest.request("POST", `/apis/envicutor.io/v1alpha1/namespaces/${ns}/executions`, {
      body: bad,
    });
    await client.rest.request(
      "PATCH",
      `/apis/envicutor.io/v1alpha1/namespaces/${ns}/executions/${badName}/status`,
      {
        body: { status: { nodeName: node } },
        contentType: "application/merge-patch+json",
      },
    );
    const badKey = `${ns}/${badName}`;
    await waitFor(() => inf.invalid(badKey), { what: "invalid object reported" });
    expect(inf.get(badKey)).toBeUndefined();
    expect(inf.invalid(badKey)!.error).toBeInstanceOf(InvalidObjectError);
    expect(inf.invalid(badKey)!.error.issues.join()).toMatch(/base64/);
    expect(events.some((ev) => ev.type === "invalid" && ev.key === badKey)).toBe(true);
    await expect(client.get(ExecutionResource, badName, ns)).rejects.toBeInstanceOf(InvalidObjectError);
    await client.delete(ExecutionResource, badName, { namespace: ns });
    await waitFor(() => inf.invalid(badKey) === undefined, { what: "invalid entry dropped on delete" });

    // Moving away from the node deletes it from this informer's view.
    await client.patchStatus(
      ExecutionResource,
      e.metadata.name!,
      { status: { nodeName: "elsewhere" } },
      { namespace: ns },
    );
    await waitFor(() => inf.get(key) === undefined, { what: "selector delete" });
    expect(events.filter((ev) => ev.key === key).map((ev) => ev.type)).toEqual(
      expect.arrayContaining(["add", "delete"]),
    );
    await inf.stop();
  });

  it("survives an apiserver restart: backs off, relists, and delivers what changed while it was down", async () => {
    // A private control plane, so restarting its apiserver does not disturb other tests.
    const cp = new ControlPlane(controlPlaneBinDir());
    try {
      const info = await cp.start();
      const kc = new KubeConfig();
      kc.loadFromFile(info.kubeconfigPath);
      const c = new KubeClient(kc);
      const inf = new Informer(c, LeaseResource, {
        namespace: "default",
        logger: log,
        backoff: { baseMs: 100, maxMs: 1000 },
      });
      const events: string[] = [];
      inf.on((ev) => events.push(`${ev.type}:${ev.key}`));
      inf.start();
      await inf.waitForSync();
      const mk = (name: string) =>
        c.create(LeaseResource, { metadata: { name, namespace: "default" }, spec: { holderIdentity: "x" } });
      await mk("before");
      await mk("doomed");
      await waitFor(() => inf.get("default/doomed"), { what: "initial events" });
      const listsBefore = inf.lists;

      // Down for a while: the informer's watch breaks and its relists fail.
      const restart = cp.restartApiserver(3000);
      await sleep(1500);
      await restart;
      // Changes right after the restart (watch may not be re-established yet).
      await c.delete(LeaseResource, "doomed", { namespace: "default" });
      await mk("after");
      await waitFor(() => inf.get("default/after") && !inf.get("default/doomed"), {
        timeoutMs: 60_000,
        what: "informer caught up",
      });
      expect(inf.lists).toBeGreaterThan(listsBefore);
      expect(events).toContain("delete:default/doomed");
      expect(events).toContain("add:default/after");

      // And it keeps watching afterwards.
      await mk("later");
      await waitFor(() => inf.get("default/later"), { what: "watch resumed" });
      await inf.stop();
      c.close();
    } finally {
      await cp.stop();
    }
  });
});

describe("LeaderElector", () => {
  it("elects one leader, hands over fast on release and after expiry on crash", async () => {
    const name = uniqueName("le");
    const leaders: string[] = [];
    const mk = (id: string) => {
      const ac = new AbortController();
      const el = new LeaderElector({
        client,
        namespace: ns,
        name,
        identity: id,
        leaseDurationMs: 3000,
        renewDeadlineMs: 2000,
        retryPeriodMs: 300,
        logger: log,
        onStartedLeading: () => {
          leaders.push(id);
        },
      });
      const done = el.run(ac.signal);
      return { el, ac, done };
    };
    const a = mk("a");
    await waitFor(() => a.el.isLeader(), { what: "a leads" });
    const b = mk("b");
    await sleep(1500);
    expect(b.el.isLeader()).toBe(false);
    expect(leaders).toEqual(["a"]);

    // Graceful stop releases: b takes over well before the 3 s lease would expire.
    const t0 = Date.now();
    a.ac.abort();
    await a.done;
    await waitFor(() => b.el.isLeader(), { what: "b leads" });
    expect(Date.now() - t0).toBeLessThan(2000);
    const lease = await client.get(LeaseResource, name, ns);
    expect(lease.spec?.holderIdentity).toBe("b");
    expect(lease.spec?.leaseTransitions).toBeGreaterThanOrEqual(1);

    // A "crashed" leader (keeps the lease but stops renewing): c waits for expiry, then takes over.
    const c = mk("c");
    await sleep(500);
    expect(c.el.isLeader()).toBe(false);
    // b stops, then a crashed holder "ghost" is simulated: a held record nobody renews.
    b.ac.abort();
    await b.done;
    const current: Lease = await client.get(LeaseResource, name, ns);
    await client.replace(LeaseResource, {
      ...current,
      spec: { ...current.spec, holderIdentity: "ghost", renewTime: microTime(), leaseDurationSeconds: 3 },
    });
    const t1 = Date.now();
    await waitFor(() => c.el.isLeader(), { what: "c leads after expiry", timeoutMs: 15_000 });
    expect(Date.now() - t1).toBeGreaterThanOrEqual(2500);
    c.ac.abort();
    await c.done;
    expect(leaders).toEqual(["a", "b", "c"]);
  });
});

describe("EventRecorder", () => {
  it("creates an Event and aggregates repeats into a series", async () => {
    const rt = await client.create(RuntimeResource, validRuntime(uniqueName("ev")) as unknown as Runtime);
    const rec = new EventRecorder(client, {
      controller: "envicutor.io/e2e",
      instance: "e2e-1",
      seriesFlushMs: 200,
      logger: log,
    });
    for (let i = 0; i < 5; i++) rec.warning(rt, "InstallFailed", "Install", "node n1: boom");
    await sleep(400);
    await rec.flush();
    const events = (await client.list(EventResource, { namespace: "default" })).items.filter(
      (e) => e.regarding?.uid === rt.metadata.uid,
    );
    expect(events).toHaveLength(1);
    expect(events[0]!.series?.count).toBe(5);
    expect(events[0]!.reason).toBe("InstallFailed");
    await client.delete(RuntimeResource, rt.metadata.name!);
  });
});
