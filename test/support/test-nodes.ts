/**
 * Node types used only by tests and benchmarks: a pass-through, a slow node, a node that fails
 * on every Nth packet, and a recorder that keeps what it receives. They go through the same
 * contract and schema validation as real nodes (the registry is extended with them).
 */
import { defineNode, retainFrame, Type, type Packet } from '../../src/contract.js';
import { builtinNodes, Registry } from '../../src/registry.js';

export const passthrough = defineNode({
  type: 'test-pass',
  summary: 'Emits every packet unchanged (same object).',
  options: Type.Object({
    delay_ms: Type.Number({ minimum: 0, default: 0, description: 'Wait this long per packet (timer, not busy).' }),
    busy_ms: Type.Number({ minimum: 0, default: 0, description: 'Burn CPU this long per packet.' }),
  }),
  inputs: { in: { kind: 'any', description: 'Anything.', defaultQueue: { mode: 'latest' } } },
  outputs: { out: { kind: 'any', description: 'The same packets.' } },
  canPause: true,
  create(cfg, ctx) {
    return {
      process(p: Packet) {
        if (cfg.busy_ms > 0) {
          const end = performance.now() + cfg.busy_ms;
          while (performance.now() < end);
        }
        if (cfg.delay_ms > 0) return ctx.clock.sleep(cfg.delay_ms).then(() => ctx.emit('out', p));
        return ctx.emit('out', p);
      },
    };
  },
});

export const flaky = defineNode({
  type: 'test-flaky',
  summary: 'Throws on every Nth packet it sees (counting across restarts).',
  options: Type.Object({
    fail_every: Type.Integer({ minimum: 1, default: 10, description: 'Throw on packets N, 2N, 3N, …' }),
  }),
  inputs: { in: { kind: 'any', description: 'Anything.', defaultQueue: { mode: 'drop_oldest', size: 8 } } },
  outputs: { out: { kind: 'any', description: 'The packets that did not fail.' } },
  canPause: true,
  create(cfg, ctx) {
    return {
      process(p: Packet) {
        flakyCount.n++;
        if (flakyCount.n % cfg.fail_every === 0) throw new Error(`planned failure on packet ${flakyCount.n}`);
        return ctx.emit('out', p);
      },
    };
  },
});
/** Shared across instances so restarts keep the rhythm. */
export const flakyCount = { n: 0 };

/** Recorders keep received packets in memory, by node id, for assertions. */
export const recorded = new Map<string, Packet[]>();
export const recorder = defineNode({
  type: 'test-recorder',
  summary: 'Keeps every packet it receives (tests only).',
  options: Type.Object({
    keep: Type.Boolean({ default: true, description: 'Keep packets (false: count only).' }),
  }),
  inputs: { in: { kind: 'any', description: 'Anything.', defaultQueue: { mode: 'drop_oldest', size: 64 } } },
  outputs: {},
  canPause: true,
  create(cfg, ctx) {
    const list: Packet[] = [];
    recorded.set(ctx.id, list);
    return {
      process(p: Packet) {
        if (cfg.keep) {
          // Keeping a frame past process: hold it, or its pooled memory is reused.
          if (p.data && typeof p.data === 'object' && 'pixels' in (p.data as object)) retainFrame(p.data as { pixels: Buffer });
          list.push(p);
        }
      },
    };
  },
});

/** Typed ports (frame in, detections out), for kind checks in graph validation tests. */
export const detector = defineNode({
  type: 'test-detector',
  summary: 'Emits an empty detection list per frame (tests only).',
  options: Type.Object({
    threshold: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'Minimum score to keep.' }),
  }),
  inputs: { frames: { kind: 'frame', description: 'Frames to look at.' } },
  outputs: { detections: { kind: 'detections', description: 'One (empty) list per frame.' } },
  canPause: true,
  create(_cfg, ctx) {
    return { process: (p: Packet) => ctx.emit('detections', { ...p, data: [] }) };
  },
});

/** A source that cannot pause, like a live camera: `block` edges from it are refused. */
export const liveSource = defineNode({
  type: 'test-live-source',
  summary: 'Frames that cannot wait for consumers (tests only).',
  options: Type.Object({
    fps: Type.Number({ exclusiveMinimum: 0, default: 10, description: 'Frames per second.' }),
  }),
  inputs: {},
  outputs: { frames: { kind: 'frame', description: 'Packets with no pixels.' } },
  canPause: false,
  create(cfg, ctx) {
    return {
      async run() {
        for (let seq = 0; !ctx.signal.aborted; seq++) {
          ctx.emit('frames', { streamId: ctx.id, seq, captureTimeMs: ctx.clock.now(), data: null });
          try { await ctx.clock.sleep(1000 / cfg.fps, ctx.signal); } catch { break; }
        }
      },
    };
  },
});

export const testRegistry = new Registry([...builtinNodes, passthrough, flaky, recorder, detector, liveSource]);
