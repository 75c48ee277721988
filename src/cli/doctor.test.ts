import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const MAIN = join(import.meta.dirname, "main.ts");
const exec = promisify(execFile);

/** `envicutor doctor` as a user runs it; its exit status and output. */
async function doctor(args: string[] = [], env: NodeJS.ProcessEnv = process.env) {
  return exec(process.execPath, [MAIN, "doctor", ...args], { env, timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );
}

// The real checks on this machine (no fakes): whatever it has, the exit status agrees with the output.
describe("envicutor doctor on this machine", () => {
  it("prints every check and exits 1 exactly when one fails", async () => {
    const { code, stdout } = await doctor();
    console.log(`envicutor doctor here (exit ${code}):\n${stdout}`);
    for (const name of [
      "root",
      "isolate",
      "cgroups",
      "namespaces",
      "nix",
      "nix build users",
      "keyctl",
      "box network",
    ])
      expect(stdout).toMatch(new RegExp(`^(ok  |WARN|FAIL)  ${name} `, "m"));
    expect(code).toBe(/^FAIL/m.test(stdout) ? 1 : 0);
  });

  it("fails on an isolate that is not there, from the flag or the agent's variable, and says how to get it", async () => {
    for (const r of [
      await doctor(["--isolate", "/nonexistent/isolate"]),
      await doctor([], { ...process.env, ENVICUTOR_ISOLATE_BIN: "/nonexistent/isolate" }),
    ]) {
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^FAIL {2}isolate +\/nonexistent\/isolate: not found/m);
      expect(r.stdout).toContain("fix: build isolate from https://github.com/ioi/isolate");
      expect(r.stdout).toMatch(/check\(s\) failed: .*isolate/);
    }
  });
});
