import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderCrdFiles } from "./crd-files.ts";
import { execution } from "./execution.ts";
import { runtime } from "./runtime.ts";
import { INVALID_CASES, validCompiledRuntime, validExecution, validRuntime } from "./test-fixtures.ts";

const root = join(import.meta.dirname, "..", "..");

describe("generated CRDs", () => {
  it.each(Object.entries(renderCrdFiles()))("%s is up to date (run `npm run gen:crds`)", (path, text) => {
    expect(readFileSync(join(root, path), "utf8")).toBe(text);
  });
});

const schemaFor = (o: Record<string, unknown>) => (o.kind === "Runtime" ? runtime : execution);

describe("zod schemas", () => {
  it("accept the valid fixtures and apply defaults", () => {
    expect(runtime.parse(validRuntime()).spec.allowNetwork).toBe(false);
    expect(runtime.parse(validCompiledRuntime()).spec.compileCommand).toEqual([
      "gcc",
      "-O2",
      "-o",
      "main",
      "main.c",
    ]);
    const ex = execution.parse(validExecution());
    expect(ex.spec.outputComparison).toBe("IgnoreTrailingWhitespace");
    expect(ex.spec.files[0]?.encoding).toBe("utf8");
  });

  const clientSide = INVALID_CASES.filter((c) => !c.apiserverOnly);
  it.each(clientSide.map((c) => [c.name, c] as const))("reject %s", (_name, c) => {
    const result = schemaFor(c.object).safeParse(c.object);
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((i) => i.path.join("."));
    // The zod path of the first expected field, without array brackets.
    const field = c.expect[0]!.replace(/\[(\d+)\]/g, ".$1");
    expect(
      paths.some((p) => p === field || p.startsWith(`${field}.`)),
      paths.join(", "),
    ).toBe(true);
  });
});
