import { describe, expect, it } from "vitest";
import { getCondition } from "../k8s/conditions.ts";
import type { Execution, ExecutionStatus } from "./execution.ts";
import {
  fail,
  finish,
  handBack,
  holdsSlot,
  isHandedBack,
  isPending,
  loseNode,
  MAX_EXCUSED_ATTEMPTS,
  NODE_DRAINING,
  requeue,
  schedule,
  start,
  takeBack,
  wait,
} from "./execution-lifecycle.ts";
import { validExecution } from "./test-fixtures.ts";

const NOW = new Date("2025-01-01T00:01:00.789Z");
const RFC3339_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

function ex(status?: ExecutionStatus): Execution {
  const e = validExecution("e", "ns") as unknown as Execution;
  e.metadata = { ...e.metadata, uid: "uid-e", generation: 1, resourceVersion: "1" };
  if (status) e.status = status;
  return e;
}

const cond = (s: ExecutionStatus, type: string) => getCondition(s.conditions, type);
const scheduled = (attempts = 1) => schedule(ex({ attempts: attempts - 1 }), "a", 2, NOW);
const running = (attempts = 1) => start(ex(scheduled(attempts)), "a", NOW);
const OUTCOME = {
  verdict: "Accepted" as const,
  tests: [{ name: "1", verdict: "Accepted" as const, stdout: "1\n" }],
};

/** Fields each writer owns; a transition of one writer never changes the other's. */
const CONTROLLER_FIELDS = [
  "nodeName",
  "runtimeGeneration",
  "attempts",
  "excusedAttempts",
  "scheduledTime",
] as const;
const AGENT_FIELDS = ["startTime", "verdict", "compile", "tests", "handBack"] as const;

interface Case {
  name: string;
  run: () => ExecutionStatus;
  expect: Partial<ExecutionStatus>;
  conditions?: Record<string, { status: string; reason: string } | undefined>;
  absent?: (keyof ExecutionStatus)[];
}

const cases: Case[] = [
  {
    name: "schedule places it on the node, counts one more attempt and says Scheduled=True",
    run: () => schedule(ex({ attempts: 1, message: "kept" }), "a", 3, NOW),
    expect: { phase: "Scheduled", nodeName: "a", runtimeGeneration: 3, attempts: 2, message: "kept" },
    conditions: { Scheduled: { status: "True", reason: "Scheduled" } },
  },
  {
    name: "wait keeps it Pending and says why with Scheduled=False",
    run: () => wait(ex(), "NoFreeSlot", "no slot", NOW).status,
    expect: { phase: "Pending" },
    conditions: { Scheduled: { status: "False", reason: "NoFreeSlot" } },
  },
  {
    name: "start marks it Running with Running=True and a start time, placement untouched",
    run: () => running(),
    expect: { phase: "Running", nodeName: "a", attempts: 1 },
    conditions: {
      Running: { status: "True", reason: "Running" },
      Scheduled: { status: "True", reason: "Scheduled" },
    },
  },
  {
    name: "finish with a judged outcome is Succeeded with the verdict and results",
    run: () => finish(ex(running()), OUTCOME, NOW),
    expect: { phase: "Succeeded", verdict: "Accepted", message: "Accepted", nodeName: "a" },
    conditions: {
      Complete: { status: "True", reason: "Accepted" },
      Failed: { status: "False", reason: "Judged" },
      Running: { status: "False", reason: "Finished" },
    },
  },
  {
    name: "finish without an outcome is a bare Failed with the reason and no results",
    run: () => finish(ex({ ...running(), tests: [{ name: "1" }] }), undefined, NOW, "AgentError", "boom"),
    expect: { phase: "Failed", verdict: "InternalError", message: "boom" },
    conditions: { Failed: { status: "True", reason: "AgentError" } },
    absent: ["tests", "compile"],
  },
  {
    name: "fail before running ends it without a verdict, Complete and Failed True",
    run: () => fail(ex({ verdict: "Accepted" }), "LimitOutOfBounds", "too big", NOW),
    expect: { phase: "Failed", message: "too big" },
    conditions: { Complete: { status: "True", reason: "LimitOutOfBounds" }, Running: undefined },
    absent: ["verdict"],
  },
  {
    name: "hand back keeps the placement and records the attempt it gives back",
    run: () => handBack(ex(scheduled(2)), "RuntimeUnavailable", "no generation", NOW),
    expect: { phase: "Pending", nodeName: "a", attempts: 2 },
    conditions: { Scheduled: { status: "True", reason: "Scheduled" } },
  },
  {
    name: "take back of a hand-back with attempts left requeues it, attempts kept",
    run: () => takeBack(ex(handBack(ex(scheduled(1)), "RuntimeUnavailable", "no gen", NOW)), 3, NOW),
    expect: { phase: "Pending", attempts: 1 },
    conditions: { Scheduled: { status: "False", reason: "HandedBack" } },
    absent: ["nodeName", "runtimeGeneration", "scheduledTime"],
  },
  {
    name: "take back of a hand-back on the last attempt fails it with TooManyAttempts",
    run: () => takeBack(ex(handBack(ex(scheduled(3)), "AgentRestarted", "restarted", NOW)), 3, NOW),
    expect: { phase: "Failed", nodeName: "a" },
    conditions: { Failed: { status: "True", reason: "TooManyAttempts" } },
  },
  {
    name: "take back of a drain hand-back on the last attempt requeues it without counting the attempt",
    run: () => takeBack(ex(handBack(ex(scheduled(3)), NODE_DRAINING, "node a is cordoned", NOW)), 3, NOW),
    expect: { phase: "Pending", attempts: 3, excusedAttempts: 1 },
    conditions: { Scheduled: { status: "False", reason: NODE_DRAINING } },
    absent: ["nodeName", "runtimeGeneration", "scheduledTime"],
  },
  {
    name: "the next placement after an excused attempt counts from the excused number",
    run: () => {
      const back = takeBack(ex(handBack(ex(scheduled(3)), NODE_DRAINING, "cordoned", NOW)), 3, NOW);
      return takeBack(ex(handBack(ex(schedule(ex(back), "b", 2, NOW)), "AgentRestarted", "r", NOW)), 3, NOW);
    },
    expect: { phase: "Failed", attempts: 4, excusedAttempts: 1 },
    conditions: { Failed: { status: "True", reason: "TooManyAttempts" } },
  },
  {
    name: "a drain hand-back past the excused ones counts like any other",
    run: () => {
      const placed = schedule(ex({ attempts: 12, excusedAttempts: MAX_EXCUSED_ATTEMPTS }), "a", 2, NOW);
      return takeBack(ex(handBack(ex(placed), NODE_DRAINING, "cordoned", NOW)), 3, NOW);
    },
    expect: { phase: "Failed", attempts: 13, excusedAttempts: MAX_EXCUSED_ATTEMPTS },
    conditions: { Failed: { status: "True", reason: "TooManyAttempts" } },
  },
  {
    name: "lose node counts only the attempts not excused",
    run: () => loseNode(ex({ ...running(3), excusedAttempts: 2 }), "node a was deleted", 3, NOW),
    expect: { phase: "Pending", attempts: 3, excusedAttempts: 2 },
    conditions: { Scheduled: { status: "False", reason: "NodeLost" } },
  },
  {
    name: "lose node with attempts left requeues it and drops the lost attempt's partial results",
    run: () => loseNode(ex({ ...running(1), tests: [{ name: "1" }] }), "node a was deleted", 3, NOW),
    expect: { phase: "Pending", attempts: 1 },
    conditions: {
      Scheduled: { status: "False", reason: "NodeLost" },
      Running: { status: "False", reason: "NodeLost" },
    },
    absent: ["nodeName", "tests", "startTime"],
  },
  {
    name: "lose node on the last attempt fails it with NodeLost",
    run: () => loseNode(ex(running(2)), "lease expired", 2, NOW),
    expect: { phase: "Failed" },
    conditions: {
      Failed: { status: "True", reason: "NodeLost" },
      Running: { status: "False", reason: "NodeLost" },
    },
    absent: ["verdict"],
  },
  {
    name: "requeue by the controller leaves the agent's Running condition alone",
    run: () => requeue(ex(running()), "HandedBack", "m", NOW),
    expect: { phase: "Pending" },
    conditions: { Running: { status: "True", reason: "Running" } },
  },
];

describe("Execution lifecycle transitions", () => {
  it.each(cases)("$name", (c) => {
    const s = c.run();
    expect(s).toMatchObject(c.expect);
    for (const [type, want] of Object.entries(c.conditions ?? {}))
      if (want === undefined) expect(cond(s, type)).toBeUndefined();
      else expect(cond(s, type)).toMatchObject(want);
    for (const f of c.absent ?? []) expect(s[f], f).toBeUndefined();
  });
});

describe("one writer per status field", () => {
  const base = ex({ ...running(1), handBack: { attempt: 0, reason: "Old" } });
  const agentCases: [string, () => ExecutionStatus][] = [
    ["start changes no field of the controller's", () => start(base, "a", NOW)],
    ["hand back changes no field of the controller's", () => handBack(base, "R", "m", NOW)],
    ["finish changes no field of the controller's", () => finish(base, OUTCOME, NOW)],
  ];
  it.each(agentCases)("%s", (_n, run) => {
    const s = run();
    for (const f of CONTROLLER_FIELDS) expect(s[f], f).toEqual(base.status?.[f]);
    expect(cond(s, "Scheduled")).toEqual(cond(base.status!, "Scheduled"));
  });
  const controllerCases: [string, () => ExecutionStatus][] = [
    ["schedule changes no field of the agent's", () => schedule(base, "b", 1, NOW)],
    ["wait changes no field of the agent's", () => wait(base, "NoFreeSlot", "m", NOW).status],
    ["take back changes no field of the agent's", () => takeBack(base, 3, NOW)],
  ];
  it.each(controllerCases)("%s", (_n, run) => {
    const s = run();
    for (const f of AGENT_FIELDS) expect(s[f], f).toEqual(base.status?.[f]);
    expect(cond(s, "Running")).toEqual(cond(base.status!, "Running"));
  });
});

describe("timestamps and predicates", () => {
  it("every timestamp a transition writes is RFC 3339 in seconds", () => {
    const all = [
      scheduled(),
      running(),
      finish(ex(running()), OUTCOME, NOW),
      handBack(ex(scheduled()), "R", "m", NOW),
    ];
    const times = all.flatMap((s) => [
      s.scheduledTime,
      s.startTime,
      s.completionTime,
      s.handBack?.time,
      ...(s.conditions ?? []).map((c) => c.lastTransitionTime),
    ]);
    for (const t of times.filter((x) => x !== undefined)) expect(t).toMatch(RFC3339_SECONDS);
  });
  const preds: [
    string,
    ExecutionStatus | undefined,
    { pending: boolean; holds: boolean; handedBack: boolean },
  ][] = [
    [
      "a new Execution is pending and holds no slot",
      undefined,
      { pending: true, holds: false, handedBack: false },
    ],
    ["a scheduled one holds a slot", scheduled(), { pending: false, holds: true, handedBack: false }],
    [
      "a handed-back one still holds its slot until the controller takes it back",
      handBack(ex(scheduled(2)), "R", "m", NOW),
      { pending: false, holds: true, handedBack: true },
    ],
    [
      "a hand-back of an earlier attempt is history once it is scheduled again",
      schedule(ex(handBack(ex(scheduled(1)), "R", "m", NOW)), "b", 1, NOW),
      { pending: false, holds: true, handedBack: false },
    ],
    [
      "a finished one is neither",
      finish(ex(running()), OUTCOME, NOW),
      { pending: false, holds: false, handedBack: false },
    ],
  ];
  it.each(preds)("%s", (_n, status, want) => {
    const e = ex(status);
    expect({ pending: isPending(e), holds: holdsSlot(e), handedBack: isHandedBack(e) }).toEqual(want);
  });
});
