// The node agent: `node src/agent/main.ts` (configuration from ENVICUTOR_* variables, see config.ts).
import { join } from "node:path";
import { collectDefaultMetrics, Registry } from "prom-client";
import { KubeClient, loadKubeConfig } from "../k8s/client.ts";
import { errText } from "../k8s/errors.ts";
import { createLogger } from "../logging.ts";
import { Agent } from "./agent.ts";
import { loadAgentConfig } from "./config.ts";
import { CompileCache, compileCacheMetrics } from "./executor/compile-cache.ts";
import { IsolateExecutor } from "./executor/executor.ts";
import { executorMetrics } from "./executor/metrics.ts";
import { createNixMetrics } from "./nix/metrics.ts";
import { NixInstaller } from "./nix/nix-installer.ts";
import type { ExecutionRunner } from "./ports.ts";
import { resolveProblem } from "./problem/resolve-problem.ts";
import { unmountStaleBoxStorage } from "./sandbox/box-storage.ts";
import { setUpSandbox } from "./sandbox/setup.ts";
import { SandboxUnavailable } from "./sandbox-unavailable.ts";
import { TestDataCache, testDataCacheMetrics } from "./testdata/test-data-cache.ts";

const AGENT_VERSION = "0.1.0";

type AgentConfig = ReturnType<typeof loadAgentConfig>;
type Logger = ReturnType<typeof createLogger>;
type NodeSandbox = Awaited<ReturnType<typeof setUpSandbox>>;

async function main(): Promise<void> {
  const config = loadAgentConfig();
  const logger = createLogger("envicutor-agent", { node: config.nodeName });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const sandbox = await setUpNodeSandbox(config, logger);
  // Checkers and interactors in another Runtime than the Execution's: that Runtime's active generation here.
  let agent: Agent | undefined;
  const runner = executionRunner(config, sandbox, logger, registry, async (name) =>
    agent?.runtimes.activeRuntime(name),
  );
  const installer = nixInstaller(config, logger, registry);
  const leftovers = await installer.recover();
  if (leftovers.length) logger.info({ leftovers }, "removed half-finished installs from a previous run");

  const client = new KubeClient(loadKubeConfig(config.kubeconfig), { fieldManager: "envicutor-agent" });
  const testData = new TestDataCache(
    join(config.stateDir, "test-data"),
    config.testDataCacheBytes,
    testDataCacheMetrics(registry),
  );
  agent = new Agent({
    config,
    client,
    logger,
    registry,
    installer,
    runner,
    problems: (ex, signal) => resolveProblem(client, testData, ex, signal),
    facts: {
      agentVersion: AGENT_VERSION,
      nixVersion: await installer.nixVersion().catch(() => "unknown"),
      ...sandboxFacts(sandbox),
    },
  });
  stopOnSignals(agent, runner, sandbox, logger);
  await agent.start();
}

function setUpNodeSandbox(config: AgentConfig, logger: Logger): Promise<NodeSandbox> {
  return setUpSandbox({
    isolateBin: config.isolateBin,
    isolateConfigPath: config.isolateConfigPath,
    boxRoot: config.isolateBoxRoot,
    boxIdBase: config.boxIdBase,
    // One box per execution slot, plus one per concurrent install for smoke tests.
    boxCount: config.slots + config.installConcurrency,
    stateDir: config.stateDir,
    extraDirs: config.sandboxExtraDirs,
    network: config.network,
    logger,
  });
}

/** The executor over isolate, or, without isolate, a runner that says why on every Execution. */
function executionRunner(
  config: AgentConfig,
  sandbox: NodeSandbox,
  logger: Logger,
  registry: Registry,
  runtimes: ConstructorParameters<typeof IsolateExecutor>[0]["runtimes"],
): ExecutionRunner {
  if (!sandbox)
    return new SandboxUnavailable(
      `isolate (${config.isolateBin}) is not installed on node ${config.nodeName}`,
    );
  const compileCache =
    config.compileCacheBytes > 0
      ? new CompileCache({
          dir: join(sandbox.settings.workDir, "compile-cache"),
          maxBytes: config.compileCacheBytes,
          metrics: compileCacheMetrics(registry),
        })
      : undefined;
  return new IsolateExecutor({
    sandbox: sandbox.settings,
    pool: sandbox.pool,
    outputCapBytes: config.outputCapBytes,
    logger,
    metrics: executorMetrics(registry),
    ...(compileCache ? { compileCache } : {}),
    runtimes,
    cleanUpInBackground: true,
    warmBoxes: config.warmBoxes,
    keepBoxes: config.keepBoxes,
    closureViews: config.closureViews,
    ...(sandbox.networkUnavailable ? { networkUnavailable: sandbox.networkUnavailable } : {}),
  });
}

function nixInstaller(config: AgentConfig, logger: Logger, registry: Registry): NixInstaller {
  return new NixInstaller({
    stateDir: config.stateDir,
    packageSets: config.packageSets,
    ...(config.substituters.length ? { substituters: config.substituters } : {}),
    ...(config.trustedPublicKeys.length ? { trustedPublicKeys: config.trustedPublicKeys } : {}),
    timeoutMs: config.installTimeoutMs,
    logger,
    metrics: createNixMetrics(registry),
  });
}

function sandboxFacts(sandbox: NodeSandbox) {
  if (!sandbox) return {};
  return {
    isolateVersion: sandbox.info.version,
    cgroupMode: sandbox.info.useCg ? sandbox.info.cgroupMode : "none",
    sandboxProtections: sandbox.protections,
  };
}

/** SIGTERM/SIGINT: stop the agent, wait for its boxes' clean-ups, then unmount and remove what the sandbox made. */
function stopOnSignals(agent: Agent, runner: ExecutionRunner, sandbox: NodeSandbox, logger: Logger): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    await agent.stop().catch((err: unknown) => logger.error({ err: errText(err) }, "error while stopping"));
    // Runs are aborted and their boxes cleaned by now (the background clean-ups too); what is still mounted (the devices' tmpfs) goes too.
    if (runner instanceof IsolateExecutor) await runner.coolDown();
    if (sandbox) {
      await unmountStaleBoxStorage(sandbox.settings.workDir).catch((err: unknown) =>
        logger.error({ err: errText(err) }, "could not unmount box filesystems"),
      );
      await sandbox.settings.network
        ?.tearDown()
        .catch((err: unknown) => logger.error({ err: errText(err) }, "could not remove box networks"));
    }
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}

main().catch((err: unknown) => {
  console.error(JSON.stringify({ level: 60, msg: "agent failed to start", err: errText(err) }));
  process.exit(1);
});
