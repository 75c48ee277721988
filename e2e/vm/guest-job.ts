// The shell job the guest runs: this checkout's guest suite with this
// machine's Node (both reached through the read-only share of the host's root).
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");

/**
 * The environment of every Node.js process in the guest. Under emulation the
 * guest's Node.js crashed now and then while loading this checkout's .ts files
 * (V8 "Check failed: it->second.Size() > offset" in a stack walk from
 * Runtime_WasmTriggerTierUp, SIGTRAP; or SIGSEGV), never on this machine's own
 * CPU: 4 of 72 guest runs that only import the agent and the controller. Type
 * stripping is WebAssembly, and the failed check is V8 looking up a wasm code
 * address while it tiers a function up, so the guest keeps wasm on its first
 * tier (guest-node-flags.mjs); qemu-vm.ts also gives the guest no AVX, which
 * qemu 7.2 is the first to emulate. With both: 0 of 50 (each alone: 0 of 21).
 * Which of the two is the cure is not shown.
 */
export const GUEST_NODE_ENV = `export NODE_OPTIONS='--import=${join(ROOT, "e2e/vm/guest-node-flags.mjs")}'`;

/** A job script that runs `script` (relative to the repository) with `env`, results going to /run/vm. */
export function nodeJob(script: string, env: Record<string, string>): string {
  const vars = Object.entries(env).map(([k, v]) => `export ${k}='${v.replaceAll("'", "'\\''")}'`);
  return [
    "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root",
    GUEST_NODE_ENV,
    ...vars,
    `cd '${ROOT}'`,
    `exec '${process.execPath}' '${join(ROOT, script)}'`,
    "",
  ].join("\n");
}
