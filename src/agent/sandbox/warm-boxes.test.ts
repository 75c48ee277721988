import { describe, expect, it } from "vitest";
import { sameStorage, WarmBoxes } from "./warm-boxes.ts";

const storage = { storageKiB: 1024, storageFiles: 10 };

describe("WarmBoxes", () => {
  it("a warm box is taken once: its holder uses it, the next one finds none", () => {
    const w = new WarmBoxes();
    w.put(3, { isolateDir: "/b/3", storage });
    expect(w.has(3)).toBe(true);
    expect(w.ids()).toEqual([3]);
    expect(w.take(3)).toEqual({ isolateDir: "/b/3", storage });
    expect(w.has(3)).toBe(false);
    expect(w.take(3)).toBeUndefined();
    expect(w.ids()).toEqual([]);
  });

  it("serves a stage only with the same storage limits", () => {
    expect(sameStorage(storage, { ...storage })).toBe(true);
    expect(sameStorage(storage, { ...storage, storageKiB: 2048 })).toBe(false);
    expect(sameStorage(storage, { ...storage, storageFiles: 11 })).toBe(false);
  });
});
