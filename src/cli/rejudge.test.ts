import { describe, expect, it } from "vitest";
import type { Execution } from "../api/execution.ts";
import { REJUDGE_OF_LABEL, rejudgeOf } from "./rejudge.ts";

describe("rejudgeOf", () => {
  it("clones the spec into a new Execution labelled with the old one's name", () => {
    const old = {
      apiVersion: "envicutor.io/v1alpha1",
      kind: "Execution",
      metadata: { name: "sub-1", namespace: "c7", uid: "u", resourceVersion: "9", labels: { team: "x" } },
      spec: { runtime: "c", problem: "p", files: [{ name: "main.c", content: "", encoding: "utf8" }] },
      status: { phase: "Succeeded", verdict: "WrongAnswer" },
    } as unknown as Execution;
    expect(rejudgeOf(old)).toEqual({
      apiVersion: "envicutor.io/v1alpha1",
      kind: "Execution",
      metadata: {
        generateName: "sub-1-rejudge-",
        namespace: "c7",
        labels: { team: "x", [REJUDGE_OF_LABEL]: "sub-1" },
      },
      spec: old.spec,
    });
  });
});
