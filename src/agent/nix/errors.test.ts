import { describe, expect, it } from "vitest";
import { classifyNixFailure, isRetryable, NixInstallError } from "./errors.ts";

describe("classifyNixFailure", () => {
  it("an attribute missing from the package set is UnknownPackage (Nix ≥ 2.4 wording)", () => {
    const e = classifyNixFailure("error: attribute 'nope' in selection path 'nope' not found\n", 1);
    expect(e.reason).toBe("UnknownPackage");
    expect(e.message).toContain("nope");
  });

  it("nested attribute paths and the older 'missing' wording", () => {
    expect(
      classifyNixFailure("error: attribute 'numpyy' in selection path 'python3Packages.numpyy' not found", 1)
        .message,
    ).toContain("python3Packages.numpyy");
    expect(classifyNixFailure("error: attribute 'foo' missing\n\n       at «string»:1:1:", 1).reason).toBe(
      "UnknownPackage",
    );
  });

  it("a failing builder is BuildFailed, with the derivation name and the end of its log", () => {
    const stderr = [
      "this derivation will be built:",
      "  /nix/store/gb7h6zdzvi6iad0vmg2v51scsjqsjzc0-broken.drv",
      "building '/nix/store/gb7h6zdzvi6iad0vmg2v51scsjqsjzc0-broken.drv'...",
      "compiling",
      "oops",
      "error: builder for '/nix/store/gb7h6zdzvi6iad0vmg2v51scsjqsjzc0-broken.drv' failed with exit code 3",
    ].join("\n");
    const e = classifyNixFailure(stderr, 100);
    expect(e.reason).toBe("BuildFailed");
    expect(e.message).toMatch(/^build of broken failed/);
    expect(e.message).toContain("oops");
    expect(e.message).not.toContain("will be built");
  });

  it("exit status 100 without a recognisable line is still BuildFailed", () => {
    expect(classifyNixFailure("error: 1 dependencies of derivation 'x' failed to build", 100).reason).toBe(
      "BuildFailed",
    );
  });

  it("ENOSPC text wins over everything else", () => {
    const e = classifyNixFailure(
      "error: builder for '/nix/store/aaaa-x.drv' failed\nerror: writing to file: No space left on device",
      100,
    );
    expect(e.reason).toBe("NoSpace");
  });

  it("anything else is NixError with Nix's error lines", () => {
    const e = classifyNixFailure(
      "error: file 'nixpkgs' was not found in the Nix search path (add it using $NIX_PATH or -I)",
      1,
    );
    expect(e.reason).toBe("NixError");
    expect(e.message).toContain("nixpkgs");
  });

  it("strips ANSI colours and keeps messages short", () => {
    const e = classifyNixFailure(`\u001b[31;1merror:\u001b[0m ${"x".repeat(5000)}`, 1);
    expect(e.message).not.toContain("\u001b");
    expect(e.message.length).toBeLessThanOrEqual(1024);
  });

  it("UnknownPackage is not worth retrying; the rest may be", () => {
    expect(isRetryable(new NixInstallError("UnknownPackage", "x"))).toBe(false);
    expect(isRetryable(new NixInstallError("BuildFailed", "x"))).toBe(true);
    expect(isRetryable(new Error("x"))).toBe(true);
  });
});
