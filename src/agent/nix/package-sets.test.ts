import { describe, expect, it } from "vitest";
import { checkPackageSetLocation, parsePackageSets, resolvePackageSet } from "./package-sets.ts";

describe("package sets", () => {
  it("reads ENVICUTOR_PACKAGE_SETS, with ENVICUTOR_PACKAGE_SET as the location of default", () => {
    expect(parsePackageSets(undefined, undefined)).toEqual({ default: "<nixpkgs>" });
    expect(parsePackageSets(undefined, "/opt/pkgs")).toEqual({ default: "/opt/pkgs" });
    expect(
      parsePackageSets('{"default":"<nixpkgs>","nixpkgs-24-05":"https://x.test/n.tar.gz"}', undefined),
    ).toEqual({
      default: "<nixpkgs>",
      "nixpkgs-24-05": "https://x.test/n.tar.gz",
    });
    expect(parsePackageSets('{"other":"/o"}', "/d")).toEqual({ other: "/o", default: "/d" });
    expect(parsePackageSets('{"default":"/d"}', "/d")).toEqual({ default: "/d" });
  });

  it("refuses bad configuration with a message", () => {
    expect(() => parsePackageSets("{", undefined)).toThrow(/not JSON/);
    expect(() => parsePackageSets('["/x"]', undefined)).toThrow(/JSON object/);
    expect(() => parsePackageSets('{"a":1}', undefined)).toThrow(/not a string/);
    expect(() => parsePackageSets('{"Bad_Name":"/x"}', undefined)).toThrow(/invalid package set name/);
    expect(() => parsePackageSets('{"default":"/a"}', "/b")).toThrow(/both/);
    expect(() => parsePackageSets("{}", "--option")).toThrow(/invalid package set location/);
    expect(() => checkPackageSetLocation("relative/path")).toThrow(/absolute path/);
    expect(() => checkPackageSetLocation("/ok\nbad")).toThrow();
    expect(() => checkPackageSetLocation("ftp://x")).toThrow();
    for (const ok of ["/nix/store/abc-nixpkgs", "<nixpkgs>", "<nixpkgs/lib>", "https://h/x.tar.gz"])
      expect(() => checkPackageSetLocation(ok)).not.toThrow();
  });

  it("resolves only configured names; anything else is UnknownPackageSet", () => {
    const sets = { default: "/d", "nixpkgs-24-05": "/n" };
    expect(resolvePackageSet(sets, undefined)).toBe("/d");
    expect(resolvePackageSet(sets, "")).toBe("/d");
    expect(resolvePackageSet(sets, "nixpkgs-24-05")).toBe("/n");
    for (const hostile of [
      "/etc",
      "https://evil.test/pkgs.tar.gz",
      "<nixpkgs>",
      "toString",
      "__proto__",
      "nope",
    ]) {
      expect(() => resolvePackageSet(sets, hostile)).toThrow(
        expect.objectContaining({
          reason: "UnknownPackageSet",
          message: expect.stringContaining("not configured"),
        }),
      );
    }
  });
});
