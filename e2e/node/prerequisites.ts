// What a real node on this machine needs and the repository does not build
// (e2e/node-helm.e2e.test.ts and bench/pods.ts): each caller prints what is
// missing its own way (a loud SKIPPED line, or an error) and does not start.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");

/** The IPv4 address of the interface with the default route (here eth0's 192.0.2.2): kubelet refuses a loopback node IP. */
export const NODE_IP = (() => {
  const routes = existsSync("/proc/net/route")
    ? readFileSync("/proc/net/route", "utf8").split("\n").slice(1)
    : [];
  const dev = routes.map((l) => l.split(/\s+/)).find((f) => f[1] === "00000000")?.[0] ?? "";
  return networkInterfaces()[dev]?.find((a) => a.family === "IPv4" && !a.internal)?.address ?? "";
})();

/** Each missing item, with how to get it; empty when the node can start. */
export async function missingForNode(): Promise<string[]> {
  const out: string[] = [];
  if (process.getuid?.() !== 0) out.push("root (kubelet, containerd, mounts)");
  if (!existsSync("/usr/local/bin/isolate")) out.push("isolate at /usr/local/bin/isolate (README: isolate)");
  if (!existsSync("/usr/lib/cni/bridge"))
    out.push("CNI plugins (apt-get install containernetworking-plugins)");
  const umoci = await run("umoci", ["--version"]).then(
    () => true,
    () => false,
  );
  if (!umoci) out.push("umoci (apt-get install umoci)");
  const node = await run("bash", [join(ROOT, "e2e/node/build-node.sh"), "--check"]).catch(() => undefined);
  if (!node) out.push("kubelet, containerd, runc (run scripts/setup.sh: e2e/node/build-node.sh)");
  if (!NODE_IP) out.push("a network interface with an IPv4 address other than loopback (the node's IP)");
  return out;
}
