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

describe("agent configuration: true/false switches", () => {
  const base = { ENVICUTOR_NODE_NAME: "n1" };

  it.each([
    { variable: "ENVICUTOR_WARM_BOXES", field: "warmBoxes", byDefault: false },
    { variable: "ENVICUTOR_CLOSURE_VIEWS", field: "closureViews", byDefault: true },
    { variable: "ENVICUTOR_KEEP_BOXES", field: "keepBoxes", byDefault: true },
  ] as const)(
    "$variable is $byDefault unless set, and anything else than true or false stops the agent",
    ({ variable, field, byDefault }) => {
      expect(loadAgentConfig(base)[field]).toBe(byDefault);
      expect(loadAgentConfig({ ...base, [variable]: "true" })[field]).toBe(true);
      expect(loadAgentConfig({ ...base, [variable]: "false" })[field]).toBe(false);
      expect(() => loadAgentConfig({ ...base, [variable]: "yes" })).toThrow(new RegExp(variable));
    },
  );
});

describe("agent configuration: ENVICUTOR_RUNNING_DELAY_MS", () => {
  const base = { ENVICUTOR_NODE_NAME: "n1" };

  it("is 1000 ms unless set, 0 marks every run Running first, and a negative or non-number stops the agent", () => {
    expect(loadAgentConfig(base).runningDelayMs).toBe(1000);
    expect(loadAgentConfig({ ...base, ENVICUTOR_RUNNING_DELAY_MS: "0" }).runningDelayMs).toBe(0);
    for (const bad of ["-1", "soon", "1.5"])
      expect(() => loadAgentConfig({ ...base, ENVICUTOR_RUNNING_DELAY_MS: bad })).toThrow(
        /ENVICUTOR_RUNNING_DELAY_MS/,
      );
  });
});
