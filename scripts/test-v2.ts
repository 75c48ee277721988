// `npm run test:v2 [-- files...]`: the sandbox e2e files (or the ones named)
// run again inside a cgroup v2 guest (qemu, e2e/vm), where their isolate 2.x
// cases use --cg on cgroup v2, as production nodes do. The same files, not a
// second copy of them: see e2e/vm/guest-vitest.ts.
import { GUEST_E2E_FILES, runFilesInGuest } from "../e2e/vm/guest-vitest.ts";
import { vmMissing } from "../e2e/vm/vm-prerequisites.ts";

const missing = vmMissing();
if (missing) {
  console.error(`!!! cannot run the cgroup v2 guest: ${missing}`);
  process.exit(2);
}
const files = process.argv.slice(2);
const started = Date.now();
const { run, report } = await runFilesInGuest(files.length ? files : GUEST_E2E_FILES);
console.log(run.jobLog);
if (run.exitCode === undefined) console.log(`[test:v2] the guest did not finish its job:\n${run.console}`);
const s = ((Date.now() - started) / 1000).toFixed(0);
console.log(
  report
    ? `[test:v2] in the guest: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests} skipped; ${s} s`
    : `[test:v2] no report from the guest; ${s} s`,
);
process.exit(run.exitCode === 0 && report && report.numFailedTests === 0 ? 0 : 1);
