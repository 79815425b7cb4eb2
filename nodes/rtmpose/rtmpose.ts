/**
 * rtmpose — top-down pose for person detections: crop each person (box × `padding`, at the
 * model's aspect), warp to the model input, run, and map the keypoints back to source pixels.
 *
 * Models: RTMPose (SimCC outputs `simcc_x` [1,K,W·2], `simcc_y` [1,K,H·2]) and heatmap models
 * (SimpleBaseline/HRNet/SimplePose, [1,K,h,w]); the decoder is chosen from the output shapes
 * on the first run. Inputs are [1,3,H,W] float, (v − mean) / std on 0–255 values.
 *
 * Ports: in `detections` (detections, default queue `latest`); out `detections`: the same
 * packet with `keypoints` (COCO-17 order for COCO models, source pixels, per-point score) on
 * person detections (label `person` or category `human`, score ≥ `min_box_score`).
 * Inference runs in `workers` worker threads (one onnxruntime session each, `threads` intra-op
 * threads each); the frame's pixels are shared with them, not copied. The crops of one frame
 * run in parallel across workers, and each worker gets its next crop while it runs one (pool
 * depth 2), so it goes from crop to crop without waiting for the main thread.
 * Gating (see gating.ts): a person is posed when it is a new track, every `every_n_frames`
 * frames of its track, or when its box's long side changed by more than `on_box_change`
 * since its last pose, or it turned from upright to wide or back; at most `max_persons_per_frame` per frame. Others
 * reuse their last keypoints, moved with the box. Tracks are `trackId` when a tracker set it,
 * else this node's own greedy IoU association (nodes/posture/associate.ts).
 *
 * ```yaml
 * pose:
 *   type: rtmpose
 *   model: rtmpose-t            # an id from models/models.yml, or a path relative to this graph file
 *   workers: 2
 *   every_n_frames: 2
 *   inputs: { detections: detect.detections }
 * ```
 */
import path from 'node:path';
import { defineNode, Type, type Detection, type Detections, type Keypoint, type Packet } from '../../src/contract.js';
import { normalisation, resolveModel, type ModelEntry } from '../../src/models.js';
import { WorkerPool } from '../../src/worker-pool.js';
import { Associator, DEFAULT_ASSOCIATE } from '../posture/associate.js';
import type { Box } from './crop.js';
import { PoseGate } from './gating.js';
import type { EngineOptions } from './engine.js';
import type { PoseJob, PoseResult } from './pose-worker.js';

const workerEntry = new URL(import.meta.url.endsWith('.ts') ? './pose-worker.ts' : './pose-worker.js', import.meta.url);

const Triple = (what: string) => Type.Array(Type.Number(), { minItems: 3, maxItems: 3, description: what });
const IMAGENET = { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] };

export function isPerson(d: Detection): boolean {
  return d.label === 'person' || d.category === 'human';
}

export const rtmpose = defineNode({
  type: 'rtmpose',
  summary: 'Top-down pose (RTMPose SimCC or heatmap models) for person detections, in worker threads, with per-track gating.',
  options: Type.Object({
    model: Type.String({ minLength: 1, description: 'Top-down pose model: an id from models/models.yml (e.g. rtmpose-t) or an .onnx path relative to the graph file.' }),
    providers: Type.Array(Type.Union([Type.Literal('cpu'), Type.Literal('cuda'), Type.Literal('tensorrt'), Type.Literal('webgpu'), Type.Literal('dml'), Type.Literal('coreml')]), {
      minItems: 1, default: ['cpu'], description: 'onnxruntime execution providers, in order of preference.',
    }),
    fallback_models: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Tried in order when `model` can be neither found nor fetched (a warning says which runs).' }),
    workers: Type.Integer({ minimum: 1, maximum: 16, default: 1, description: 'Worker threads, one model session each; crops of a frame run in parallel across them.' }),
    threads: Type.Integer({ minimum: 1, maximum: 64, default: 1, description: 'onnxruntime intra-op threads per worker.' }),
    padding: Type.Number({ minimum: 1, maximum: 3, default: 1.25, description: 'Crop = box × padding, widened to the model aspect.' }),
    input_size: Type.Optional(Type.Array(Type.Integer({ minimum: 8, maximum: 2048 }), { minItems: 2, maxItems: 2, description: 'Model input [width, height], only for models whose input size is dynamic.' })),
    mean: Type.Optional(Triple('Per-channel mean on 0–255 values, in the model channel order. Default: from models.yml for a known model, else ImageNet.')),
    std: Type.Optional(Triple('Per-channel std on 0–255 values, in the model channel order. Default: from models.yml for a known model, else ImageNet.')),
    channel_order: Type.Optional(Type.Union([Type.Literal('rgb'), Type.Literal('bgr')], { description: 'Channel order the model expects. Default: from models.yml for a known model, else rgb.' })),
    every_n_frames: Type.Integer({ minimum: 0, maximum: 1000, default: 2, description: 'Pose each track every N frames (1 = every frame, 0 = never by count).' }),
    on_new_track: Type.Boolean({ default: true, description: 'Pose a track on its first frame.' }),
    on_box_change: Type.Number({ minimum: 0, maximum: 10, default: 0.15, description: 'Pose when the box\'s long side changed by more than this ratio since the last pose, or the box turned from upright to wide or back (0 = off).' }),
    max_persons_per_frame: Type.Integer({ minimum: 1, maximum: 64, default: 4, description: 'At most this many pose runs per frame (new tracks first).' }),
    min_box_score: Type.Number({ minimum: 0, maximum: 1, default: 0.3, description: 'Persons with a lower detection score get no pose.' }),
  }),
  inputs: { detections: { kind: 'detections', description: 'Detections with their frame (person boxes in source pixels).', defaultQueue: { mode: 'latest' } } },
  outputs: { detections: { kind: 'detections', description: 'The same detections, persons with keypoints (source pixels).' } },
  canPause: true,
  create(cfg, ctx) {
    let modelName = cfg.model;
    let pool: WorkerPool<PoseJob, PoseResult> | undefined;
    const gate = new PoseGate({
      everyNFrames: cfg.every_n_frames, onNewTrack: cfg.on_new_track, onBoxChange: cfg.on_box_change,
      maxPersons: cfg.max_persons_per_frame, ttlMs: DEFAULT_ASSOCIATE.maxGapMs,
    });
    const associators = new Map<string, Associator>();
    const crops = ctx.metrics.counter('pose_crops_total', 'Person crops run through the pose model.');
    const reused = ctx.metrics.counter('pose_reused_total', 'Persons given their previous keypoints (gated).');
    const cropMs = ctx.metrics.histogram('pose_crop_seconds', 'Pose time per crop in a worker (warp + run + decode).', [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]);
    let head: string | undefined;
    let provider = '';
    let avgMs = 0;

    return {
      async start() {
        ctx.status({ text: `finding ${cfg.model}` });
        let model: string;
        let entry: ModelEntry | undefined;
        const refs = [cfg.model, ...cfg.fallback_models];
        const failures: string[] = [];
        let found: { path: string; entry?: ModelEntry; ref: string } | undefined;
        for (const ref of refs) {
          try {
            const r = await resolveModel(ref, { baseDir: ctx.graphDir });
            found = { path: r.path, entry: r.entry, ref };
            break;
          } catch (err) {
            failures.push(`${ref}: ${(err as Error).message}`);
          }
        }
        if (!found) throw new Error(`cannot load pose model ${refs.join(' or ')}: ${failures.join('; ')}`);
        if (found.ref !== cfg.model) ctx.log.warn({ wanted: cfg.model, using: found.ref, reason: failures[0] }, `pose model ${cfg.model} not available: using ${found.ref}`);
        model = found.path;
        entry = found.entry;
        if (entry && entry.task !== 'pose-topdown') throw new Error(`model "${entry.id}" is a ${entry.task} model; rtmpose needs a top-down pose model (task pose-topdown)`);
        if (entry && entry.input.layout !== 'nchw') throw new Error(`model "${entry.id}" takes ${entry.input.layout} input; rtmpose feeds NCHW`);
        // Pre-processing: the graph's options, else the manifest entry, else ImageNet RGB.
        const order = cfg.channel_order ?? entry?.input.colour ?? 'rgb';
        const norm = entry ? normalisation(entry.input) : order === 'rgb' ? IMAGENET : { mean: [...IMAGENET.mean].reverse(), std: [...IMAGENET.std].reverse() };
        const engine: EngineOptions = {
          model, providers: cfg.providers, threads: cfg.threads,
          inputSize: (cfg.input_size as [number, number] | undefined) ?? (entry ? [entry.input.width, entry.input.height] : undefined),
          mean: (cfg.mean ?? norm.mean) as [number, number, number], std: (cfg.std ?? norm.std) as [number, number, number], order,
        };
        modelName = entry?.id ?? path.basename(model);
        ctx.status({ text: `loading ${modelName} in ${cfg.workers} worker${cfg.workers > 1 ? 's' : ''}` });
        const p = new WorkerPool<PoseJob, PoseResult>(workerEntry, { size: cfg.workers, depth: 2, workerData: engine, maxQueue: cfg.max_persons_per_frame + cfg.workers, name: `rtmpose:${ctx.id}` });
        try {
          await p.start();
        } catch (err) {
          await p.stop();
          throw new Error(`cannot load pose model ${cfg.model}: ${(err as Error).message}`);
        }
        pool = p;
        ctx.status({ state: 'running', text: `${modelName} ready` });
      },

      async process(packet: Packet) {
        const data = packet.data as Detections;
        const dets = data.detections;
        const persons: { i: number; key: string; box: Box }[] = [];
        const untracked: number[] = [];
        dets.forEach((d, i) => {
          if (!isPerson(d) || d.score < cfg.min_box_score) return;
          if (d.trackId !== undefined) persons.push({ i, key: `${packet.streamId}\u0000${d.trackId}`, box: d.box });
          else untracked.push(i);
        });
        if (untracked.length) {
          let a = associators.get(packet.streamId);
          if (!a) associators.set(packet.streamId, (a = new Associator()));
          const ids = a.assign(untracked.map((i) => dets[i].box), packet.captureTimeMs);
          untracked.forEach((i, j) => persons.push({ i, key: `${packet.streamId}\u0000a${ids[j]}`, box: dets[i].box }));
        }
        if (persons.length === 0) return ctx.emit('detections', packet);

        const plan = gate.plan(persons, packet.captureTimeMs);
        const keypoints = new Map<number, Keypoint[]>();
        const f = data.frame;
        const frame = { pixels: f.pixels, width: f.width, height: f.height, stride: f.stride, format: f.format, source: f.source };
        const jobs: Promise<void>[] = [];
        let ran = 0;
        persons.forEach((p, j) => {
          const d = plan[j];
          if (!d.run) {
            if (d.keypoints) { keypoints.set(p.i, d.keypoints); reused.inc(); }
            return;
          }
          ran++;
          jobs.push(runOne(p, frame).then(
            (kps) => { keypoints.set(p.i, kps); gate.done(p.key, p.box, kps); },
            (err: unknown) => { gate.failed(p.key); throw err; },
          ));
        });
        const settled = await Promise.allSettled(jobs);
        const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
        if (failed) throw failed.reason;

        const out: Detections = { ...data, detections: dets.map((d, i) => (keypoints.has(i) ? { ...d, keypoints: keypoints.get(i) } : d)) };
        ctx.status({ text: `${head ?? 'pose'} on ${provider || '?'} ${avgMs.toFixed(1)} ms/crop; ${ran}/${persons.length} posed this frame` });
        return ctx.emit('detections', { ...packet, data: out });
      },

      async stop() {
        await pool?.stop();
        pool = undefined;
      },
    };

    async function runOne(p: { box: Box }, frame: PoseJob['frame']): Promise<Keypoint[]> {
      if (!pool) throw new Error('pose workers not started');
      const r = await pool.run({ frame, box: p.box, padding: cfg.padding });
      crops.inc();
      const ms = r.timing.warpMs + r.timing.runMs + r.timing.decodeMs;
      cropMs.observe(ms / 1000);
      avgMs = avgMs === 0 ? ms : avgMs * 0.9 + ms * 0.1;
      head = r.head;
      provider = r.provider;
      return r.keypoints;
    }
  },
});
