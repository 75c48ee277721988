/**
 * Box ids of one agent: [base, base + size). Agents sharing a machine get
 * disjoint ranges (ENVICUTOR_BOX_ID_BASE), so their boxes never collide.
 * acquire() waits for a free id; ids are handed out lowest first.
 */
export class BoxPool {
  readonly base: number;
  readonly size: number;
  private readonly free: number[];
  private readonly waiters: ((id: number) => void)[] = [];

  constructor(base: number, size: number) {
    if (!Number.isInteger(base) || base < 0)
      throw new Error(`box id base must be a non-negative integer, got ${base}`);
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`box pool size must be a positive integer, got ${size}`);
    this.base = base;
    this.size = size;
    this.free = Array.from({ length: size }, (_, i) => base + i);
  }

  ids(): number[] {
    return Array.from({ length: this.size }, (_, i) => this.base + i);
  }

  get available(): number {
    return this.free.length;
  }

  acquire(): Promise<number> {
    const id = this.free.shift();
    if (id !== undefined) return Promise.resolve(id);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(id: number): void {
    if (id < this.base || id >= this.base + this.size) throw new Error(`box ${id} is not in this pool`);
    // A second release would put the id in the free list twice: two runs would share one box.
    if (this.free.includes(id)) throw new Error(`box ${id} is not held (released twice?)`);
    const waiter = this.waiters.shift();
    if (waiter) waiter(id);
    else {
      this.free.push(id);
      this.free.sort((a, b) => a - b);
    }
  }

  /** Runs fn with a box id, releasing it afterwards whatever happens. */
  async with<T>(fn: (id: number) => Promise<T>): Promise<T> {
    const id = await this.acquire();
    try {
      return await fn(id);
    } finally {
      this.release(id);
    }
  }
}
