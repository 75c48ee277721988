// `node dist/controller/main.js uninstall-cleanup --phase pre-delete|post-delete ...`:
// the chart's uninstall hooks (templates/uninstall-hooks.yaml) run this in the
// controller image, with a ServiceAccount that may only list and delete what
// uninstall-cleanup.ts removes.
import { parseArgs } from "node:util";
import { AGENT_LEASE_PREFIX, RuntimeConditions } from "../api/index.ts";
import { KubeClient, loadKubeConfig } from "../k8s/client.ts";
import { errText } from "../k8s/errors.ts";
import {
  ExecutionResource,
  type KubeObject,
  LeaseResource,
  type ResourceType,
  RuntimeResource,
  WorkerResource,
} from "../k8s/resources.ts";
import { postDelete, preDelete, type Target, type UninstallPort } from "./uninstall-cleanup.ts";

/** Lists raw objects: one the schema refuses must be deleted too. */
const raw = <T extends KubeObject>(res: ResourceType<T>): ResourceType<KubeObject> => ({
  ...(res as unknown as ResourceType<KubeObject>),
  validate: (o: unknown) => ({ ok: true, object: o as KubeObject }),
});
const Pods: ResourceType<KubeObject> = raw({
  ...LeaseResource,
  apiVersion: "v1",
  kind: "Pod",
  plural: "pods",
});

type Obj = KubeObject & {
  metadata: KubeObject["metadata"] & { deletionTimestamp?: string };
  status?: { conditions?: { type: string; status: string; message?: string }[] };
};

function target(kind: Target["kind"], o: Obj): Target {
  const held = o.status?.conditions?.find((c) => c.type === RuntimeConditions.Terminating);
  return {
    kind,
    name: o.metadata.name!,
    ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
    deleting: !!o.metadata.deletionTimestamp,
    finalizers: o.metadata.finalizers ?? [],
    ...(held?.message ? { note: held.message } : {}),
  };
}

const RESOURCES = {
  Execution: raw(ExecutionResource),
  Runtime: raw(RuntimeResource),
  Worker: raw(WorkerResource),
  Lease: raw(LeaseResource),
};

export function kubePort(
  client: KubeClient,
  o: { namespace: string; release: string; leaseName: string },
): UninstallPort {
  const list = async (kind: Target["kind"], opts: { namespace?: string; labelSelector?: string } = {}) =>
    (await client.list(RESOURCES[kind], opts)).items.map((x) => target(kind, x as Obj));
  return {
    executions: () => list("Execution"),
    runtimes: () => list("Runtime"),
    runTimeObjects: async () => [
      ...(await list("Worker")),
      ...(await list("Lease", { namespace: o.namespace })).filter(
        (l) => l.name === o.leaseName || l.name.startsWith(AGENT_LEASE_PREFIX),
      ),
    ],
    releasePods: async () =>
      (
        await client.list(Pods, {
          namespace: o.namespace,
          labelSelector: `app.kubernetes.io/instance=${o.release},app.kubernetes.io/component in (controller,agent,gateway)`,
        })
      ).items.map((p) => p.metadata.name!),
    delete: async (t) => {
      await client.delete(RESOURCES[t.kind], t.name, t.namespace ? { namespace: t.namespace } : {});
    },
  };
}

/** Exit status 0 when done, 1 with the reason on stderr (the hook pod's termination message). */
export async function uninstallMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      phase: { type: "string" },
      namespace: { type: "string" },
      release: { type: "string" },
      "lease-name": { type: "string" },
      "timeout-seconds": { type: "string", default: "240" },
      kubeconfig: { type: "string" },
    },
  });
  const { phase, namespace, release } = values;
  const timeoutMs = Number(values["timeout-seconds"]) * 1000;
  if ((phase !== "pre-delete" && phase !== "post-delete") || !namespace || !release || !(timeoutMs > 0)) {
    console.error(
      "usage: main.js uninstall-cleanup --phase pre-delete|post-delete --namespace NS --release NAME [--lease-name NAME] [--timeout-seconds N]",
    );
    return 2;
  }
  const client = new KubeClient(loadKubeConfig(values.kubeconfig), { fieldManager: "envicutor-uninstall" });
  const port = kubePort(client, {
    namespace,
    release,
    leaseName: values["lease-name"] ?? `${release}-controller`,
  });
  const log = (msg: string) => console.log(`[uninstall ${phase}] ${msg}`);
  try {
    await (phase === "pre-delete" ? preDelete : postDelete)(port, { timeoutMs, log });
    return 0;
  } catch (err) {
    console.error(errText(err));
    return 1;
  } finally {
    client.close();
  }
}
