import { hostname } from "node:os";
import { loadAgentConfig } from "../config.ts";
import type { NodeCheckOptions } from "./node-checks.ts";

/**
 * The checks' options from the agent's own configuration (ENVICUTOR_*
 * variables), so the doctor checks the isolate and the network setting the
 * agent would use. The node name is only required by the agent: the host name
 * stands in.
 */
export function nodeCheckOptions(env: NodeJS.ProcessEnv = process.env): NodeCheckOptions {
  const config = loadAgentConfig({ ENVICUTOR_NODE_NAME: hostname(), ...env });
  return { isolateBin: config.isolateBin, nixBuild: "nix-build", networkEnabled: config.network.enabled };
}
