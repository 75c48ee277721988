import { describe, expect, it } from "vitest";
import { BoxPool } from "./box-pool.ts";

describe("BoxPool", () => {
  it("owns [base, base + size)", () => {
    const p = new BoxPool(100, 3);
    expect(p.ids()).toEqual([100, 101, 102]);
    expect(p.available).toBe(3);
  });

  it("agents with different bases get disjoint ranges", () => {
    const a = new BoxPool(0, 10);
    const b = new BoxPool(10, 10);
    const c = new BoxPool(400, 2);
    const all = [...a.ids(), ...b.ids(), ...c.ids()];
    expect(new Set(all).size).toBe(all.length);
  });

  it("rejects bad ranges", () => {
    expect(() => new BoxPool(-1, 2)).toThrow(/non-negative/);
    expect(() => new BoxPool(1.5, 2)).toThrow(/non-negative/);
    expect(() => new BoxPool(0, 0)).toThrow(/positive/);
    expect(() => new BoxPool(0, 2.5)).toThrow(/positive/);
  });

  it("hands out the lowest free id first", async () => {
    const p = new BoxPool(5, 3);
    expect(await p.acquire()).toBe(5);
    expect(await p.acquire()).toBe(6);
    p.release(5);
    expect(await p.acquire()).toBe(5);
    expect(await p.acquire()).toBe(7);
    expect(p.available).toBe(0);
  });

  it("acquire waits for a release, first come first served", async () => {
    const p = new BoxPool(0, 1);
    const first = await p.acquire();
    const order: number[] = [];
    const w1 = p.acquire().then((id) => {
      order.push(1);
      return id;
    });
    const w2 = p.acquire().then((id) => {
      order.push(2);
      return id;
    });
    let settled = false;
    void w1.then(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(settled).toBe(false);
    p.release(first);
    expect(await w1).toBe(0);
    expect(p.available).toBe(0);
    p.release(0);
    expect(await w2).toBe(0);
    expect(order).toEqual([1, 2]);
  });

  it("release of an id outside the pool throws", () => {
    const p = new BoxPool(10, 2);
    expect(() => p.release(9)).toThrow(/not in this pool/);
    expect(() => p.release(12)).toThrow(/not in this pool/);
  });

  it("release of an id that is not held throws instead of handing one box out twice", async () => {
    const p = new BoxPool(10, 2);
    expect(() => p.release(10)).toThrow(/not held/);
    const id = await p.acquire();
    p.release(id);
    expect(() => p.release(id)).toThrow(/not held/);
    expect(p.available).toBe(2);
    const a = await p.acquire();
    const b = await p.acquire();
    expect(a).not.toBe(b);
  });

  it("with() releases after success and after failure", async () => {
    const p = new BoxPool(0, 1);
    expect(await p.with(async (id) => id + 100)).toBe(100);
    expect(p.available).toBe(1);
    await expect(
      p.with(async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(p.available).toBe(1);
  });

  it("with() never runs two callers on the same id at once", async () => {
    const p = new BoxPool(0, 2);
    const inUse = new Set<number>();
    let max = 0;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        p.with(async (id) => {
          expect(inUse.has(id)).toBe(false);
          inUse.add(id);
          max = Math.max(max, inUse.size);
          await new Promise((r) => setTimeout(r, i % 3));
          inUse.delete(id);
        }),
      ),
    );
    expect(max).toBe(2);
    expect(p.available).toBe(2);
  });
  it("withMany takes several ids at once and releases them all", async () => {
    const p = new BoxPool(730, 3);
    expect(await p.withMany(2, async (ids) => ids)).toEqual([730, 731]);
    expect(p.available).toBe(3);
    await expect(p.withMany(4, async () => 0)).rejects.toThrow(/cannot take 4 boxes/);
  });

  it("two runs that each need two boxes of three never hold one each and wait for ever", async () => {
    const p = new BoxPool(0, 3);
    let done = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        p.withMany(2, async (ids) => {
          expect(new Set(ids).size).toBe(2);
          await new Promise((r) => setTimeout(r, 2));
          done++;
        }),
      ),
    );
    expect(done).toBe(6);
    expect(p.available).toBe(3);
  });

  it("a single box request does not overtake a waiting request for two", async () => {
    const p = new BoxPool(0, 2);
    const held = await p.acquire();
    const order: string[] = [];
    const two = p.acquireMany(2).then((ids) => {
      order.push("two");
      return ids;
    });
    const one = p.acquire().then((id) => {
      order.push("one");
      return id;
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual([]);
    p.release(held);
    expect(await two).toEqual([0, 1]);
    for (const id of await two) p.release(id);
    expect(await one).toBe(0);
    expect(order).toEqual(["two", "one"]);
  });
});
