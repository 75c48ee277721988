import {
  type Execution,
  type ExecutionSpec,
  type ExecutionStatus,
  MAX_PROBLEM_TESTS,
} from "../../api/execution.ts";
import type { TestData } from "../../api/problem.ts";
import type { KubeClient } from "../../k8s/client.ts";
import { errText } from "../../k8s/errors.ts";
import { ConfigMapResource, ProblemResource } from "../../k8s/resources.ts";
import { ReasonedError } from "../ports.ts";
import type { HeldTestSet, TestDataCache } from "../testdata/test-data-cache.ts";
import { fileTests, inlineTests, TestPlan } from "./test-plan.ts";

/** An Execution of a Problem, ready to run: the spec it is judged by, its tests and scoring. */
export interface ResolvedProblem {
  /** The Execution's source and Runtime with the Problem's limits, checker or interactor. */
  spec: ExecutionSpec;
  plan: TestPlan;
  judgedWith: NonNullable<ExecutionStatus["judgedWith"]>;
  /** The Problem lets submitters see the checker's or interactor's messages. */
  showJudgeMessages: boolean;
  /** Lets the node's cache evict the test data again. */
  release: () => void;
}

/**
 * Reads the Problem an Execution names (in its namespace) and holds its test
 * data: inline, or fetched into the node's cache. Failures carry the reason
 * the Execution fails with: ProblemNotFound, TestDataUnavailable, ProblemInvalid.
 */
export async function resolveProblem(
  client: KubeClient,
  cache: TestDataCache | undefined,
  ex: Execution,
  signal?: AbortSignal,
): Promise<ResolvedProblem> {
  const name = ex.spec.problem!;
  const ns = ex.metadata.namespace ?? "default";
  const problem = await client.tryGet(ProblemResource, name, ns).catch((err: unknown) => {
    throw new ReasonedError("ProblemNotFound", `reading Problem ${ns}/${name}: ${errText(err)}`);
  });
  if (!problem) throw new ReasonedError("ProblemNotFound", `Problem ${ns}/${name} does not exist`);
  const p = problem.spec;
  const spec: ExecutionSpec = {
    ...ex.spec,
    outputComparison: p.outputComparison,
    ...(p.limits ? { limits: p.limits } : {}),
    ...(p.checker ? { checker: p.checker } : {}),
    ...(p.interactor ? { interactor: p.interactor } : {}),
  };
  const judgedWith = {
    problem: name,
    ...(problem.metadata.generation !== undefined ? { problemGeneration: problem.metadata.generation } : {}),
  };
  const showJudgeMessages = p.showJudgeMessages ?? false;
  if (!p.testData)
    return { spec, plan: planOf(inlineTests(p), p.groups), judgedWith, showJudgeMessages, release: () => {} };
  if (!cache) throw new ReasonedError("TestDataUnavailable", "this node keeps no test data cache");
  const held = await holdTestData(client, cache, ns, p.testData, signal).catch((err: unknown) => {
    throw new ReasonedError("TestDataUnavailable", errText(err));
  });
  try {
    const withData = { ...judgedWith, testDataSha256: held.sha256 };
    return {
      spec,
      plan: planOf(fileTests(held.tests), p.groups),
      judgedWith: withData,
      showJudgeMessages,
      release: held.release,
    };
  } catch (err) {
    held.release();
    throw err;
  }
}

/** An archive by URL, or a ConfigMap of the Problem's namespace (its data and binaryData keys are the files). */
async function holdTestData(
  client: KubeClient,
  cache: TestDataCache,
  ns: string,
  ref: TestData,
  signal?: AbortSignal,
): Promise<HeldTestSet> {
  if (ref.url && ref.sha256) return cache.acquire({ url: ref.url, sha256: ref.sha256 }, signal);
  const cm = await client.tryGet(ConfigMapResource, ref.configMap!, ns);
  if (!cm) throw new Error(`ConfigMap ${ns}/${ref.configMap} does not exist`);
  const files = [
    ...Object.entries(cm.data ?? {}).map(([name, v]) => ({ name, data: Buffer.from(v, "utf8") })),
    ...Object.entries(cm.binaryData ?? {}).map(([name, v]) => ({ name, data: Buffer.from(v, "base64") })),
  ];
  return cache.acquireFiles(files);
}

function planOf(
  tests: ConstructorParameters<typeof TestPlan>[0],
  groups: ConstructorParameters<typeof TestPlan>[1],
) {
  if (tests.length === 0) throw new ReasonedError("ProblemInvalid", "the Problem's test data holds no test");
  // Refused before anything runs: a result with more tests than status.tests holds would be thrown away after hours.
  if (tests.length > MAX_PROBLEM_TESTS)
    throw new ReasonedError(
      "ProblemInvalid",
      `the Problem's test data holds ${tests.length} tests; at most ${MAX_PROBLEM_TESTS} are judged`,
    );
  try {
    return new TestPlan(tests, groups);
  } catch (err) {
    throw new ReasonedError("ProblemInvalid", errText(err));
  }
}
