import { Counter, Histogram, type Registry } from "prom-client";
import { getOrCreate } from "../../k8s/metrics.ts";

export interface ExecutorMetrics {
  executions: Counter<"verdict" | "runtime">;
  stageDuration: Histogram<"stage">;
  compiles: Counter;
}

export function executorMetrics(registry: Registry): ExecutorMetrics {
  const registers = [registry];
  return {
    executions: getOrCreate(
      registry,
      "envicutor_agent_executions_total",
      () =>
        new Counter({
          name: "envicutor_agent_executions_total",
          help: "Executions run on this node, by verdict and Runtime language.",
          labelNames: ["verdict", "runtime"],
          registers,
        }),
    ),
    stageDuration: getOrCreate(
      registry,
      "envicutor_agent_stage_duration_seconds",
      () =>
        new Histogram({
          name: "envicutor_agent_stage_duration_seconds",
          help: "Wall time of sandboxed stages (compile, run), box set-up included.",
          labelNames: ["stage"],
          buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
          registers,
        }),
    ),
    compiles: getOrCreate(
      registry,
      "envicutor_agent_compiles_total",
      () => new Counter({ name: "envicutor_agent_compiles_total", help: "Compile stages run.", registers }),
    ),
  };
}
