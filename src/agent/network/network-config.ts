import { BlockList, isIPv4 } from "node:net";

/**
 * What the platform allows networked boxes (Helm values agent.network.*):
 * off by default. When on, each networked box gets a network namespace of its
 * own whose egress reaches `egressCidrs` minus `BUILTIN_BLOCKED_CIDRS` and
 * `blockedCidrs` (the cluster's pod and service ranges), and DNS only through
 * `resolver`. IPv4 only: a box has no IPv6 address or route at all.
 */
export interface BoxNetworkConfig {
  enabled: boolean;
  /** Addresses of the boxes' point-to-point links (a /30 per box id); never reachable from a box. */
  boxCidr: string;
  egressCidrs: string[];
  blockedCidrs: string[];
  /** The one DNS server a box may ask (IPv4); none: no DNS at all. */
  resolver?: string;
}

/**
 * Never reachable from a box, whatever the platform allows: "this network",
 * RFC 1918, CGNAT (and so the boxes' own links), loopback, link-local and the
 * metadata address, IETF protocol assignments, multicast and reserved space.
 */
export const BUILTIN_BLOCKED_CIDRS = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "224.0.0.0/4",
  "240.0.0.0/4",
];

export const DEFAULT_BOX_CIDR = "100.127.0.0/16";

const CIDR = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/;

/** Parses a.b.c.d/n strictly (IPv4, prefix 0..32, no host bits set); throws with the offending text. */
export function parseCidr(text: string): { address: string; prefix: number } {
  const m = CIDR.exec(text.trim());
  const prefix = m ? Number(m[2]) : -1;
  if (!m || !isIPv4(m[1]!) || prefix > 32) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(text)}`);
  const base = ipToInt(m[1]!);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((base & ~mask) >>> 0 !== 0) throw new Error(`${text} has host bits set`);
  return { address: m[1]!, prefix };
}

export function ipToInt(ip: string): number {
  return ip.split(".").reduce((n, part) => n * 256 + Number(part), 0) >>> 0;
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

/** The host and box addresses of box `id`'s /30 inside `boxCidr`. */
export function boxLinkAddresses(boxCidr: string, id: number): { host: string; box: string } {
  const { address, prefix } = parseCidr(boxCidr);
  const links = 2 ** (32 - prefix) / 4;
  if (id >= links) throw new Error(`box id ${id} does not fit ${boxCidr} (${links} links of /30)`);
  const base = ipToInt(address) + id * 4;
  return { host: intToIp(base + 1), box: intToIp(base + 2) };
}

/** Whether an address is one a box may never reach (for checks and tests; the kernel enforces it). */
export function isBlocked(ip: string, extra: string[] = []): boolean {
  const list = new BlockList();
  for (const c of [...BUILTIN_BLOCKED_CIDRS, ...extra]) {
    const { address, prefix } = parseCidr(c);
    list.addSubnet(address, prefix, "ipv4");
  }
  return list.check(ip, "ipv4");
}

/** Validates a configuration; the agent refuses to start on a bad one, naming the value. */
export function checkNetworkConfig(c: BoxNetworkConfig): void {
  const { prefix } = parseCidr(c.boxCidr);
  if (prefix > 24) throw new Error(`boxCidr ${c.boxCidr} is too small: use /24 or larger`);
  for (const cidr of [...c.egressCidrs, ...c.blockedCidrs]) parseCidr(cidr);
  if (c.resolver !== undefined && !isIPv4(c.resolver))
    throw new Error(`resolver must be an IPv4 address: ${JSON.stringify(c.resolver)}`);
}
