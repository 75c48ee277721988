import { mkdirSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../logging.ts";
import { BoxNetwork, boxNetworkAvailable } from "../network/box-network.ts";
import type { BoxNetworkConfig } from "../network/network-config.ts";
import { prepareBoxDevices } from "./box-devices.ts";
import { keyctlAvailable } from "./box-keyrings.ts";
import { BoxPool } from "./box-pool.ts";
import { unmountStaleBoxStorage } from "./box-storage.ts";
import { CleanBoxes } from "./clean-boxes.ts";
import { removeStaleShellDirs } from "./command-shell.ts";
import { IsolateBox, type SandboxSettings } from "./isolate-box.ts";
import { prepareCgroupV2Subtree, renderIsolateConfig, writeIfChanged } from "./isolate-config.ts";
import { detectIsolate, type IsolateInfo } from "./isolate-detect.ts";
import { sandboxProtections } from "./protections.ts";

export interface SandboxSetupOptions {
  isolateBin: string;
  isolateConfigPath: string;
  boxRoot: string;
  /** First box id and how many this agent owns. */
  boxIdBase: number;
  boxCount: number;
  /** Agent state directory; sandbox scratch space goes below it. */
  stateDir: string;
  extraDirs: string[];
  /** Write isolate's configuration (off when an operator manages it). */
  writeConfig?: boolean;
  /** Networked Runtimes: off unless the platform turned them on. */
  network?: BoxNetworkConfig;
  logger: Logger;
}

export interface Sandbox {
  info: IsolateInfo;
  settings: SandboxSettings;
  pool: BoxPool;
  /** What contains a box on this node, for the Worker's status (see sandboxProtections). */
  protections: string[];
  /** Why networked Runtimes cannot run here (the platform turned them off, or the node lacks ip/nft); unset when they can. */
  networkUnavailable?: string;
}

/** isolate's first_uid and first_gid as the agent configures them: box N runs as 60000 + N. */
const FIRST_ID = 60000;

/**
 * Detects isolate and the cgroup mode, writes isolate's configuration, and
 * cleans every box of this agent's range (a crash may have left some).
 * Returns undefined when isolate is not installed: the agent then reports
 * Runtimes as failed with reason SandboxUnavailable rather than pretending.
 */
export async function setUpSandbox(o: SandboxSetupOptions): Promise<Sandbox | undefined> {
  const detected = await detectIsolate(o.isolateBin);
  if (!detected) {
    o.logger.error(
      { bin: o.isolateBin },
      "isolate not found: Executions and smoke tests cannot run on this node",
    );
    return undefined;
  }
  const { info, cgRoot } = chooseCgroupRoot(o, detected);
  if (o.writeConfig !== false) writeIsolateConfig(o, info, cgRoot);
  const workDir = await freshWorkDir(o);
  const shellDirs = removeStaleShellDirs();
  if (shellDirs > 0)
    o.logger.warn({ count: shellDirs }, "removed command-shell directories of agents that are gone");
  const devDir = join(workDir, "dev");
  await prepareBoxDevices(devDir);
  const keyrings = await keyctlAvailable();
  if (!keyrings)
    o.logger.error("keyctl not found (keyutils): a box user's keyrings are not cleared between runs");
  const settings: SandboxSettings = {
    isolate: info,
    workDir,
    devDir,
    firstUid: FIRST_ID,
    firstGid: FIRST_ID,
    clearKeyrings: keyrings,
    extraDirs: o.extraDirs,
    hideHostDirs: true,
    clean: new CleanBoxes(),
    // isolate's cg_root, where the agent renews a box's cgroup between runs (IsolateBox.keepIsolateBox).
    ...(info.useCg && o.writeConfig !== false ? { boxCgroups: cgRoot } : {}),
  };
  const pool = new BoxPool(o.boxIdBase, o.boxCount);
  const networkUnavailable = await setUpNetwork(o, settings, pool.ids());
  await cleanBoxes(o, settings, pool);
  o.logger.info(
    {
      isolate: info.version,
      cgroupMode: info.cgroupMode,
      cg: info.useCg,
      boxes: `${pool.base}..${pool.base + pool.size - 1}`,
    },
    "sandbox ready",
  );
  return {
    info,
    settings,
    pool,
    protections: sandboxProtections(info, { keyrings, network: settings.network !== undefined }),
    ...(networkUnavailable ? { networkUnavailable } : {}),
  };
}

function chooseCgroupRoot(
  o: SandboxSetupOptions,
  detected: IsolateInfo,
): { info: IsolateInfo; cgRoot: string } {
  let info = detected;
  let cgRoot = "/sys/fs/cgroup";
  if (info.useCg && info.major >= 2 && info.cgroupMode === "v2" && o.writeConfig !== false) {
    // isolate 2.x needs a delegated subtree; without one it runs without --cg rather than not at all.
    try {
      cgRoot = prepareCgroupV2Subtree();
    } catch (err) {
      o.logger.warn({ err: String(err) }, "no usable cgroup v2 subtree for isolate");
      info = { ...info, useCg: false };
    }
  }
  if (!info.useCg) {
    o.logger.warn(
      { isolate: info.version, cgroupMode: info.cgroupMode },
      "isolate cannot use cgroups here: memory is limited by address space, and OOM kills are not reported as such",
    );
  }
  return { info, cgRoot };
}

function writeIsolateConfig(o: SandboxSetupOptions, info: IsolateInfo, cgRoot: string): void {
  const changed = writeIfChanged(
    o.isolateConfigPath,
    renderIsolateConfig({
      major: info.major,
      boxRoot: o.boxRoot,
      cgRoot,
      firstUid: FIRST_ID,
      firstGid: FIRST_ID,
      numBoxes: Math.max(1000, o.boxIdBase + o.boxCount),
    }),
  );
  if (changed) o.logger.info({ path: o.isolateConfigPath }, "wrote isolate configuration");
}

/** The sandbox scratch directory, emptied of whatever a previous run left. */
async function freshWorkDir(o: SandboxSetupOptions): Promise<string> {
  const workDir = join(o.stateDir, "sandbox");
  // A crashed agent may have left box filesystems mounted here: unmount before removing anything.
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const stale = await unmountStaleBoxStorage(workDir);
  if (stale > 0) o.logger.warn({ count: stale }, "unmounted box filesystems left by a previous run");
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  return workDir;
}

/** Every box of this agent's range, since a crash may have left some in use. */
async function cleanBoxes(o: SandboxSetupOptions, settings: SandboxSettings, pool: BoxPool): Promise<void> {
  for (const id of pool.ids()) {
    await new IsolateBox(settings, id).cleanup();
    // isolate 1.x leaves an empty <box_root>/<id> behind when there was no box to clean; rmdir
    // removes only an empty directory and never follows a link.
    try {
      rmdirSync(join(o.boxRoot, String(id)));
    } catch {
      // not there (isolate 2.x), or not empty: isolate's business
    }
  }
}

/** Prepares the networked boxes' namespaces when the platform allows networked Runtimes; why not otherwise. */
async function setUpNetwork(
  o: SandboxSetupOptions,
  settings: SandboxSettings,
  ids: number[],
): Promise<string | undefined> {
  if (!o.network?.enabled) return "the platform turned networked Runtimes off (agent.network.enabled)";
  const missing = await boxNetworkAvailable();
  if (missing) {
    o.logger.error({ missing }, "networked Runtimes cannot run on this node");
    return `this node cannot isolate networked boxes: ${missing}`;
  }
  const network = new BoxNetwork(o.network, o.boxIdBase, ids, settings.workDir);
  await network.setUp();
  settings.network = network;
  o.logger.info({ boxes: ids.length, resolver: o.network.resolver }, "box networks ready");
  return undefined;
}
