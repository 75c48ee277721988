import { readFileSync } from "node:fs";
import { execa } from "execa";

/**
 * Keyrings are not namespaced: a box user's user and user-session keyrings
 * outlive the box, so a program can leave keys for the next run as the same
 * uid (the same box id). isolate 2.4+ filters keyctl(2) but not add_key(2) or
 * request_key(2), and a key's existence alone carries bits; isolate 1.x
 * filters nothing. So after each run the agent empties them, as the box user,
 * but only for a uid the kernel lists as holding keys (most runs cost nothing).
 */
export async function usersWithKeys(path = "/proc/key-users"): Promise<Set<number>> {
  // A small /proc file, read at once (no thread-pool round trip for it).
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch {
    // no keys subsystem: no user holds keys
  }
  const uids = new Set<number>();
  for (const line of text.split("\n")) {
    const m = /^\s*(\d+):/.exec(line);
    if (m) uids.add(Number(m[1]));
  }
  return uids;
}

/**
 * Empties the user, user-session and persistent keyrings of `uid`; no
 * processes of it may run. An unlinked key lives on, listed in /proc/keys
 * with its description, until the kernel's key collector destroys it (a few
 * milliseconds later): the script returns only once /proc/keys shows the uid
 * nothing but keyrings, so the next run cannot read what the last one left.
 */
export async function clearKeyrings(uid: number, gid: number): Promise<void> {
  if (!(await usersWithKeys()).has(uid)) return;
  // /proc/keys: serial flags usage timeout perm uid gid type description. Shell builtins only
  // (the agent image has no awk or grep).
  const leftover = `left() { while read -r _s _f _u _t _p owner _g type _d; do [ "$owner" = ${uid} ] && [ "$type" != keyring ] && return 0; done < /proc/keys; return 1; }`;
  const script = [
    'p=$(keyctl get_persistent @u 2>/dev/null) && keyctl clear "$p"',
    "keyctl clear @us",
    "keyctl clear @u",
    leftover,
    'i=0; while left; do [ $i -ge 200 ] && { echo "keys still listed after 2 s" >&2; exit 1; }; i=$((i + 1)); sleep 0.01; done',
  ].join("; ");
  const res = await execa(
    "setpriv",
    [`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--", "sh", "-c", script],
    { reject: false, timeout: 10_000, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, extendEnv: false },
  );
  if (res.exitCode !== 0)
    throw new Error(`cannot clear the keyrings of uid ${uid}: ${res.stderr || res.stdout}`.trim());
}

/** Whether keyctl is installed (the agent image ships keyutils). */
export async function keyctlAvailable(): Promise<boolean> {
  const res = await execa("keyctl", ["--version"], { reject: false, timeout: 10_000 });
  return res.exitCode === 0;
}
