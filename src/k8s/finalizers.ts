import type { KubeClient } from "./client.ts";
import type { KubeObject, ResourceType } from "./resources.ts";

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata.finalizers?.includes(finalizer) ?? false;
}

export function isDeleting(obj: KubeObject): boolean {
  return obj.metadata.deletionTimestamp !== undefined && obj.metadata.deletionTimestamp !== null;
}

/**
 * Adds the finalizer with a merge patch carrying the resourceVersion, so a
 * concurrent change of the list is a ConflictError, not a lost finalizer.
 * Returns the updated object (or the same one when nothing was to do).
 */
export async function addFinalizer<T extends KubeObject>(
  client: KubeClient,
  res: ResourceType<T>,
  obj: T,
  finalizer: string,
): Promise<T> {
  if (hasFinalizer(obj, finalizer)) return obj;
  const finalizers = [...(obj.metadata.finalizers ?? []), finalizer];
  return client.patch(
    res,
    obj.metadata.name!,
    { metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion } },
    { namespace: obj.metadata.namespace },
  );
}

export async function removeFinalizer<T extends KubeObject>(
  client: KubeClient,
  res: ResourceType<T>,
  obj: T,
  finalizer: string,
): Promise<T> {
  if (!hasFinalizer(obj, finalizer)) return obj;
  const finalizers = (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer);
  return client.patch(
    res,
    obj.metadata.name!,
    { metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion } },
    { namespace: obj.metadata.namespace },
  );
}
