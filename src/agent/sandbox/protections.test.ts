import { describe, expect, it } from "vitest";
import { sandboxProtections } from "./protections.ts";

describe("sandboxProtections", () => {
  it("isolate 1.10 with cgroups: no system-call filter", () => {
    const p = sandboxProtections({ version: "1.10.1", useCg: true }, { keyrings: true });
    expect(p).toContain("memory:cgroup");
    expect(p).toContain("dev-shm:private");
    expect(p).toContain("keyrings:cleared-after-each-run");
    expect(p.some((x) => x.startsWith("syscall-filter"))).toBe(false);
  });

  it("isolate 2.4 filters keyctl, vsock and file locks; 2.6 also io_uring and non-native architectures", () => {
    expect(sandboxProtections({ version: "2.4", useCg: true }, { keyrings: false })).toContain(
      "syscall-filter:keyctl,vsock,file-locks",
    );
    const p26 = sandboxProtections({ version: "2.6", useCg: false }, { keyrings: false });
    expect(p26).toContain("syscall-filter:keyctl,vsock,file-locks,io_uring,non-native-arch");
    expect(p26).toContain("memory:address-space");
    expect(p26).not.toContain("keyrings:cleared-after-each-run");
    expect(sandboxProtections({ version: "2.3", useCg: true }, { keyrings: true }).join()).not.toMatch(
      /syscall-filter/,
    );
  });
});
