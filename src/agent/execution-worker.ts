import { type Execution, ExecutionConditions, type ExecutionStatus, isFinished } from "../api/execution.ts";
import { resolveExecutionLimits } from "../api/limits.ts";
import type { KubeClient } from "../k8s/client.ts";
import { setConditions } from "../k8s/conditions.ts";
import { errText, isConflict, isNotFound } from "../k8s/errors.ts";
import { ExecutionResource, splitKey } from "../k8s/resources.ts";
import type { ProcessResult } from "../k8s/work-queue.ts";
import type { Logger } from "../logging.ts";
import type { ExecutionOutcome, ExecutionRunner } from "./ports.ts";
import type { RuntimeSync } from "./runtime-sync.ts";

/** Status budget for all captured stdout/stderr of one Execution, far below etcd's object limit. */
export const OUTPUT_BUDGET_BYTES = 512 * 1024;

export interface ExecutionWorkerOptions {
  client: KubeClient;
  nodeName: string;
  runner: ExecutionRunner;
  runtimes: RuntimeSync;
  logger: Logger;
  getExecution: (key: string) => Execution | undefined;
  onFinished?: (ex: Execution, outcome: ExecutionOutcome | undefined) => void;
}

/**
 * Runs the Executions the controller assigned to this node. The controller
 * owns scheduling (phase Scheduled, nodeName, attempts); this node writes
 * Running and then the result, each a conditional write of the whole status
 * read just before, so a reassignment by the controller (node presumed lost)
 * wins and this node's late result is dropped — never run twice to completion.
 */
export class ExecutionWorker {
  private readonly o: ExecutionWorkerOptions;
  private readonly running = new Map<string, AbortController>();

  constructor(opts: ExecutionWorkerOptions) {
    this.o = opts;
  }

  get busy(): number {
    return this.running.size;
  }

  /** Whether an informer event should enqueue this Execution. */
  wants(ex: Execution): boolean {
    return (
      ex.status?.nodeName === this.o.nodeName &&
      !isFinished(ex.status) &&
      !this.running.has(ex.metadata.uid ?? "")
    );
  }

  /** Aborts every run in progress (shutdown). */
  abortAll(): void {
    for (const a of this.running.values()) a.abort();
  }

  async process(key: string): Promise<ProcessResult | undefined> {
    const cached = this.o.getExecution(key);
    if (!cached || !this.wants(cached)) return undefined;
    const uid = cached.metadata.uid ?? key;
    const abort = new AbortController();
    this.running.set(uid, abort);
    try {
      return await this.runOne(key, abort.signal);
    } finally {
      this.running.delete(uid);
    }
  }

  private async fresh(key: string): Promise<Execution | undefined> {
    const { namespace, name } = splitKey(key);
    return this.o.client.tryGet(ExecutionResource, name, namespace);
  }

  private async runOne(key: string, signal: AbortSignal): Promise<ProcessResult | undefined> {
    const log = this.o.logger.child({ execution: key });
    let ex = await this.fresh(key);
    if (!ex || ex.status?.nodeName !== this.o.nodeName || isFinished(ex.status)) return undefined;
    const status = ex.status;
    const generation = status.runtimeGeneration ?? 0;
    const runtime = await this.o.runtimes.runtimeFor(ex.spec.runtime, generation);
    if (!runtime) {
      // The generation left this node (e.g. a newer one took over): hand it back to the scheduler.
      log.warn(
        { runtime: ex.spec.runtime, generation },
        "runtime generation not installed here; returning execution to the queue",
      );
      await this.writeStatus(ex, {
        ...status,
        phase: "Pending",
        nodeName: undefined,
        message: `runtime ${ex.spec.runtime} generation ${generation} is not installed on node ${this.o.nodeName}`,
      }).catch((err: unknown) => log.warn({ err: errText(err) }, "could not return execution to the queue"));
      return undefined;
    }
    const { limits, violations } = resolveExecutionLimits(runtime.spec, ex.spec);
    if (violations.length > 0) {
      await this.finish(key, undefined, "LimitOutOfBounds", violations.map((v) => v.message).join("; "));
      return undefined;
    }

    try {
      ex = await this.writeStatus(ex, {
        ...status,
        phase: "Running",
        startTime: new Date().toISOString(),
        ...conditionsWith(status, [
          {
            type: ExecutionConditions.Running,
            status: "True",
            reason: "Running",
            message: `running on ${this.o.nodeName}`,
          },
        ]),
      });
    } catch (err) {
      if (isConflict(err)) return { requeueAfterMs: 0 }; // re-read and decide again
      throw err;
    }

    const started = Date.now();
    let outcome: ExecutionOutcome;
    try {
      const tests = Math.max(ex.spec.testCases?.length ?? 1, 1);
      outcome = await this.o.runner.run(
        ex.spec,
        { ...runtime, limits, outputCapBytes: Math.floor(OUTPUT_BUDGET_BYTES / (2 * (tests + 1))) },
        signal,
      );
    } catch (err) {
      if (signal.aborted) return undefined; // shutting down: the controller reschedules after the lease expires
      log.error({ err: errText(err) }, "execution failed inside the agent");
      await this.finish(key, undefined, "AgentError", errText(err));
      return undefined;
    }
    log.info({ verdict: outcome.verdict, seconds: (Date.now() - started) / 1000 }, "execution finished");
    await this.finish(key, outcome);
    return undefined;
  }

  /** Writes the final result, retrying on conflicts as long as the Execution is still ours. */
  private async finish(
    key: string,
    outcome: ExecutionOutcome | undefined,
    failReason?: string,
    failMessage?: string,
  ): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const ex = await this.fresh(key);
      if (!ex || ex.status?.nodeName !== this.o.nodeName || isFinished(ex.status)) {
        this.o.logger.warn(
          { execution: key },
          "execution was reassigned or finished elsewhere; dropping this result",
        );
        return;
      }
      const status = finalStatus(ex.status, outcome, failReason, failMessage);
      try {
        const written = await this.writeStatus(ex, status);
        this.o.onFinished?.(written, outcome);
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isConflict(err)) throw err;
      }
    }
    throw new Error(`could not write the result of ${key}: too many conflicts`);
  }

  private writeStatus(ex: Execution, status: ExecutionStatus): Promise<Execution> {
    return this.o.client.replaceStatus(ExecutionResource, { ...ex, status });
  }
}

function conditionsWith(
  status: ExecutionStatus,
  inputs: Parameters<typeof setConditions>[1],
): { conditions: ExecutionStatus["conditions"] } {
  return { conditions: setConditions(status.conditions, inputs).conditions };
}

/** The status of a finished Execution: Succeeded when judged (any verdict but InternalError), else Failed. */
export function finalStatus(
  status: ExecutionStatus,
  outcome: ExecutionOutcome | undefined,
  failReason?: string,
  failMessage?: string,
): ExecutionStatus {
  const judged = outcome !== undefined && outcome.verdict !== "InternalError";
  const reason = outcome ? outcome.verdict : (failReason ?? "Failed");
  const message = outcome
    ? (outcome.message ??
      `${outcome.verdict}${outcome.tests.length > 1 ? ` (${outcome.tests.filter((t) => t.verdict === "Accepted").length}/${outcome.tests.length} tests accepted)` : ""}`)
    : (failMessage ?? "the execution failed");
  return {
    ...status,
    phase: judged ? "Succeeded" : "Failed",
    ...(outcome ? { verdict: outcome.verdict, tests: outcome.tests } : { verdict: "InternalError" as const }),
    ...(outcome?.compile ? { compile: outcome.compile } : {}),
    message,
    completionTime: new Date().toISOString(),
    ...conditionsWith(status, [
      { type: ExecutionConditions.Running, status: "False", reason: "Finished", message: "finished" },
      { type: ExecutionConditions.Complete, status: "True", reason, message },
      judged
        ? {
            type: ExecutionConditions.Failed,
            status: "False",
            reason: "Judged",
            message: "the submission was judged",
          }
        : { type: ExecutionConditions.Failed, status: "True", reason, message },
    ]),
  };
}
