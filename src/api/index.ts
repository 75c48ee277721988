export * from "./common.ts";
export * from "./crd.ts";
export * from "./execution.ts";
export * from "./group.ts";
export * from "./limits.ts";
export * from "./problem.ts";
export * from "./runtime.ts";
export * from "./worker.ts";
