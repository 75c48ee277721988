import { z } from "zod";
import { conditions, resourceSchema } from "./common.ts";

/** Most slots a Worker may claim (the scheduler places up to this many Executions on it); the chart's admission policy bounds it by agent.slots too. */
export const MAX_WORKER_SLOTS = 1024;

export const INSTALL_PHASES = ["Pending", "Installing", "Installed", "Failed", "Removing"] as const;
export type InstallPhase = (typeof INSTALL_PHASES)[number];

export const runtimeInstall = z
  .object({
    name: z.string().describe("Runtime name."),
    generation: z.int().describe("Runtime generation this entry is about."),
    uid: z
      .string()
      .optional()
      .describe("Runtime UID, so a re-created Runtime is not confused with a deleted one."),
    phase: z.enum(INSTALL_PHASES).describe("Pending, Installing, Installed, Failed or Removing."),
    reason: z.string().optional().describe("Machine-readable reason of the phase."),
    message: z.string().max(4096).optional().describe("Details, e.g. the Nix error."),
    storePaths: z.array(z.string()).max(64).optional().describe("Nix store paths of the Runtime's packages."),
    closureHash: z
      .string()
      .optional()
      .describe("Hash of the sorted closure; equal on every node for the same generation."),
    attempts: z.int().optional().describe("Install attempts so far."),
    lastTransitionTime: z.string().optional().describe("When the phase last changed."),
  })
  .describe("The install state of one Runtime generation on this node.");
export type RuntimeInstall = z.infer<typeof runtimeInstall>;

export const workerSpec = z
  .object({
    nodeName: z.string().min(1).describe("The node this agent runs on."),
  })
  .describe("WorkerSpec names the node; the agent of that node owns the object.");

export const workerStatus = z
  .object({
    slots: z
      .int()
      .min(0)
      .max(MAX_WORKER_SLOTS)
      .optional()
      .describe("Sandbox slots: Executions the agent runs at once."),
    agentVersion: z.string().optional(),
    isolateVersion: z.string().optional(),
    nixVersion: z.string().optional(),
    cgroupMode: z.enum(["v1", "v2", "none"]).optional().describe("cgroup mode isolate uses on this node."),
    sandboxProtections: z
      .array(z.string().max(256))
      .max(32)
      .optional()
      .describe(
        "What contains a box on this node, as what:how entries, e.g. memory:cgroup, dev-shm:private, syscall-filter:keyctl,vsock (isolate 2.4 and later).",
      ),
    runtimes: z
      .array(runtimeInstall)
      .max(1024)
      .optional()
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name", "generation"] })
      .describe("Install state per Runtime generation."),
    conditions: conditions.optional(),
  })
  .describe("WorkerStatus is written only by the node's agent.");

export const worker = resourceSchema("Worker", workerSpec, workerStatus);
export type Worker = z.infer<typeof worker>;
export type WorkerStatus = z.infer<typeof workerStatus>;
