import type { IsolateInfo } from "./isolate-detect.ts";

/**
 * What contains a box on this node, as the Worker reports it. Each entry is
 * `what:how`. The system-call filter is isolate's own (2.4 and later; 2.6 adds
 * io_uring and non-native architectures): it closes channels the kernel does
 * not namespace (keyrings, vsock, file locks on shared inodes). isolate 1.x
 * has no filter, so those channels stay open there (README, Security).
 */
export function sandboxProtections(
  info: Pick<IsolateInfo, "version" | "useCg">,
  agent: { keyrings: boolean; network?: boolean },
): string[] {
  const [major = 0, minor = 0] = info.version.split(".").map(Number);
  const at = (maj: number, min: number) => major > maj || (major === maj && minor >= min);
  const out = [
    "namespaces:pid,mount,ipc,uts,network",
    "dev:null,zero,full,random,urandom",
    "dev-shm:private",
    "storage:private-tmpfs",
    "proc:hidepid",
    info.useCg ? "memory:cgroup" : "memory:address-space",
    ...(agent.keyrings ? ["keyrings:cleared-after-each-run"] : []),
    agent.network ? "network:own-namespace,public-egress-only" : "network:none",
  ];
  if (at(2, 4)) {
    const filtered = ["keyctl", "vsock", "file-locks", ...(at(2, 6) ? ["io_uring", "non-native-arch"] : [])];
    out.push(`syscall-filter:${filtered.join(",")}`);
  }
  return out;
}
