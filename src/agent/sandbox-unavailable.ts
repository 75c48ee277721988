import type { ExecutionOutcome, ExecutionRunner } from "./ports.ts";
import { ReasonedError } from "./ports.ts";

/**
 * Stands in for the sandbox on a node without isolate: every smoke test fails
 * with reason SandboxUnavailable, so the node's Runtimes show as failed with a
 * message that says why, and the controller sends it no work.
 */
export class SandboxUnavailable implements ExecutionRunner {
  private readonly why: string;
  constructor(why: string) {
    this.why = why;
  }
  async run(): Promise<ExecutionOutcome> {
    throw new ReasonedError("SandboxUnavailable", this.why);
  }
}
