// The agent's Nix installer against REAL Nix (nix-build, nix-store, the build
// sandbox, a signed file:// binary cache). It needs no Kubernetes: it lives in
// the e2e project only because it is slow.
//
// The packages come from nix/pkgs, a small STAND-IN FOR NIXPKGS (it is NOT
// nixpkgs) that repackages this Debian machine's python3, gcc, node, bash and
// coreutils (the network reaches no Nix cache and no nixpkgs; see
// nix/README.md). The Nix commands are the production ones, and setup hooks
// run in Nix's build sandbox exactly as they would with nixpkgs: the builder
// is the package set's own `bash` attribute, which both sets have. The machine's /nix/store is shared by the
// two "nodes" below (two state directories) and by other users, so garbage is
// collected only among this test's own store paths.
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readlink, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closureHash } from "../src/agent/nix/closure.ts";
import { NixInstaller, type NixInstallerOptions } from "../src/agent/nix/nix-installer.ts";
import { liveAutoRootsUnder } from "./support/gc-roots.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const PKGS = join(ROOT, "nix", "pkgs");
const NONCE = `${process.pid}-${Date.now()}`;

let tmp: string;
let testPkgs: string;
let cache: { url: string; publicKey: string; paths: string[] };

async function nixStore(...args: string[]): Promise<string> {
  return (await run("nix-store", args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
}
async function isValid(path: string): Promise<boolean> {
  return run("nix-store", ["--check-validity", path]).then(
    () => true,
    () => false,
  );
}

/**
 * Runs argv with exactly `env`, with an empty tmpfs over /usr (so /bin and /lib
 * too, merged /usr): only /nix/store and the working directory are left.
 */
function runWithoutUsr(
  env: Record<string, string>,
  argv: string[],
  cwd = tmp,
  input = "",
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "/usr/bin/unshare",
      ["--mount", "/bin/sh", "-c", '/usr/bin/mount -t tmpfs none /usr && exec "$@"', "sh", ...argv],
      { env, cwd, timeout: 60_000 },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c;
    });
    child.stdin.end(input);
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve({ stdout, stderr })
        : reject(new Error(`${argv.join(" ")} exited ${code}: ${stderr}`)),
    );
  });
}

function installer(stateDir: string, extra: Partial<NixInstallerOptions> = {}): NixInstaller {
  return new NixInstaller({ stateDir, packageSets: { default: testPkgs }, timeoutMs: 120_000, ...extra });
}

/** Processes whose command line contains `needle` (to check that nothing outlives an install). */
function processesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8");
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      if (cmd.includes(needle) && !/^\d+ \(.*\) Z/.test(stat)) pids.push(Number(e));
    } catch {
      // gone
    }
  }
  return pids;
}

/** A process and all its descendants (to SIGKILL an install like a node crash would). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const ppid = Number(
        readFileSync(`/proc/${e}/stat`, "utf8")
          .replace(/^.*\) /, "")
          .split(" ")[1],
      );
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      // gone
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i] as number) ?? []));
  return out;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "envicutor-nix-e2e-"));
  // The stand-in package set plus a few test derivations (hanging, slow, with setup hooks).
  testPkgs = join(tmp, "test-pkgs.nix");
  await writeFile(
    testPkgs,
    `{ }:
let
  base = import ${PKGS} { };
  sh = "\${base.busyboxStatic}/bin/sh";
  mk = name: script: derivation { inherit name; system = builtins.currentSystem; builder = sh; args = [ "-c" script ]; PATH = "\${base.busyboxStatic}/bin"; };
  withHook = name: hook: derivation {
    inherit name hook; system = builtins.currentSystem; builder = sh; PATH = "\${base.busyboxStatic}/bin";
    args = [ "-c" "mkdir -p $out/nix-support; ln -s \${base.busyboxStatic}/bin $out/bin; cp $hook $out/nix-support/setup-hook" ];
  };
in
base // {
  # Unique to this run (other users of this machine may hold python3 itself):
  # proves substitution and collection on a path nobody else can have.
  e2eMarker = mk "e2e-marker-${NONCE}" "mkdir -p $out/share; echo \${base.python3} > $out/share/python";
  hang = mk "hang" "while :; do sleep 1; done # envicutor-hang-${NONCE}";
  slow = mk "slow" "i=0; while [ $i -lt 6 ]; do sleep 1; i=$((i+1)); done; mkdir -p $out/bin; echo ok > $out/ok # envicutor-slow-${NONCE}";
  hooked = mk "hooked" "mkdir -p $out/nix-support $out/lib/site; printf 'addSite() { addToSearchPath SITEPATH \\"$1/lib/site\\"; }\\naddEnvHooks \\"$hostOffset\\" addSite\\nexport HOOKED=yes\\n' > $out/nix-support/setup-hook";
  loopingHook = mk "looping-hook" "mkdir -p $out/nix-support; echo 'while :; do :; done' > $out/nix-support/setup-hook";
  # Hostile setup hooks (files written below), with busybox's applets in bin/ so they have tools.
  hostileHook = withHook "hostile-hook" ./hostile-hook.sh;
  symlinkOutHook = withHook "symlink-out-hook" ./symlink-out-hook.sh;
  hugeEnvHook = withHook "huge-env-hook" ./huge-env-hook.sh;
}
`,
  );
  await writeHostileHooks();
  const started = Date.now();
  const { stdout } = await run(
    join(PKGS, "make-binary-cache.sh"),
    ["-f", testPkgs, join(tmp, "binary-cache"), "python3", "e2eMarker", "gcc", "nodejs", "coreutils", "bash"],
    { maxBuffer: 64 * 1024 * 1024, timeout: 300_000 },
  );
  cache = JSON.parse(stdout.trim().split("\n").pop() as string);
  process.stderr.write(
    `[nix-e2e] package set built and copied to ${cache.url} in ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
  );
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Where a hook that escaped the sandbox would leave its mark on this machine. */
const escapeMarks = () => [
  `/tmp/pwned-${NONCE}`,
  `/root/pwned-${NONCE}`,
  join(tmp, "node-b", `pwned-${NONCE}`),
  join(tmp, `pwned-${NONCE}`),
];

/**
 * Setup hooks a hostile package could ship. Each attempt is recorded in an
 * exported HOSTILE_* variable (what the hook saw from inside); the test then
 * looks at the host (what really happened).
 */
async function writeHostileHooks(): Promise<void> {
  const [tmpMark, rootMark, stateMark, tmpDirMark] = escapeMarks();
  await writeFile(
    join(tmp, "hostile-hook.sh"),
    `# sourced by the envicutor-env builder: $@ are the Runtime's store paths
first=$1
attempt() { local name=$1; shift; if "$@" 2>/dev/null; then export "HOSTILE_$name=done"; else export "HOSTILE_$name=refused"; fi; }
attempt TMP touch ${tmpMark}
attempt ROOT sh -c 'echo pwned > ${rootMark}'
attempt STATE_DIR sh -c 'echo pwned > ${stateMark}'
attempt TEST_DIR sh -c 'echo pwned > ${tmpDirMark}'
attempt STORE sh -c 'echo pwned > "$0/pwned"' "$first"
attempt SHADOW cat /etc/shadow
attempt NETWORK sh -c 'echo | nc -w 2 127.0.0.1 22'
export HOSTILE_EUID=$EUID
export HOSTILE_ID="$(id)"
export HOSTILE_ROOT_DIR="$(ls / | tr '\n' ' ')"
# Stay a moment, with a marker on the command line, so the test can see who runs this on the host.
sh -c 'sleep 3; true' envicutor-hostile-${NONCE}
`,
  );
  // $out (as envicutorOut) made a symlink to a host secret, then exit before the builder writes it.
  await writeFile(join(tmp, "symlink-out-hook.sh"), 'ln -s /etc/shadow "$envicutorOut"\nexit 0\n');
  // An environment larger than the agent reads (2 MiB in one variable).
  await writeFile(
    join(tmp, "huge-env-hook.sh"),
    "export HUGE=\"$(head -c 2097152 /dev/zero | tr '\\0' x)\"\n",
  );
}

/** An install failure as the Worker status would show it. */
const said = (e: unknown) =>
  e instanceof Error
    ? `${(e as { reason?: string }).reason}: ${e.message}`
    : `no error (${JSON.stringify(e)})`;

/** Host uid of every process whose command line contains `needle`. */
function uidsOf(needle: string): number[] {
  return processesWith(needle).flatMap((pid) => {
    try {
      const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      return m ? [Number(m[1])] : [];
    } catch {
      return [];
    }
  });
}

describe("NixInstaller with real Nix (stand-in package set)", () => {
  let pythonHash = "";
  let pythonClosure: string[] = [];
  const nodeA = () => join(tmp, "node-a");
  const nodeB = () => join(tmp, "node-b");

  const PY = ["python3", "e2eMarker"];
  const pythonOf = (paths: string[]) => paths.find((p) => p.endsWith("-python3-debian")) as string;
  const markerOf = (paths: string[]) => paths.find((p) => p.includes("-e2e-marker-")) as string;

  it("installs python3 by substitution from the signed file:// cache; it runs from the store alone", async () => {
    const python = pythonOf(cache.paths);
    const marker = markerOf(cache.paths);
    const closure = (await nixStore("-qR", python, marker)).trim().split("\n");
    // Drop the closure from the local store so that only the cache can provide it.
    await installer(nodeA()).collect({ paths: closure });
    expect(await isValid(marker)).toBe(false);
    if (await isValid(python)) {
      process.stderr.write(
        `[nix-e2e] !!! ${python} is held by another GC root on this machine: only ${marker} proves substitution\n`,
      );
    }

    const a = installer(nodeA(), {
      substituters: [cache.url],
      trustedPublicKeys: [cache.publicKey],
      nixOptions: { "max-jobs": "0" }, // build nothing locally: substitute or fail
    });
    const r = await a.install({
      runtimeName: "python",
      generation: 1,
      uid: "uid-py",
      packages: PY,
      packageSet: "",
    });
    expect(r.storePaths).toEqual([python, marker]);
    expect(r.closure).toEqual([...closure].sort());
    expect(r.closureHash).toBe(closureHash(closure));
    expect(r.env.PATH).toBe(`${python}/bin`);
    expect(r.env.PYTHONNOUSERSITE).toBe("1");
    pythonHash = r.closureHash;
    pythonClosure = r.closure;

    const { stdout } = await runWithoutUsr(r.env, [
      "python3",
      "-c",
      "import ssl, sqlite3, sys; print(1+1, sys.prefix)",
    ]);
    expect(stdout).toBe(`2 ${python}/usr\n`);

    // One root per package, registered with Nix, under the documented path.
    const gen = join(nodeA(), "gcroots", "python", "1");
    expect(await readlink(join(gen, "0"))).toBe(python);
    expect(await readlink(join(gen, "1"))).toBe(marker);
    expect(liveAutoRootsUnder(join(nodeA(), "gcroots"))).toHaveLength(2);
    expect((await readdir(gen)).sort()).toEqual(["0", "1", "install.json"]);
  });

  it("is idempotent and lists installs after a restart (a new installer on the same state dir)", async () => {
    const again = installer(nodeA());
    const started = Date.now();
    const r = await again.install({
      runtimeName: "python",
      generation: 1,
      uid: "uid-py",
      packages: PY,
      packageSet: "",
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(r.closureHash).toBe(pythonHash);
    const listed = await again.listInstalled();
    expect(listed.map((x) => [x.runtimeName, x.generation, x.closureHash])).toEqual([
      ["python", 1, pythonHash],
    ]);
    expect(liveAutoRootsUnder(join(nodeA(), "gcroots"))).toHaveLength(2);
  });

  it("remove + gc collects the runtime's store paths; a second node then builds it locally with the same closure hash", async () => {
    const a = installer(nodeA());
    await a.remove("python");
    expect(await a.listInstalled()).toEqual([]);
    expect(existsSync(join(nodeA(), "gcroots", "python"))).toBe(false);
    await a.collect({ paths: pythonClosure });
    // The run's own path is gone; whatever of the closure survived is held by some other root,
    // or referenced by another valid path (other users of this machine's store may hold python3 or
    // glibc, rooted or not yet collected), which is why `nix-store --delete` had to keep it.
    expect(await isValid(markerOf(pythonClosure))).toBe(false);
    for (const p of pythonClosure) {
      if (!(await isValid(p))) continue;
      const roots = (await nixStore("--query", "--roots", p)).trim();
      const referrers = (await nixStore("--query", "--referrers", p))
        .split("\n")
        .filter((r) => r && r !== p && !pythonClosure.includes(r));
      expect(roots !== "" || referrers.length > 0, `${p} survived with no root and no referrer`).toBe(true);
    }

    // Signatures are checked: the same cache with a key Nix does not trust provides nothing.
    const untrusted = installer(join(tmp, "node-untrusted"), {
      substituters: [cache.url],
      trustedPublicKeys: ["someone-else-1:m6YWOxiY1DkkbLnhDwkXcPV4TZHHtQN5gaa4zI10kqM="],
      nixOptions: { "max-jobs": "0" },
    });
    await expect(
      untrusted.install({
        runtimeName: "python",
        generation: 1,
        uid: "uid-py",
        packages: PY,
        packageSet: "",
      }),
    ).rejects.toMatchObject({ reason: "BuildFailed", message: expect.stringContaining("not substitutable") });

    // Node B: no substituters at all, so Nix builds in its sandbox.
    const b = installer(nodeB(), { substituters: [] });
    const r = await b.install({
      runtimeName: "python",
      generation: 1,
      uid: "uid-py",
      packages: PY,
      packageSet: "",
    });
    expect(r.closureHash).toBe(pythonHash);
    expect(r.storePaths).toEqual([pythonOf(pythonClosure), markerOf(pythonClosure)]);
  });

  it("gcc compiles and runs C and C++, node runs JS, with only the computed environment", async () => {
    const b = installer(nodeB(), { substituters: [cache.url], trustedPublicKeys: [cache.publicKey] });
    const r = await b.install({
      runtimeName: "c",
      generation: 2,
      uid: "uid-c",
      packages: ["gcc", "nodejs", "coreutils"],
      packageSet: "",
    });
    expect(r.storePaths).toHaveLength(3);
    const work = join(tmp, "work");
    await mkdir(work, { recursive: true });
    await writeFile(
      join(work, "main.c"),
      '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);return 0;}\n',
    );
    await writeFile(
      join(work, "main.cpp"),
      '#include <iostream>\n#include <string>\nint main(){std::string s="c++";std::cout<<s<<std::endl;}\n',
    );
    await runWithoutUsr(r.env, ["gcc", "-O2", "-o", "main", "main.c"], work);
    expect((await runWithoutUsr(r.env, ["./main"], work, "40 2\n")).stdout).toBe("42\n");
    expect((await runWithoutUsr(r.env, ["sort", "-r"], work, "a\nb\n")).stdout).toBe("b\na\n");
    await runWithoutUsr(r.env, ["g++", "-O2", "-o", "maincpp", "main.cpp"], work);
    expect((await runWithoutUsr(r.env, ["./maincpp"], work)).stdout).toBe("c++\n");
    expect(
      (await runWithoutUsr(r.env, ["node", "-e", "console.log([1,2,3].map(x=>x*2).join(','))"], work)).stdout,
    ).toBe("2,4,6\n");
  });

  it("an unknown package fails with UnknownPackage and leaves nothing behind", async () => {
    const b = installer(nodeB());
    await expect(
      b.install({
        runtimeName: "nope",
        generation: 1,
        uid: "u",
        packages: ["python3", "noSuchPackage"],
        packageSet: "",
      }),
    ).rejects.toMatchObject({ reason: "UnknownPackage", message: expect.stringContaining("noSuchPackage") });
    expect(existsSync(join(nodeB(), "gcroots", "nope"))).toBe(false);
  });

  it("a hanging build fails with Timeout within the timeout, and its builder is gone", async () => {
    const b = installer(nodeB(), { timeoutMs: 4_000, killGraceMs: 2_000 });
    let sawHangBuilder = false;
    const watch = setInterval(() => {
      if (processesWith(`envicutor-hang-${NONCE}`).length) sawHangBuilder = true;
    }, 200);
    const started = Date.now();
    await expect(
      b.install({ runtimeName: "hang", generation: 1, uid: "u", packages: ["hang"], packageSet: "" }),
    ).rejects.toMatchObject({ reason: "Timeout" });
    clearInterval(watch);
    expect(Date.now() - started).toBeLessThan(4_000 + 2_000 + 3_000);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(processesWith(`envicutor-hang-${NONCE}`)).toEqual([]);
    expect(sawHangBuilder).toBe(true);
    expect(existsSync(join(nodeB(), "gcroots", "hang"))).toBe(false);
  });

  it("setup hooks run in Nix's build sandbox: exported variables are kept, the result is a rooted store file", async () => {
    const b = installer(nodeB(), { hookTimeoutMs: 5_000 });
    const r = await b.install({
      runtimeName: "hooked",
      generation: 1,
      uid: "u",
      packages: ["python3", "hooked"],
      packageSet: "",
    });
    const [python, hooked] = r.storePaths as [string, string];
    expect(r.env.HOOKED).toBe("yes");
    expect(r.env.SITEPATH).toBe(`${hooked}/lib/site`);
    // The same semantics as before the sandbox: PATH order, envicutor-env values, nothing of Nix's.
    expect(r.env.PATH).toBe(`${python}/bin`);
    expect(r.env.PYTHONNOUSERSITE).toBe("1");
    expect(Object.keys(r.env).sort()).toEqual(
      ["HOOKED", "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE", "SITEPATH"].sort(),
    );
    // The environment file is a store path, rooted with the generation (and collected with it).
    const gen = join(nodeB(), "gcroots", "hooked", "1");
    expect(r.envPath).toMatch(/^\/nix\/store\/[a-z0-9]{32}-envicutor-env$/);
    expect(await readlink(join(gen, "env"))).toBe(r.envPath);
    expect((await readdir(gen)).sort()).toEqual(["0", "1", "env", "install.json"]);
    expect(liveAutoRootsUnder(join(nodeB(), "gcroots", "hooked"))).toHaveLength(3);
    console.log(`[nix-e2e] hooks computed in the sandbox: ${r.envPath} -> ${JSON.stringify(r.env)}`);
    await b.remove("hooked");
    await b.collect({ paths: [r.envPath as string] });
    expect(await isValid(r.envPath as string)).toBe(false);
  });

  it("a setup hook that loops is stopped by Nix's build timeout and fails the install with Timeout", async () => {
    const b = installer(nodeB(), { hookTimeoutMs: 1_500 });
    const started = Date.now();
    const err = await b
      .install({ runtimeName: "looping", generation: 1, uid: "u", packages: ["loopingHook"], packageSet: "" })
      .catch((e: unknown) => e);
    const seconds = (Date.now() - started) / 1000;
    console.log(`[nix-e2e] hostile: hook 'while :; do :; done' -> ${said(err)} after ${seconds}s`);
    expect(err).toMatchObject({
      reason: "Timeout",
      message: expect.stringContaining("setup hook did not finish within 2s"),
    });
    expect(seconds).toBeLessThan(20);
    expect(existsSync(join(nodeB(), "gcroots", "looping"))).toBe(false);
    expect(processesWith("-looping-hook"), "the hook's builder outlived the install").toEqual([]);
  });

  it("a hostile setup hook cannot write to the host and does not run as root", async () => {
    const b = installer(nodeB(), { hookTimeoutMs: 20_000 });
    const seen = new Set<number>();
    const watch = setInterval(() => {
      for (const uid of uidsOf(`envicutor-hostile-${NONCE}`)) seen.add(uid);
    }, 100);
    const r = await b
      .install({ runtimeName: "hostile", generation: 1, uid: "u", packages: ["hostileHook"], packageSet: "" })
      .finally(() => clearInterval(watch));
    const inside = Object.fromEntries(Object.entries(r.env).filter(([k]) => k.startsWith("HOSTILE_")));
    const marks = Object.fromEntries(escapeMarks().map((m) => [m, existsSync(m)]));
    const nixbld = (await run("getent", ["group", "nixbld"])).stdout.trim().split(":")[3]?.split(",") ?? [];
    const nixbldUids = await Promise.all(
      nixbld.map(async (u) => Number((await run("id", ["-u", u])).stdout.trim())),
    );
    console.log(
      `[nix-e2e] hostile: hook tried to write /tmp, /root, the agent's state dir, this test's dir and its own store path, read /etc/shadow, connect to 127.0.0.1:22\n` +
        `  inside the sandbox it saw: ${JSON.stringify(inside)}\n` +
        `  on the host: marks present ${JSON.stringify(marks)}; host uids running the hook ${JSON.stringify([...seen])} (nixbld uids ${nixbldUids.join(",")})`,
    );
    for (const [mark, present] of Object.entries(marks)) expect(present, mark).toBe(false);
    expect(inside.HOSTILE_ROOT).toBe("refused");
    expect(inside.HOSTILE_STATE_DIR).toBe("refused");
    expect(inside.HOSTILE_TEST_DIR).toBe("refused");
    expect(inside.HOSTILE_STORE).toBe("refused");
    expect(inside.HOSTILE_SHADOW).toBe("refused");
    expect(inside.HOSTILE_NETWORK).toBe("refused");
    expect(existsSync(join(r.storePaths[0] as string, "pwned"))).toBe(false);
    expect(inside.HOSTILE_EUID).not.toBe("0");
    expect(seen.size).toBeGreaterThan(0);
    for (const uid of seen) {
      expect(uid).not.toBe(0);
      expect(nixbldUids).toContain(uid);
    }
    await b.remove("hostile");
  });

  it("a hook that turns its output into a symlink to /etc/shadow, or leaves 2 MiB of environment, is refused", async () => {
    const b = installer(nodeB());
    const symlinked = await b
      .install({
        runtimeName: "symlink-out",
        generation: 1,
        uid: "u",
        packages: ["symlinkOutHook"],
        packageSet: "",
      })
      .catch((e: unknown) => e as Error);
    console.log(`[nix-e2e] hostile: hook 'ln -s /etc/shadow $out' -> ${said(symlinked)}`);
    expect(symlinked).toMatchObject({
      reason: "NixError",
      message: expect.stringContaining("outside the store"),
    });
    expect(String((symlinked as Error).message)).not.toMatch(/root:/);
    const huge = await b
      .install({
        runtimeName: "huge-env",
        generation: 1,
        uid: "u",
        packages: ["hugeEnvHook"],
        packageSet: "",
      })
      .catch((e: unknown) => e as Error);
    console.log(`[nix-e2e] hostile: hook exporting 2 MiB -> ${said(huge)}`);
    expect(huge).toMatchObject({
      reason: "NixError",
      message: expect.stringContaining("more than the 1048576"),
    });
    expect(existsSync(join(nodeB(), "gcroots", "symlink-out"))).toBe(false);
    expect(existsSync(join(nodeB(), "gcroots", "huge-env"))).toBe(false);
  });

  it("a package set the platform did not configure is refused before Nix runs: UnknownPackageSet", async () => {
    const b = installer(nodeB(), { packageSets: { default: testPkgs, "stand-in": PKGS } });
    for (const hostile of [
      join(tmp, "test-pkgs.nix"),
      "https://evil.example/pkgs.tar.gz",
      "<nixpkgs>",
      "nope",
    ]) {
      const err = await b
        .install({
          runtimeName: "elsewhere",
          generation: 1,
          uid: "u",
          packages: ["python3"],
          packageSet: hostile,
        })
        .catch((e: unknown) => e);
      console.log(`[nix-e2e] hostile: packageSet ${JSON.stringify(hostile)} -> ${said(err)}`);
      expect(err).toMatchObject({
        reason: "UnknownPackageSet",
        message: expect.stringContaining("(known: default, stand-in)"),
      });
    }
    // A configured name other than default works (nix/pkgs itself: NOT nixpkgs).
    const r = await b.install({
      runtimeName: "elsewhere",
      generation: 1,
      uid: "u",
      packages: ["coreutils"],
      packageSet: "stand-in",
    });
    expect(r).toMatchObject({ packageSet: PKGS, packageSetName: "stand-in" });
    await b.remove("elsewhere");
  });

  it("package sets at a <channel> and at an http URL (a tarball) install and run hooks like a path", async () => {
    // The tarball: a directory whose default.nix is this run's test set; served once, at a unique URL.
    const setDir = join(tmp, `tarball-${NONCE}`);
    await mkdir(setDir, { recursive: true });
    await writeFile(join(setDir, "default.nix"), `import ${testPkgs}\n`);
    await run("tar", ["-czf", join(tmp, "set.tar.gz"), "-C", tmp, `tarball-${NONCE}`]);
    const tarball = readFileSync(join(tmp, "set.tar.gz"));
    const server = createServer((_req, res) => res.end(tarball));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/set-${NONCE}.tar.gz`;
    const savedNixPath = process.env.NIX_PATH;
    process.env.NIX_PATH = `envicutor-test-pkgs=${testPkgs}`;
    try {
      const b = installer(nodeB(), { packageSets: { channel: "<envicutor-test-pkgs>", tarball: url } });
      for (const packageSet of ["channel", "tarball"]) {
        const r = await b.install({
          runtimeName: `via-${packageSet}`,
          generation: 1,
          uid: "u",
          packages: ["hooked"],
          packageSet,
        });
        console.log(
          `[nix-e2e] package set ${packageSet} (${r.packageSet}) -> ${r.storePaths[0]}, HOOKED=${r.env.HOOKED}`,
        );
        expect(r.env.HOOKED).toBe("yes");
        expect(r.envPath).toBeDefined();
        await b.remove(`via-${packageSet}`);
      }
    } finally {
      if (savedNixPath === undefined) delete process.env.NIX_PATH;
      else process.env.NIX_PATH = savedNixPath;
      server.close();
    }
  });

  it("every nix-build runs with the sandbox forced on, no unsandboxed fallback, and build users", async () => {
    const args = installer(nodeB()).nixOptionArgs();
    const { stdout } = await run("nix", ["show-config", ...args]);
    const conf = Object.fromEntries(
      stdout
        .split("\n")
        .map((l) => /^(\S+) = (.*)$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1], m[2]]),
    );
    const machine = (await run("nix", ["show-config"])).stdout;
    console.log(
      `[nix-e2e] installer: sandbox = ${conf.sandbox}, sandbox-fallback = ${conf["sandbox-fallback"]}, build-users-group = ${conf["build-users-group"]}; machine's own nix.conf: ${/^sandbox = .*$/m.exec(machine)?.[0]}`,
    );
    expect(conf).toMatchObject({
      sandbox: "true",
      "sandbox-fallback": "false",
      "build-users-group": "nixbld",
    });
    expect(machine).toMatch(/^sandbox = true$/m);
  });

  it("an install killed mid-way (SIGKILL) is redone exactly once on the next attempt", async () => {
    const stateDir = join(tmp, "node-crash");
    const rtDir = join(stateDir, "gcroots", "slow");
    const script = `
      import { NixInstaller } from ${JSON.stringify(join(ROOT, "src/agent/nix/nix-installer.ts"))};
      const i = new NixInstaller({ stateDir: ${JSON.stringify(stateDir)}, packageSets: { default: ${JSON.stringify(testPkgs)} } });
      await i.install({ runtimeName: "slow", generation: 1, uid: "u", packages: ["slow"], packageSet: "" });
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "ignore" });
    // Wait until nix-build is running (the partial directory exists and the builder sleeps).
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && processesWith(`envicutor-slow-${NONCE}`).length < 1) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const building = processesWith(`envicutor-slow-${NONCE}`);
    expect(building.length).toBeGreaterThan(0);
    expect(descendants(child.pid as number)).toEqual(expect.arrayContaining(building));
    const partials = (await readdir(rtDir)).filter((e) => e.startsWith(".g1-"));
    expect(partials).toHaveLength(1);
    for (const pid of descendants(child.pid as number).reverse()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await new Promise((r) =>
      child.exitCode !== null || child.signalCode !== null ? r(null) : child.once("exit", r),
    );
    expect(existsSync(join(rtDir, "1"))).toBe(false);

    const i = installer(stateDir);
    expect(await i.listInstalled()).toEqual([]);
    const r = await i.install({
      runtimeName: "slow",
      generation: 1,
      uid: "u",
      packages: ["slow"],
      packageSet: "",
    });
    expect(readFileSync(join(r.storePaths[0] as string, "ok"), "utf8")).toBe("ok\n");
    const entries = (await readdir(rtDir)).sort();
    expect(entries.filter((e) => e.startsWith(".g1-"))).toHaveLength(1);
    expect(entries.filter((e) => !e.startsWith(".g"))).toEqual(["1"]);
    expect(entries).not.toContain(partials[0]);
    expect((await readdir(join(rtDir, "1"))).sort()).toEqual(["0", "install.json"]);
    expect(liveAutoRootsUnder(stateDir)).toHaveLength(1);
    expect((await i.listInstalled()).map((x) => x.runtimeName)).toEqual(["slow"]);
    await i.remove("slow");
    await i.collect({ paths: r.storePaths });
    expect(await isValid(r.storePaths[0] as string)).toBe(false);
  });

  afterAll(async () => {
    // Leave the shared store as we found it: drop our roots, collect what only we held.
    for (const dir of [nodeA(), nodeB()]) {
      const i = installer(dir);
      const all = await i.listInstalled();
      for (const x of all) await i.remove(x.runtimeName);
      await i.collect({ paths: all.flatMap((x) => x.storePaths) });
    }
  });
});
