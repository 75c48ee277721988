import { hostname } from "node:os";
import { nodeCheckOptions } from "../agent/preflight/check-options.ts";
import { formatChecks } from "../agent/preflight/format-checks.ts";
import { anyFailed, checkNode, type NodeProbes } from "../agent/preflight/node-checks.ts";
import { nodeProbes } from "../agent/preflight/node-probes.ts";

export interface DoctorOptions {
  /** isolate to check instead of ENVICUTOR_ISOLATE_BIN's. */
  isolateBin?: string;
  /** Check networked boxes' tools as if ENVICUTOR_NETWORK_ENABLED=true. */
  network?: boolean;
  env?: NodeJS.ProcessEnv;
  probes?: NodeProbes;
  out?: (text: string) => void;
}

/** `envicutor doctor`: the agent's checks of this node, printed; 1 when one fails, else 0. */
export async function doctor(o: DoctorOptions = {}): Promise<number> {
  const opts = nodeCheckOptions(o.env ?? process.env);
  if (o.isolateBin) opts.isolateBin = o.isolateBin;
  if (o.network) opts.networkEnabled = true;
  const results = await checkNode(opts, o.probes ?? nodeProbes);
  (o.out ?? ((t) => process.stdout.write(t)))(`node ${hostname()}\n${formatChecks(results)}\n`);
  return anyFailed(results) ? 1 : 0;
}
