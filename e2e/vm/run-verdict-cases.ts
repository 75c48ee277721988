// Runs the verdict matrix through the agent's own code (runExecution) in one
// sandbox, one case after another, and keeps what each case saw as JSON.
import { type ExecutorContext, runExecution } from "../../src/agent/executor/run-execution.ts";
import { caseRuntime, caseSpec, type VerdictCase, type VerdictObservation } from "./verdict-cases.ts";

export const HOST_DIRS = ["/usr", "/bin", "/lib", "/lib64"];
const PATH_ENV = { PATH: "/usr/bin:/bin" };

export async function runVerdictCase(
  ctx: ExecutorContext,
  c: VerdictCase,
  scale: number,
  mounts: string[] = HOST_DIRS,
): Promise<VerdictObservation> {
  try {
    const r = await runExecution(ctx, {
      spec: caseSpec(c),
      runtime: caseRuntime(c, scale),
      runtimeEnv: PATH_ENV,
      mounts,
    });
    const t = r.tests[0];
    const obs: VerdictObservation = { name: c.name, verdict: r.verdict, message: t?.message ?? r.message };
    if (t) {
      for (const k of ["exitCode", "signal", "cpuTimeMillis", "wallTimeMillis", "memoryKiB"] as const)
        if (t[k] !== undefined) obs[k] = t[k];
      obs.stdout = t.stdout?.slice(0, 300);
      obs.stderr = t.stderr?.slice(-300);
    } else if (r.compile) obs.stderr = r.compile.stderr?.slice(-300);
    if (c.tests)
      obs.tests = r.tests.map((x) => ({
        verdict: x.verdict ?? "none",
        ...(x.memoryKiB !== undefined ? { memoryKiB: x.memoryKiB } : {}),
      }));
    return obs;
  } catch (err) {
    return { name: c.name, verdict: "AgentError", error: String(err) };
  }
}

export async function runVerdictCases(
  ctx: ExecutorContext,
  cases: VerdictCase[],
  scale: number,
): Promise<VerdictObservation[]> {
  const out: VerdictObservation[] = [];
  for (const c of cases) out.push(await runVerdictCase(ctx, c, scale));
  return out;
}
