import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { type BoxNetworkConfig, boxLinkAddresses } from "./network-config.ts";
import {
  type BoxRunLimits,
  boxInterface,
  natTableName,
  renderBaseRuleset,
  renderClosedRules,
  renderRunRules,
  tableName,
} from "./nft-ruleset.ts";

export const namespaceName = (id: number) => `envicutor-box${id}`;
const NETNS_DIR = "/run/netns";

/**
 * The network of this agent's networked boxes: per box id a network namespace
 * (made at start-up and reused, as isolate then shares it with --share-net),
 * joined to the agent's namespace by a veth pair with a /30 of boxCidr, plus
 * the agent's nftables tables (nft-ruleset.ts). Between runs a box's rules
 * refuse everything; each run gets fresh limits. Start-up removes whatever a
 * crashed agent left under the same names.
 *
 *   agent netns: envbox<id> (host address)  <->  envicutor-box<id>: eth0 (box address), lo
 */
export class BoxNetwork {
  readonly config: BoxNetworkConfig;
  private readonly ids: number[];
  private readonly boxIdBase: number;
  /** /etc for networked boxes: resolv.conf, hosts, nsswitch.conf. */
  readonly etcDir: string;

  constructor(config: BoxNetworkConfig, boxIdBase: number, ids: number[], workDir: string) {
    this.config = config;
    this.boxIdBase = boxIdBase;
    this.ids = ids;
    this.etcDir = join(workDir, "net-etc");
  }

  namespacePath(id: number): string {
    return join(NETNS_DIR, namespaceName(id));
  }

  async setUp(): Promise<void> {
    await this.tearDown();
    await writeFile("/proc/sys/net/ipv4/ip_forward", "1");
    for (const id of this.ids) await this.makeNamespace(id);
    await nft(renderBaseRuleset(this.config, this.boxIdBase, this.ids));
    await this.writeEtc();
  }

  /** Removes every namespace, interface and table of this agent's box ids (idempotent). */
  async tearDown(): Promise<void> {
    for (const id of this.ids) {
      await execa("ip", ["link", "del", boxInterface(id)], { reject: false, timeout: 10_000 });
      await execa("ip", ["netns", "del", namespaceName(id)], { reject: false, timeout: 10_000 });
    }
    await nft(
      [
        `table inet ${tableName(this.boxIdBase)}`,
        `delete table inet ${tableName(this.boxIdBase)}`,
        `table ip ${natTableName(this.boxIdBase)}`,
        `delete table ip ${natTableName(this.boxIdBase)}`,
        "",
      ].join("\n"),
    );
    await rm(this.etcDir, { recursive: true, force: true });
  }

  /** Opens box `id` for one run with these limits. */
  async open(id: number, limits: BoxRunLimits): Promise<void> {
    await nft(renderRunRules(this.config, this.boxIdBase, id, limits));
  }

  /** Closes box `id` again and says what the run hit: the byte cap, refused connections. */
  async close(id: number, limits: BoxRunLimits): Promise<string | undefined> {
    const usage = await this.usage(id);
    await nft(renderClosedRules(this.boxIdBase, id));
    const hit: string[] = [];
    if (usage.bytes >= limits.bytes) hit.push(`the network byte cap of ${limits.bytes} bytes was reached`);
    if (usage.refused > 0)
      hit.push(
        `${usage.refused} connection attempt(s) refused over the limit of ${limits.connections} at once`,
      );
    return hit.length ? `network: ${hit.join("; ")}` : undefined;
  }

  private async usage(id: number): Promise<{ bytes: number; refused: number }> {
    const res = await execa("nft", ["-j", "list", "table", "inet", tableName(this.boxIdBase)], {
      timeout: 10_000,
    });
    const items = (
      JSON.parse(res.stdout) as {
        nftables: Array<Record<string, { name?: string } & Record<string, number>>>;
      }
    ).nftables;
    const find = (kind: string, name: string) => items.find((i) => i[kind]?.name === name)?.[kind];
    return {
      bytes: Number(find("quota", `q_${id}`)?.used ?? 0),
      refused: Number(find("counter", `refused_${id}`)?.packets ?? 0),
    };
  }

  private async makeNamespace(id: number): Promise<void> {
    const ns = namespaceName(id);
    const link = boxLinkAddresses(this.config.boxCidr, id);
    const steps: string[][] = [
      ["netns", "add", ns],
      ["link", "add", boxInterface(id), "type", "veth", "peer", "name", "eth0", "netns", ns],
      ["addr", "add", `${link.host}/30`, "dev", boxInterface(id)],
      ["link", "set", boxInterface(id), "up"],
      ["-n", ns, "addr", "add", `${link.box}/30`, "dev", "eth0"],
      ["-n", ns, "link", "set", "eth0", "up"],
      ["-n", ns, "link", "set", "lo", "up"],
      ["-n", ns, "route", "add", "default", "via", link.host],
    ];
    for (const args of steps) await execa("ip", args, { timeout: 10_000 });
    // No IPv6 in a box at all: nothing to filter, and a v6 connect fails at once.
    await execa("ip", ["netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"], {
      timeout: 10_000,
    });
  }

  private async writeEtc(): Promise<void> {
    await mkdir(this.etcDir, { recursive: true, mode: 0o755 });
    const resolver = this.config.resolver;
    await writeFile(
      join(this.etcDir, "resolv.conf"),
      resolver ? `nameserver ${resolver}\noptions timeout:2 attempts:1\n` : "",
    );
    await writeFile(join(this.etcDir, "hosts"), "127.0.0.1 localhost\n::1 localhost\n");
    await writeFile(join(this.etcDir, "nsswitch.conf"), "hosts: files dns\n");
  }
}

async function nft(script: string): Promise<void> {
  const res = await execa("nft", ["-f", "-"], { input: script, reject: false, timeout: 10_000 });
  if (res.exitCode !== 0) throw new Error(`nft failed: ${res.stderr.trim()}`);
}

/** Whether this node can make box networks (ip, nft and network namespaces). */
export async function boxNetworkAvailable(): Promise<string | undefined> {
  for (const [cmd, args] of [
    ["ip", ["-V"]],
    ["nft", ["--version"]],
    ["nsenter", ["--version"]],
  ] as const) {
    const res = await execa(cmd, [...args], { reject: false, timeout: 10_000 });
    if (res.exitCode !== 0) return `${cmd} is not installed`;
  }
  const forward = await readFile("/proc/sys/net/ipv4/ip_forward", "utf8").catch(() => undefined);
  return forward === undefined ? "no /proc/sys/net/ipv4/ip_forward" : undefined;
}
