// The demo's first step: this machine checked as `envicutor doctor` checks a
// node (the agent's own detection code), before anything is built or started.
import { nodeCheckOptions } from "../src/agent/preflight/check-options.ts";
import { formatChecks } from "../src/agent/preflight/format-checks.ts";
import { type CheckResult, checkNode, type NodeProbes } from "../src/agent/preflight/node-checks.ts";
import { nodeProbes } from "../src/agent/preflight/node-probes.ts";

/** What scripts/setup.sh installs (Nix from Debian, its build users): missing before the set-up is no failure. */
const SETUP_PROVIDES = new Set(["nix", "nix build users"]);

export type PreflightPhase = "before-setup" | "after-setup";

export interface Preflight {
  /** Names of the failed checks; empty when the demo can go on. */
  failed: string[];
  /** The checks as `envicutor doctor` prints them. */
  text: string;
}

/**
 * Checks the machine. Before the set-up, what the set-up installs next only
 * warns; everything else that fails (isolate, root, namespaces) stops the demo
 * at once, since no later step would provide it.
 */
export async function preflight(
  phase: PreflightPhase,
  env: NodeJS.ProcessEnv = process.env,
  probes: NodeProbes = nodeProbes,
): Promise<Preflight> {
  const results = (await checkNode(nodeCheckOptions(env), probes)).map(
    (r): CheckResult =>
      phase === "before-setup" && r.status === "fail" && SETUP_PROVIDES.has(r.name)
        ? { ...r, status: "warn", detail: `${r.detail} (scripts/setup.sh installs it next)` }
        : r,
  );
  return {
    failed: results.filter((r) => r.status === "fail").map((r) => r.name),
    text: formatChecks(results),
  };
}
