/**
 * `pose`: what one person's pose costs, per crop, for 1, 2 and 4 onnxruntime threads, with the
 * code a rtmpose worker runs (PoseEngine: affine warp of the crop into the input tensor, run,
 * decode, keypoints back to source pixels), here on this thread:
 * - the whole crop, median and p95 over the crops of a run;
 * - its parts: warp (JS), session.run, decode (JS).
 * Model: the first top-down pose model of models.yml found locally (RTMPose-t/-s when pulled,
 * else ultralight-nano-simplepose, the test model); picture: the COCO skier, one person box.
 * Check: the keypoints land on the person (nose above hips above ankles, inside the box).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { allocFrameBuffer } from '../src/frames.js';
import { mirrorDirs } from '../src/assets.js';
import { loadModelManifest, normalisation } from '../src/models.js';
import { cropRegion } from '../nodes/rtmpose/crop.js';
import { PoseEngine, type FrameRef } from '../nodes/rtmpose/engine.js';
import type { BenchContext, Check, Metric, RunResult, SubBenchmark } from './lib/harness.js';
import { findLocalModel } from './lib/onnx.js';

const THREADS = [1, 2, 4] as const;
const MODELS = ['rtmpose-t', 'rtmpose-s', 'ultralight-nano-simplepose'];
const BOX = { x: 280, y: 43, w: 220, h: 350 }; // the skier, hand-measured

function q(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * p, lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

function skier(): FrameRef | undefined {
  const file = mirrorDirs('sample').map((d) => path.join(d, 'coco_000000000785_skier.jpg')).find((p) => existsSync(p));
  if (!file) return undefined;
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1 << 26 });
  const pixels = allocFrameBuffer(raw.length);
  raw.copy(pixels);
  return { pixels, width: 640, height: 425, stride: 640 * 3, format: 'rgb24' };
}

const findModel = () => findLocalModel(MODELS);

export const poseBench: SubBenchmark = {
  name: 'pose',
  description: 'top-down pose per person crop (warp + run + decode) for 1, 2 and 4 onnxruntime threads',
  runs: { full: 5, quick: 3 },
  async skip() {
    try { execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' }); } catch { return 'ffmpeg not installed'; }
    if (!skier()) return 'coco_000000000785_skier.jpg not found in the media mirrors (../shared/media or GRAPHRUN_MEDIA_MIRROR)';
    if (!(await findModel())) return `no top-down pose model found locally (${MODELS.join(', ')}): graphrun models pull rtmpose-t`;
    return undefined;
  },
  async setup(ctx: BenchContext) {
    const model = (await findModel())!;
    const entry = loadModelManifest().get(model.id)!;
    const norm = normalisation(entry.input);
    ctx.state.model = model.id;
    ctx.state.frame = skier();
    const engines: Record<number, PoseEngine> = {};
    for (const threads of THREADS) {
      engines[threads] = await PoseEngine.create({
        model: model.path, providers: ['cpu'], threads, inputSize: [entry.input.width, entry.input.height],
        mean: norm.mean as [number, number, number], std: norm.std as [number, number, number], order: entry.input.colour,
      });
    }
    ctx.state.engines = engines;
  },
  async run(ctx: BenchContext): Promise<RunResult> {
    const engines = ctx.state.engines as Record<number, PoseEngine>;
    const frame = ctx.state.frame as FrameRef;
    const crops = ctx.quick ? 20 : 60;
    const metrics: Metric[] = [];
    const checks: Check[] = [];
    const info: Record<string, unknown> = { model: ctx.state.model, crops };
    for (const threads of THREADS) {
      const e = engines[threads];
      const crop = cropRegion(BOX, 1.25, e.inW, e.inH);
      for (let i = 0; i < 3; i++) await e.estimate(frame, crop); // warm
      const total: number[] = [], warp: number[] = [], run: number[] = [], decode: number[] = [];
      let kps;
      for (let i = 0; i < crops; i++) {
        const t0 = performance.now();
        const r = await e.estimate(frame, crop);
        total.push(performance.now() - t0);
        warp.push(r.timing.warpMs); run.push(r.timing.runMs); decode.push(r.timing.decodeMs);
        kps = r.keypoints;
      }
      metrics.push(
        { key: `pose.t${threads}.crop_ms`, label: `per crop, ${threads} thread${threads > 1 ? 's' : ''}: median`, unit: 'ms', value: q(total, 0.5), better: 'lower' },
        { key: `pose.t${threads}.crop_p95_ms`, label: `per crop, ${threads} thread${threads > 1 ? 's' : ''}: p95 of the run's crops`, unit: 'ms', value: q(total, 0.95), better: 'lower' },
        { key: `pose.t${threads}.run_ms`, label: `  of which session.run (median)`, unit: 'ms', value: q(run, 0.5), better: 'lower' },
        { key: `pose.t${threads}.warp_ms`, label: `  of which crop warp (median)`, unit: 'ms', value: q(warp, 0.5), better: 'lower' },
        { key: `pose.t${threads}.decode_ms`, label: `  of which decode (median)`, unit: 'ms', value: q(decode, 0.5), better: 'lower' },
      );
      const k = kps!;
      const inBox = k.every((p) => p.x >= BOX.x - 10 && p.x <= BOX.x + BOX.w + 10 && p.y >= BOX.y - 10 && p.y <= BOX.y + BOX.h + 10);
      const order = k[0].y < k[11].y && k[11].y < k[15].y && k[0].y < k[12].y && k[12].y < k[16].y;
      checks.push({ name: `${threads} thread(s): keypoints on the person (in the box, nose above hips above ankles)`, ok: inBox && order, detail: `nose y ${k[0].y.toFixed(0)}, hips ${k[11].y.toFixed(0)}/${k[12].y.toFixed(0)}, ankles ${k[15].y.toFixed(0)}/${k[16].y.toFixed(0)}` });
    }
    return { metrics, checks, info };
  },
  async teardown(ctx: BenchContext) {
    for (const e of Object.values((ctx.state.engines ?? {}) as Record<number, PoseEngine>)) await e.release();
  },
  notes: (r) => [
    'One crop = one person: a frame with N persons to pose costs N crops (the rtmpose node runs them in parallel across its workers, each with `threads` threads). Gating (every_n_frames, on_box_change) decides how many crops a frame needs.',
    `Threads beyond the machine's cores (${os.availableParallelism()} here) only add contention; with several workers, workers × threads should not exceed the cores.`,
    ...(r.quick ? ['--quick: 20 crops per run.'] : []),
  ],
};
