import { describe, expect, it } from "vitest";
import { loadAgentConfig } from "./config.ts";

describe("agent configuration: package sets", () => {
  const base = { ENVICUTOR_NODE_NAME: "n1" };

  it("defaults to <nixpkgs> as the set named default", () => {
    expect(loadAgentConfig(base).packageSets).toEqual({ default: "<nixpkgs>" });
  });

  it("takes ENVICUTOR_PACKAGE_SET as default's location and ENVICUTOR_PACKAGE_SETS for named sets", () => {
    const c = loadAgentConfig({
      ...base,
      ENVICUTOR_PACKAGE_SET: "/opt/pkgs",
      ENVICUTOR_PACKAGE_SETS: '{"nixpkgs-24-05":"https://example.com/nixpkgs.tar.gz"}',
    });
    expect(c.packageSets).toEqual({
      default: "/opt/pkgs",
      "nixpkgs-24-05": "https://example.com/nixpkgs.tar.gz",
    });
  });

  it("stops at start with a message naming the variables", () => {
    expect(() => loadAgentConfig({ ...base, ENVICUTOR_PACKAGE_SETS: '{"x":"relative"}' })).toThrow(
      /ENVICUTOR_PACKAGE_SETS \/ ENVICUTOR_PACKAGE_SET: invalid package set location "relative"/,
    );
    expect(() => loadAgentConfig({ ...base, ENVICUTOR_PACKAGE_SETS: "not json" })).toThrow(/not JSON/);
  });
});

describe("agent configuration: warm boxes", () => {
  const base = { ENVICUTOR_NODE_NAME: "n1" };

  it("are off unless ENVICUTOR_WARM_BOXES is true, and anything else than true or false stops the agent", () => {
    expect(loadAgentConfig(base).warmBoxes).toBe(false);
    expect(loadAgentConfig({ ...base, ENVICUTOR_WARM_BOXES: "true" }).warmBoxes).toBe(true);
    expect(loadAgentConfig({ ...base, ENVICUTOR_WARM_BOXES: "false" }).warmBoxes).toBe(false);
    expect(() => loadAgentConfig({ ...base, ENVICUTOR_WARM_BOXES: "yes" })).toThrow(/ENVICUTOR_WARM_BOXES/);
  });
});

describe("agent configuration: closure views", () => {
  const base = { ENVICUTOR_NODE_NAME: "n1" };

  it("are on unless ENVICUTOR_CLOSURE_VIEWS is false, and anything else than true or false stops the agent", () => {
    expect(loadAgentConfig(base).closureViews).toBe(true);
    expect(loadAgentConfig({ ...base, ENVICUTOR_CLOSURE_VIEWS: "true" }).closureViews).toBe(true);
    expect(loadAgentConfig({ ...base, ENVICUTOR_CLOSURE_VIEWS: "false" }).closureViews).toBe(false);
    expect(() => loadAgentConfig({ ...base, ENVICUTOR_CLOSURE_VIEWS: "1" })).toThrow(
      /ENVICUTOR_CLOSURE_VIEWS/,
    );
  });
});
