import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { startGraph, waitFor } from './support/app.js';
import { emitted, runtimeRegistry } from './support/runtime-nodes.js';
import { flakyCount, recorded } from './support/test-nodes.js';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;
const heapNow = () => { gc(); gc(); return process.memoryUsage().heapUsed; };

let app: App | undefined;
afterEach(async () => { await app?.stop(); app = undefined; });

const edge = (a: App, id: string) => a.runtime.edgeList().find((e) => e.id === id)!;

describe('backpressure', () => {
  it('1000 packets/s into a 100 ms node for 10 s: every packet is delivered or counted as dropped, queues stay bounded, heap stays flat', async () => {
    ({ app } = await startGraph(`
version: 1
name: backpressure
status: { enabled: false }
nodes:
  fast:
    type: synthetic-source
    width: 32
    height: 18
    fps: 1000
  slow_latest:
    type: test-pass
    delay_ms: 100
    inputs: { in: fast.frames }
  slow_dropping:
    type: test-pass
    delay_ms: 100
    inputs: { in: { from: fast.frames, queue: { drop_oldest: 8 } } }
  paced:
    type: synthetic-source
    width: 32
    height: 18
    fps: 1000
  slow_blocking:
    type: test-pass
    delay_ms: 100
    inputs: { in: { from: paced.frames, queue: { block: 4 } } }
  sink_a: { type: test-recorder, keep: false, inputs: { in: slow_latest.out } }
  sink_b: { type: test-recorder, keep: false, inputs: { in: slow_dropping.out } }
  sink_c: { type: test-recorder, keep: false, inputs: { in: slow_blocking.out } }
`));
    const rt = app.runtime;
    await new Promise((r) => setTimeout(r, 2000));
    const heapAt2s = heapNow();
    await new Promise((r) => setTimeout(r, 8000));
    const heapAt10s = heapNow();
    // Freeze the producers, then count: nothing may be unaccounted for.
    await Promise.all(['fast', 'paced'].map((id) => (rt.runners.get(id) as any).stopSource()));
    const produced = rt.runners.get('fast')!.stats.packetsOut;
    const pausedProduced = rt.runners.get('paced')!.stats.packetsOut;
    expect(produced).toBeGreaterThan(7000); // ~1000/s for 10 s on a loaded machine
    for (const id of ['fast.frames->slow_latest.in', 'fast.frames->slow_dropping.in']) {
      const e = edge(app, id);
      expect(e.offered).toBe(produced);
      expect(e.delivered + e.dropped + e.depth + e.waiting).toBe(produced);
      expect(e.maxDepth).toBeLessThanOrEqual(e.capacity);
      expect(e.delivered).toBeGreaterThan(50); // the 100 ms node did work: ~100 in 10 s
      expect(e.delivered).toBeLessThan(130);
      expect(e.dropped).toBeGreaterThan(produced - 140);
    }
    const fig = (id: string) => { const e = edge(app!, id); return `${id}: offered ${e.offered}, delivered ${e.delivered}, dropped ${e.dropped} (${JSON.stringify(e.drops)}), queued ${e.depth}, max depth ${e.maxDepth}/${e.capacity}`; };
    console.log(`backpressure over 10 s: produced ${produced}; heap growth 2 s→10 s ${((heapAt10s - heapAt2s) / 1024).toFixed(0)} KiB\n${fig('fast.frames->slow_latest.in')}\n${fig('fast.frames->slow_dropping.in')}\nblock: produced ${pausedProduced}; ${fig('paced.frames->slow_blocking.in')}`);
    const b = edge(app, 'paced.frames->slow_blocking.in');
    expect(b.dropped).toBe(0);
    expect(b.offered).toBe(pausedProduced);
    expect(b.delivered + b.depth + b.waiting).toBe(pausedProduced);
    expect(b.maxDepth).toBeLessThanOrEqual(4);
    // Paused: the blocked source produced only what the slow node took plus the queue and one waiting.
    expect(pausedProduced).toBeLessThanOrEqual(b.delivered + 4 + 1);
    expect(pausedProduced).toBeLessThan(150);
    // Heap flat: growth between 2 s and 10 s well under what keeping 8000 packets would take.
    expect(heapAt10s - heapAt2s).toBeLessThan(2 * 1024 * 1024);
  }, 30000);
});

describe('frames travel by reference', () => {
  it('the frame object and its pixel buffer reach the last node of a 5-node chain unchanged (no copies)', async () => {
    ({ app } = await startGraph(`
version: 1
name: zero-copy
status: { enabled: false }
nodes:
  src: { type: test-frame-source, count: 20 }
  a: { type: test-pass, inputs: { in: { from: src.frames, queue: { block: 2 } } } }
  b: { type: test-pass, inputs: { in: { from: a.out, queue: { block: 2 } } } }
  c: { type: test-pass, inputs: { in: { from: b.out, queue: { block: 2 } } } }
  last: { type: test-recorder, inputs: { in: { from: c.out, queue: { block: 2 } } } }
`, { registry: runtimeRegistry }));
    await app.runtime.finished;
    const sent = emitted.get('src')!;
    const got = recorded.get('last')!;
    expect(got).toHaveLength(20);
    got.forEach((p, i) => {
      expect(p).toBe(sent[i]);
      expect(p.data).toBe(sent[i].data);
      expect((p.data as any).pixels).toBe(sent[i].data.pixels);
      expect((p.data as any).pixels.buffer).toBeInstanceOf(SharedArrayBuffer);
    });
  });
});

describe('failures', () => {
  it('a node that throws on every 10th packet: the graph keeps running, errors and restarts are counted and shown', async () => {
    flakyCount.n = 0;
    ({ app } = await startGraph(`
version: 1
name: flaky
status: { enabled: false }
nodes:
  cam: { type: synthetic-source, width: 16, height: 16, fps: 200 }
  flaky:
    type: test-flaky
    fail_every: 10
    restart: { initial_ms: 20, max_ms: 100 }
    inputs: { in: cam.frames }
  after: { type: test-recorder, keep: false, inputs: { in: flaky.out } }
  other: { type: test-recorder, keep: false, inputs: { in: cam.frames } }
`));
    const rt = app.runtime;
    await waitFor(() => rt.runners.get('flaky')!.stats.restarts >= 3, 15000, '3 restarts');
    const snap = rt.snapshot();
    const flaky = snap.nodes.find((n) => n.id === 'flaky')!;
    expect(flaky.errors).toBeGreaterThanOrEqual(3);
    expect(flaky.restarts).toBeGreaterThanOrEqual(3);
    expect(flaky.lastError).toMatch(/planned failure on packet \d+0$/);
    // The rest of the graph kept running: the unrelated branch saw packets all along,
    // and the flaky node's consumer got the 9 out of 10 that did not fail.
    const otherBefore = rt.runners.get('other')!.stats.packetsIn;
    const restartsBefore = flaky.restarts;
    await new Promise((r) => setTimeout(r, 1000));
    expect(rt.runners.get('other')!.stats.packetsIn - otherBefore).toBeGreaterThan(100);
    expect(rt.runners.get('flaky')!.stats.restarts).toBeGreaterThan(restartsBefore);
    expect(rt.runners.get('after')!.stats.packetsIn).toBeGreaterThan(20);
    expect(snap.nodes.find((n) => n.id === 'cam')!.state).toBe('running');
    const metrics = await rt.metrics.text();
    expect(metrics).toMatch(/graphrun_node_errors_total\{node_id="flaky",node_type="test-flaky"\} [1-9]/);
    expect(metrics).toMatch(/graphrun_node_restarts_total\{node_id="flaky",node_type="test-flaky"\} [1-9]/);
  });

  it('stops cleanly: sources first, queues drain, every node ends stopped', async () => {
    ({ app } = await startGraph(`
version: 1
name: drain
status: { enabled: false }
nodes:
  src: { type: test-frame-source, count: 1000000, width: 8, height: 8 }
  slow: { type: test-pass, delay_ms: 5, inputs: { in: { from: src.frames, queue: { block: 16 } } } }
  sink: { type: test-recorder, keep: false, inputs: { in: { from: slow.out, queue: { block: 16 } } } }
`, { registry: runtimeRegistry }));
    await new Promise((r) => setTimeout(r, 300));
    const rt = app.runtime;
    await app.stop();
    app = undefined;
    const produced = rt.runners.get('src')!.stats.packetsOut;
    // Drained: everything the source produced went through, nothing dropped at shutdown.
    expect(rt.runners.get('sink')!.stats.packetsIn).toBe(produced);
    expect(rt.edgeList().reduce((a, e) => a + e.dropped, 0)).toBe(0);
    expect(rt.snapshot().nodes.every((n) => n.state === 'stopped')).toBe(true);
  });
});
