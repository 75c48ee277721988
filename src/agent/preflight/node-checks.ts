import type { CgroupMode, IsolateInfo } from "../sandbox/isolate-detect.ts";

export type CheckStatus = "ok" | "warn" | "fail";

/** One thing a node needs: what was found, and how to get it when it is missing. */
export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

/**
 * What the checks ask of the node. The real probes (node-probes.ts) are the
 * agent's own detection code; tests pass fakes.
 */
export interface NodeProbes {
  isRoot(): boolean;
  isolate(bin: string): Promise<IsolateInfo | undefined>;
  cgroupMode(): CgroupMode;
  /** Why a box's namespaces or its tmpfs cannot be made here; undefined when they can. */
  boxNamespaces(): Promise<string | undefined>;
  /** nix-build's version; throws when it is missing. */
  nixVersion(nixBuild: string): Promise<string>;
  /** Members of the Nix build users' group (the agent builds as them, sandboxed). */
  buildUsers(group: string): Promise<string[]>;
  keyctl(): Promise<boolean>;
  /** Why networked boxes cannot be made here (ip, nft, nsenter, ip_forward); undefined when they can. */
  boxNetwork(): Promise<string | undefined>;
}

export interface NodeCheckOptions {
  isolateBin: string;
  nixBuild: string;
  /** Networked Runtimes on (ENVICUTOR_NETWORK_ENABLED): only then ip and nft are needed. */
  networkEnabled: boolean;
  buildUsersGroup?: string;
}

const ISOLATE_FIX =
  "build isolate from https://github.com/ioi/isolate with its Makefile (`make isolate && make install`; " +
  "1.x for cgroup v1, 2.x for cgroup v2), or set ENVICUTOR_ISOLATE_BIN to where it is (README: isolate)";

/**
 * Everything the agent needs on a node, checked the way the agent itself
 * detects it at start-up. Nothing here changes the node: no isolate box, no
 * cgroup, no configuration file. isolate runs as root and makes no user
 * namespace, so user namespaces are not checked.
 */
export async function checkNode(o: NodeCheckOptions, p: NodeProbes): Promise<CheckResult[]> {
  const isolate = await p.isolate(o.isolateBin);
  return [
    p.isRoot()
      ? ok("root", "running as root")
      : fail(
          "root",
          "not root: the agent mounts box filesystems, writes isolate's configuration and runs isolate",
          "run as root (the chart's agent DaemonSet runs privileged)",
        ),
    isolate
      ? ok("isolate", `isolate ${isolate.version} (${o.isolateBin})`)
      : fail(
          "isolate",
          `${o.isolateBin.includes("/") ? o.isolateBin : `${o.isolateBin} (searched on PATH)`}: not found, or \`--version\` did not answer as isolate does`,
          ISOLATE_FIX,
        ),
    cgroupCheck(isolate, p.cgroupMode()),
    await namespacesCheck(p),
    await nixCheck(o.nixBuild, p),
    await buildUsersCheck(o.buildUsersGroup ?? "nixbld", p),
    (await p.keyctl())
      ? ok("keyctl", "keyctl found: a box user's keyrings are cleared between runs")
      : warn(
          "keyctl",
          "keyctl not found: a box user's keyrings are not cleared between runs",
          "apt-get install keyutils",
        ),
    await networkCheck(o.networkEnabled, p),
  ];
}

/** Whether isolate can limit memory by cgroup here (the agent falls back to address-space limits otherwise). */
function cgroupCheck(isolate: IsolateInfo | undefined, mode: CgroupMode): CheckResult {
  const name = "cgroups";
  if (mode === "none")
    return warn(
      name,
      "no cgroup v1 memory controller and no cgroup v2 hierarchy at /sys/fs/cgroup",
      "mount cgroups",
    );
  if (!isolate) return ok(name, `cgroup ${mode} (isolate missing: cannot tell whether it can use it)`);
  if (isolate.useCg)
    return ok(name, `cgroup ${mode}: isolate ${isolate.version} uses --cg (memory limits and OOM by cgroup)`);
  return warn(
    name,
    `isolate ${isolate.version} cannot use cgroup ${mode}: memory is limited by address space, and OOM kills are not reported as such`,
    mode === "v1" ? "use isolate 1.x on a cgroup v1 node" : "use isolate 2.x on a cgroup v2 node",
  );
}

async function namespacesCheck(p: NodeProbes): Promise<CheckResult> {
  const why = await p.boxNamespaces();
  return why
    ? fail(
        "namespaces",
        `cannot make a box's mount, PID, IPC, network and UTS namespaces with a tmpfs: ${why}`,
        "run on a Linux kernel with these namespaces, as root with CAP_SYS_ADMIN (a privileged container)",
      )
    : ok("namespaces", "mount, PID, IPC, network and UTS namespaces and a tmpfs mount work");
}

async function nixCheck(nixBuild: string, p: NodeProbes): Promise<CheckResult> {
  try {
    return ok("nix", `Nix ${await p.nixVersion(nixBuild)} (${nixBuild})`);
  } catch (err) {
    return fail(
      "nix",
      `${nixBuild} does not run: ${err instanceof Error ? err.message : String(err)}`,
      "apt-get install nix-bin (scripts/setup.d/20-apt.sh does it), or install Nix from nixos.org",
    );
  }
}

async function buildUsersCheck(group: string, p: NodeProbes): Promise<CheckResult> {
  const users = await p.buildUsers(group);
  return users.length > 0
    ? ok("nix build users", `group ${group} has ${users.length} member(s): installs build sandboxed as them`)
    : fail(
        "nix build users",
        `group ${group} is missing or has no members: every install fails (the agent forces sandboxed builds as ${group})`,
        "create the group and users nixbld1..10 (scripts/setup.d/40-nix.sh does it)",
      );
}

async function networkCheck(enabled: boolean, p: NodeProbes): Promise<CheckResult> {
  if (!enabled)
    return ok("box network", "networked Runtimes off (ENVICUTOR_NETWORK_ENABLED): ip and nft not needed");
  const why = await p.boxNetwork();
  return why
    ? fail(
        "box network",
        `networked Runtimes are on but ${why}`,
        "apt-get install iproute2 nftables util-linux",
      )
    : ok("box network", "ip, nft, nsenter and ip_forward present for networked boxes");
}

const ok = (name: string, detail: string): CheckResult => ({ name, status: "ok", detail });
const warn = (name: string, detail: string, fix: string): CheckResult => ({
  name,
  status: "warn",
  detail,
  fix,
});
const fail = (name: string, detail: string, fix: string): CheckResult => ({
  name,
  status: "fail",
  detail,
  fix,
});

/** Whether any check failed (warnings do not fail: the agent runs, with weaker limits). */
export function anyFailed(results: readonly CheckResult[]): boolean {
  return results.some((r) => r.status === "fail");
}
