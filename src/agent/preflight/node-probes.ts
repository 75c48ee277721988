import { mkdtemp, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { boxNetworkAvailable } from "../network/box-network.ts";
import { nixBuildVersion } from "../nix/nix-version.ts";
import { keyctlAvailable } from "../sandbox/box-keyrings.ts";
import { detectCgroupMode, detectIsolate } from "../sandbox/isolate-detect.ts";
import type { NodeProbes } from "./node-checks.ts";

/** The node as the agent sees it: its own detection functions, nothing copied. */
export const nodeProbes: NodeProbes = {
  isRoot: () => process.getuid?.() === 0,
  isolate: (bin) => detectIsolate(bin),
  cgroupMode: () => detectCgroupMode(),
  boxNamespaces,
  nixVersion: (nixBuild) => nixBuildVersion(nixBuild),
  buildUsers,
  keyctl: keyctlAvailable,
  boxNetwork: boxNetworkAvailable,
};

/**
 * Makes the namespaces isolate makes for a box and mounts a tmpfs in them
 * (the agent gives each box one), then exits: the mount lives only in that
 * private mount namespace, so nothing is left on the node.
 */
async function boxNamespaces(): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), "envicutor-doctor-"));
  try {
    const res = await execa(
      "unshare",
      ["--mount", "--propagation", "private", "--pid", "--fork", "--ipc", "--net", "--uts"].concat([
        "mount",
        "-t",
        "tmpfs",
        "-o",
        "size=1m",
        "envicutor-doctor",
        dir,
      ]),
      { reject: false, timeout: 10_000 },
    );
    if (res.failed) return (res.stderr || res.shortMessage || "unshare failed").trim();
    return undefined;
  } finally {
    await rmdir(dir).catch(() => undefined);
  }
}

/** Members of a group as Nix sees them (getent: /etc/group or NSS). */
async function buildUsers(group: string): Promise<string[]> {
  const res = await execa("getent", ["group", group], { reject: false, timeout: 10_000 });
  if (res.exitCode !== 0) return [];
  return (res.stdout.trim().split(":")[3] ?? "").split(",").filter(Boolean);
}
