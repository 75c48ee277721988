import { describe, expect, it } from "vitest";
import { closureHash, isStorePath, parseBuildOutputs, parseStorePaths } from "./closure.ts";

const a = "/nix/store/0jvmkncv013d2q93yaals6jyf9zky2nr-glibc-debian";
const b = "/nix/store/4dfkzkjzb571fyzx8x2xk8jjxyid6g4l-python3-debian";

describe("closure", () => {
  it("the hash does not depend on order or duplicates", () => {
    expect(closureHash([a, b])).toBe(closureHash([b, a, b]));
    expect(closureHash([a, b])).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(closureHash([a])).not.toBe(closureHash([a, b]));
  });

  it("parses nix-store -qR output sorted and nix-build output in order", () => {
    expect(parseStorePaths(`${b}\n${a}\n\n`)).toEqual([a, b]);
    expect(parseBuildOutputs(`${b}\n${a}\n${b}\n`)).toEqual([b, a]);
    expect(parseBuildOutputs("warning: something\n")).toEqual([]);
  });

  it("recognises store paths", () => {
    expect(isStorePath(a)).toBe(true);
    expect(isStorePath("/nix/store/x-y")).toBe(false);
    expect(isStorePath(`${a}/bin`)).toBe(false);
  });
});
