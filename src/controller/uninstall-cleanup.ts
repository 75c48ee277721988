// What `helm uninstall` runs around the deletion of a release (the chart's
// templates/uninstall-hooks.yaml): before it, every Execution and Runtime is
// deleted while the controller and the agents still run, so each agent removes
// its GC roots of the Runtimes and the controller lifts their finalizers;
// after it, the objects the agents and the controller made at run time (the
// Workers, the heartbeat and leader Leases) go too. The CRDs stay (Helm never
// deletes them), and so do Problems: authored content that holds no node state.

/** One object to delete, as a list shows it. */
export interface Target {
  kind: "Execution" | "Runtime" | "Worker" | "Lease";
  name: string;
  namespace?: string;
  /** metadata.deletionTimestamp is set: deleted, held by a finalizer. */
  deleting: boolean;
  finalizers: string[];
  /** Why it is held (a Runtime's Terminating condition). */
  note?: string;
}

/** The cluster as the clean-up sees it. */
export interface UninstallPort {
  executions(): Promise<Target[]>;
  runtimes(): Promise<Target[]>;
  /** Workers, the agents' heartbeat Leases and the controller's leader Lease. */
  runTimeObjects(): Promise<Target[]>;
  /** The release's controller, agent and gateway pods that still exist. */
  releasePods(): Promise<string[]>;
  /** Deletes; an object already gone is fine. */
  delete(t: Target): Promise<void>;
}

export interface CleanupOptions {
  timeoutMs: number;
  pollMs?: number;
  log: (msg: string) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const describe = (t: Target) => (t.namespace ? `${t.kind} ${t.namespace}/${t.name}` : `${t.kind} ${t.name}`);

/** Deletes what is not being deleted yet; resolves with what is still there. */
async function deleteAll(port: UninstallPort, targets: Target[], log: (m: string) => void) {
  for (const t of targets.filter((x) => !x.deleting)) {
    await port.delete(t);
    log(`deleted ${describe(t)}`);
  }
}

/**
 * pre-delete: Executions first (a Runtime's store paths stay while a program
 * of it runs), then Runtimes; both again on every pass, since a gateway may
 * still create Executions. Done when none is left; past the timeout it throws
 * with each one still held and why.
 */
export async function preDelete(port: UninstallPort, o: CleanupOptions): Promise<void> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + o.timeoutMs;
  for (;;) {
    const executions = await port.executions();
    await deleteAll(port, executions, o.log);
    const runtimes = await port.runtimes();
    if (executions.length === 0) await deleteAll(port, runtimes, o.log);
    const left = [...executions, ...runtimes];
    if (left.length === 0) {
      o.log("no Execution or Runtime is left: every agent removed its GC roots");
      return;
    }
    if (now() >= deadline) throw new Error(heldMessage(left, o.timeoutMs));
    await sleep(o.pollMs ?? 1000);
  }
}

function heldMessage(left: Target[], timeoutMs: number): string {
  const lines = left
    .slice(0, 20)
    .map(
      (t) =>
        `  ${describe(t)}${t.finalizers.length ? ` (finalizers: ${t.finalizers.join(", ")})` : ""}${t.note ? `: ${t.note}` : ""}`,
    );
  return [
    `uninstall clean-up: after ${Math.round(timeoutMs / 1000)} s, ${left.length} object(s) are still there:`,
    ...lines,
    ...(left.length > 20 ? [`  ... and ${left.length - 20} more`] : []),
    "A Runtime is held until the agent of every node that installed it has removed its GC roots:",
    "check that the agent DaemonSet's pods run (kubectl get pods, kubectl logs ds/<release>-agent),",
    "then run helm uninstall again. helm uninstall --no-hooks skips this clean-up; Runtimes left",
    "behind then keep their finalizer (envicutor.io/runtime-cleanup) and their nodes' GC roots.",
  ].join("\n");
}

/**
 * post-delete: once the release's pods are gone (so no agent writes its
 * heartbeat again), deletes the Workers and Leases they made at run time.
 * It never fails: by now Helm has deleted the release's objects.
 */
export async function postDelete(port: UninstallPort, o: CleanupOptions): Promise<void> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + o.timeoutMs;
  for (;;) {
    const pods = await port.releasePods();
    if (pods.length === 0) break;
    // A failed post-delete hook would leave the release half uninstalled: go on, say so.
    if (now() >= deadline) {
      o.log(
        `after ${Math.round(o.timeoutMs / 1000)} s the release's pods are still there (${pods.join(", ")}): an agent may write its Worker or Lease again`,
      );
      break;
    }
    await sleep(o.pollMs ?? 1000);
  }
  const left = await port.runTimeObjects();
  await deleteAll(port, left, o.log);
  o.log(`deleted ${left.length} Worker(s) and Lease(s) the agents and the controller made`);
}
