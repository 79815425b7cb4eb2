/**
 * synthetic-source — frames of a given size at a given rate with a moving pattern, for demos,
 * tests and benchmarks.
 *
 * Ports: out `frames` (frame).
 * Drops: never itself. With `realtime: true` it paces to `fps`; when a `block` edge downstream
 * is full it waits (that is the pause), and after a pause it resumes from the present instead
 * of bursting the frames it missed. With `realtime: false` it emits as fast as consumers take
 * them, yielding to the event loop between frames.
 * Frames are pre-rendered once (`distinct_frames` of them) and reused: packets are read-only by
 * contract, so handing the same buffer out again is safe and costs nothing.
 *
 * ```yaml
 * cam:
 *   type: synthetic-source
 *   width: 1280
 *   height: 720
 *   fps: 15
 * ```
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { defineNode, Type, type Frame, type Packet } from '../../src/contract.js';
import { allocFrameBuffer } from '../../src/frames.js';

export const syntheticSource = defineNode({
  type: 'synthetic-source',
  summary: 'Frames of a given size and rate with a moving pattern (demos, tests, benchmarks).',
  options: Type.Object({
    width: Type.Integer({ minimum: 2, maximum: 7680, default: 1280, description: 'Frame width in pixels.' }),
    height: Type.Integer({ minimum: 2, maximum: 4320, default: 720, description: 'Frame height in pixels.' }),
    fps: Type.Number({ exclusiveMinimum: 0, maximum: 10000, default: 15, description: 'Frames per second when `realtime` is true.' }),
    realtime: Type.Boolean({ default: true, description: 'Pace frames at `fps`; false emits as fast as consumers accept.' }),
    format: Type.Union([Type.Literal('rgb24'), Type.Literal('bgr24'), Type.Literal('gray8')], { default: 'rgb24', description: 'Pixel format of the frames.' }),
    stream_id: Type.String({ default: '', description: 'Stream id carried by every packet; empty means the node id.' }),
    count: Type.Integer({ minimum: 0, default: 0, description: 'Stop after this many frames; 0 runs until stopped.' }),
    distinct_frames: Type.Integer({ minimum: 1, maximum: 600, default: 30, description: 'How many different frames to pre-render and cycle through (memory = this × frame size).' }),
  }),
  inputs: {},
  outputs: { frames: { kind: 'frame', description: 'Raw frames with a bar moving left to right.' } },
  canPause: true,
  create(cfg, ctx) {
    const streamId = cfg.stream_id || ctx.id;
    const channels = cfg.format === 'gray8' ? 1 : 3;
    const stride = cfg.width * channels;
    const frames: Frame[] = [];
    for (let i = 0; i < cfg.distinct_frames; i++) {
      const pixels = allocFrameBuffer(stride * cfg.height);
      paint(pixels, cfg.width, cfg.height, channels, i / cfg.distinct_frames);
      frames.push({ width: cfg.width, height: cfg.height, format: cfg.format, pixels, stride });
    }
    const produced = ctx.metrics.counter('synthetic_frames_total', 'Frames produced by a synthetic source.');
    let seq = 0;
    return {
      async run() {
        const interval = 1000 / cfg.fps;
        let next = ctx.clock.monotonic();
        let lastText = 0;
        ctx.status({ state: 'running', text: `producing ${cfg.width}x${cfg.height} ${cfg.realtime ? `at ${cfg.fps} fps` : 'as fast as accepted'}` });
        while (!ctx.signal.aborted && (cfg.count === 0 || seq < cfg.count)) {
          if (cfg.realtime) {
            const now = ctx.clock.monotonic();
            if (next > now) {
              try { await ctx.clock.sleep(next - now, ctx.signal); } catch { break; }
            } else if (now - next > 250) next = now; // after a pause: resume from now, no burst
            next += interval;
          }
          const packet: Packet<Frame> = { streamId, seq, captureTimeMs: ctx.clock.now(), data: frames[seq % frames.length] };
          seq++;
          produced.inc();
          // Always await, even when emit returns nothing: it lets consumers take this frame
          // (their pumps are queued microtasks) before a catch-up frame could replace it.
          await ctx.emit('frames', packet);
          if (!cfg.realtime) await yieldToLoop();
          const t = ctx.clock.monotonic();
          if (t - lastText > 1000) {
            lastText = t;
            ctx.status({ text: `frame ${seq}${cfg.count ? `/${cfg.count}` : ''}, ${cfg.width}x${cfg.height}` });
          }
        }
        ctx.status({ text: `ended after ${seq} frames` });
      },
    };
  },
});

/** A diagonal gradient with a bright vertical bar at `phase` (0..1) of the width. */
function paint(buf: Buffer, w: number, h: number, ch: number, phase: number): void {
  const barX = Math.floor(phase * w);
  const barW = Math.max(2, Math.floor(w / 20));
  for (let y = 0; y < h; y++) {
    let o = y * w * ch;
    for (let x = 0; x < w; x++) {
      const inBar = x >= barX && x < barX + barW;
      const g = inBar ? 255 : ((x + y) * 255) / (w + h);
      for (let c = 0; c < ch; c++) buf[o++] = inBar ? 255 - c * 60 : g * (0.5 + c * 0.25);
    }
  }
}
