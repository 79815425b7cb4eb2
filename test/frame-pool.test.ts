import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { defineNode, FramePool, retainFrame, Type, type Frame, type Packet } from '../src/contract.js';
import { startGraph, waitFor } from './support/app.js';
import { testRegistry } from './support/test-nodes.js';

const pools = new Map<string, FramePool>();
const pooledSource = defineNode({
  type: 'test-pooled-source',
  summary: 'Emits frames from a FramePool, stamping each with its sequence number.',
  options: Type.Object({ count: Type.Integer({ default: 200, description: 'Frames.' }) }),
  inputs: {},
  outputs: { frames: { kind: 'frame', description: 'Frames.' } },
  canPause: true,
  create(cfg, ctx) {
    const pool = new FramePool(64 * 64 * 3);
    pools.set(ctx.id, pool);
    return {
      async run() {
        for (let seq = 0; seq < cfg.count && !ctx.signal.aborted; seq++) {
          const pixels = pool.take();
          pixels.writeUInt32LE(seq, 0);
          const frame: Frame = { width: 64, height: 64, format: 'rgb24', stride: 192, pixels };
          await ctx.emit('frames', { streamId: 's', seq, captureTimeMs: seq, data: frame });
          await new Promise((r) => setImmediate(r));
        }
      },
    };
  },
});

const kept: { seq: number; stamp: () => number; release: () => void }[] = [];
const keeper = defineNode({
  type: 'test-keeper',
  summary: 'Retains every 10th frame and checks its stamp later.',
  options: Type.Object({ delay_ms: Type.Number({ default: 0, description: 'Work time.' }) }),
  inputs: { frames: { kind: 'frame', description: 'Frames.', defaultQueue: { mode: 'latest' } } },
  outputs: {},
  canPause: true,
  create(cfg) {
    return {
      async process(p: Packet) {
        const f = p.data as Frame;
        if (f.pixels.readUInt32LE(0) !== p.seq) throw new Error(`frame ${p.seq} holds ${f.pixels.readUInt32LE(0)}: memory reused while in use`);
        if (p.seq % 10 === 0) kept.push({ seq: p.seq, stamp: () => f.pixels.readUInt32LE(0), release: retainFrame(f) });
        if (cfg.delay_ms) await new Promise((r) => setTimeout(r, cfg.delay_ms));
        if (f.pixels.readUInt32LE(0) !== p.seq) throw new Error(`frame ${p.seq} changed while its node worked on it`);
      },
    };
  },
});

let app: App | undefined;
afterEach(async () => { await app?.stop(); app = undefined; });

describe('frame memory pool', () => {
  it('reuses frame memory only once no queue, node or retainer holds it, through fan-out, eviction and slow consumers', async () => {
    kept.length = 0;
    ({ app } = await startGraph(`
version: 1
name: pool
status: { enabled: false }
nodes:
  src: { type: test-pooled-source, count: 300 }
  fast: { type: test-keeper, inputs: { frames: { from: src.frames, queue: { block: 4 } } } }
  slow: { type: test-keeper, delay_ms: 15, inputs: { frames: src.frames } }
  lossy: { type: test-keeper, delay_ms: 5, inputs: { frames: { from: src.frames, queue: { drop_newest: 2 } } } }
`, { registry: testRegistry.with([pooledSource, keeper]) }));
    await app.runtime.finished;
    const rt = app.runtime;
    for (const id of ['fast', 'slow', 'lossy']) expect(rt.runners.get(id)!.stats.errors, id).toBe(0);
    expect(rt.edgeList().find((e) => e.to.node === 'slow')!.dropped).toBeGreaterThan(50); // latest evicted many
    // Retained frames kept their content while later frames reused memory.
    expect(kept.length).toBeGreaterThan(30);
    for (const k of kept) expect(k.stamp()).toBe(k.seq);
    const pool = pools.get('src')!;
    expect(pool.reused).toBeGreaterThan(150);
    // Everything not retained is back in the pool (bounded by its cap), nothing leaked.
    const retained = kept.length;
    expect(pool.allocated - retained).toBeLessThanOrEqual(pool.idle);
    for (const k of kept) k.release();
    await waitFor(() => pool.idle >= Math.min(16, pool.allocated), 2000, 'released frames back in the pool');
  });
});
