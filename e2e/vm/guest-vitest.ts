// The same e2e files, run by vitest inside the cgroup v2 guest: the switch
// behind `npm run test:v2` and the guest half of e2e/cgroup-v2-vm-files.e2e.test.ts.
// The job puts a throwaway overlay over the read-only checkout (vite writes its
// cache and bundled config there), starts vitest in a cgroup of its own (as a
// systemd service would be: setUpSandbox delegates a subtree from it), and
// stretches time limits by the slowdown it measures in the guest itself. The
// guest has no network of its own; the job gives it a dummy uplink.
import { join } from "node:path";
import { loopCpuMillis } from "./emulation-speed.ts";
import { GUEST_NODE_ENV } from "./guest-job.ts";
import { type GuestRun, runInGuestRetryingCrash } from "./qemu-vm.ts";

const ROOT = join(import.meta.dirname, "..", "..");

/** The sandbox e2e files whose isolate 2.x cases are the cgroup v2 ones in the guest. */
export const GUEST_E2E_FILES = [
  "e2e/sandbox-hostile.e2e.test.ts",
  "e2e/sandbox-containment.e2e.test.ts",
  "e2e/box-network.e2e.test.ts",
];

export interface GuestVitestRun {
  run: GuestRun;
  /** vitest's JSON report from the guest, when it wrote one. */
  report?: VitestJsonReport;
}

export interface VitestJsonReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[];
}

const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** The guest's shell job: overlay, own cgroup, time scale, vitest with a JSON report in /run/vm. */
export function vitestJob(files: string[], hostLoopMs: number, vitestArgs: string[] = []): string {
  const node = q(process.execPath);
  return [
    "set -e",
    "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root",
    GUEST_NODE_ENV,
    "mkdir -p /tmp/checkout/upper /tmp/checkout/work",
    `mount -t overlay overlay -o lowerdir=${q(ROOT)},upperdir=/tmp/checkout/upper,workdir=/tmp/checkout/work ${q(ROOT)}`,
    // A default route, as every node has: without one, a box's packet to an
    // unrouted address is refused by routing before the agent's forward chain
    // sees it, with ICMP errors the kernel rate-limits (seen: 3 s, not a reset).
    "ip link add uplink0 type dummy && ip link set uplink0 up",
    "ip addr add 192.0.2.2/24 dev uplink0 && ip route add default via 192.0.2.1",
    "mkdir -p /sys/fs/cgroup/envicutor-e2e",
    "echo $$ > /sys/fs/cgroup/envicutor-e2e/cgroup.procs",
    `cd ${q(ROOT)}`,
    `export ENVICUTOR_E2E_IN_GUEST=1 ENVICUTOR_E2E_TIME_SCALE=$(${node} e2e/vm/guest-time-scale.ts ${hostLoopMs})`,
    'echo "[guest] time limits x$ENVICUTOR_E2E_TIME_SCALE"',
    "set +e",
    `${node} node_modules/vitest/vitest.mjs run --project e2e --reporter=default --reporter=json --outputFile=/run/vm/vitest.json ${[...vitestArgs, ...files].map(q).join(" ")}`,
    "",
  ].join("\n");
}

/** Boots the guest, runs `files` with vitest there, and returns its log and report. */
export async function runFilesInGuest(
  files: string[] = GUEST_E2E_FILES,
  timeoutMs = 3_600_000,
  vitestArgs: string[] = [],
): Promise<GuestVitestRun> {
  const run = await runInGuestRetryingCrash({
    script: vitestJob(files, loopCpuMillis(), vitestArgs),
    timeoutMs,
  });
  const json = run.files["vitest.json"];
  return { run, report: json ? (JSON.parse(json) as VitestJsonReport) : undefined };
}
