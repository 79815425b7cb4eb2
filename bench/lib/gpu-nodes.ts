/**
 * Node types for the GPU bench (bench/gpu.ts): simulated camera streams that need nothing on
 * the host (no ffmpeg, no RTSP server), and a sink that counts frames per stream.
 *
 * - `bench-raw-frames`: frames from a raw rgb24 file written at bundle time (`frames.json`
 *   beside `frames.rgb`: width, height, count). The file is read once per process into shared
 *   memory and every stream hands out the same buffers (packets are read-only by contract), so
 *   32 streams cost one copy. Frames play forwards then backwards (no jump at the loop, so
 *   ByteTrack keeps its tracks), each stream from its own `offset`. `fps: 0` emits as fast as
 *   the consumers accept (block queues: the pipeline's capacity); `fps > 0` paces like a camera.
 *
 *   ```yaml
 *   cam01:
 *     type: bench-raw-frames
 *     file: /abs/bench-data/frames.json
 *     offset: 7
 *     fps: 0
 *   ```
 *
 * - `bench-stream-counter`: counts packets per stream (and detections, and how many came from a
 *   GPU provider) into a probe the bench reads by node id (module level, like bench-sink).
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { defineNode, Type, type Detections, type Frame, type Packet } from '../../src/contract.js';
import { allocFrameBuffer } from '../../src/frames.js';

/** What `frames.json` says about `frames.rgb`. */
export interface RawFramesHeader {
  width: number;
  height: number;
  format: 'rgb24';
  count: number;
  /** Raw file, relative to the header's folder. */
  file: string;
  /** Where the frames came from (information). */
  clip?: string;
}

/** Read and check a header; errors name the file and the field. */
export function readRawHeader(headerFile: string): RawFramesHeader {
  let h: Partial<RawFramesHeader>;
  try {
    h = JSON.parse(readFileSync(headerFile, 'utf8')) as Partial<RawFramesHeader>;
  } catch (err) {
    throw new Error(`bench-raw-frames: cannot read ${headerFile}: ${(err as Error).message}`);
  }
  for (const k of ['width', 'height', 'count'] as const) {
    if (!Number.isInteger(h[k]) || (h[k] as number) < 1) throw new Error(`bench-raw-frames: ${headerFile}: "${k}" must be a positive integer (got ${JSON.stringify(h[k])})`);
  }
  if (h.format !== 'rgb24') throw new Error(`bench-raw-frames: ${headerFile}: "format" must be "rgb24" (got ${JSON.stringify(h.format)})`);
  if (typeof h.file !== 'string' || !h.file) throw new Error(`bench-raw-frames: ${headerFile}: "file" must name the raw file`);
  return h as RawFramesHeader;
}

const loaded = new Map<string, Frame[]>();

/** The frames of `headerFile` (at most `max`), loaded once per process into shared memory. */
export function loadRawFrames(headerFile: string, max = 0): Frame[] {
  const key = `${path.resolve(headerFile)}#${max}`;
  const hit = loaded.get(key);
  if (hit) return hit;
  const h = readRawHeader(headerFile);
  const raw = path.resolve(path.dirname(headerFile), h.file);
  const frameBytes = h.width * h.height * 3;
  let size: number;
  try {
    size = statSync(raw).size;
  } catch (err) {
    throw new Error(`bench-raw-frames: ${headerFile} names ${raw}, which cannot be read: ${(err as Error).message}`);
  }
  if (size !== frameBytes * h.count) throw new Error(`bench-raw-frames: ${raw} has ${size} bytes; ${headerFile} says ${h.count} frames of ${h.width}x${h.height} rgb24 = ${frameBytes * h.count}`);
  const n = max > 0 ? Math.min(max, h.count) : h.count;
  const all = readFileSync(raw);
  const frames: Frame[] = [];
  for (let i = 0; i < n; i++) {
    const pixels = allocFrameBuffer(frameBytes);
    all.copy(pixels, 0, i * frameBytes, (i + 1) * frameBytes);
    frames.push({ width: h.width, height: h.height, format: 'rgb24', pixels, stride: h.width * 3 });
  }
  loaded.set(key, frames);
  return frames;
}

/** Frame index of step `k` playing n frames forwards then backwards: 0 1 … n−1 n−2 … 1 0 1 … */
export function pingPong(k: number, n: number): number {
  if (n <= 1) return 0;
  const period = 2 * (n - 1);
  const m = ((k % period) + period) % period;
  return m < n ? m : period - m;
}

export const benchRawFrames = defineNode({
  type: 'bench-raw-frames',
  summary: 'Frames from a raw rgb24 file (frames.json + frames.rgb), played back and forth; GPU bench only.',
  options: Type.Object({
    file: Type.String({ description: 'The header, frames.json (absolute, or relative to the graph file).' }),
    stream_id: Type.String({ default: '', description: 'Stream id of every packet; empty means the node id.' }),
    offset: Type.Integer({ minimum: 0, default: 0, description: 'Step to start at, so streams show different frames at the same time.' }),
    fps: Type.Number({ minimum: 0, maximum: 10000, default: 0, description: 'Frames per second like a camera; 0 emits as fast as consumers accept.' }),
    max_frames: Type.Integer({ minimum: 0, default: 0, description: 'Use only the first N frames of the file; 0 all.' }),
  }),
  inputs: {},
  outputs: { frames: { kind: 'frame', description: 'rgb24 frames, the same shared buffers for every stream.' } },
  canPause: true,
  create(cfg, ctx) {
    const frames = loadRawFrames(path.resolve(ctx.graphDir, cfg.file), cfg.max_frames);
    const streamId = cfg.stream_id || ctx.id;
    let seq = 0;
    return {
      async run() {
        const interval = cfg.fps > 0 ? 1000 / cfg.fps : 0;
        let next = ctx.clock.monotonic();
        ctx.status({ state: 'running', text: `${frames.length} frames ${frames[0].width}x${frames[0].height}, ${cfg.fps > 0 ? `${cfg.fps} fps` : 'as fast as accepted'}` });
        while (!ctx.signal.aborted) {
          if (interval > 0) {
            const now = ctx.clock.monotonic();
            if (next > now) {
              try { await ctx.clock.sleep(next - now, ctx.signal); } catch { break; }
            } else if (now - next > 250) next = now; // behind (paused): resume from now, no burst
            next += interval;
          }
          const data = frames[pingPong(cfg.offset + seq, frames.length)];
          const packet: Packet<Frame> = { streamId, seq, captureTimeMs: ctx.clock.now(), data };
          seq++;
          await ctx.emit('frames', packet);
          // Unpaced, 32 of these would otherwise starve the event loop between them.
          if (interval === 0) await yieldToLoop();
        }
      },
    };
  },
});

export interface StreamProbe {
  /** Packets per stream id. */
  perStream: Map<string, number>;
  total: number;
  /** Detections summed over the packets that carried Detections. */
  detections: number;
  /** Packets whose Detections say a GPU provider made them. */
  gpuPackets: number;
  /** While true, each packet's age (now − capture time, ms) is appended to `latencies`. */
  recordLatency: boolean;
  latencies: number[];
}

const probes = new Map<string, StreamProbe>();

/** The probe of counter node `id` (created on first use: arm before or after the start). */
export function streamProbe(id: string): StreamProbe {
  let p = probes.get(id);
  if (!p) {
    p = { perStream: new Map(), total: 0, detections: 0, gpuPackets: 0, recordLatency: false, latencies: [] };
    probes.set(id, p);
  }
  return p;
}

/** Forget every probe (a process running several graphs one after the other). */
export function resetProbes(): void {
  probes.clear();
}

/** Copy of a probe's counts at this moment. */
export function probeSnapshot(p: StreamProbe): { perStream: Record<string, number>; total: number; detections: number; gpuPackets: number } {
  return { perStream: Object.fromEntries(p.perStream), total: p.total, detections: p.detections, gpuPackets: p.gpuPackets };
}

export const benchStreamCounter = defineNode({
  type: 'bench-stream-counter',
  summary: 'Counts packets per stream (and detections) for the GPU bench; GPU bench only.',
  options: Type.Object({}),
  inputs: { in: { kind: 'any', description: 'Anything; Detections packets also add their detection count.', defaultQueue: { mode: 'block', size: 16 } } },
  outputs: {},
  canPause: true,
  create(_cfg, ctx) {
    const probe = streamProbe(ctx.id);
    return {
      process(p: Packet) {
        probe.perStream.set(p.streamId, (probe.perStream.get(p.streamId) ?? 0) + 1);
        probe.total++;
        if (probe.recordLatency) probe.latencies.push(Date.now() - p.captureTimeMs);
        const d = p.data as Partial<Detections> | undefined;
        if (d && Array.isArray(d.detections)) {
          probe.detections += d.detections.length;
          if (d.gpu) probe.gpuPackets++;
        }
      },
    };
  },
});

export const gpuBenchNodes = [benchRawFrames, benchStreamCounter];
