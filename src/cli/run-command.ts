import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { type Execution, execution, isFinished } from "../api/execution.ts";
import { GROUP, RESOURCES, VERSION } from "../api/group.ts";
import { readTestDir } from "./test-dir.ts";

export interface RunOptions {
  file: string;
  runtime: string;
  namespace: string;
  stdin?: string;
  testsDir?: string;
  args?: string[];
  timeoutSeconds: number;
  keep: boolean;
}

const PLURAL = RESOURCES.Execution.plural;

/** Builds the Execution for a source file, with stdin or a directory of test cases. */
export function buildExecution(opts: RunOptions): Record<string, unknown> {
  const stem =
    basename(opts.file)
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "") || "run";
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "Execution",
    metadata: {
      generateName: `${stem.slice(0, 40)}-`,
      namespace: opts.namespace,
      labels: { "app.kubernetes.io/created-by": "envicutor-cli" },
    },
    spec: {
      runtime: opts.runtime,
      files: [
        {
          name: basename(opts.file),
          content: readFileSync(opts.file).toString("base64"),
          encoding: "base64",
        },
      ],
      ...(opts.args?.length ? { args: opts.args } : {}),
      ...(opts.testsDir ? { testCases: readTestDir(opts.testsDir) } : { stdin: opts.stdin ?? "" }),
    },
  };
}

/** Creates the Execution, waits until it is Complete (or the timeout), and returns it. */
export async function runAndWait(
  kc: KubeConfig,
  opts: RunOptions,
  onCreated?: (name: string) => void,
): Promise<Execution> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const created = (await api.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: opts.namespace,
    plural: PLURAL,
    body: buildExecution(opts),
  })) as { metadata: { name: string } };
  const name = created.metadata.name;
  onCreated?.(name);
  const deadline = Date.now() + opts.timeoutSeconds * 1000;
  let delay = 200;
  try {
    for (;;) {
      const raw = await api.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: opts.namespace,
        plural: PLURAL,
        name,
      });
      const parsed = execution.safeParse(raw);
      if (parsed.success && isFinished(parsed.data.status)) return parsed.data;
      if (Date.now() > deadline)
        throw new Error(`timed out after ${opts.timeoutSeconds}s waiting for execution ${name}`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 1.5, 2000);
    }
  } finally {
    if (!opts.keep) {
      await api
        .deleteNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: opts.namespace,
          plural: PLURAL,
          name,
        })
        .catch(() => undefined);
    }
  }
}
