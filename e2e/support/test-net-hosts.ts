// Test hosts of the project's own for the networked-box tests: network
// namespaces made here, joined to the machine by veth pairs on TEST-NET-3
// (203.0.113.0/24) links, each with the addresses it plays:
//   envt-pub   198.51.100.10 (HTTP "public" host, public.test), 198.51.100.53 (the
//              platform's resolver), 198.51.100.54 (another resolver, never allowed)
//   envt-meta  169.254.169.254 (a cloud metadata service)
//   envt-clu   10.96.0.10 (a cluster address)
// Only these namespaces and loopback ever see traffic: each address is routed
// to its namespace by a host route, and the hosts have no route out.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export const PUBLIC_IP = "198.51.100.10";
export const RESOLVER_IP = "198.51.100.53";
export const OTHER_RESOLVER_IP = "198.51.100.54";
export const METADATA_IP = "169.254.169.254";
export const CLUSTER_IP = "10.96.0.10";
export const PUBLIC_NAME = "public.test";

interface Host {
  ns: string;
  link: number; // n-th /30 of 203.0.113.0/24
  addresses: string[];
}
const HOSTS: Host[] = [
  { ns: "envt-pub", link: 0, addresses: [PUBLIC_IP, RESOLVER_IP, OTHER_RESOLVER_IP] },
  { ns: "envt-meta", link: 1, addresses: [METADATA_IP] },
  { ns: "envt-clu", link: 2, addresses: [CLUSTER_IP] },
];
const linkIp = (link: number, n: 1 | 2) => `203.0.113.${link * 4 + n}`;
const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });

/** A server for every test host: HTTP on :80 (GET /bytes/N sends N bytes), DNS on :53 (A records). */
const SERVER = `
import http from "node:http";
import dgram from "node:dgram";
const [addresses, names] = [JSON.parse(process.argv[2]), JSON.parse(process.argv[3])];
for (const a of addresses) {
  http.createServer((req, res) => {
    const m = /^\\/bytes\\/(\\d+)$/.exec(req.url ?? "");
    if (m) { res.writeHead(200); res.end(Buffer.alloc(Number(m[1]), 120)); return; }
    res.writeHead(200, { "content-type": "text/plain" }); res.end("hello from " + a + "\\n");
  }).listen(80, a);
  const udp = dgram.createSocket("udp4");
  udp.on("message", (q, rinfo) => {
    let i = 12, labels = [];
    while (q[i]) { labels.push(q.subarray(i + 1, i + 1 + q[i]).toString()); i += q[i] + 1; }
    const qEnd = i + 5, name = labels.join("."), addr = names[name];
    const head = Buffer.from(q.subarray(0, 12));
    head.writeUInt16BE(addr ? 0x8180 : 0x8183, 2); head.writeUInt16BE(1, 4); head.writeUInt16BE(addr ? 1 : 0, 6);
    head.writeUInt32BE(0, 8);
    const answer = addr ? Buffer.concat([Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]), Buffer.from(addr.split(".").map(Number))]) : Buffer.alloc(0);
    udp.send(Buffer.concat([head, q.subarray(12, qEnd), answer]), rinfo.port, rinfo.address);
  });
  udp.bind(53, a);
}
`;

export interface TestNet {
  stop(): void;
}

/** Makes the test hosts and starts their servers; stop() removes every namespace, link and route. */
export async function startTestNet(dir: string): Promise<TestNet> {
  const script = join(dir, "test-net-server.mjs");
  writeFileSync(script, SERVER);
  const children: ChildProcess[] = [];
  const names = { [PUBLIC_NAME]: PUBLIC_IP, "metadata.test": METADATA_IP, "cluster.test": CLUSTER_IP };
  removeTestNet();
  for (const h of HOSTS) {
    const veth = `${h.ns}0`;
    ip("netns", "add", h.ns);
    ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.ns);
    ip("addr", "add", `${linkIp(h.link, 1)}/30`, "dev", veth);
    ip("link", "set", veth, "up");
    ip("-n", h.ns, "addr", "add", `${linkIp(h.link, 2)}/30`, "dev", "eth0");
    ip("-n", h.ns, "link", "set", "eth0", "up");
    ip("-n", h.ns, "link", "set", "lo", "up");
    for (const a of h.addresses) {
      ip("-n", h.ns, "addr", "add", `${a}/32`, "dev", "lo");
      ip("route", "add", `${a}/32`, "via", linkIp(h.link, 2));
    }
    // Replies go back over the link only: no default route out of a test host.
    ip("-n", h.ns, "route", "add", "203.0.113.0/24", "via", linkIp(h.link, 1));
    const child = spawn(
      "ip",
      ["netns", "exec", h.ns, process.execPath, script, JSON.stringify(h.addresses), JSON.stringify(names)],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    children.push(child);
  }
  await new Promise((r) => setTimeout(r, 1000)); // the servers bind
  return {
    stop() {
      for (const c of children) c.kill("SIGKILL");
      removeTestNet();
    },
  };
}

export function removeTestNet(): void {
  for (const h of HOSTS) {
    for (const a of h.addresses)
      try {
        ip("route", "del", `${a}/32`);
      } catch {
        // not there
      }
    try {
      ip("link", "del", `${h.ns}0`);
    } catch {
      // not there
    }
    try {
      ip("netns", "del", h.ns);
    } catch {
      // not there
    }
  }
}
