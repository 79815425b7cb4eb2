/**
 * Gathers frames into batches for a pool of `slots` workers, pure apart from the clock and
 * timer it is given.
 *
 * A batch goes to a worker as soon as one is free and either
 * - it holds one frame per stream seen in the last `streamWindowMs` (up to `maxBatch`): with
 *   one camera nothing ever waits; or
 * - its oldest frame has waited `maxWaitMs`; or
 * - no more frames can come: the node already holds as many as it ever has at once (the
 *   runtime hands it at most `concurrency` frames, and this is how the batcher learns that
 *   number without being told; with `concurrency: 1` it never waits).
 * Frames handed over in the same tick are gathered before anything is dispatched, so frames
 * that piled up while every worker was busy leave together.
 */
export interface BatcherOptions<T, R> {
  slots: number;
  maxBatch: number;
  maxWaitMs: number;
  now: () => number;
  setTimer: (fn: () => void, ms: number) => () => void;
  run: (items: T[]) => Promise<R[]>;
  streamWindowMs?: number;
}

interface Item<T, R> { item: T; at: number; resolve: (r: R | undefined) => void; reject: (e: unknown) => void }

export class Batcher<T, R> {
  private pending: Item<T, R>[] = [];
  private busy = 0;
  private running = 0;
  private maxHeld = 0;
  private readonly streams = new Map<string, number>();
  private cancelTimer: (() => void) | undefined;
  private scheduled = false;
  private closed = false;
  batches = 0;
  items = 0;

  constructor(private readonly o: BatcherOptions<T, R>) {}

  /** Resolves with the item's result, or undefined if the batcher closed first. */
  submit(item: T, stream: string): Promise<R | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    const now = this.o.now();
    this.streams.set(stream, now);
    return new Promise<R | undefined>((resolve, reject) => {
      this.pending.push({ item, at: now, resolve, reject });
      this.maxHeld = Math.max(this.maxHeld, this.pending.length + this.running);
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => { this.scheduled = false; this.pump(); });
      }
    });
  }

  /** Streams that sent a frame within the window. */
  activeStreams(): number {
    const since = this.o.now() - (this.o.streamWindowMs ?? 2000);
    for (const [s, t] of this.streams) if (t < since) this.streams.delete(s);
    return this.streams.size;
  }

  get held(): number {
    return this.pending.length + this.running;
  }

  private pump(): void {
    if (this.closed) return;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    while (this.busy < this.o.slots && this.pending.length > 0) {
      const want = Math.min(this.o.maxBatch, this.activeStreams());
      if (this.pending.length < want && this.held < this.maxHeld) {
        const waited = this.o.now() - this.pending[0].at;
        if (waited < this.o.maxWaitMs) {
          this.cancelTimer = this.o.setTimer(() => { this.cancelTimer = undefined; this.pump(); }, this.o.maxWaitMs - waited);
          return;
        }
      }
      const batch = this.pending.splice(0, this.o.maxBatch);
      this.busy++;
      this.running += batch.length;
      this.batches++;
      this.items += batch.length;
      this.o.run(batch.map((b) => b.item)).then(
        (rs) => batch.forEach((b, i) => b.resolve(rs[i])),
        (err: unknown) => batch.forEach((b) => b.reject(err)),
      ).finally(() => {
        this.busy--;
        this.running -= batch.length;
        this.pump();
      });
    }
  }

  /** Pending frames resolve with undefined; batches at work finish (or fail) on their own. */
  close(): void {
    this.closed = true;
    this.cancelTimer?.();
    for (const p of this.pending.splice(0)) p.resolve(undefined);
  }
}
