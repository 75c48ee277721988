import type { GatewayCore } from "../core.ts";
import { HttpError } from "../http-error.ts";
import { findPiston, pistonRuntimes } from "../runtime-index.ts";
import type { Tenant } from "../tenants.ts";
import { parsePistonExecute, pistonSpec } from "./execute-request.ts";
import { pistonResponse } from "./execute-response.ts";

/** GET /api/v2/runtimes: the Ready Runtimes as Piston lists its runtimes. */
export function listRuntimes(core: GatewayCore): unknown {
  return pistonRuntimes(core.runtimeList()).map((p) => ({
    language: p.language,
    version: p.version,
    aliases: p.aliases,
    runtime: p.runtime.metadata.name,
  }));
}

/** POST /api/v2/execute: one Execution, answered when it finishes (Piston is synchronous). */
export async function execute(
  core: GatewayCore,
  tenant: Tenant,
  body: unknown,
  signal: AbortSignal,
): Promise<unknown> {
  const req = parsePistonExecute(body);
  const found = findPiston(core.runtimeList(), req.language, req.version);
  if (!found) throw new HttpError(400, `${req.language}-${req.version} runtime is unknown`);
  const spec = pistonSpec(req, found.runtime);
  core.admit(tenant, 1, true, false);
  const ex = await core.submit(tenant, { api: "piston", spec, wait: true, signal });
  if (ex.status?.phase !== "Succeeded" && ex.status?.phase !== "Failed") {
    if (signal.aborted) return undefined;
    throw new HttpError(504, `the execution did not finish within ${core.config.waitTimeoutSeconds} s`);
  }
  return pistonResponse(ex, found.language, found.version, found.runtime.spec.compileCommand !== undefined);
}
