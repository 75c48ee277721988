import type { z } from "zod";
import {
  API_VERSION,
  type Execution,
  execution,
  type Problem,
  problem,
  RESOURCES,
  type Runtime,
  runtime,
  type Worker,
  worker,
} from "../api/index.ts";

/** The metadata fields the core reads; every Kubernetes object has them. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

/** Result of validating an object read from the apiserver. */
export type Validation<T> = { ok: true; object: T } | { ok: false; issues: string[] };

/** Describes one resource type: where it lives and how to validate it. */
export interface ResourceType<T extends KubeObject> {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  validate(raw: unknown): Validation<T>;
  /**
   * metadata.generation changes with every change of spec (a custom resource
   * with a status subresource; not so for built-in kinds such as Node): a
   * copy of the same generation has the same spec.
   */
  generationTracksSpec?: boolean;
}

/**
 * Whether `raw` is the object `known` at the same generation, so (for a
 * resource whose generation tracks its spec) with the same spec: the same
 * uid and a generation both have and share.
 */
export function sameSpecAs<T extends KubeObject>(
  res: ResourceType<T>,
  known: KubeObject,
  raw: unknown,
): boolean {
  const meta = (raw as { metadata?: { uid?: string; generation?: number } } | undefined)?.metadata;
  return (
    res.generationTracksSpec === true &&
    meta !== undefined &&
    known.metadata.generation !== undefined &&
    meta.generation === known.metadata.generation &&
    meta.uid === known.metadata.uid
  );
}

/** `group/version` → URL prefix (`/api/v1` for the core group). */
export function apiPrefix(apiVersion: string): string {
  return apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** URL of a collection (name undefined) or of one object, optionally of a subresource. */
export function resourcePath(
  res: Pick<ResourceType<KubeObject>, "apiVersion" | "plural" | "namespaced">,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  let p = apiPrefix(res.apiVersion);
  if (res.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${res.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

function fromZod<T extends KubeObject>(schema: z.ZodType<T>) {
  return (raw: unknown): Validation<T> => {
    const r = schema.safeParse(raw);
    if (r.success) return { ok: true, object: r.data };
    return { ok: false, issues: r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`) };
  };
}

/** For built-in kinds the apiserver already validates: check only that it is an object with metadata.name. */
function shallow<T extends KubeObject>(raw: unknown): Validation<T> {
  if (!raw || typeof raw !== "object") return { ok: false, issues: ["(root): not an object"] };
  const meta = (raw as { metadata?: { name?: unknown } }).metadata;
  if (!meta || typeof meta.name !== "string") return { ok: false, issues: ["metadata.name: missing"] };
  return { ok: true, object: raw as T };
}

export const RuntimeResource: ResourceType<Runtime> = {
  apiVersion: API_VERSION,
  kind: "Runtime",
  plural: RESOURCES.Runtime.plural,
  namespaced: false,
  validate: fromZod(runtime as unknown as z.ZodType<Runtime>),
  generationTracksSpec: true,
};

export const ExecutionResource: ResourceType<Execution> = {
  apiVersion: API_VERSION,
  kind: "Execution",
  plural: RESOURCES.Execution.plural,
  namespaced: true,
  validate: fromZod(execution as unknown as z.ZodType<Execution>),
  generationTracksSpec: true,
};

export const ProblemResource: ResourceType<Problem> = {
  apiVersion: API_VERSION,
  kind: "Problem",
  plural: RESOURCES.Problem.plural,
  namespaced: true,
  validate: fromZod(problem as unknown as z.ZodType<Problem>),
  generationTracksSpec: true,
};

export const WorkerResource: ResourceType<Worker> = {
  apiVersion: API_VERSION,
  kind: "Worker",
  plural: RESOURCES.Worker.plural,
  namespaced: false,
  validate: fromZod(worker as unknown as z.ZodType<Worker>),
  generationTracksSpec: true,
};

/** coordination.k8s.io/v1 Lease, as JSON (times are RFC 3339 strings with microseconds). */
export interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export const LeaseResource: ResourceType<Lease> = {
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  plural: "leases",
  namespaced: true,
  validate: shallow,
};

/** v1 ConfigMap: a Problem's small test set. */
export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

export const ConfigMapResource: ResourceType<ConfigMap> = {
  apiVersion: "v1",
  kind: "ConfigMap",
  plural: "configmaps",
  namespaced: true,
  validate: shallow,
};

/** v1 Node, only the parts we read. */
export interface Node extends KubeObject {
  spec?: { unschedulable?: boolean; [key: string]: unknown };
  status?: { conditions?: { type: string; status: string }[]; [key: string]: unknown };
}

export const NodeResource: ResourceType<Node> = {
  apiVersion: "v1",
  kind: "Node",
  plural: "nodes",
  namespaced: false,
  validate: shallow,
};

export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

/** events.k8s.io/v1 Event. */
export interface Event extends KubeObject {
  eventTime: string;
  series?: { count: number; lastObservedTime: string };
  reportingController?: string;
  reportingInstance?: string;
  action?: string;
  reason?: string;
  regarding?: ObjectReference;
  related?: ObjectReference;
  note?: string;
  type?: string;
}

export const EventResource: ResourceType<Event> = {
  apiVersion: "events.k8s.io/v1",
  kind: "Event",
  plural: "events",
  namespaced: true,
  validate: shallow,
};

/** client-go's MetaNamespaceKeyFunc: `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKey(obj: { metadata?: { name?: string; namespace?: string } }): string {
  const { name = "", namespace } = obj.metadata ?? {};
  return namespace ? `${namespace}/${name}` : name;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf("/");
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits (the apiserver rejects three). */
export function microTime(d: Date = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** Parses a Kubernetes timestamp; undefined when absent or invalid. */
export function parseTime(t: string | Date | undefined): number | undefined {
  if (t === undefined) return undefined;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isFinite(ms) ? ms : undefined;
}
