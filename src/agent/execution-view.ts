import { type Execution, isFinished } from "../api/execution.ts";

/**
 * What the agent's cache keeps of an Execution on its node (the informer's
 * transform; the informer already selects this node's only): an unfinished
 * one whole but for managedFields (the agent runs its spec); a finished one
 * as its name and phase only, since the agent never looks at it again and it
 * stays on the node's field selector until its TTL deletes it.
 */
export function agentView(e: Execution): Execution {
  const { managedFields: _m, ...metadata } = e.metadata as Execution["metadata"] & {
    managedFields?: unknown;
  };
  if (!isFinished(e.status)) return { ...e, metadata };
  const spec = { runtime: e.spec.runtime, files: [] } as unknown as Execution["spec"];
  const status = { phase: e.status?.phase, nodeName: e.status?.nodeName };
  return { apiVersion: e.apiVersion, kind: e.kind, metadata, spec, status };
}
