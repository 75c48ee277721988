// How much slower programs run in the guest (software emulation, no KVM):
// the same CPU-bound Python loop, timed by its own CPU clock on the host and
// in the guest. The guest's tests multiply their time limits by the ratio.
import { execFileSync } from "node:child_process";

const LOOP = [
  "import time",
  "t = time.process_time()",
  "s = 0",
  "for i in range(1_500_000): s += i * i",
  "print(round((time.process_time() - t) * 1000))",
].join("\n");

/** CPU milliseconds of the loop here (the fastest of `runs`, against noise from other work on the machine). */
export function loopCpuMillis(runs = 3): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++)
    best = Math.min(best, Number(execFileSync("python3", ["-c", LOOP], { encoding: "utf8" }).trim()));
  return Math.max(best, 1);
}

/** The factor time limits are multiplied by in the guest: the slowdown rounded up, at least 2, at most 40. */
export function timeScale(guestMs: number, hostMs: number): number {
  return Math.min(40, Math.max(2, Math.ceil(guestMs / hostMs)));
}
