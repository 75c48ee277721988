// Runtime specs for nix/pkgs, the small offline STAND-IN FOR NIXPKGS that the
// e2e tests and the bench install from a local binary cache.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Runtime } from "../../src/api/runtime.ts";

type Spec = Runtime["spec"];

export const C_SPEC: Spec = {
  language: "c",
  version: "12",
  packages: ["gcc"],
  sourceFile: "main.c",
  compileCommand: ["gcc", "-O2", "-o", "main", "main.c"],
  runCommand: ["./main"],
  allowNetwork: false,
  smokeTest: { source: '#include <stdio.h>\nint main(void){puts("ok");return 0;}\n', expectedOutput: "ok\n" },
};

/** Whether isolate is installed; when not, one loud line says which tests are skipped. */
export async function isolateAvailable(what: string): Promise<boolean> {
  const ok = await promisify(execFile)("isolate", ["--version"]).then(
    () => true,
    () => false,
  );
  if (!ok) console.warn(`!!! isolate not found: ${what} SKIPPED — see README (isolate)`);
  return ok;
}
