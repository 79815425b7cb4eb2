import { describe, expect, it } from 'vitest';
import { allocFrameBuffer } from '../src/frames.js';
import { PoolFullError, WorkerPool } from '../src/worker-pool.js';

const entry = new URL('./support/touch-worker.ts', import.meta.url);

describe('worker pool', () => {
  it('hands a frame to a worker without copying it: the worker writes into the same memory', async () => {
    const pool = new WorkerPool<{ pixels: Buffer }, { sum: number; shared: boolean }>(entry, { size: 2, workerData: { marker: 77 } });
    await pool.start();
    try {
      const pixels = allocFrameBuffer(1280 * 720 * 3);
      pixels.fill(1);
      const r = await pool.run({ pixels });
      expect(r.shared).toBe(true);
      expect(r.sum).toBe((1280 * 720 * 3) % 65521);
      expect(pixels[0]).toBe(77); // written by the worker into the shared buffer
    } finally {
      await pool.stop();
    }
  });

  it('runs jobs on several workers at once and bounds its queue', async () => {
    const pool = new WorkerPool(entry, { size: 2, workerData: { marker: 1 }, maxQueue: 2 });
    await pool.start();
    try {
      const jobs = Array.from({ length: 4 }, () => pool.run({ pixels: allocFrameBuffer(4_000_000) }));
      await expect(pool.run({ pixels: allocFrameBuffer(16) })).rejects.toBeInstanceOf(PoolFullError);
      const results = await Promise.all(jobs);
      expect(results).toHaveLength(4);
    } finally {
      await pool.stop();
    }
  });

  it('fails the job of a worker that dies and replaces the worker', async () => {
    const pool = new WorkerPool(entry, { size: 1, workerData: { marker: 2 } });
    await pool.start();
    try {
      await expect(pool.run({ pixels: allocFrameBuffer(16), crash: true })).rejects.toThrow(/exited with code 3/);
      const deadline = Date.now() + 10000;
      let ok: unknown;
      while (Date.now() < deadline) {
        try { ok = await pool.run({ pixels: allocFrameBuffer(16) }); break; } catch { await new Promise((r) => setTimeout(r, 50)); }
      }
      expect(ok).toMatchObject({ shared: true });
    } finally {
      await pool.stop();
    }
  });
});
