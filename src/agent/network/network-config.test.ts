import { describe, expect, it } from "vitest";
import { boxLinkAddresses, checkNetworkConfig, isBlocked, parseCidr } from "./network-config.ts";

describe("box network configuration", () => {
  it("parses IPv4 CIDRs strictly", () => {
    expect(parseCidr("100.127.0.0/16")).toEqual({ address: "100.127.0.0", prefix: 16 });
    for (const bad of ["10.0.0.1/8", "10.0.0.0/33", "10.0.0/8", "fd00::/8", "300.0.0.0/8", " "])
      expect(() => parseCidr(bad), bad).toThrow();
  });

  it("gives each box id its own /30: host .1, box .2", () => {
    expect(boxLinkAddresses("100.127.0.0/16", 0)).toEqual({ host: "100.127.0.1", box: "100.127.0.2" });
    expect(boxLinkAddresses("100.127.0.0/16", 341)).toEqual({ host: "100.127.5.85", box: "100.127.5.86" });
    expect(() => boxLinkAddresses("100.127.0.0/24", 64)).toThrow(/does not fit/);
  });

  it("blocks private, CGNAT, link-local, metadata, loopback and configured ranges; not public ones", () => {
    for (const ip of [
      "10.1.2.3",
      "172.20.0.1",
      "192.168.0.1",
      "100.64.0.1",
      "169.254.169.254",
      "127.0.0.1",
      "0.1.2.3",
      "224.0.0.1",
    ])
      expect(isBlocked(ip), ip).toBe(true);
    expect(isBlocked("198.51.100.10")).toBe(false);
    expect(isBlocked("8.8.8.8")).toBe(false);
    expect(isBlocked("8.8.8.8", ["8.8.8.0/24"])).toBe(true);
  });

  it("refuses a bad configuration with the value in the message", () => {
    const ok = { enabled: true, boxCidr: "100.127.0.0/16", egressCidrs: ["0.0.0.0/0"], blockedCidrs: [] };
    expect(() => checkNetworkConfig(ok)).not.toThrow();
    expect(() => checkNetworkConfig({ ...ok, boxCidr: "100.127.0.0/28" })).toThrow(/too small/);
    expect(() => checkNetworkConfig({ ...ok, resolver: "dns.example" })).toThrow(/IPv4/);
    expect(() => checkNetworkConfig({ ...ok, blockedCidrs: ["10.96.0.0/40"] })).toThrow(/10.96.0.0\/40/);
  });
});
