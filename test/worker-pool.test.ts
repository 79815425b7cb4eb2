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

  it('depth 2: the next job waits in the worker, which starts it the moment the last one ends, even while the main thread is busy', async () => {
    type R = { id: number; startedAt: number; endedAt: number; active: number };
    const gaps = async (depth: number): Promise<number> => {
      const pool = new WorkerPool<{ pixels: Buffer; id: number; blockMs: number }, R>(entry, { size: 1, depth, workerData: { marker: 3 } });
      await pool.start();
      try {
        const jobs = [1, 2].map((id) => pool.run({ pixels: allocFrameBuffer(16), id, blockMs: 40 }));
        const t = Date.now();
        while (Date.now() - t < 300) { /* the main thread busy past the first job's end */ }
        const [a, b] = await Promise.all(jobs);
        expect([a.id, b.id]).toEqual([1, 2]);
        return b.startedAt - a.endedAt;
      } finally {
        await pool.stop();
      }
    };
    expect(await gaps(2)).toBeLessThan(100);
    expect(await gaps(1)).toBeGreaterThanOrEqual(150); // posted only after the main thread's turn
  });

  it('depth 2: a worker answers its jobs one at a time and in order, even when a job awaits', async () => {
    const pool = new WorkerPool<{ pixels: Buffer; id: number; waitMs: number }, { id: number; active: number }>(entry, { size: 1, depth: 2, workerData: { marker: 4 }, maxQueue: 10 });
    await pool.start();
    try {
      const rs = await Promise.all([1, 2, 3, 4, 5].map((id) => pool.run({ pixels: allocFrameBuffer(16), id, waitMs: 15 - id * 2 })));
      expect(rs.map((r) => r.id)).toEqual([1, 2, 3, 4, 5]);
      expect(rs.map((r) => r.active)).toEqual([1, 1, 1, 1, 1]);
    } finally {
      await pool.stop();
    }
  });

  it('depth 2: a worker that dies fails both jobs it held', async () => {
    const pool = new WorkerPool<{ pixels: Buffer; crash?: boolean; blockMs?: number }, unknown>(entry, { size: 1, depth: 2, workerData: { marker: 5 } });
    await pool.start();
    try {
      const a = pool.run({ pixels: allocFrameBuffer(16), crash: true });
      const b = pool.run({ pixels: allocFrameBuffer(16), blockMs: 5 });
      await expect(a).rejects.toThrow(/exited with code 3/);
      await expect(b).rejects.toThrow(/exited with code 3/);
    } finally {
      await pool.stop();
    }
  });
});
