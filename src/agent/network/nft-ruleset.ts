import { type BoxNetworkConfig, BUILTIN_BLOCKED_CIDRS } from "./network-config.ts";

/**
 * nftables rules for one agent's networked boxes, rendered as `nft -f` input.
 * One table per agent (`envicutor_<first box id>`), so agents sharing a node
 * never touch each other's rules and a crashed agent's table is found by name.
 *
 *   input    from a box interface: rejected (the node's own addresses and services)
 *   forward  from a box: out_<id>; to a box: in_<id> (replies only, never a new connection)
 *   out_<id> byte cap and bandwidth, replies, DNS only to the resolver, blocked
 *            ranges, allowed ranges, then at most N connections at once
 *   postrouting (ip nat)  what leaves a box is masqueraded behind the node
 *
 * Refusals (chain `refuse`) answer TCP with a reset and the rest with ICMP
 * admin-prohibited, so a program fails at once instead of waiting for its
 * wall time (resets are not rate-limited like ICMP errors).
 */
export const tableName = (boxIdBase: number) => `envicutor_${boxIdBase}`;
export const natTableName = (boxIdBase: number) => `envicutor_nat_${boxIdBase}`;
export const boxInterface = (id: number) => `envbox${id}`;

export interface BoxRunLimits {
  connections: number;
  bytes: number;
  bytesPerSecond: number;
}

const list = (items: string[]) => `{ ${items.join(", ")} }`;
const quoted = (ids: number[]) => list(ids.map((id) => `"${boxInterface(id)}"`));

/** The agent's tables: sets, base chains, and per-box chains that refuse everything until a run configures them. */
export function renderBaseRuleset(c: BoxNetworkConfig, boxIdBase: number, ids: number[]): string {
  const t = tableName(boxIdBase);
  const boxes = quoted(ids);
  const perBox = ids.flatMap((id) => [
    `  chain out_${id} { goto refuse; }`,
    `  chain in_${id} { drop; }`,
    `  chain admit_${id} { }`,
    `  counter refused_${id} { }`,
    `  quota q_${id} { over 1 bytes }`,
    `  limit l_${id} { rate over 1 kbytes/second }`,
  ]);
  const egress = c.egressCidrs.length ? c.egressCidrs : ["0.0.0.0/0"];
  return [
    `table inet ${t}`,
    `delete table inet ${t}`,
    `table ip ${natTableName(boxIdBase)}`,
    `delete table ip ${natTableName(boxIdBase)}`,
    `table inet ${t} {`,
    `  set blocked { type ipv4_addr; flags interval; auto-merge; elements = ${list([...BUILTIN_BLOCKED_CIDRS, ...c.blockedCidrs])} }`,
    `  set allowed { type ipv4_addr; flags interval; auto-merge; elements = ${list(egress)} }`,
    "  chain refuse {",
    "    meta l4proto tcp reject with tcp reset",
    "    reject with icmpx admin-prohibited",
    "  }",
    ...perBox,
    "  chain input {",
    "    type filter hook input priority filter - 5; policy accept;",
    `    iifname ${boxes} goto refuse`,
    "  }",
    "  chain forward {",
    "    type filter hook forward priority filter - 5; policy accept;",
    `    iifname vmap ${list(ids.map((id) => `"${boxInterface(id)}" : jump out_${id}`))}`,
    `    oifname vmap ${list(ids.map((id) => `"${boxInterface(id)}" : jump in_${id}`))}`,
    "  }",
    "}",
    `table ip ${natTableName(boxIdBase)} {`,
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    `    iifname ${boxes} masquerade`,
    "  }",
    "}",
    "",
  ].join("\n");
}

/** One run's rules for box `id`: a fresh byte cap, bandwidth limit and connection count. */
export function renderRunRules(c: BoxNetworkConfig, boxIdBase: number, id: number, l: BoxRunLimits): string {
  const t = `inet ${tableName(boxIdBase)}`;
  const kbytes = Math.max(1, Math.round(l.bytesPerSecond / 1024));
  const dns = c.resolver
    ? [
        `add rule ${t} out_${id} meta l4proto { tcp, udp } th dport 53 ip daddr ${c.resolver} ct original ip daddr ${c.resolver} jump admit_${id}`,
      ]
    : [];
  return [
    `flush chain ${t} out_${id}`,
    `flush chain ${t} in_${id}`,
    `flush chain ${t} admit_${id}`,
    `delete quota ${t} q_${id}`,
    `delete limit ${t} l_${id}`,
    `delete counter ${t} refused_${id}`,
    `add quota ${t} q_${id} { over ${l.bytes} bytes }`,
    `add limit ${t} l_${id} { rate over ${kbytes} kbytes/second burst ${kbytes} kbytes }`,
    `add counter ${t} refused_${id}`,
    `add rule ${t} out_${id} quota name "q_${id}" drop`,
    `add rule ${t} out_${id} limit name "l_${id}" drop`,
    `add rule ${t} out_${id} ct state established,related accept`,
    `add rule ${t} out_${id} meta nfproto ipv6 goto refuse`,
    ...dns,
    `add rule ${t} out_${id} meta l4proto { tcp, udp } th dport 53 goto refuse`,
    `add rule ${t} out_${id} ip daddr @blocked goto refuse`,
    `add rule ${t} out_${id} ct original ip daddr @blocked goto refuse`,
    `add rule ${t} out_${id} ip daddr != @allowed goto refuse`,
    `add rule ${t} out_${id} jump admit_${id}`,
    `add rule ${t} admit_${id} ct count over ${l.connections} counter name "refused_${id}" goto refuse`,
    `add rule ${t} admit_${id} accept`,
    `add rule ${t} in_${id} quota name "q_${id}" drop`,
    `add rule ${t} in_${id} limit name "l_${id}" drop`,
    `add rule ${t} in_${id} ct state established,related accept`,
    `add rule ${t} in_${id} goto refuse`,
    "",
  ].join("\n");
}

/** The same box back to refusing everything (after a run). */
export function renderClosedRules(boxIdBase: number, id: number): string {
  const t = `inet ${tableName(boxIdBase)}`;
  return [
    `flush chain ${t} out_${id}`,
    `flush chain ${t} in_${id}`,
    `flush chain ${t} admit_${id}`,
    `add rule ${t} out_${id} goto refuse`,
    `add rule ${t} in_${id} drop`,
    "",
  ].join("\n");
}
