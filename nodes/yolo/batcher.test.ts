import { describe, expect, it } from 'vitest';
import { Batcher } from './batcher.js';

/** A batcher on a hand-driven clock; `run` resolves when the test says so. */
function setup(o: { slots?: number; maxBatch?: number; maxWaitMs?: number } = {}) {
  let now = 0;
  const timers: { at: number; fn: () => void; live: boolean }[] = [];
  const runs: { items: string[]; done: () => void }[] = [];
  const b = new Batcher<string, string>({
    slots: o.slots ?? 1, maxBatch: o.maxBatch ?? 4, maxWaitMs: o.maxWaitMs ?? 5,
    now: () => now,
    setTimer: (fn, ms) => { const t = { at: now + ms, fn, live: true }; timers.push(t); return () => { t.live = false; }; },
    run: (items) => new Promise((resolve) => { runs.push({ items, done: () => resolve(items.map((i) => `r:${i}`)) }); }),
  });
  const tick = () => new Promise<void>((r) => setTimeout(r, 0));
  const advance = async (ms: number) => {
    now += ms;
    for (const t of timers) if (t.live && t.at <= now) { t.live = false; t.fn(); }
    await tick();
  };
  return { b, runs, tick, advance };
}

describe('batcher', () => {
  it('one stream: every frame goes alone at once, nothing waits', async () => {
    const { b, runs, tick } = setup();
    const r1 = b.submit('a1', 'a');
    await tick();
    expect(runs.map((r) => r.items)).toEqual([['a1']]);
    runs[0].done();
    expect(await r1).toBe('r:a1');
  });

  it('frames handed over together leave together; those that pile up while the worker is busy make the next batch', async () => {
    const { b, runs, tick, advance } = setup({ maxBatch: 3 });
    const first = ['a1', 'b1'].map((x) => b.submit(x, x[0]));
    await tick();
    expect(runs.map((r) => r.items)).toEqual([['a1', 'b1']]);
    const next = ['a2', 'b2', 'c1', 'd1'].map((x) => b.submit(x, x[0]));
    await tick();
    expect(runs.length).toBe(1); // the only worker is busy
    runs[0].done();
    await Promise.all(first);
    await tick();
    expect(runs.map((r) => r.items)).toEqual([['a1', 'b1'], ['a2', 'b2', 'c1']]); // max_batch 3
    runs[1].done();
    await tick();
    expect(runs.length).toBe(2); // d1 waits for the other streams' next frames…
    await advance(5);
    expect(runs[2].items).toEqual(['d1']); // …for max_wait_ms at most
    runs[2].done();
    expect(await Promise.all(next)).toEqual(['r:a2', 'r:b2', 'r:c1', 'r:d1']);
  });

  it('with several streams and room for more frames, waits up to max_wait_ms for the other streams', async () => {
    const { b, runs, tick, advance } = setup({ maxWaitMs: 5 });
    // Learn that the node may hold 2 frames at once and that 2 streams are live.
    b.submit('a1', 'a'); b.submit('b1', 'b');
    await tick();
    runs[0].done();
    await tick();
    const a2 = b.submit('a2', 'a');
    await advance(2);
    expect(runs.length).toBe(1); // waiting for b
    b.submit('b2', 'b');
    await tick();
    expect(runs[1].items).toEqual(['a2', 'b2']);
    runs[1].done();
    expect(await a2).toBe('r:a2');
    // b goes quiet: a3 leaves after max_wait_ms.
    b.submit('a3', 'a');
    await advance(4);
    expect(runs.length).toBe(2);
    await advance(1);
    expect(runs[2].items).toEqual(['a3']);
  });

  it('never waits when the node never held more than one frame (concurrency 1)', async () => {
    const { b, runs, tick } = setup();
    b.submit('a1', 'a');
    await tick();
    runs[0].done();
    await tick();
    b.submit('b1', 'b'); // two streams now, but one frame at a time
    await tick();
    expect(runs[1].items).toEqual(['b1']);
  });

  it('spreads batches over free workers; close() lets pending frames go without a result', async () => {
    const { b, runs, tick } = setup({ slots: 2, maxBatch: 1 });
    const ps = ['a1', 'a2', 'a3'].map((x) => b.submit(x, 'a'));
    await tick();
    expect(runs.map((r) => r.items)).toEqual([['a1'], ['a2']]);
    b.close();
    expect(await ps[2]).toBeUndefined();
    runs[0].done();
    expect(await ps[0]).toBe('r:a1');
    expect(await b.submit('x', 'a')).toBeUndefined();
  });

  it('a failed batch fails each of its frames', async () => {
    const b = new Batcher<string, string>({ slots: 1, maxBatch: 2, maxWaitMs: 0, now: () => 0, setTimer: () => () => undefined, run: () => Promise.reject(new Error('boom')) });
    const ps = [b.submit('a', 'a'), b.submit('b', 'b')];
    await expect(ps[0]).rejects.toThrow('boom');
    await expect(ps[1]).rejects.toThrow('boom');
  });
});
