import { stringify } from "yaml";
import { customResourceDefinitions } from "./crd.ts";

const HEADER = "# Generated from src/api by `npm run gen:crds`. Do not edit.\n";

/** Repository-relative path → YAML text of every generated CRD file. */
export function renderCrdFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const crd of customResourceDefinitions()) {
    const name = (crd.metadata as { name: string }).name;
    const text = HEADER + stringify(crd, { lineWidth: 0 });
    files[`crds/${name}.yaml`] = text;
    files[`charts/envicutor/crds/${name}.yaml`] = text;
  }
  return files;
}
