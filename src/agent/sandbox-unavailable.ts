import type { ExecutionOutcome, ExecutionRunner } from "./ports.ts";
import { ReasonedError } from "./ports.ts";

/**
 * Stands in for the sandbox on a node without isolate: every install fails at
 * once (no Nix build first) with reason SandboxUnavailable, so the node's
 * Runtimes show as failed within seconds with a message that says why, and
 * the controller sends it no work.
 */
export class SandboxUnavailable implements ExecutionRunner {
  readonly unavailable: string;
  constructor(why: string) {
    this.unavailable = why;
  }
  async run(): Promise<ExecutionOutcome> {
    throw new ReasonedError("SandboxUnavailable", this.unavailable);
  }
}
