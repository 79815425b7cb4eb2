/**
 * Event-loop delay, measured so that a loop that never turns is seen.
 *
 * perf_hooks.monitorEventLoopDelay drops the first interval after it is enabled, so if it is
 * enabled while microtasks hold the loop (a source awaiting only `emit` on a chain that keeps
 * up), the whole stall goes unrecorded. This sampler stamps the time when it starts, runs a
 * 1 ms interval, and records each gap between callbacks minus the interval: the first gap
 * covers any stall since `start()`. Call `stop()` after at least one timer turn (the caller
 * awaits a short setTimeout), so the last stall is recorded too.
 */
import { performance } from 'node:perf_hooks';
import { quantile } from './harness.js';

export class LoopDelay {
  private last = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly lags: number[] = [];

  constructor(private readonly intervalMs = 1) {}

  start(): void {
    if (this.timer) return;
    this.last = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      this.lags.push(Math.max(0, now - this.last - this.intervalMs));
      this.last = now;
    }, this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get count(): number {
    return this.lags.length;
  }

  /** Delay quantile in ms (q in 0..1); NaN with no sample. */
  quantile(q: number): number {
    return quantile([...this.lags].sort((a, b) => a - b), q);
  }

  get max(): number {
    return this.lags.length ? Math.max(...this.lags) : NaN;
  }
}
