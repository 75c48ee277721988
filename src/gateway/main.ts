import { KubeClient, loadKubeConfig } from "../k8s/client.ts";
import { errText } from "../k8s/errors.ts";
import { createLogger } from "../logging.ts";
import { loadGatewayConfig } from "./config.ts";
import { Gateway } from "./gateway.ts";

/** Entry point: `node src/gateway/main.ts [--namespace ns] [--port 2358] ...` (see config.ts). */
async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const log = createLogger("gateway");
  const client = new KubeClient(loadKubeConfig(config.kubeconfig), { fieldManager: "envicutor-gateway" });
  const gateway = new Gateway({ client, config, logger: log });
  let stopping = false;
  const shutdown = (reason: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ reason }, "shutting down");
    setTimeout(() => process.exit(1), 20_000).unref();
    gateway
      .stop()
      .catch((err) => log.error({ err: errText(err) }, "error during shutdown"))
      .finally(() => {
        client.close();
        process.exit(0);
      });
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  await gateway.start();
}

main().catch((err) => {
  createLogger("gateway").fatal({ err: errText(err) }, "gateway failed to start");
  process.exit(1);
});
