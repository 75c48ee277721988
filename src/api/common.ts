import { z } from "zod";
import { API_VERSION } from "./group.ts";

/**
 * Shared building blocks of the Envicutor API. Every schema here is the single
 * source of truth for three things: the TypeScript type, runtime validation in
 * the controller and agent, and the CRD OpenAPI schema (see crd-schema.ts).
 * `.meta({"x-kubernetes-validations": ...})` carries CEL rules into the CRD.
 */

/** CEL rule in the shape apiextensions.k8s.io expects. */
export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

export const cel = (...rules: CelRule[]) => ({ "x-kubernetes-validations": rules });

/** A plain file name: no directories, no `..`, no leading dot, nothing a shell would expand. */
export const SAFE_FILE_NAME_PATTERN = "^[A-Za-z0-9_][A-Za-z0-9._+-]*$";
export const SAFE_FILE_NAME_MESSAGE =
  "must be a plain file name: letters, digits, '.', '_', '+', '-', not starting with '.', and no '/'";

export const safeFileName = z
  .string()
  .min(1)
  .max(128)
  .regex(new RegExp(SAFE_FILE_NAME_PATTERN), SAFE_FILE_NAME_MESSAGE)
  .meta(cel({ rule: `self.matches('${SAFE_FILE_NAME_PATTERN}')`, message: SAFE_FILE_NAME_MESSAGE }));

/** Largest text a single field may carry; keeps objects far from etcd's 1.5 MiB limit. */
export const MAX_TEXT_BYTES = 512 * 1024;

/** A command as an argument vector, run without a shell (add bash to the packages to use one). */
export const command = z
  .array(z.string().min(1).max(4096))
  .min(1)
  .max(64)
  .describe("Program and arguments, run without a shell inside the sandbox with the Runtime's environment.");

export const envVar = z
  .object({
    name: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a valid environment variable name")
      .describe("Variable name."),
    value: z.string().max(8192).default("").describe("Variable value."),
  })
  .describe("An environment variable set in the sandbox.");

const limitInt = (max: number, what: string) => z.int().min(1).max(max).describe(what);

/** Resource limits of one stage (compile or run) inside an isolate box. */
export const stageLimitsShape = {
  cpuTimeMillis: limitInt(600_000, "CPU time limit in milliseconds."),
  wallTimeMillis: limitInt(1_200_000, "Wall-clock time limit in milliseconds."),
  memoryKiB: limitInt(64 * 1024 * 1024, "Memory limit in KiB (enforced with cgroups)."),
  processes: limitInt(4096, "Maximum number of processes and threads."),
  openFiles: limitInt(65_536, "Maximum number of open files."),
  fileSizeKiB: limitInt(16 * 1024 * 1024, "Largest file the program may write, in KiB."),
  outputBytes: limitInt(
    64 * 1024 * 1024,
    "Largest stdout plus stderr the program may produce; more is OutputLimitExceeded.",
  ),
  storageKiB: limitInt(
    64 * 1024 * 1024,
    "Total size of everything in the box (/box, /tmp, /dev/shm), in KiB. The box's files live in a private in-memory filesystem of this size; filling it is OutputLimitExceeded. Built-in default when unset.",
  ).optional(),
  storageFiles: limitInt(
    1_000_000,
    "Most files and directories the box may hold in all (/box, /tmp, /dev/shm); reaching it is OutputLimitExceeded. Built-in default when unset.",
  ).optional(),
  networkConnections: limitInt(
    4096,
    "Networked Runtimes only: most connections (TCP or UDP flows, DNS included) a box may have open at once; more are refused and the result says so. Built-in default when unset.",
  ).optional(),
  networkKiB: limitInt(
    16 * 1024 * 1024,
    "Networked Runtimes only: bytes a box may send and receive in all, in KiB; past it traffic is dropped and the result says so. Built-in default when unset.",
  ).optional(),
  networkKiBPerSecond: limitInt(
    1024 * 1024,
    "Networked Runtimes only: bandwidth of a box, in and out together, in KiB per second. Built-in default when unset.",
  ).optional(),
};

export const stageLimits = z.object(stageLimitsShape).describe("Limits of one stage.");
export type StageLimits = z.infer<typeof stageLimits>;
export const partialStageLimits = stageLimits
  .partial()
  .describe("Limits of one stage; unset fields use the Runtime's defaults.");
export type PartialStageLimits = z.infer<typeof partialStageLimits>;
/** Per-stage overrides of a Runtime's limits (Executions, Problems, checkers and interactors). */
export const stageOverrides = z.object({
  compile: partialStageLimits.optional().describe("Compile stage overrides."),
  run: partialStageLimits.optional().describe("Run stage overrides, per test case."),
});

export const LIMIT_FIELDS = Object.keys(stageLimitsShape) as (keyof StageLimits)[];

/** metav1.Condition, exactly as Kubernetes defines it. */
export const condition = z
  .object({
    type: z
      .string()
      .max(316)
      .regex(
        /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/,
      )
      .describe("Type of condition in CamelCase."),
    status: z.enum(["True", "False", "Unknown"]).describe("Status of the condition: True, False or Unknown."),
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .describe("The .metadata.generation the condition was set from."),
    lastTransitionTime: z.string().describe("Last time the condition changed status (RFC 3339)."),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe("Programmatic identifier of the reason for the last transition, in CamelCase."),
    message: z.string().max(32768).describe("Human readable message about the transition."),
  })
  .describe("A standard Kubernetes condition (metav1.Condition).");
export type Condition = z.infer<typeof condition>;

export const conditions = z
  .array(condition)
  .max(16)
  .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] })
  .describe("Standard conditions of this object.");

/** Object metadata: validated by the apiserver, so the schema only types what we read. */
export const objectMeta = z
  .object({
    name: z.string().optional(),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    generation: z.int().optional(),
    resourceVersion: z.string().optional(),
    creationTimestamp: z.union([z.string(), z.date()]).optional(),
    deletionTimestamp: z.union([z.string(), z.date()]).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    finalizers: z.array(z.string()).optional(),
    ownerReferences: z.array(z.looseObject({})).optional(),
  })
  .loose();

/** Judges' verdicts. */
export const VERDICTS = [
  "Accepted",
  "WrongAnswer",
  "CompilationError",
  "RuntimeError",
  "TimeLimitExceeded",
  "MemoryLimitExceeded",
  "OutputLimitExceeded",
  "InternalError",
] as const;
export const verdict = z
  .enum(VERDICTS)
  .describe(
    "Judge verdict: Accepted, WrongAnswer, CompilationError, RuntimeError, TimeLimitExceeded, MemoryLimitExceeded, OutputLimitExceeded or InternalError.",
  );
export type Verdict = z.infer<typeof verdict>;

/** A top-level object of the API: apiVersion, kind, metadata, spec and an optional status. */
export function resourceSchema<K extends string, S extends z.ZodType, T extends z.ZodType>(
  kind: K,
  spec: S,
  status: T,
) {
  return z.object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(kind),
    metadata: objectMeta,
    spec,
    status: status.optional(),
  });
}
