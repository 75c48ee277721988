/**
 * Box ids of one agent: [base, base + size). Agents sharing a machine get
 * disjoint ranges (ENVICUTOR_BOX_ID_BASE), so their boxes never collide.
 * acquire() waits for a free id; ids are handed out lowest first. A run that
 * needs several boxes at once (a checker's, an interactor's) takes them all
 * in one step, so two such runs never each hold one and wait for the other's.
 */
export class BoxPool {
  readonly base: number;
  readonly size: number;
  private readonly free: number[];
  private readonly waiters: { count: number; resolve: (ids: number[]) => void }[] = [];

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
    return this.acquireMany(1).then((ids) => ids[0]!);
  }

  /** `count` ids at once, first come first served: a later request never overtakes a waiting one. */
  acquireMany(count: number): Promise<number[]> {
    if (!Number.isInteger(count) || count < 1 || count > this.size)
      return Promise.reject(new Error(`cannot take ${count} boxes from a pool of ${this.size}`));
    if (this.waiters.length === 0 && this.free.length >= count)
      return Promise.resolve(this.free.splice(0, count));
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  release(id: number): void {
    if (id < this.base || id >= this.base + this.size) throw new Error(`box ${id} is not in this pool`);
    // A second release would put the id in the free list twice: two runs would share one box.
    if (this.free.includes(id)) throw new Error(`box ${id} is not held (released twice?)`);
    this.free.push(id);
    this.free.sort((a, b) => a - b);
    while (this.waiters.length > 0 && this.free.length >= this.waiters[0]!.count) {
      const w = this.waiters.shift()!;
      w.resolve(this.free.splice(0, w.count));
    }
  }

  /** Runs fn with a box id, releasing it afterwards whatever happens. */
  async with<T>(fn: (id: number) => Promise<T>): Promise<T> {
    return this.withMany(1, (ids) => fn(ids[0]!));
  }

  /** Runs fn with `count` box ids taken at once, releasing them afterwards whatever happens. */
  async withMany<T>(count: number, fn: (ids: number[]) => Promise<T>): Promise<T> {
    const ids = await this.acquireMany(count);
    try {
      return await fn(ids);
    } finally {
      for (const id of ids) this.release(id);
    }
  }
}
