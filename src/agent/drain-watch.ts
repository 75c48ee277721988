import type { Node } from "../k8s/resources.ts";
import type { Logger } from "../logging.ts";
import type { WorkerReporter } from "./worker-reporter.ts";

/** The Worker condition that says whether this agent takes new work. */
export const DRAINING_CONDITION = "Draining";

export interface DrainWatchOptions {
  nodeName: string;
  reporter: Pick<WorkerReporter, "setCondition">;
  logger: Logger;
  /** Called when the node turns cordoned: hand back what has not started. */
  onCordon: () => void;
}

/**
 * Follows this node's cordon (Node spec.unschedulable, set by `kubectl
 * cordon` and `kubectl drain`). A drain evicts Pods but not the agent's
 * DaemonSet Pod, so the agent stops taking work itself: while cordoned it
 * starts no Execution and hands back those assigned here that have not
 * started (the controller places none here meanwhile); running ones finish.
 * Uncordoned, it takes work again. The state is the Worker's Draining
 * condition, so `kubectl get worker` shows it.
 */
export class DrainWatch {
  private readonly o: DrainWatchOptions;
  private cordoned = false;
  private seen = false;

  constructor(opts: DrainWatchOptions) {
    this.o = opts;
  }

  /** Why nothing new starts here, or undefined while the node takes work. */
  why(): string | undefined {
    return this.cordoned
      ? `node ${this.o.nodeName} is cordoned (spec.unschedulable; kubectl drain or cordon)`
      : undefined;
  }

  /** An informer's copy of this node (add or update); a deleted Node is the controller's node loss, not a drain. */
  observe(node: Node): void {
    const cordoned = node.spec?.unschedulable === true;
    const flipped = cordoned !== this.cordoned;
    if (!flipped && this.seen) return;
    this.seen = true;
    this.cordoned = cordoned;
    this.o.reporter.setCondition(
      cordoned
        ? {
            type: DRAINING_CONDITION,
            status: "True",
            reason: "NodeCordoned",
            message: `${this.why()}: no new Execution starts here; those not started are handed back, running ones finish`,
          }
        : {
            type: DRAINING_CONDITION,
            status: "False",
            reason: "NodeSchedulable",
            message: `node ${this.o.nodeName} takes new Executions`,
          },
    );
    if (!flipped) return;
    this.o.logger.info(
      { node: this.o.nodeName, cordoned },
      cordoned ? "node cordoned: draining" : "node uncordoned",
    );
    if (cordoned) this.o.onCordon();
  }
}
