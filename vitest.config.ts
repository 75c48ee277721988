import { defineConfig } from "vitest/config";

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
          globalSetup: ["e2e/global-setup.ts"],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
