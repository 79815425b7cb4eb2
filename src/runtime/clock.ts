import { setTimeout as sleepTimer } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { Clock } from '../contract.js';

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms, signal) => sleepTimer(ms, undefined, { signal }),
};

/** A clock that moves only when told to: for tests of cooldowns, buffers and timeouts. */
export class FakeClock implements Clock {
  private t: number;
  private timers: { at: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.t = startMs;
  }
  now(): number { return this.t; }
  monotonic(): number { return this.t; }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = { at: this.t + ms, resolve, reject };
      this.timers.push(timer);
      signal?.addEventListener('abort', () => {
        this.timers = this.timers.filter((x) => x !== timer);
        reject(signal.reason);
      }, { once: true });
    });
  }
  /** Move time forward, waking sleepers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.resolve();
    }
    this.t = end;
  }
}
