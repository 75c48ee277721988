import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface WorkQueueMetrics {
  depth: Gauge<"name">;
  adds: Counter<"name">;
  retries: Counter<"name">;
  errors: Counter<"name">;
  queueDuration: Histogram<"name">;
  workDuration: Histogram<"name">;
}

/** Returns the metric registered under `name` in the registry, creating it once. */
export function getOrCreate<M>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60];

/** Work queue metrics (as client-go names them, with an envicutor_ prefix), labelled by queue name. */
export function workQueueMetrics(registry: Registry): WorkQueueMetrics {
  const registers = [registry];
  return {
    depth: getOrCreate(
      registry,
      "envicutor_workqueue_depth",
      () =>
        new Gauge({
          name: "envicutor_workqueue_depth",
          help: "Keys waiting in the work queue.",
          labelNames: ["name"],
          registers,
        }),
    ),
    adds: getOrCreate(
      registry,
      "envicutor_workqueue_adds_total",
      () =>
        new Counter({
          name: "envicutor_workqueue_adds_total",
          help: "Keys added to the work queue.",
          labelNames: ["name"],
          registers,
        }),
    ),
    retries: getOrCreate(
      registry,
      "envicutor_workqueue_retries_total",
      () =>
        new Counter({
          name: "envicutor_workqueue_retries_total",
          help: "Keys requeued after a failure.",
          labelNames: ["name"],
          registers,
        }),
    ),
    errors: getOrCreate(
      registry,
      "envicutor_reconcile_errors_total",
      () =>
        new Counter({
          name: "envicutor_reconcile_errors_total",
          help: "Failed reconciles.",
          labelNames: ["name"],
          registers,
        }),
    ),
    queueDuration: getOrCreate(
      registry,
      "envicutor_workqueue_queue_duration_seconds",
      () =>
        new Histogram({
          name: "envicutor_workqueue_queue_duration_seconds",
          help: "Seconds a key waited in the queue before processing.",
          labelNames: ["name"],
          buckets: SECONDS_BUCKETS,
          registers,
        }),
    ),
    workDuration: getOrCreate(
      registry,
      "envicutor_workqueue_work_duration_seconds",
      () =>
        new Histogram({
          name: "envicutor_workqueue_work_duration_seconds",
          help: "Seconds a reconcile took.",
          labelNames: ["name"],
          buckets: SECONDS_BUCKETS,
          registers,
        }),
    ),
  };
}
