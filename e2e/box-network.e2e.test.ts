// Networked boxes against REAL isolate (issue 14): a Runtime with
// allowNetwork runs in a network namespace of its own per box, whose egress
// reaches public addresses only. The "internet" here is test hosts of this
// file's own (e2e/support/test-net-hosts.ts): network namespaces on TEST-NET
// addresses, a metadata host at 169.254.169.254 and a cluster host at a
// private address. No traffic goes anywhere but those namespaces and loopback.
// Each case prints what it tried and what it saw.
//
// Box ids 360..361 (isolate 1.x, --cg on cgroup v1) and 370..371 (isolate 2.x
// from /opt/isolate-2) belong to this file alone.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ExecutionRuntime,
  type ExecutorContext,
  runExecution,
} from "../src/agent/executor/run-execution.ts";
import { boxLinkAddresses, DEFAULT_BOX_CIDR } from "../src/agent/network/network-config.ts";
import type { Sandbox } from "../src/agent/sandbox/setup.ts";
import type { StageLimits } from "../src/api/common.ts";
import type { ExecutionSpec } from "../src/api/execution.ts";
import { ISOLATE_1, ISOLATE_2, isolateInstalls, TIME_SCALE } from "./support/isolate-installs.ts";
import {
  type Boxes,
  executionSpec,
  executorOn,
  HOST_DIRS,
  hostRuntime,
  PATH_ENV,
  pythonRun,
  runContext,
  setUpBoxes,
  withRun as withRunOf,
} from "./support/sandbox-fixture.ts";
import {
  CLUSTER_IP,
  METADATA_IP,
  OTHER_RESOLVER_IP,
  PUBLIC_IP,
  PUBLIC_NAME,
  RESOLVER_IP,
  startTestNet,
  type TestNet,
} from "./support/test-net-hosts.ts";

const logger = pino({ level: "error" });

const { isolate1: isolateOk, isolate2: isolate2Ok } = isolateInstalls("networked-box tests");
const nftOk = spawnSync("nft", ["--version"]).status === 0;
if ((isolateOk || isolate2Ok) && !nftOk)
  console.warn("!!! nft not found (Debian nftables): networked-box tests SKIPPED");

const RUN: StageLimits = {
  cpuTimeMillis: 5000 * TIME_SCALE,
  wallTimeMillis: 20_000 * TIME_SCALE,
  memoryKiB: 256 * 1024,
  processes: 16,
  openFiles: 64,
  fileSizeKiB: 1024,
  outputBytes: 1024 * 1024,
  networkConnections: 16,
  networkKiB: 16 * 1024,
  networkKiBPerSecond: 10 * 1024,
};
const NET_PY = pythonRun({ compile: RUN, run: RUN }, true);
const withRun = (run: Partial<StageLimits>) => withRunOf(NET_PY, run);
const spec = (source: string, extra: Partial<ExecutionSpec> = {}) =>
  executionSpec(source, extra, { file: "main.py" });

/** Tries each [host, port] from stdin (JSON) with TCP and an HTTP GET; prints one JSON line per target. */
const PROBE = `
import json, socket, sys, time
def probe(host, port):
    t = time.time()
    try:
        s = socket.create_connection((host, port), timeout=8)
        s.sendall(b'GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n')
        data = s.recv(200).decode(errors='replace')
        s.close()
        return {'to': f'{host}:{port}', 'ok': True, 'said': data.splitlines()[-1] if data else '', 's': round(time.time() - t, 2)}
    except OSError as e:
        return {'to': f'{host}:{port}', 'ok': False, 'error': type(e).__name__, 's': round(time.time() - t, 2)}
for host, port in json.loads(sys.stdin.read()):
    print(json.dumps(probe(host, port)))
`;
type Probe = { to: string; ok: boolean; said?: string; error?: string; s: number };
const probes = (stdout: string | undefined): Probe[] =>
  (stdout ?? "")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Probe);

const boxNetState = () => ({
  netns: execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.startsWith("envicutor-box")),
  links: execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => /: envbox\d+/.test(l)),
  tables: execFileSync("nft", ["list", "tables"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes("envicutor_")),
});

function networkCases(o: Boxes) {
  describe(o.name, () => {
    let tmp: string;
    let sandbox: Sandbox;
    let ctx: ExecutorContext;
    let nodeServer: Server;
    let nodePort = 0;
    let accepted = 0;
    const run = (s: ExecutionSpec, runtime: ExecutionRuntime) =>
      runExecution(ctx, { spec: s, runtime, runtimeEnv: PATH_ENV, mounts: HOST_DIRS });
    const setUp = (enabled: boolean) =>
      setUpBoxes(o, join(tmp, "state"), {
        network: {
          enabled,
          boxCidr: DEFAULT_BOX_CIDR,
          egressCidrs: [],
          blockedCidrs: ["10.96.0.0/12"],
          resolver: RESOLVER_IP,
        },
        logger,
      });

    beforeAll(async () => {
      tmp = mkdtempSync(join(tmpdir(), "box-network-e2e-"));
      // A service of the node, on every address of it (loopback, its own interfaces, the box links).
      nodeServer = createServer((sock) => {
        accepted++;
        sock.end("HTTP/1.0 200 OK\r\n\r\nnode service\n");
      });
      await new Promise<void>((r) => nodeServer.listen(0, "0.0.0.0", r));
      nodePort = (nodeServer.address() as { port: number }).port;
      sandbox = await setUp(true);
      ctx = runContext(sandbox, logger);
      console.log(`[network ${o.name}] protections: ${sandbox.protections.join(" ")}`);
    });

    afterAll(async () => {
      await sandbox?.settings.network?.tearDown();
      nodeServer?.close();
      const left = boxNetState();
      console.log(`[network ${o.name}] after tear-down: ${JSON.stringify(left)}`);
      expect(left).toEqual({ netns: [], links: [], tables: [] });
      rmSync(tmp, { recursive: true, force: true });
    });

    it("reaches the public host by name and by address", async () => {
      const src = `${PROBE}\nprint(json.dumps({'resolved': socket.gethostbyname('${PUBLIC_NAME}')}))`;
      const r = await run(
        spec(src, {
          stdin: JSON.stringify([
            [PUBLIC_NAME, 80],
            [PUBLIC_IP, 80],
          ]),
        }),
        NET_PY,
      );
      const out = r.tests[0]?.stdout ?? "";
      console.log(`[network ${o.name}] tried: HTTP to ${PUBLIC_NAME} and ${PUBLIC_IP}\n  saw: ${out.trim()}`);
      expect(r.verdict, r.tests[0]?.stderr).toBe("Accepted");
      const [byName, byAddress] = probes(out);
      expect(byName).toMatchObject({ ok: true, said: `hello from ${PUBLIC_IP}` });
      expect(byAddress).toMatchObject({ ok: true, said: `hello from ${PUBLIC_IP}` });
      expect(out).toContain(`"resolved": "${PUBLIC_IP}"`);
    });

    it("never reaches the node, metadata, the cluster, other boxes or private ranges, and fails fast", async () => {
      const self = boxLinkAddresses(DEFAULT_BOX_CIDR, o.ids[0]!);
      const other = boxLinkAddresses(DEFAULT_BOX_CIDR, o.ids[1]!);
      const nodeAddrs = execFileSync("hostname", ["-I"], { encoding: "utf8" }).trim().split(/\s+/);
      // The other box listens while this one tries to reach it.
      const listener = run(
        spec(
          "import socket, time\ns = socket.socket(); s.bind(('0.0.0.0', 8080)); s.listen(); s.settimeout(6)\ntry:\n    s.accept(); print('accepted')\nexcept OSError:\n    print('nobody came')",
        ),
        NET_PY,
      );
      await new Promise((r) => setTimeout(r, 500));
      const targets = [
        [METADATA_IP, 80],
        [CLUSTER_IP, 80],
        ["127.0.0.1", nodePort],
        [self.host, nodePort],
        ...nodeAddrs.map((a) => [a, nodePort]),
        [other.box, 8080],
        ["192.168.1.1", 80],
        ["172.16.0.1", 80],
        ["100.64.0.1", 80],
        ["2001:db8::1", 80],
        ["metadata.test", 80],
      ];
      const before = accepted;
      const r = await run(spec(PROBE, { stdin: JSON.stringify(targets) }), NET_PY);
      const seen = probes(r.tests[0]?.stdout);
      const other_ = await listener;
      console.log(
        `[network ${o.name}] tried: ${targets.map((t) => t.join(":")).join(", ")}\n  saw: ${seen.map((p) => `${p.to} ${p.ok ? "REACHED" : p.error} ${p.s}s`).join("; ")}\n  the other box: ${other_.tests[0]?.stdout?.trim()}`,
      );
      expect(seen).toHaveLength(targets.length);
      for (const p of seen) {
        expect(p.ok, `${p.to} must not be reachable`).toBe(false);
        expect(p.s, `${p.to} must fail fast`).toBeLessThan(3);
      }
      expect(accepted).toBe(before);
      expect(other_.tests[0]?.stdout?.trim()).toBe("nobody came");
    });

    it("DNS only through the platform's resolver; nothing connects into a box", async () => {
      const self = boxLinkAddresses(DEFAULT_BOX_CIDR, o.ids[0]!);
      const src = [
        "import socket, time",
        "q = b'\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x06public\\x04test\\x00\\x00\\x01\\x00\\x01'",
        `for server in ['${RESOLVER_IP}', '${OTHER_RESOLVER_IP}']:`,
        "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); t = time.time()",
        "    try:",
        "        s.connect((server, 53)); s.send(q); a = s.recv(512); print(server, 'answered', len(a), round(time.time() - t, 2))",
        "    except OSError as e:",
        "        print(server, 'failed', type(e).__name__, round(time.time() - t, 2))",
        "l = socket.socket(); l.bind(('0.0.0.0', 8081)); l.listen(); l.settimeout(4)",
        "try:",
        "    l.accept(); print('inbound accepted')",
        "except OSError:",
        "    print('no inbound connection')",
      ].join("\n");
      const running = run(spec(src), NET_PY);
      await new Promise((r) => setTimeout(r, 1500));
      const inbound = spawnSync("python3", [
        "-c",
        `import socket\ntry:\n    socket.create_connection(('${self.box}', 8081), timeout=2); print('connected')\nexcept OSError as e:\n    print(type(e).__name__)`,
      ]);
      const r = await running;
      const out = r.tests[0]?.stdout?.trim() ?? "";
      console.log(
        `[network ${o.name}] tried: DNS to ${RESOLVER_IP} and ${OTHER_RESOLVER_IP}; the node connecting to the box\n  saw: ${out.replace(/\n/g, "; ")}; node side: ${inbound.stdout.toString().trim()}`,
      );
      expect(out).toMatch(new RegExp(`${RESOLVER_IP.replace(/\./g, "\\.")} answered`));
      expect(out).toMatch(new RegExp(`${OTHER_RESOLVER_IP.replace(/\./g, "\\.")} failed`));
      expect(out).toMatch(/no inbound connection/);
      expect(inbound.stdout.toString()).not.toMatch(/connected/);
    });

    it("connection count and byte cap: over them, refused or dropped, and the result says so", async () => {
      const conns = [
        "import socket",
        "held, refused = [], 0",
        "for i in range(10):",
        "    try:",
        `        held.append(socket.create_connection(('${PUBLIC_IP}', 80), timeout=3))`,
        "    except OSError:",
        "        refused += 1",
        "print('held', len(held), 'refused', refused)",
      ].join("\n");
      const c = await run(spec(conns), withRun({ networkConnections: 4 }));
      const bytes = [
        "import socket",
        `s = socket.create_connection(('${PUBLIC_IP}', 80), timeout=3)`,
        "s.sendall(b'GET /bytes/4194304 HTTP/1.0\\r\\n\\r\\n')",
        "got = 0",
        "try:",
        "    while True:",
        "        d = s.recv(65536)",
        "        if not d: break",
        "        got += len(d)",
        "except OSError as e:",
        "    print('stalled:', type(e).__name__)",
        "print('received', got)",
      ].join("\n");
      const b = await run(spec(bytes), withRun({ networkKiB: 512 }));
      console.log(
        `[network ${o.name}] tried: 10 connections with networkConnections 4; a 4 MiB download with networkKiB 512\n  saw: ${c.tests[0]?.stdout?.trim()} (${c.tests[0]?.message}); ${b.tests[0]?.stdout?.trim().replace(/\n/g, "; ")} (${b.tests[0]?.message})`,
      );
      expect(c.tests[0]?.stdout?.trim()).toBe("held 4 refused 6");
      expect(c.tests[0]?.message).toMatch(/\d+ connection attempt\(s\) refused over the limit of 4/);
      const received = Number(/received (\d+)/.exec(b.tests[0]?.stdout ?? "")?.[1]);
      expect(received).toBeLessThan(512 * 1024);
      expect(b.tests[0]?.message).toMatch(/network byte cap of 524288 bytes was reached/);
    });

    it("bandwidth is capped per box", async () => {
      const src = [
        "import socket, time",
        `s = socket.create_connection(('${PUBLIC_IP}', 80), timeout=10)`,
        "t = time.time(); s.sendall(b'GET /bytes/2097152 HTTP/1.0\\r\\n\\r\\n'); got = 0",
        "while True:",
        "    d = s.recv(65536)",
        "    if not d: break",
        "    got += len(d)",
        "print(got, round(time.time() - t, 2))",
      ].join("\n");
      const r = await run(spec(src), withRun({ networkKiBPerSecond: 512, networkKiB: 8 * 1024 }));
      const [got, seconds] = (r.tests[0]?.stdout ?? "0 0").trim().split(" ").map(Number);
      console.log(
        `[network ${o.name}] tried: 2 MiB at networkKiBPerSecond 512\n  saw: ${got} bytes in ${seconds} s`,
      );
      expect(got).toBeGreaterThanOrEqual(2 * 1024 * 1024);
      expect(seconds).toBeGreaterThan(2);
    });

    it("where the platform turned networking off, a networked Runtime fails with NetworkDisabled", async () => {
      const off = await setUpBoxes({ ...o, ids: [o.ids[0]! + 2] }, join(tmp, "off"), { logger });
      const executor = executorOn(off, logger, {
        mounts: HOST_DIRS,
        outputCapBytes: 1024,
        ...(off.networkUnavailable ? { networkUnavailable: off.networkUnavailable } : {}),
      });
      const rt = hostRuntime(NET_PY.limits, PATH_ENV, { allowNetwork: true, runCommand: ["python3"] });
      const err = await executor
        .run(spec("print(1)"), rt)
        .catch((e: unknown) => e as Error & { reason?: string });
      console.log(
        `[network ${o.name}] tried: a networked Runtime with networking off\n  saw: ${String(err)}`,
      );
      expect((err as { reason?: string }).reason).toBe("NetworkDisabled");
      expect(String(err)).toMatch(/turned networked Runtimes off/);
      expect(off.protections).toContain("network:none");
    });

    it("a restarted agent finds what a crashed one left and starts clean", async () => {
      // No tear-down, as after a SIGKILL: the next set-up removes the namespaces, links and tables first.
      const again = await setUp(true);
      expect(again?.settings.network).toBeDefined();
      const state = boxNetState();
      const mine = state.netns.filter((n) => o.ids.some((id) => n.startsWith(`envicutor-box${id}`)));
      console.log(
        `[network ${o.name}] tried: set-up twice without tear-down\n  saw: ${mine.length} namespaces for ${o.ids.length} boxes`,
      );
      expect(mine).toHaveLength(o.ids.length);
      sandbox = again;
      ctx = runContext(again, logger);
      const r = await run(spec(PROBE, { stdin: JSON.stringify([[PUBLIC_IP, 80]]) }), NET_PY);
      expect(probes(r.tests[0]?.stdout)[0]?.ok).toBe(true);
    });
  });
}

describe.skipIf((!isolateOk && !isolate2Ok) || !nftOk)("networked boxes", () => {
  let net: TestNet;
  let forward: string;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "test-net-"));
    forward = readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8");
    net = await startTestNet(dir);
  });
  afterAll(() => {
    net?.stop();
    if (forward) writeFileSync("/proc/sys/net/ipv4/ip_forward", forward);
    rmSync(dir, { recursive: true, force: true });
  });

  describe.skipIf(!isolateOk)("isolate 1.x", () => {
    networkCases({ ...ISOLATE_1, ids: [360, 361] });
  });
  describe.skipIf(!isolate2Ok)("isolate 2.x", () => {
    networkCases({ ...ISOLATE_2, ids: [370, 371] });
  });
});
