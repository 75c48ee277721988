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
  return {
    depth: byQueueGauge(registry, "envicutor_workqueue_depth", "Keys waiting in the work queue."),
    adds: byQueueCounter(registry, "envicutor_workqueue_adds_total", "Keys added to the work queue."),
    retries: byQueueCounter(registry, "envicutor_workqueue_retries_total", "Keys requeued after a failure."),
    errors: byQueueCounter(registry, "envicutor_reconcile_errors_total", "Failed reconciles."),
    queueDuration: byQueueSeconds(
      registry,
      "envicutor_workqueue_queue_duration_seconds",
      "Seconds a key waited in the queue before processing.",
    ),
    workDuration: byQueueSeconds(
      registry,
      "envicutor_workqueue_work_duration_seconds",
      "Seconds a reconcile took.",
    ),
  };
}

// Every work queue of a process shares these metrics, told apart by the "name" label.

function byQueueGauge(registry: Registry, name: string, help: string): Gauge<"name"> {
  return getOrCreate(
    registry,
    name,
    () => new Gauge({ name, help, labelNames: ["name"], registers: [registry] }),
  );
}

function byQueueCounter(registry: Registry, name: string, help: string): Counter<"name"> {
  return getOrCreate(
    registry,
    name,
    () => new Counter({ name, help, labelNames: ["name"], registers: [registry] }),
  );
}

function byQueueSeconds(registry: Registry, name: string, help: string): Histogram<"name"> {
  return getOrCreate(
    registry,
    name,
    () =>
      new Histogram({ name, help, labelNames: ["name"], buckets: SECONDS_BUCKETS, registers: [registry] }),
  );
}
