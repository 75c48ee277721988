// What is left of a release after `helm uninstall`; expected: nothing. Helm
// deletes what the chart made, but not what the controller and the agents
// made at run time (Workers, Leases), what users made (Runtimes, Executions),
// nor anything held by a finalizer: those are the uninstall hooks' work
// (src/controller/uninstall-cleanup.ts). The CRDs stay by design (Helm never
// deletes them), so do the Problems (authored content), and so does what
// Kubernetes puts in every namespace.

type Kubectl = (args: string[]) => Promise<string>;

/** Made in every namespace by Kubernetes itself, not by the release. */
const NAMESPACE_DEFAULTS = new Set(["configmap/kube-root-ca.crt", "serviceaccount/default"]);

const lines = (out: string) =>
  out
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);

/** Every listable kind, namespaced or not; events are a record of what happened, not objects of the release. */
async function kinds(kubectl: Kubectl, namespaced: boolean): Promise<string> {
  const all = lines(
    await kubectl(["api-resources", "--verbs=list", `--namespaced=${namespaced}`, "-o", "name"]),
  );
  return all.filter((k) => k !== "events" && k !== "events.events.k8s.io").join(",");
}

/**
 * Each object left, as `kind/name` (prefixed with where it was found): every
 * Runtime, Execution and Worker in the cluster, everything in the release's
 * namespace, and whatever carries the release's instance label anywhere.
 */
export async function releaseLeftovers(
  kubectl: Kubectl,
  o: { namespace: string; release: string },
): Promise<string[]> {
  const label = `app.kubernetes.io/instance=${o.release}`;
  const ns = await kinds(kubectl, true);
  const cluster = await kinds(kubectl, false);
  const found = {
    envicutor: await kubectl(["get", "runtimes,executions,workers", "-A", "-o", "name"]),
    [`namespace ${o.namespace}`]: await kubectl(["get", ns, "-n", o.namespace, "-o", "name"]),
    [`labelled ${label}`]: await kubectl(["get", ns, "-A", "-l", label, "-o", "name"]),
    [`cluster-scoped, labelled ${label}`]: await kubectl(["get", cluster, "-l", label, "-o", "name"]),
  };
  return Object.entries(found).flatMap(([where, out]) =>
    lines(out)
      .filter((n) => !NAMESPACE_DEFAULTS.has(n))
      .map((n) => `${where}: ${n}`),
  );
}
