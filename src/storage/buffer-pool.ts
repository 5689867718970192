/** A fixed set of reusable buffers; acquiring waits while all are in use. This is the memory bound. */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiters: Array<(b: Buffer) => void> = [];
  private allocated = 0;
  constructor(
    readonly count: number,
    readonly size: number,
  ) {}

  acquire(): Promise<Buffer> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    // Allocated on first need, so a layer of small files never costs count x size.
    if (this.allocated < this.count) {
      this.allocated++;
      return Promise.resolve(Buffer.allocUnsafeSlow(this.size));
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(b: Buffer): void {
    const next = this.waiters.shift();
    if (next) next(b);
    else this.free.push(b);
  }
}
