import type { Execution, Runtime, RuntimeInstall, Worker } from "../api/index.ts";
import { validCompiledRuntime, validExecution } from "../api/test-fixtures.ts";
import type { NodeView } from "./runtime-status.ts";

export function rt(name = "c-gcc", generation = 1, status: Runtime["status"] = undefined): Runtime {
  const r = validCompiledRuntime(name) as unknown as Runtime;
  r.metadata = { ...r.metadata, uid: `uid-${name}`, generation, resourceVersion: "1" };
  r.spec.nodeSelector = { "kubernetes.io/os": "linux" };
  if (status) r.status = status;
  return r;
}

export function node(
  name: string,
  installs: Partial<RuntimeInstall>[] = [],
  opts: { live?: boolean; labels?: Record<string, string>; slots?: number; cordoned?: boolean } = {},
): NodeView {
  const worker: Worker = {
    apiVersion: "envicutor.io/v1alpha1",
    kind: "Worker",
    metadata: { name },
    spec: { nodeName: name },
    status: {
      slots: opts.slots ?? 4,
      runtimes: installs.map(
        (i) => ({ name: "c-gcc", generation: 1, phase: "Installed", ...i }) as RuntimeInstall,
      ),
    },
  };
  return {
    name,
    worker,
    labels: opts.labels ?? { "kubernetes.io/os": "linux" },
    live: opts.live ?? true,
    ...(opts.cordoned ? { cordoned: true } : {}),
  };
}

export function ex(
  name: string,
  opts: { priority?: number; created?: string; runtime?: string; status?: Execution["status"] } = {},
): Execution {
  const e = validExecution(name, "ns") as unknown as Execution;
  e.spec.runtime = opts.runtime ?? "c-gcc";
  e.spec.priority = opts.priority ?? 0;
  e.metadata = {
    ...e.metadata,
    uid: `uid-${name}`,
    generation: 1,
    resourceVersion: "1",
    creationTimestamp: opts.created ?? "2025-01-01T00:00:00Z",
  };
  if (opts.status) e.status = opts.status;
  return e;
}
