import type { z } from "zod";
import { toStructuralSchema } from "./crd-schema.ts";
import { execution } from "./execution.ts";
import { GROUP, type Kind, RESOURCES, VERSION } from "./group.ts";
import { problem } from "./problem.ts";
import { runtime } from "./runtime.ts";
import { worker } from "./worker.ts";

interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "date" | "boolean" | "number";
  jsonPath: string;
  description?: string;
  priority?: number;
}

interface CrdDefinition {
  kind: Kind;
  schema: z.ZodObject;
  description: string;
  columns: PrinterColumn[];
  selectableFields?: { jsonPath: string }[];
}

const age: PrinterColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

const DEFINITIONS: CrdDefinition[] = [
  {
    kind: "Runtime",
    schema: runtime,
    description:
      "Runtime is a language environment built from Nix packages. It is Ready when every eligible node has installed it and passed its smoke test.",
    columns: [
      { name: "Language", type: "string", jsonPath: ".spec.language" },
      { name: "Version", type: "string", jsonPath: ".spec.version" },
      { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
      {
        name: "Reason",
        type: "string",
        jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
        description: "Why it is (not) Ready, e.g. InstallFailed",
      },
      {
        name: "Installed",
        type: "integer",
        jsonPath: ".status.installedNodes",
        description: "Nodes with the current generation",
      },
      {
        name: "Eligible",
        type: "integer",
        jsonPath: ".status.eligibleNodes",
        description: "Live nodes that should have it",
      },
      { name: "Failed", type: "integer", jsonPath: ".status.failedNodes", priority: 1 },
      { name: "Active", type: "integer", jsonPath: ".status.activeGeneration", priority: 1 },
      age,
      // Last and in the default view: a Runtime that cannot install says why in `kubectl get runtimes`.
      {
        name: "Message",
        type: "string",
        jsonPath: '.status.conditions[?(@.type=="Ready")].message',
        description: "The Ready condition's message (e.g. the nodes' install failures)",
      },
    ],
  },
  {
    kind: "Execution",
    schema: execution,
    description:
      "Execution is a submission of source code to run in a Runtime; its status carries the verdict. Wait for it with kubectl wait --for=condition=Complete.",
    columns: [
      { name: "Runtime", type: "string", jsonPath: ".spec.runtime" },
      { name: "Phase", type: "string", jsonPath: ".status.phase" },
      { name: "Verdict", type: "string", jsonPath: ".status.verdict" },
      { name: "Node", type: "string", jsonPath: ".status.nodeName" },
      { name: "Problem", type: "string", jsonPath: ".spec.problem", priority: 1 },
      {
        name: "Done",
        type: "integer",
        jsonPath: ".status.progress.completed",
        description: "Tests judged so far",
      },
      { name: "Tests", type: "integer", jsonPath: ".status.progress.total" },
      { name: "Points", type: "number", jsonPath: ".status.score.points" },
      { name: "Attempts", type: "integer", jsonPath: ".status.attempts", priority: 1 },
      age,
    ],
    selectableFields: [
      { jsonPath: ".status.nodeName" },
      { jsonPath: ".spec.runtime" },
      { jsonPath: ".spec.problem" },
    ],
  },
  {
    kind: "Problem",
    schema: problem,
    description:
      "Problem is a judge's problem: test cases inline or by reference (a sha256-addressed archive), limits, a checker or interactor, and scored test groups. An Execution names it in spec.problem.",
    columns: [
      { name: "Data", type: "string", jsonPath: ".spec.testData.sha256", priority: 1 },
      { name: "Checker", type: "string", jsonPath: ".spec.checker.comparison" },
      age,
    ],
  },
  {
    kind: "Worker",
    schema: worker,
    description:
      "Worker describes one node's agent: capacity, versions and the install state of every Runtime. Written only by that agent.",
    columns: [
      { name: "Node", type: "string", jsonPath: ".spec.nodeName" },
      { name: "Slots", type: "integer", jsonPath: ".status.slots" },
      { name: "Cgroup", type: "string", jsonPath: ".status.cgroupMode" },
      { name: "Isolate", type: "string", jsonPath: ".status.isolateVersion", priority: 1 },
      { name: "Nix", type: "string", jsonPath: ".status.nixVersion", priority: 1 },
      age,
    ],
  },
];

/** The apiextensions.k8s.io/v1 CustomResourceDefinition of each kind, generated from the zod schemas. */
export function customResourceDefinitions(): Record<string, unknown>[] {
  return DEFINITIONS.map((def) => {
    const names = RESOURCES[def.kind];
    const schema = toStructuralSchema(def.schema) as {
      properties: Record<string, unknown>;
      required?: string[];
    };
    // apiVersion/kind/metadata are the apiserver's business; keep only their type.
    schema.properties.apiVersion = { type: "string", description: "APIVersion of this object." };
    schema.properties.kind = { type: "string", description: "Kind of this object." };
    schema.properties.metadata = { type: "object" };
    schema.required = (schema.required ?? []).filter((r) => r === "spec");
    return {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: `${names.plural}.${GROUP}`, labels: { "app.kubernetes.io/part-of": "envicutor" } },
      spec: {
        group: GROUP,
        scope: names.namespaced ? "Namespaced" : "Cluster",
        names: {
          kind: names.kind,
          listKind: `${names.kind}List`,
          plural: names.plural,
          singular: names.singular,
          shortNames: [...names.shortNames],
          categories: ["envicutor"],
        },
        versions: [
          {
            name: VERSION,
            served: true,
            storage: true,
            subresources: { status: {} },
            additionalPrinterColumns: def.columns,
            ...(def.selectableFields ? { selectableFields: def.selectableFields } : {}),
            schema: { openAPIV3Schema: { description: def.description, ...schema } },
          },
        ],
      },
    };
  });
}
