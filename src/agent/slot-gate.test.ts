import { describe, expect, it } from "vitest";
import { SlotGate } from "./slot-gate.ts";

const settled = async (p: Promise<unknown>) => {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
};

describe("SlotGate", () => {
  it("holds runs to its slots; a release hands the slot to the first waiter, in the order they came", async () => {
    const gate = new SlotGate(2);
    const a = await gate.acquire();
    const b = await gate.acquire();
    const order: string[] = [];
    const granted = (name: string) => (release: () => void) => {
      order.push(name);
      return release;
    };
    const c = gate.acquire().then(granted("c"));
    const d = gate.acquire().then(granted("d"));
    expect(await settled(c)).toBe(false);
    expect(gate.busy).toBe(2);
    expect(gate.waiting).toBe(2);
    a();
    a(); // a second release does nothing
    (await c)();
    b();
    (await d)();
    expect(order).toEqual(["c", "d"]);
    expect(gate.busy).toBe(0);
    expect(gate.waiting).toBe(0);
  });

  it("a wait aborted before its turn takes no slot and leaves the line; one aborted before it starts is refused", async () => {
    const gate = new SlotGate(1);
    const a = await gate.acquire();
    const abort = new AbortController();
    const b = gate.acquire(abort.signal);
    const c = gate.acquire();
    abort.abort();
    await expect(b).rejects.toThrow(/aborted/);
    a();
    const release = await c;
    expect(gate.busy).toBe(1);
    release();
    await expect(gate.acquire(AbortSignal.abort())).rejects.toThrow(/aborted/);
    expect(gate.busy).toBe(0);
  });

  it("refuses fewer than one slot", () => {
    expect(() => new SlotGate(0)).toThrow(/1 or more/);
  });
});
