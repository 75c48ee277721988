import { describe, expect, it } from "vitest";
import { renderBaseRuleset, renderClosedRules, renderRunRules } from "./nft-ruleset.ts";

const config = {
  enabled: true,
  boxCidr: "100.127.0.0/16",
  egressCidrs: [],
  blockedCidrs: ["10.96.0.0/12"],
  resolver: "198.51.100.53",
};

describe("nftables rules of networked boxes", () => {
  it("one table per agent: boxes refused until a run opens them, node input refused, NAT behind the node", () => {
    const base = renderBaseRuleset(config, 360, [360, 361]);
    expect(base).toMatch(/^table inet envicutor_360\ndelete table inet envicutor_360\n/);
    expect(base).toContain("chain out_360 { goto refuse; }");
    expect(base).toContain("chain in_361 { drop; }");
    expect(base).toContain('iifname { "envbox360", "envbox361" } goto refuse');
    expect(base).toContain('iifname { "envbox360", "envbox361" } masquerade');
    expect(base).toMatch(/set blocked .*169\.254\.0\.0\/16.*10\.96\.0\.0\/12/);
    expect(base).toMatch(/set allowed .*0\.0\.0\.0\/0/);
  });

  it("a run: byte cap and bandwidth both ways, replies, DNS to the resolver only, blocked before allowed, then the connection count", () => {
    const rules = renderRunRules(config, 360, 361, { connections: 4, bytes: 524288, bytesPerSecond: 524288 })
      .trim()
      .split("\n");
    const at = (needle: string) => rules.findIndex((r) => r.includes(needle));
    expect(rules).toContain("add quota inet envicutor_360 q_361 { over 524288 bytes }");
    expect(rules).toContain(
      "add limit inet envicutor_360 l_361 { rate over 512 kbytes/second burst 512 kbytes }",
    );
    expect(at("out_361 ct state established")).toBeGreaterThan(at('out_361 quota name "q_361" drop'));
    expect(at("ip daddr 198.51.100.53")).toBeLessThan(at("th dport 53 goto refuse"));
    expect(at("th dport 53 goto refuse")).toBeLessThan(at("ip daddr @blocked"));
    expect(at("ip daddr @blocked")).toBeLessThan(at("ip daddr != @allowed"));
    expect(rules).toContain(
      'add rule inet envicutor_360 admit_361 ct count over 4 counter name "refused_361" goto refuse',
    );
    expect(rules.at(-1)).toBe("add rule inet envicutor_360 in_361 goto refuse");
  });

  it("no resolver: no DNS at all; after a run the box is closed again", () => {
    const { resolver: _, ...noDns } = config;
    expect(renderRunRules(noDns, 360, 360, { connections: 1, bytes: 1, bytesPerSecond: 1024 })).not.toMatch(
      /ip daddr \d.* jump admit/,
    );
    expect(renderClosedRules(360, 360)).toContain("add rule inet envicutor_360 out_360 goto refuse");
  });
});
