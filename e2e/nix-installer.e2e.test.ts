// The agent's Nix installer against REAL Nix (nix-build, nix-store, the build
// sandbox, a signed file:// binary cache). It needs no Kubernetes: it lives in
// the e2e project only because it is slow.
//
// The packages come from nix/pkgs, a small STAND-IN FOR NIXPKGS that
// repackages this Debian machine's python3, gcc, node, bash and coreutils (the
// network reaches no Nix cache and no nixpkgs; see nix/README.md). The Nix
// commands are the production ones. The machine's /nix/store is shared by the
// two "nodes" below (two state directories) and by other users, so garbage is
// collected only among this test's own store paths.
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closureHash } from "../src/agent/nix/closure.ts";
import { NixInstaller, type NixInstallerOptions } from "../src/agent/nix/nix-installer.ts";

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
  return new NixInstaller({ stateDir, packageSet: testPkgs, timeoutMs: 120_000, ...extra });
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

/** Indirect GC roots Nix knows (gcroots/auto) that point under `dir` and still exist. */
function liveAutoRootsUnder(dir: string): string[] {
  const auto = "/nix/var/nix/gcroots/auto";
  return readdirSync(auto)
    .map((e) => {
      try {
        return readlinkSync(join(auto, e));
      } catch {
        return "";
      }
    })
    .filter((t) => t.startsWith(`${dir}/`) && existsSync(t));
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
in
base // {
  # Unique to this run (other users of this machine may hold python3 itself):
  # proves substitution and collection on a path nobody else can have.
  e2eMarker = mk "e2e-marker-${NONCE}" "mkdir -p $out/share; echo \${base.python3} > $out/share/python";
  hang = mk "hang" "while :; do sleep 1; done # envicutor-hang-${NONCE}";
  slow = mk "slow" "i=0; while [ $i -lt 6 ]; do sleep 1; i=$((i+1)); done; mkdir -p $out/bin; echo ok > $out/ok # envicutor-slow-${NONCE}";
  hooked = mk "hooked" "mkdir -p $out/nix-support $out/lib/site; printf 'addSite() { addToSearchPath SITEPATH \\"$1/lib/site\\"; }\\naddEnvHooks \\"$hostOffset\\" addSite\\nexport HOOKED=yes\\n' > $out/nix-support/setup-hook";
  loopingHook = mk "looping-hook" "mkdir -p $out/nix-support; echo 'while :; do :; done' > $out/nix-support/setup-hook";
}
`,
  );
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

  it("setup hooks: exported variables are kept; a looping hook times out", async () => {
    const b = installer(nodeB(), { hookTimeoutMs: 1_500 });
    const r = await b.install({
      runtimeName: "hooked",
      generation: 1,
      uid: "u",
      packages: ["hooked"],
      packageSet: "",
    });
    expect(r.env.HOOKED).toBe("yes");
    expect(r.env.SITEPATH).toBe(`${r.storePaths[0]}/lib/site`);
    await expect(
      b.install({
        runtimeName: "looping",
        generation: 1,
        uid: "u",
        packages: ["loopingHook"],
        packageSet: "",
      }),
    ).rejects.toMatchObject({ reason: "Timeout" });
    await b.remove("hooked");
  });

  it("an install killed mid-way (SIGKILL) is redone exactly once on the next attempt", async () => {
    const stateDir = join(tmp, "node-crash");
    const rtDir = join(stateDir, "gcroots", "slow");
    const script = `
      import { NixInstaller } from ${JSON.stringify(join(ROOT, "src/agent/nix/nix-installer.ts"))};
      const i = new NixInstaller({ stateDir: ${JSON.stringify(stateDir)}, packageSet: ${JSON.stringify(testPkgs)} });
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
