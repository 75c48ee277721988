import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface NixMetrics {
  /** Installs by result: Installed, AlreadyInstalled, or the failure reason. */
  installs: Counter<"result">;
  installDuration: Histogram<"result">;
  /** Runtime generations installed on this node. */
  installedRuntimes: Gauge;
}

/** Creates the installer's metrics on `registry`. */
export function createNixMetrics(registry: Registry): NixMetrics {
  return {
    installs: new Counter({
      name: "envicutor_agent_runtime_installs_total",
      help: "Runtime installs by result (Installed, AlreadyInstalled, or the failure reason).",
      labelNames: ["result"],
      registers: [registry],
    }),
    installDuration: new Histogram({
      name: "envicutor_agent_runtime_install_duration_seconds",
      help: "Duration of Runtime installs (Nix build or substitution, GC roots, environment).",
      labelNames: ["result"],
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200],
      registers: [registry],
    }),
    installedRuntimes: new Gauge({
      name: "envicutor_agent_installed_runtimes",
      help: "Runtime generations installed on this node (with a GC root).",
      registers: [registry],
    }),
  };
}
