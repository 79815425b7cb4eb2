/** Test node types for runtime tests: a source that emits fresh frames and keeps them. */
import { defineNode, Type, type Frame, type Packet } from '../../src/contract.js';
import { allocFrameBuffer } from '../../src/frames.js';
import { testRegistry } from './test-nodes.js';

export const emitted = new Map<string, Packet<Frame>[]>();

export const frameSource = defineNode({
  type: 'test-frame-source',
  summary: 'Emits `count` newly allocated frames as fast as accepted and keeps them.',
  options: Type.Object({
    count: Type.Integer({ minimum: 1, default: 10, description: 'Frames to emit.' }),
    width: Type.Integer({ minimum: 1, default: 1280, description: 'Width.' }),
    height: Type.Integer({ minimum: 1, default: 720, description: 'Height.' }),
  }),
  inputs: {},
  outputs: { frames: { kind: 'frame', description: 'Frames.' } },
  canPause: true,
  create(cfg, ctx) {
    const list: Packet<Frame>[] = [];
    emitted.set(ctx.id, list);
    return {
      async run() {
        for (let seq = 0; seq < cfg.count && !ctx.signal.aborted; seq++) {
          const pixels = allocFrameBuffer(cfg.width * cfg.height * 3);
          const p: Packet<Frame> = { streamId: ctx.id, seq, captureTimeMs: ctx.clock.now(), data: { width: cfg.width, height: cfg.height, format: 'rgb24', stride: cfg.width * 3, pixels } };
          list.push(p);
          await ctx.emit('frames', p);
        }
      },
    };
  },
});

export const runtimeRegistry = testRegistry.with([frameSource]);
