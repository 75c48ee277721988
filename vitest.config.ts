import { defineConfig } from "vitest/config";
import { TIME_SCALE as scale } from "./e2e/support/isolate-installs.ts";

// In the emulated cgroup v2 guest (`npm run test:v2`, e2e/vm/guest-vitest.ts)
// the same e2e files run without the control plane (they are the sandbox
// files, which need none), with timeouts stretched by the measured slowdown.
const inGuest = process.env.ENVICUTOR_E2E_IN_GUEST === "1";

// Two projects in one run: fast unit tests, and e2e tests against real
// components (kube-apiserver + etcd, Nix, isolate) that share one control plane
// started by e2e/global-setup.ts and run one file at a time (2-core machines).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", "scripts/**/*.test.ts"],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["e2e/**/*.e2e.test.ts"],
          globalSetup: inGuest ? [] : ["e2e/global-setup.ts"],
          fileParallelism: false,
          // One retry: an e2e test shares a 2-core machine with a real control plane,
          // Nix and isolate, and one slow moment should not hide a whole run. A test
          // that passes only on its retry is not hidden: the default reporter marks it
          // "(retry x1)" and `.ci/run` lists it as flaky in its closing lines.
          retry: 1,
          testTimeout: 300_000 * scale,
          hookTimeout: 600_000 * scale,
        },
      },
    ],
  },
});
