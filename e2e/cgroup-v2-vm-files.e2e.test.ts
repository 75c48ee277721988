// The sandbox e2e files themselves, run again in the cgroup v2 guest (issue
// 13): e2e/sandbox-hostile, sandbox-containment and box-network, whose isolate 2.x
// cases there use --cg on cgroup v2 with a delegated subtree, time limits
// stretched by the measured slowdown. The same run as `npm run test:v2`
// (e2e/vm/guest-vitest.ts); here its report is asserted on the host.
//
// Box ids: those of the three files (330, 350..351, 370..371), inside the guest only.
import { describe, expect, it } from "vitest";
import { ensureStoreProbes } from "./support/store-probes.ts";
import { GUEST_E2E_FILES, type GuestVitestRun, runFilesInGuest } from "./vm/guest-vitest.ts";
import { GUEST_CRASH_REBOOTS, guestFailure } from "./vm/qemu-vm.ts";
import { vmMissing } from "./vm/vm-prerequisites.ts";

const missing = vmMissing();
if (missing) console.warn(`!!! sandbox e2e files in the cgroup v2 guest SKIPPED: ${missing}`);
const GUEST_TIMEOUT_MS = 1_800_000;
const V2_CASES = "isolate 2.x, --cg on cgroup v2";

describe.skipIf(!!missing)("the sandbox e2e files in a cgroup v2 guest (isolate 2.x, --cg)", () => {
  it(
    "every isolate 2.x case of the hostile, containment and networked-box files passes there; the isolate 1.x ones skip",
    async () => {
      // The guest sees the host's store read-only: the probes the hostile file mounts are made here.
      const removeStoreProbes = ensureStoreProbes();
      const { run, report }: GuestVitestRun = await runFilesInGuest(
        GUEST_E2E_FILES,
        GUEST_TIMEOUT_MS,
      ).finally(removeStoreProbes);
      console.log(`[cgroup-v2-vm-files] guest log (tail):\n${run.jobLog.slice(-6000)}`);
      expect(run.exitCode, guestFailure(run, "the guest's vitest did not finish")).toBe(0);
      expect(report).toBeDefined();
      const results = report!.testResults.flatMap((f) => f.assertionResults);
      const v2 = results.filter((r) => r.fullName.includes(V2_CASES));
      const byStatus = (rs: typeof results, s: string) => rs.filter((r) => r.status === s).length;
      console.log(
        `[cgroup-v2-vm-files] ${v2.length} cases on cgroup v2: ${byStatus(v2, "passed")} passed; ` +
          `whole run ${report!.numPassedTests} passed, ${report!.numFailedTests} failed, ` +
          `${report!.numPendingTests} skipped; guest ${(run.wallMs / 1000).toFixed(0)} s`,
      );
      expect(report!.numFailedTests).toBe(0);
      expect(v2.length).toBeGreaterThanOrEqual(24); // 9 hostile, 8 containment, 7 network when first run
      expect(v2.filter((r) => r.status !== "passed").map((r) => r.fullName)).toEqual([]);
      expect(results.filter((r) => r.fullName.includes("isolate 1.x") && r.status === "passed")).toEqual([]);
    },
    (1 + GUEST_CRASH_REBOOTS) * GUEST_TIMEOUT_MS + 60_000, // a crashed guest boots again
  );
});
