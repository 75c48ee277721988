import { KubeClient, loadKubeConfig } from "../k8s/client.ts";
import { errText } from "../k8s/errors.ts";
import { createLogger } from "../logging.ts";
import { loadConfig } from "./config.ts";
import { ControllerManager } from "./controller-manager.ts";
import { uninstallMain } from "./uninstall-main.ts";

/** Entry point: `node src/controller/main.ts [--namespace ns] [--kubeconfig path] ...` (see config.ts). */
async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger("controller", { identity: config.identity });
  const client = new KubeClient(loadKubeConfig(config.kubeconfig), { fieldManager: "envicutor-controller" });
  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string, code: number) => {
    if (stopping) return;
    log.info({ reason }, "shutting down");
    const timer = setTimeout(() => {
      log.error("graceful shutdown timed out");
      process.exit(code || 1);
    }, 20_000);
    timer.unref();
    stopping = manager
      .stop()
      .catch((err) => log.error({ err: errText(err) }, "error during shutdown"))
      .finally(() => process.exit(code));
  };
  const manager = new ControllerManager({
    client,
    config,
    logger: log,
    // Like controller-runtime: a replica that lost the lease exits and comes back as a fresh candidate.
    onLostLeadership: () => shutdown("lost leadership", 1),
  });
  process.on("SIGTERM", () => shutdown("SIGTERM", 0));
  process.on("SIGINT", () => shutdown("SIGINT", 0));
  log.info(
    { namespace: config.namespace, leaderElect: config.leaderElect, metricsPort: config.metricsPort },
    "starting",
  );
  await manager.start();
}

// The chart's uninstall hooks run the same image with this first argument (uninstall-main.ts).
if (process.argv[2] === "uninstall-cleanup")
  uninstallMain(process.argv.slice(3)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(errText(err));
      process.exit(1);
    },
  );
else
  main().catch((err) => {
    createLogger("controller").fatal({ err: errText(err) }, "controller failed to start");
    process.exit(1);
  });
