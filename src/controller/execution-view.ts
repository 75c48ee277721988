import type { Execution, ExecutionSpec } from "../api/index.ts";

/**
 * What the controller's cache keeps of an Execution (the informer's transform):
 * metadata without managedFields, the spec fields scheduling and TTL read
 * (runtime, priority, limits, ttlSecondsAfterFinished) and the status without
 * results. Files, stdin, test data and outputs are dropped, so memory does not
 * grow with what users submit. Status writes built from this view are safe:
 * a PUT of /status ignores the spec, and the controller never writes results
 * (it writes only unfinished Executions, which carry none).
 */
/** kubectl apply's copy of the whole object: as large as the spec. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

export function schedulingView(e: Execution): Execution {
  const { runtime, priority, limits, ttlSecondsAfterFinished, outputComparison } = e.spec;
  const spec = { runtime, priority, outputComparison, files: [] } as unknown as ExecutionSpec;
  if (limits !== undefined) spec.limits = limits;
  if (ttlSecondsAfterFinished !== undefined) spec.ttlSecondsAfterFinished = ttlSecondsAfterFinished;
  const { managedFields: _m, ...metadata } = e.metadata as Execution["metadata"] & {
    managedFields?: unknown;
  };
  if (metadata.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _a, ...rest } = metadata.annotations;
    metadata.annotations = rest;
  }
  const view: Execution = { apiVersion: e.apiVersion, kind: e.kind, metadata, spec };
  if (e.status) {
    const { tests: _t, compile: _c, ...status } = e.status;
    view.status = status;
  }
  return view;
}
