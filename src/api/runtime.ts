import { z } from "zod";
import {
  cel,
  command,
  conditions,
  envVar,
  LIMIT_FIELDS,
  MAX_TEXT_BYTES,
  resourceSchema,
  safeFileName,
  stageLimits,
} from "./common.ts";
import { type DualRule, withRules } from "./rules.ts";

/** A Nix attribute path such as `python3` or `python3Packages.numpy`. */
const NIX_ATTR_PATTERN = "^[A-Za-z_][A-Za-z0-9_'-]*([.][A-Za-z_][A-Za-z0-9_'-]*)*$";
/** A package set's name, a DNS label: the agents map names to locations, a Runtime never gives one. */
const PACKAGE_SET_NAME_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const PACKAGE_SET_NAME_MESSAGE =
  "must name one of the package sets the platform configured (a DNS label such as default or nixpkgs-24-05), not a path or URL";

type RuntimeSpecInput = { limits?: RuntimeLimits; maxLimits?: RuntimeLimits };

/** Limit fields a Runtime may leave out of a stage (filled from the built-in defaults). */
const OPTIONAL_LIMIT_FIELDS = new Set<string>([
  "storageKiB",
  "storageFiles",
  "networkConnections",
  "networkKiB",
  "networkKiBPerSecond",
]);

const limitsWithinBounds = (stage: "compile" | "run"): DualRule<RuntimeSpecInput>[] =>
  LIMIT_FIELDS.map((f) => {
    const both = OPTIONAL_LIMIT_FIELDS.has(f)
      ? ` || !has(self.limits.${stage}.${f}) || !has(self.maxLimits.${stage}.${f})`
      : "";
    return {
      rule: `!has(self.limits) || !has(self.maxLimits)${both} || self.limits.${stage}.${f} <= self.maxLimits.${stage}.${f}`,
      message: `limits.${stage}.${f} must not exceed maxLimits.${stage}.${f}`,
      fieldPath: `.limits.${stage}.${f}`,
      path: ["limits", stage, f],
      check: (spec) => {
        const value = spec.limits?.[stage][f];
        const bound = spec.maxLimits?.[stage][f];
        return value === undefined || bound === undefined || value <= bound;
      },
    };
  });

export const runtimeLimits = z
  .object({
    compile: stageLimits.describe("Limits of the compile stage."),
    run: stageLimits.describe("Limits of each run (per test case)."),
  })
  .describe("Limits per stage.");
export type RuntimeLimits = z.infer<typeof runtimeLimits>;

/** Defaults used when a Runtime leaves its limits out. */
export const DEFAULT_LIMITS: RuntimeLimits = {
  compile: {
    cpuTimeMillis: 10_000,
    wallTimeMillis: 20_000,
    memoryKiB: 512 * 1024,
    processes: 64,
    openFiles: 256,
    fileSizeKiB: 64 * 1024,
    outputBytes: 1024 * 1024,
    storageKiB: 256 * 1024,
    storageFiles: 10_000,
    networkConnections: 16,
    networkKiB: 64 * 1024,
    networkKiBPerSecond: 1024,
  },
  run: {
    cpuTimeMillis: 2_000,
    wallTimeMillis: 5_000,
    memoryKiB: 256 * 1024,
    processes: 16,
    openFiles: 64,
    fileSizeKiB: 16 * 1024,
    outputBytes: 1024 * 1024,
    storageKiB: 64 * 1024,
    storageFiles: 1_000,
    networkConnections: 16,
    networkKiB: 64 * 1024,
    networkKiBPerSecond: 1024,
  },
};

export const DEFAULT_MAX_LIMITS: RuntimeLimits = {
  compile: {
    ...DEFAULT_LIMITS.compile,
    cpuTimeMillis: 60_000,
    wallTimeMillis: 120_000,
    memoryKiB: 2 * 1024 * 1024,
    storageKiB: 1024 * 1024,
    storageFiles: 100_000,
    networkConnections: 256,
    networkKiB: 1024 * 1024,
    networkKiBPerSecond: 100 * 1024,
  },
  run: {
    ...DEFAULT_LIMITS.run,
    cpuTimeMillis: 20_000,
    wallTimeMillis: 60_000,
    memoryKiB: 1024 * 1024,
    processes: 64,
    storageKiB: 512 * 1024,
    storageFiles: 10_000,
    networkConnections: 256,
    networkKiB: 1024 * 1024,
    networkKiBPerSecond: 100 * 1024,
  },
};

export const smokeTest = z
  .object({
    source: z
      .string()
      .min(1)
      .max(64 * 1024)
      .describe("Program written to the Runtime's sourceFile, compiled and run like an Execution."),
    stdin: z
      .string()
      .max(64 * 1024)
      .optional()
      .describe("Standard input of the smoke test."),
    expectedOutput: z
      .string()
      .max(64 * 1024)
      .describe("Exact expected stdout (trailing whitespace ignored)."),
  })
  .describe("A program every node must run successfully before it counts the Runtime as installed.");

export const runtimeSpec = withRules(
  z
    .object({
      language: z
        .string()
        .min(1)
        .max(63)
        .regex(/^[a-z0-9][a-z0-9+#._-]*$/, "must be lower case letters, digits, '+', '#', '.', '_' or '-'")
        .describe("Language name, e.g. python, c++."),
      version: z.string().min(1).max(63).describe("Language version as users know it, e.g. 3.12."),
      aliases: z
        .array(z.string().min(1).max(63))
        .max(16)
        .optional()
        .meta({ "x-kubernetes-list-type": "set" })
        .describe("Other names users may know this Runtime by."),
      judge0: z
        .object({
          languageId: z
            .int()
            .min(1)
            .max(1_000_000)
            .describe(
              "The language_id Judge0 clients send for this Runtime, e.g. 71 for Python in Judge0 CE.",
            ),
          name: z
            .string()
            .min(1)
            .max(128)
            .optional()
            .describe('Name in the gateway\'s GET /languages; "<Language> (<version>)" when unset.'),
        })
        .optional()
        .describe("How Judge0 clients of the gateway (src/gateway) name this Runtime."),
      piston: z
        .object({
          language: z
            .string()
            .min(1)
            .max(63)
            .optional()
            .describe("Piston language name; spec.language when unset."),
          version: z.string().min(1).max(63).optional().describe("Piston version; spec.version when unset."),
          aliases: z
            .array(z.string().min(1).max(63))
            .max(16)
            .optional()
            .meta({ "x-kubernetes-list-type": "set" })
            .describe("Piston aliases; spec.aliases when unset."),
        })
        .optional()
        .describe("How Piston clients of the gateway (src/gateway) name this Runtime."),
      packages: z
        .array(
          z
            .string()
            .min(1)
            .max(256)
            .regex(new RegExp(NIX_ATTR_PATTERN), "must be a Nix attribute path such as python3 or gcc13")
            .meta(
              cel({
                rule: `self.matches("${NIX_ATTR_PATTERN}")`,
                message: "must be a Nix attribute path such as python3 or gcc13",
              }),
            ),
        )
        .min(1)
        .max(64)
        .meta({ "x-kubernetes-list-type": "set" })
        .describe("Nix attribute paths, in the package set, whose closure makes up the Runtime."),
      packageSet: z
        .string()
        .min(1)
        .max(63)
        .regex(new RegExp(PACKAGE_SET_NAME_PATTERN), PACKAGE_SET_NAME_MESSAGE)
        .meta(cel({ rule: `self.matches("${PACKAGE_SET_NAME_PATTERN}")`, message: PACKAGE_SET_NAME_MESSAGE }))
        .optional()
        .describe(
          'Name of the package set the packages come from; "default" when unset. It must be one of the package sets the platform configured for the agents (Helm value agent.nix.packageSets, e.g. a name mapped to a pinned nixpkgs), never a path or URL. A name a node does not know fails the install there with reason UnknownPackageSet.',
        ),
      sourceFile: safeFileName.describe(
        "Name of the file the Execution's main source is written to, e.g. main.py.",
      ),
      compileCommand: command
        .optional()
        .describe("Compile command; when unset the Runtime is interpreted and has no compile stage."),
      runCommand: command.describe("Run command; an Execution's args are appended."),
      env: z
        .array(envVar)
        .max(64)
        .optional()
        .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] })
        .describe("Extra environment, on top of what the Nix packages set."),
      limits: runtimeLimits.optional().describe("Default limits per stage; built-in defaults when unset."),
      maxLimits: runtimeLimits
        .optional()
        .describe("Upper bounds an Execution may request per stage; the built-in bounds when unset."),
      nodeSelector: z
        .record(z.string().max(317), z.string().max(63))
        .optional()
        .describe(
          "Node labels a node must have to install and run this Runtime; all nodes with an agent when unset.",
        ),
      smokeTest: smokeTest,
      allowNetwork: z
        .boolean()
        .default(false)
        .describe(
          "Whether sandboxes of this Runtime get network access (they do not by default). A networked box has a network namespace of its own whose egress reaches only the public addresses the platform allows, DNS only through the platform's resolver, never the node, the cluster, other boxes or metadata addresses; limits networkConnections, networkKiB and networkKiBPerSecond apply. Where the platform turned networked Runtimes off (the default), such a Runtime is not Ready, with reason NetworkDisabled.",
        ),
    })
    .describe(
      "RuntimeSpec is what a language needs: Nix packages, commands, environment, limits and a smoke test.",
    ),
  [...limitsWithinBounds("compile"), ...limitsWithinBounds("run")],
);
export type RuntimeSpec = z.infer<typeof runtimeSpec>;

export const nodeFailure = z.object({
  node: z.string().describe("Node name."),
  reason: z.string().describe("Machine-readable reason."),
  message: z.string().max(2048).describe("What went wrong on that node."),
});

export const runtimeStatus = z
  .object({
    observedGeneration: z.int().optional().describe("The generation the status was computed from."),
    activeGeneration: z
      .int()
      .optional()
      .describe(
        "Generation Executions run with: switches to a new generation only when every eligible node has it.",
      ),
    activeClosureHash: z
      .string()
      .optional()
      .describe("Nix closure hash of the active generation (same on every node)."),
    eligibleNodes: z.int().optional().describe("Live agents whose node matches the node selector."),
    installedNodes: z
      .int()
      .optional()
      .describe("Eligible nodes that installed and smoke-tested the current generation."),
    failedNodes: z
      .int()
      .optional()
      .describe("Eligible nodes whose install of the current generation failed."),
    failures: z.array(nodeFailure).max(10).optional().describe("Up to ten failing nodes with their reasons."),
    conditions: conditions.optional(),
  })
  .describe("RuntimeStatus reports readiness across nodes, like a DaemonSet's counters.");
export type RuntimeStatus = z.infer<typeof runtimeStatus>;

export const runtime = resourceSchema("Runtime", runtimeSpec, runtimeStatus);
export type Runtime = z.infer<typeof runtime>;

/** Conditions of a Runtime. */
export const RuntimeConditions = {
  Ready: "Ready",
  ClosureMismatch: "ClosureMismatch",
  Terminating: "Terminating",
} as const;

/** Limits after applying built-in defaults; fields a Runtime left out of a stage come from them too. */
export function effectiveRuntimeLimits(spec: RuntimeSpec): {
  limits: RuntimeLimits;
  maxLimits: RuntimeLimits;
} {
  return {
    limits: withDefaults(spec.limits, DEFAULT_LIMITS),
    maxLimits: withDefaults(spec.maxLimits, DEFAULT_MAX_LIMITS),
  };
}

function withDefaults(given: RuntimeLimits | undefined, defaults: RuntimeLimits): RuntimeLimits {
  if (!given) return defaults;
  return {
    compile: { ...defaults.compile, ...given.compile },
    run: { ...defaults.run, ...given.run },
  };
}

export const MAX_SMOKE_TEST_BYTES = MAX_TEXT_BYTES;

/** Whether a node with these labels should install and run the Runtime (spec.nodeSelector, like a Pod's). */
export function runtimeEligibleOn(
  spec: Pick<RuntimeSpec, "nodeSelector">,
  nodeLabels: Record<string, string> | undefined,
): boolean {
  return Object.entries(spec.nodeSelector ?? {}).every(([k, v]) => nodeLabels?.[k] === v);
}
