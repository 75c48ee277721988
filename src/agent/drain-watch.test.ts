import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { KubeClient } from "../k8s/client.ts";
import type { ConditionInput } from "../k8s/conditions.ts";
import type { Node } from "../k8s/resources.ts";
import { DRAINING_CONDITION, DrainWatch } from "./drain-watch.ts";
import { WorkerReporter } from "./worker-reporter.ts";

const node = (unschedulable?: boolean): Node => ({
  metadata: { name: "n1" },
  ...(unschedulable === undefined ? {} : { spec: { unschedulable } }),
});

function watch() {
  const set: ConditionInput[] = [];
  let cordons = 0;
  const w = new DrainWatch({
    nodeName: "n1",
    reporter: { setCondition: (c) => set.push(c) },
    logger: pino({ level: "silent" }),
    onCordon: () => cordons++,
  });
  return { w, set, cordons: () => cordons };
}

describe("DrainWatch", () => {
  const cases: {
    name: string;
    nodes: Node[];
    want: { why: boolean; cordons: number; conditions: string[] };
  }[] = [
    {
      name: "a schedulable node says Draining=False once and hands nothing back",
      nodes: [node(), node(false)],
      want: { why: false, cordons: 0, conditions: ["False:NodeSchedulable"] },
    },
    {
      name: "a cordon turns Draining True and hands back once, however many updates follow",
      nodes: [node(), node(true), node(true), node(true)],
      want: { why: true, cordons: 1, conditions: ["False:NodeSchedulable", "True:NodeCordoned"] },
    },
    {
      name: "an agent that starts on a cordoned node drains from the start",
      nodes: [node(true)],
      want: { why: true, cordons: 1, conditions: ["True:NodeCordoned"] },
    },
    {
      name: "uncordon resumes: Draining False again, nothing more handed back",
      nodes: [node(true), node(false)],
      want: { why: false, cordons: 1, conditions: ["True:NodeCordoned", "False:NodeSchedulable"] },
    },
    {
      name: "cordoned twice hands back twice",
      nodes: [node(true), node(false), node(true)],
      want: {
        why: true,
        cordons: 2,
        conditions: ["True:NodeCordoned", "False:NodeSchedulable", "True:NodeCordoned"],
      },
    },
  ];
  it.each(cases)("$name", (c) => {
    const t = watch();
    for (const n of c.nodes) t.w.observe(n);
    expect(t.w.why() !== undefined).toBe(c.want.why);
    expect(t.cordons()).toBe(c.want.cordons);
    expect(t.set.map((s) => `${s.status}:${s.reason}`)).toEqual(c.want.conditions);
    expect(t.set.every((s) => s.type === DRAINING_CONDITION)).toBe(true);
  });

  it("the Worker status carries the condition, with the reason and a message saying what a drain does", async () => {
    const patches: { status: Record<string, unknown> }[] = [];
    const client = {
      tryGet: async () => ({ metadata: { name: "n1" }, spec: { nodeName: "n1" }, status: {} }),
      patchStatus: async (_r: unknown, _n: string, body: { status: Record<string, unknown> }) => {
        patches.push(body);
        return {};
      },
    } as unknown as KubeClient;
    const reporter = new WorkerReporter({ client, nodeName: "n1", logger: pino({ level: "silent" }) });
    await reporter.ensure({ slots: 2 });
    const w = new DrainWatch({
      nodeName: "n1",
      reporter,
      logger: pino({ level: "silent" }),
      onCordon: () => {},
    });
    w.observe(node(true));
    await reporter.close();
    const last = patches.at(-1)!.status;
    expect(last.slots).toBe(2);
    expect(last.conditions).toEqual([
      expect.objectContaining({
        type: "Draining",
        status: "True",
        reason: "NodeCordoned",
        message: expect.stringMatching(
          /cordoned.*no new Execution starts here.*handed back.*running ones finish/,
        ),
      }),
    ]);
  });
});
