import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { type Runtime, RuntimeConditions } from "../api/index.ts";
import { getCondition } from "../k8s/conditions.ts";
import { getOrCreate } from "../k8s/metrics.ts";

export interface ControllerMetrics {
  pendingExecutions: Gauge;
  timeToSchedule: Histogram;
  timeToComplete: Histogram<"phase">;
  failed: Counter<"reason">;
  rescheduled: Counter;
  deletedByTtl: Counter;
  schedulerWrites: Counter<"kind" | "result">;
}

const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

/** Controller metrics; `runtimes` feeds the Runtimes-by-Ready gauge at scrape time. */
export function controllerMetrics(registry: Registry, runtimes: () => Runtime[]): ControllerMetrics {
  // Registration order is the exposition order: keep runtimes, queue, then counters.
  registerRuntimesGauge(registry, runtimes);
  return { ...schedulingMetrics(registry), ...controllerActionCounters(registry) };
}

function registerRuntimesGauge(registry: Registry, runtimes: () => Runtime[]): void {
  getOrCreate(
    registry,
    "envicutor_runtimes",
    () =>
      new Gauge({
        name: "envicutor_runtimes",
        help: "Runtimes by the status of their Ready condition.",
        labelNames: ["ready"],
        registers: [registry],
        collect() {
          const counts: Record<string, number> = { True: 0, False: 0, Unknown: 0 };
          for (const rt of runtimes()) {
            const s = getCondition(rt.status?.conditions, RuntimeConditions.Ready)?.status ?? "Unknown";
            counts[s] = (counts[s] ?? 0) + 1;
          }
          for (const [ready, n] of Object.entries(counts)) this.set({ ready }, n);
        },
      }),
  );
}

/** The scheduling queue and how long Executions take to be placed and to finish. */
function schedulingMetrics(
  registry: Registry,
): Pick<ControllerMetrics, "pendingExecutions" | "timeToSchedule" | "timeToComplete"> {
  const registers = [registry];
  return {
    pendingExecutions: getOrCreate(
      registry,
      "envicutor_executions_pending",
      () =>
        new Gauge({
          name: "envicutor_executions_pending",
          help: "Executions waiting for a node (scheduling queue depth).",
          registers,
        }),
    ),
    timeToSchedule: getOrCreate(
      registry,
      "envicutor_execution_schedule_seconds",
      () =>
        new Histogram({
          name: "envicutor_execution_schedule_seconds",
          help: "Seconds from an Execution's creation to its first assignment to a node.",
          buckets: BUCKETS,
          registers,
        }),
    ),
    timeToComplete: getOrCreate(
      registry,
      "envicutor_execution_completion_seconds",
      () =>
        new Histogram({
          name: "envicutor_execution_completion_seconds",
          help: "Seconds from an Execution's creation to its completion, by final phase.",
          labelNames: ["phase"],
          buckets: BUCKETS,
          registers,
        }),
    ),
  };
}

/** What the controller did to Executions itself: failed, requeued, or deleted them. */
function controllerActionCounters(
  registry: Registry,
): Pick<ControllerMetrics, "failed" | "rescheduled" | "deletedByTtl" | "schedulerWrites"> {
  const registers = [registry];
  return {
    failed: getOrCreate(
      registry,
      "envicutor_executions_failed_by_controller_total",
      () =>
        new Counter({
          name: "envicutor_executions_failed_by_controller_total",
          help: "Executions the controller failed without running them, by reason.",
          labelNames: ["reason"],
          registers,
        }),
    ),
    rescheduled: getOrCreate(
      registry,
      "envicutor_executions_rescheduled_total",
      () =>
        new Counter({
          name: "envicutor_executions_rescheduled_total",
          help: "Executions sent back to the queue after their node was lost.",
          registers,
        }),
    ),
    schedulerWrites: getOrCreate(
      registry,
      "envicutor_scheduler_status_writes_total",
      () =>
        new Counter({
          name: "envicutor_scheduler_status_writes_total",
          help: "The scheduler's Execution status writes, by kind (place, wait, fail) and result (ok, conflict, error).",
          labelNames: ["kind", "result"],
          registers,
        }),
    ),
    deletedByTtl: getOrCreate(
      registry,
      "envicutor_executions_ttl_deleted_total",
      () =>
        new Counter({
          name: "envicutor_executions_ttl_deleted_total",
          help: "Finished Executions deleted after their TTL.",
          registers,
        }),
    ),
  };
}
