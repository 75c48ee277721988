import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import type { Execution } from "../api/execution.ts";
import { GROUP, RESOURCES, VERSION } from "../api/group.ts";

/** Label on a rejudge: the name of the Execution it re-runs. */
export const REJUDGE_OF_LABEL = `${GROUP}/rejudge-of`;

/**
 * A new Execution with the old one's spec: Executions are immutable, so a
 * rejudge is a clone. It runs against what is current when it runs: the
 * Problem's test data and the Runtime's active generation; each result's
 * status.judgedWith says which.
 */
export function rejudgeOf(ex: Execution): Record<string, unknown> {
  const name = ex.metadata.name ?? "execution";
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "Execution",
    metadata: {
      generateName: `${name.slice(0, 40)}-rejudge-`,
      namespace: ex.metadata.namespace,
      labels: { ...ex.metadata.labels, [REJUDGE_OF_LABEL]: name.slice(0, 63) },
    },
    spec: ex.spec,
  };
}

/**
 * Rejudges one Execution, or every Execution of a Problem in the namespace
 * (found by the spec.problem field selector; rejudges themselves are skipped).
 * Returns the names created.
 */
export async function rejudge(
  kc: KubeConfig,
  opts: { namespace: string; execution?: string; problem?: string },
): Promise<string[]> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const where = {
    group: GROUP,
    version: VERSION,
    namespace: opts.namespace,
    plural: RESOURCES.Execution.plural,
  };
  let olds: Execution[];
  if (opts.execution)
    olds = [(await api.getNamespacedCustomObject({ ...where, name: opts.execution })) as Execution];
  else {
    const list = (await api.listNamespacedCustomObject({
      ...where,
      fieldSelector: `spec.problem=${opts.problem}`,
      labelSelector: `!${REJUDGE_OF_LABEL}`,
    })) as { items: Execution[] };
    olds = list.items;
  }
  const names: string[] = [];
  for (const old of olds) {
    const created = (await api.createNamespacedCustomObject({ ...where, body: rejudgeOf(old) })) as Execution;
    names.push(created.metadata.name ?? "");
  }
  return names;
}
