/**
 * Node types used only by the benchmarks. test/ is not compiled into dist/, so the bench keeps
 * its own, written against the same contract as real nodes (`defineNode`, schema-validated
 * options, registered next to the built-in types).
 *
 * - `bench-pass`: emits every packet unchanged (same object) — the cheapest possible node, so
 *   what a chain of them costs is the runtime's own cost.
 * - `bench-source`: emits `count` packets carrying one pre-allocated frame in a tight loop that
 *   awaits only `emit` (so only back-pressure pauses it): no event-loop yield per frame, unlike
 *   synthetic-source with `realtime: false`. `yield_every` adds a setImmediate every N packets.
 * - `bench-sink`: counts packets and stamps the time of the `mark`-th and the last one into a
 *   probe the benchmark reads (module-level, by node id), and resolves `probe.done` at `expect`.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { defineNode, Type, type AnyNodeDefinition, type Frame, type Packet } from '../../src/contract.js';
import { allocFrameBuffer } from '../../src/frames.js';
import { builtinNodes, Registry } from '../../src/registry.js';

export const benchPass = defineNode({
  type: 'bench-pass',
  summary: 'Emits every packet unchanged (same object); benchmarks only.',
  options: Type.Object({}),
  inputs: { in: { kind: 'any', description: 'Anything.', defaultQueue: { mode: 'block', size: 16 } } },
  outputs: { out: { kind: 'any', description: 'The same packets.' } },
  canPause: true,
  create(_cfg, ctx) {
    return {
      process(p: Packet) {
        return ctx.emit('out', p);
      },
    };
  },
});

export const benchSource = defineNode({
  type: 'bench-source',
  summary: 'Emits `count` frames in a tight loop awaiting only emit; benchmarks only.',
  options: Type.Object({
    count: Type.Integer({ minimum: 1, default: 100000, description: 'Packets to emit, then end.' }),
    width: Type.Integer({ minimum: 2, default: 1280, description: 'Frame width in pixels.' }),
    height: Type.Integer({ minimum: 2, default: 720, description: 'Frame height in pixels.' }),
    yield_every: Type.Integer({ minimum: 0, default: 0, description: 'Yield to the event loop (setImmediate) every N packets; 0 never.' }),
  }),
  inputs: {},
  outputs: { frames: { kind: 'frame', description: 'The same rgb24 frame in every packet.' } },
  canPause: true,
  create(cfg, ctx) {
    const stride = cfg.width * 3;
    const frame: Frame = { width: cfg.width, height: cfg.height, format: 'rgb24', pixels: allocFrameBuffer(stride * cfg.height), stride };
    const streamId = ctx.id;
    return {
      async run() {
        const t = ctx.clock.now();
        for (let seq = 0; seq < cfg.count && !ctx.signal.aborted; seq++) {
          const w = ctx.emit('frames', { streamId, seq, captureTimeMs: t, data: frame });
          if (w) await w;
          if (cfg.yield_every > 0 && (seq + 1) % cfg.yield_every === 0) await yieldToLoop();
        }
      },
    };
  },
});

export interface SinkProbe {
  /** Packets to wait for; `done` resolves when this many arrived. */
  expect: number;
  /** Stamp `markAt` when this many packets arrived (steady-state start). */
  mark: number;
  count: number;
  firstAt: number;
  markAt: number;
  lastAt: number;
  /** process.cpuUsage() (user + system, µs, all threads) at the mark and at the last packet. */
  markCpuUs: number;
  lastCpuUs: number;
  done: Promise<void>;
  resolve: () => void;
  /** Called on the first packet (start measuring there). */
  onFirst?: () => void;
}

const probes = new Map<string, SinkProbe>();

/** Arm the probe for sink `id` before starting the graph. */
export function armSink(id: string, expect: number, mark: number): SinkProbe {
  let resolve!: () => void;
  const done = new Promise<void>((r) => { resolve = r; });
  const p: SinkProbe = { expect, mark, count: 0, firstAt: NaN, markAt: NaN, lastAt: NaN, markCpuUs: NaN, lastCpuUs: NaN, done, resolve };
  probes.set(id, p);
  return p;
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

export const benchSink = defineNode({
  type: 'bench-sink',
  summary: 'Counts packets and time-stamps them for a benchmark probe; benchmarks only.',
  options: Type.Object({}),
  inputs: { in: { kind: 'any', description: 'Anything.', defaultQueue: { mode: 'block', size: 16 } } },
  outputs: {},
  canPause: true,
  create(_cfg, ctx) {
    const probe = probes.get(ctx.id);
    if (!probe) throw new Error(`bench-sink "${ctx.id}": no probe armed`);
    return {
      process() {
        const n = ++probe.count;
        if (n === 1) { probe.firstAt = performance.now(); probe.onFirst?.(); }
        if (n === probe.mark) { probe.markAt = performance.now(); probe.markCpuUs = cpuUs(); }
        if (n === probe.expect) { probe.lastAt = performance.now(); probe.lastCpuUs = cpuUs(); probe.resolve(); }
      },
    };
  },
});

export const benchNodes: AnyNodeDefinition[] = [benchPass, benchSource, benchSink];
export const benchRegistry = new Registry([...builtinNodes, ...benchNodes]);
