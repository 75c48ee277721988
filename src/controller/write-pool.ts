/** Runs async tasks with bounded concurrency, in the order given; tasks handle their own errors. */
export class WritePool {
  readonly limit: number;
  private active = 0;
  private readonly waiting: (() => Promise<void>)[] = [];

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Tasks running or waiting to run. */
  get pending(): number {
    return this.active + this.waiting.length;
  }

  run(task: () => Promise<void>): void {
    this.waiting.push(task);
    this.next();
  }

  private next(): void {
    while (this.active < this.limit && this.waiting.length > 0) {
      const task = this.waiting.shift()!;
      this.active++;
      void task()
        .catch(() => undefined)
        .finally(() => {
          this.active--;
          this.next();
        });
    }
  }
}
