import { KubeConfig } from "@kubernetes/client-node";
import { ApiError, InvalidObjectError, isNotFound } from "./errors.ts";
import { type KubeObject, objectKey, type ResourceType, resourcePath, sameSpecAs } from "./resources.ts";
import { type Query, RestClient, type WatchEvent } from "./rest.ts";

/** Loads a kubeconfig from a file, or the default chain (KUBECONFIG, ~/.kube/config, in-cluster). */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; pages are followed with `continue` until the end. */
  limit?: number;
}

export interface ListResult<T> {
  items: T[];
  /** Objects that failed validation: kept so controllers can report them. */
  invalid: { key: string; raw: unknown; error: InvalidObjectError }[];
  resourceVersion: string;
}

export type PatchType = "merge" | "json" | "strategic" | "apply";

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
};

export interface WriteOptions {
  namespace?: string;
  /** Patch type; merge by default. */
  type?: PatchType;
  /** Server-side apply: take ownership of conflicting fields. */
  force?: boolean;
}

export interface DeleteOptions {
  namespace?: string;
  /** Delete only if the object still has this uid / resourceVersion (409 otherwise). */
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: "Foreground" | "Background" | "Orphan";
  gracePeriodSeconds?: number;
}

/**
 * Typed access to Kubernetes resources described by ResourceType. Every object
 * read is validated: an invalid one becomes an InvalidObjectError (get) or an
 * entry in `invalid` (list), never a crash. Conflicts surface as ConflictError.
 */
export class KubeClient {
  readonly rest: RestClient;
  readonly fieldManager: string;

  constructor(kubeConfig: KubeConfig, opts: { fieldManager?: string; userAgent?: string } = {}) {
    this.fieldManager = opts.fieldManager ?? "envicutor";
    this.rest = new RestClient(kubeConfig, opts.userAgent ?? this.fieldManager);
  }

  static fromKubeconfig(path?: string, opts: { fieldManager?: string } = {}): KubeClient {
    return new KubeClient(loadKubeConfig(path), opts);
  }

  get kubeConfig(): KubeConfig {
    return this.rest.kubeConfig;
  }

  /** Validates a raw object; throws InvalidObjectError. */
  parse<T extends KubeObject>(res: ResourceType<T>, raw: unknown): T {
    const v = res.validate(raw);
    if (v.ok) return v.object;
    throw new InvalidObjectError(res.kind, objectKey(raw as KubeObject), v.issues);
  }

  async get<T extends KubeObject>(res: ResourceType<T>, name: string, namespace?: string): Promise<T> {
    return this.parse(res, await this.rest.request("GET", resourcePath(res, namespace, name)));
  }

  /** Like get, but undefined when the object does not exist. */
  async tryGet<T extends KubeObject>(
    res: ResourceType<T>,
    name: string,
    namespace?: string,
  ): Promise<T | undefined> {
    try {
      return await this.get(res, name, namespace);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list<T extends KubeObject>(res: ResourceType<T>, opts: ListOptions = {}): Promise<ListResult<T>> {
    const out: ListResult<T> = { items: [], invalid: [], resourceVersion: "" };
    let cont: string | undefined;
    do {
      const page = await this.rest.request<{
        metadata?: { resourceVersion?: string; continue?: string };
        items?: unknown[];
      }>("GET", resourcePath(res, opts.namespace), {
        query: {
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
          limit: opts.limit,
          continue: cont,
        },
        timeoutMs: 60_000,
      });
      for (const raw of page.items ?? []) {
        // Lists omit apiVersion/kind on items; restore them so schemas with literals validate.
        const item = { apiVersion: res.apiVersion, kind: res.kind, ...(raw as object) };
        const v = res.validate(item);
        if (v.ok) out.items.push(v.object);
        else {
          const key = objectKey(item as KubeObject);
          out.invalid.push({ key, raw: item, error: new InvalidObjectError(res.kind, key, v.issues) });
        }
      }
      out.resourceVersion = page.metadata?.resourceVersion ?? "";
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return out;
  }

  async create<T extends KubeObject>(
    res: ResourceType<T>,
    obj: T | KubeObject,
    namespace?: string,
  ): Promise<T> {
    const ns = namespace ?? obj.metadata.namespace;
    const body = { apiVersion: res.apiVersion, kind: res.kind, ...obj };
    return this.parse(
      res,
      await this.rest.request("POST", resourcePath(res, ns), {
        body,
        query: { fieldManager: this.fieldManager },
      }),
    );
  }

  /** PUT of the whole object; metadata.resourceVersion makes it conditional (ConflictError). */
  async replace<T extends KubeObject>(res: ResourceType<T>, obj: T | KubeObject): Promise<T> {
    const path = resourcePath(res, obj.metadata.namespace, obj.metadata.name);
    const body = { apiVersion: res.apiVersion, kind: res.kind, ...obj };
    return this.parse(
      res,
      await this.rest.request("PUT", path, { body, query: { fieldManager: this.fieldManager } }),
    );
  }

  async patch<T extends KubeObject>(
    res: ResourceType<T>,
    name: string,
    patch: unknown,
    opts: WriteOptions = {},
  ): Promise<T> {
    return this.doPatch(res, name, patch, opts, undefined);
  }

  /** Patch of the /status subresource (merge patch unless told otherwise). */
  async patchStatus<T extends KubeObject>(
    res: ResourceType<T>,
    name: string,
    patch: unknown,
    opts: WriteOptions = {},
  ): Promise<T> {
    return this.doPatch(res, name, patch, opts, "status");
  }

  /**
   * PUT of /status with the object's resourceVersion: fails with ConflictError
   * if anyone wrote the object since it was read. Only status is taken from `obj`.
   */
  async replaceStatus<T extends KubeObject>(res: ResourceType<T>, obj: T | KubeObject): Promise<T> {
    if (!obj.metadata.resourceVersion) throw new Error("replaceStatus needs metadata.resourceVersion");
    const path = resourcePath(res, obj.metadata.namespace, obj.metadata.name, "status");
    const body = { apiVersion: res.apiVersion, kind: res.kind, ...obj };
    const raw = await this.rest.request("PUT", path, { body, query: { fieldManager: this.fieldManager } });
    return statusWritten(res, obj, raw, (r) => this.parse(res, r));
  }

  /** Deletes; false when it was already gone. */
  async delete<T extends KubeObject>(
    res: ResourceType<T>,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<boolean> {
    const body: Record<string, unknown> = { apiVersion: "v1", kind: "DeleteOptions" };
    if (opts.preconditions) body.preconditions = opts.preconditions;
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    try {
      await this.rest.request("DELETE", resourcePath(res, opts.namespace, name), { body });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Raw watch of a collection (see RestClient.watch); informers build on it. */
  watch<T extends KubeObject>(
    res: ResourceType<T>,
    query: Query & { namespace?: string },
    onEvent: (ev: WatchEvent) => void,
    opts: { signal?: AbortSignal; idleTimeoutMs?: number } = {},
  ): Promise<void> {
    const { namespace, ...q } = query;
    return this.rest.watch(resourcePath(res, namespace as string | undefined), q, onEvent, opts);
  }

  private async doPatch<T extends KubeObject>(
    res: ResourceType<T>,
    name: string,
    patch: unknown,
    opts: WriteOptions,
    subresource: string | undefined,
  ): Promise<T> {
    const type = opts.type ?? "merge";
    const path = resourcePath(res, opts.namespace, name, subresource);
    const query: Query = { fieldManager: this.fieldManager };
    if (type === "apply" && opts.force) query.force = true;
    const raw = await this.rest.request("PATCH", path, {
      body: patch,
      contentType: PATCH_CONTENT_TYPES[type],
      query,
    });
    return this.parse(res, raw);
  }

  close(): void {
    this.rest.close();
  }
}

export { ApiError };

/**
 * The object a status write returned: a status write leaves the spec as it
 * was, so when the caller's copy is of the same generation the caller's spec
 * is kept (as it had it: validated, maybe cut to a view) and the rest taken as
 * the apiserver returned it, validated against the CRD's schema (issue 17: no
 * zod pass over every status write's answer). Otherwise the whole answer is
 * validated.
 */
function statusWritten<T extends KubeObject>(
  res: ResourceType<T>,
  sent: T | KubeObject,
  raw: unknown,
  parse: (raw: unknown) => T,
): T {
  const spec = (sent as { spec?: unknown }).spec;
  if (spec === undefined || !sameSpecAs(res, sent, raw)) return parse(raw);
  return { apiVersion: res.apiVersion, kind: res.kind, ...(raw as object), spec } as unknown as T;
}
