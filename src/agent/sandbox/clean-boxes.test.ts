import { describe, expect, it } from "vitest";
import { CleanBoxes } from "./clean-boxes.ts";

describe("CleanBoxes", () => {
  it("an id counts as clean once: its next holder makes a box of it, the one after must clean", () => {
    const c = new CleanBoxes();
    expect(c.take(7)).toBe(false); // never cleaned by this agent: a crash may have left something
    c.mark(7);
    expect(c.has(7)).toBe(true);
    expect(c.take(7)).toBe(true);
    expect(c.has(7)).toBe(false);
    expect(c.take(7)).toBe(false);
  });

  it("ids are independent", () => {
    const c = new CleanBoxes();
    c.mark(1);
    expect(c.take(2)).toBe(false);
    expect(c.take(1)).toBe(true);
  });
});
