/**
 * bytetrack — multi-object tracking by ByteTrack (see byte-tracker.ts): gives every detection
 * that belongs to a confirmed track a `trackId`, stable while the object stays in view (and for
 * `track_buffer` frames of it being lost).
 *
 * Ports: in `detections` (kind detections; default queue `latest`); out `detections` (the same
 * detections, with `trackId` on the tracked ones) and `ended` (kind summary, one packet per
 * confirmed track when the tracker drops it: { stream_id, track_id, category, label,
 * first_seen, last_seen, end_reason }, times in ms since the Unix epoch from packet capture
 * times; end_reason `lost` when the tracker dropped it, `input_ended` for the tracks still open
 * when the input ends or the graph stops — every confirmed track gets exactly one).
 *
 * State: one set of trackers per `stream_id`. Within a stream, one tracker per category
 * (`split_by: category`: human, wildlife, other) or per class id (`split_by: class`), so a
 * track never continues across them: a person never continues as a dog. Track ids are unique
 * within a stream across its trackers.
 *
 * The detector must pass detections down to `low_thresh` (0.1): ByteTrack's second association
 * matches tracks to low-score boxes, and has nothing to work with if the detector cut them.
 *
 * Appearance cue (`appearance.enabled`, off by default): the high-score detections of the
 * chosen categories are embedded by a re-identification model (person-reid-0288) in worker
 * threads, on the frame's shared pixels, and the first association blends IoU with cosine
 * distance (byte-tracker.ts). Off, the node is synchronous and computes exactly plain ByteTrack.
 *
 * ```yaml
 * track:
 *   type: bytetrack
 *   inputs: { detections: detect.detections }
 *   track_thresh: 0.5
 *   appearance: { enabled: true, providers: [cuda, cpu] }   # optional
 * ```
 */
import path from 'node:path';
import { defineNode, Type, type Detection, type Detections, type Packet } from '../../src/contract.js';
import { normalisation, resolveModel } from '../../src/models.js';
import { WorkerPool } from '../../src/worker-pool.js';
import type { Box } from '../rtmpose/crop.js';
import { ByteTracker, type AppearanceOptions } from './byte-tracker.js';
import type { ReidEngineOptions } from './reid.js';
import type { ReidJob, ReidResult } from './reid-worker.js';

const workerEntry = new URL(import.meta.url.endsWith('.ts') ? './reid-worker.ts' : './reid-worker.js', import.meta.url);
const Category = Type.Union([Type.Literal('human'), Type.Literal('wildlife'), Type.Literal('other')]);

interface LiveTrack { firstSeen: number; lastSeen: number; category: string; label: string }

interface StreamState {
  trackers: Map<string | number, ByteTracker>;
  nextId: () => number;
  updates: number;
  lastTimeMs: number;
  /** Smoothed interval between packets, ms (0: none yet). */
  intervalMs: number;
  live: Map<number, LiveTrack>;
  endedSeq: number;
}

export const bytetrack = defineNode({
  type: 'bytetrack',
  summary: 'Tracks detections over frames (ByteTrack): sets trackId, per stream and category.',
  options: Type.Object({
    track_thresh: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'Detections scoring above this are matched first and may start tracks (a new track needs track_thresh + 0.1); those between low_thresh and this only continue tracks. The reference demo uses 0.5, its MOT17 runs 0.6.' }),
    low_thresh: Type.Number({ minimum: 0, maximum: 1, default: 0.1, description: 'Detections at or below this score are ignored. The detector must pass detections down to this score.' }),
    match_thresh: Type.Number({ minimum: 0, maximum: 1, default: 0.8, description: 'Cost limit of the first association: a track and a detection with 1 - IoU × score above it are never matched.' }),
    track_buffer: Type.Integer({ minimum: 0, maximum: 100000, default: 30, description: 'Frames (at 30 frames/s; scaled by frame_rate / 30) a lost track is kept to be found again.' }),
    frame_rate: Type.Number({ minimum: 0, maximum: 1000, default: 0, description: 'Frames per second the tracker sees (scales track_buffer). 0: measured from packet capture times (30 until two packets came).' }),
    split_by: Type.Union([Type.Literal('category'), Type.Literal('class')], { default: 'category', description: 'One tracker per category (human, wildlife, other) or per class id: tracks never continue across them.' }),
    appearance: Type.Object({
      enabled: Type.Boolean({ default: false, description: 'Blend appearance (re-identification embeddings) into the first association. Off: plain ByteTrack, synchronous.' }),
      model: Type.String({ minLength: 1, default: 'person-reid-0288', description: 'Re-identification model: an id from models/models.yml (task reid) or an .onnx path relative to the graph file; input [1,H,W,3] or [1,3,H,W], output one embedding.' }),
      iou_weight: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'λ: a pair with embeddings on both sides costs λ × (1 − IoU × score) + (1 − λ) × cosine distance in the first association (1: IoU only).' }),
      max_cosine: Type.Number({ minimum: 0, maximum: 2, default: 0.5, description: 'Gate: a track and a detection whose cosine distance (1 − cos) is above this are never matched in the first association.' }),
      ema: Type.Number({ minimum: 0, maximum: 1, default: 0.9, description: 'Track embedding smoothing: e ← ema × e + (1 − ema) × new (0: the last detection only).' }),
      categories: Type.Array(Category, { minItems: 1, uniqueItems: true, default: ['human'], description: 'Categories whose detections are embedded (the model is a person model); others are tracked on IoU alone.' }),
      providers: Type.Array(Type.Union([Type.Literal('cpu'), Type.Literal('cuda'), Type.Literal('tensorrt'), Type.Literal('webgpu'), Type.Literal('dml'), Type.Literal('coreml')]), {
        minItems: 1, default: ['cpu'], description: 'onnxruntime execution providers, in order of preference; the first that loads runs.',
      }),
      workers: Type.Integer({ minimum: 1, maximum: 16, default: 1, description: 'Worker threads, one model session each; the crops of a frame are split across them.' }),
      threads: Type.Integer({ minimum: 1, maximum: 64, default: 1, description: 'onnxruntime intra-op threads per worker.' }),
    }, { default: {}, additionalProperties: false, description: 'Optional appearance cue (DeepSORT-style), off by default: only the high-score detections (above track_thresh) of `categories` are embedded, one model run each.' }),
  }),
  inputs: { detections: { kind: 'detections', description: 'Detections per frame (all of them down to low_thresh).', defaultQueue: { mode: 'latest' } } },
  outputs: {
    detections: { kind: 'detections', description: 'The same detections; those of confirmed tracks carry trackId.' },
    ended: { kind: 'summary', description: 'One packet per confirmed track when it is dropped: { stream_id, track_id, category, label, first_seen, last_seen } (ms since the epoch).' },
  },
  canPause: true,
  create(cfg, ctx) {
    const streams = new Map<string, StreamState>();
    let tlbr = new Float64Array(256);
    let scores = new Float64Array(64);
    let lastText = -Infinity;
    const app = cfg.appearance;
    const appearance: AppearanceOptions | undefined = app.enabled ? { iouWeight: app.iou_weight, maxCosine: app.max_cosine, ema: app.ema } : undefined;
    const embedCategories = new Set<string>(app.categories);
    let pool: WorkerPool<ReidJob, ReidResult> | undefined;
    let reidName = app.model;
    let reidProvider = '';
    let reidMs = 0;
    let reidFailures = 0;
    const reidCrops = app.enabled ? ctx.metrics.counter('reid_crops_total', 'Detections embedded by the re-identification model.') : undefined;
    const reidSeconds = app.enabled ? ctx.metrics.histogram('reid_crop_seconds', 'Re-identification time per detection in a worker (crop + run + normalise).', [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]) : undefined;
    const reidFailed = app.enabled ? ctx.metrics.counter('reid_failures_total', 'Frames tracked without appearance because embedding them failed.') : undefined;

    function stream(id: string): StreamState {
      let s = streams.get(id);
      if (!s) {
        let n = 0;
        s = { trackers: new Map(), nextId: () => ++n, updates: 0, lastTimeMs: NaN, intervalMs: 0, live: new Map(), endedSeq: 0 };
        streams.set(id, s);
      }
      return s;
    }

    function frameRate(s: StreamState, t: number): number {
      if (cfg.frame_rate > 0) return cfg.frame_rate;
      const dt = t - s.lastTimeMs;
      s.lastTimeMs = t;
      if (dt > 0 && dt < 10000) s.intervalMs = s.intervalMs === 0 ? dt : s.intervalMs + 0.1 * (dt - s.intervalMs);
      return s.intervalMs > 0 ? Math.min(1000, 1000 / s.intervalMs) : 30;
    }

    /** Embeddings of the detections to embed (high score, enabled category), by detection index; undefined when there are none or embedding failed. */
    async function embed(data: Detections): Promise<(Float32Array | undefined)[] | undefined> {
      const dets = data.detections;
      const picks: number[] = [];
      for (let i = 0; i < dets.length; i++) {
        const d = dets[i];
        if (d.score > cfg.track_thresh && embedCategories.has(d.category) && d.box.w > 0 && d.box.h > 0) picks.push(i);
      }
      const f = data.frame;
      if (picks.length === 0 || !pool || f.pixels.length < f.stride * f.height) return undefined;
      const frame = { pixels: f.pixels, width: f.width, height: f.height, stride: f.stride, format: f.format, source: f.source };
      // One job per worker, the crops dealt out in turn (the model runs one crop at a time).
      const jobs = Math.min(app.workers, picks.length);
      const parts: number[][] = Array.from({ length: jobs }, () => []);
      picks.forEach((i, j) => parts[j % jobs].push(i));
      try {
        const results = await Promise.all(parts.map((idx) => pool!.run({ frame, boxes: idx.map((i): Box => dets[i].box) })));
        const emb: (Float32Array | undefined)[] = new Array(dets.length);
        results.forEach((r, p) => {
          reidProvider = r.provider;
          parts[p].forEach((i, j) => { if (r.ok[j]) emb[i] = r.data.subarray(j * r.dim, (j + 1) * r.dim); });
          for (const ms of r.ms) { reidSeconds!.observe(ms / 1000); reidMs = reidMs === 0 ? ms : reidMs * 0.95 + ms * 0.05; }
          reidCrops!.inc(r.ms.length);
        });
        return emb;
      } catch (err) {
        // Tracking goes on without appearance for this frame: a lost cue, not a lost frame.
        reidFailed!.inc();
        if (reidFailures++ % 100 === 0) ctx.log.warn({ err: (err as Error).message, failures: reidFailures }, 'appearance embedding failed: frame tracked on IoU alone');
        return undefined;
      }
    }

    function track(packet: Packet, emb: (Float32Array | undefined)[] | undefined): void | Promise<void> {
      const data = packet.data as Detections;
      const dets = data.detections;
      const s = stream(packet.streamId);
      const fps = frameRate(s, packet.captureTimeMs);
      const key = cfg.split_by === 'class' ? (d: Detection) => d.classId : (d: Detection) => d.category;
      // Group detection indices by tracker key (in input order).
      const groups = new Map<string | number, number[]>();
      for (let i = 0; i < dets.length; i++) {
        const k = key(dets[i]);
        let g = groups.get(k);
        if (!g) groups.set(k, (g = []));
        g.push(i);
      }
      for (const k of groups.keys()) {
        if (!s.trackers.has(k)) {
          const tr = new ByteTracker({ trackThresh: cfg.track_thresh, lowThresh: cfg.low_thresh, matchThresh: cfg.match_thresh, trackBuffer: cfg.track_buffer, frameRate: fps, nextId: s.nextId, appearance });
          tr.frameId = s.updates; // frame numbers are the stream's: only its first frame confirms new tracks at once
          s.trackers.set(k, tr);
        }
      }
      s.updates++;
      if (tlbr.length < 4 * dets.length) { tlbr = new Float64Array(8 * dets.length); scores = new Float64Array(2 * dets.length); }
      const trackIds: (number | undefined)[] = new Array(dets.length);
      let gEmb: (Float32Array | undefined)[] | undefined;
      const t = packet.captureTimeMs;
      const ended: LiveTrack[] = [];
      const endedIds: number[] = [];
      for (const [k, tr] of s.trackers) {
        const g = groups.get(k);
        const n = g ? g.length : 0;
        for (let j = 0; j < n; j++) {
          const b = dets[g![j]].box;
          tlbr[4 * j] = b.x; tlbr[4 * j + 1] = b.y; tlbr[4 * j + 2] = b.x + b.w; tlbr[4 * j + 3] = b.y + b.h;
          scores[j] = dets[g![j]].score;
        }
        if (emb) {
          gEmb = new Array(n);
          for (let j = 0; j < n; j++) gEmb[j] = emb[g![j]];
        }
        tr.setFrameRate(fps);
        const out = tr.update(tlbr, scores, n, 0, gEmb);
        for (const track of out) {
          const i = g![track.detIndex];
          trackIds[i] = track.id;
          const live = s.live.get(track.id);
          if (live) live.lastSeen = t;
          else s.live.set(track.id, { firstSeen: t, lastSeen: t, category: dets[i].category, label: dets[i].label });
        }
        for (const track of tr.ended) {
          const live = s.live.get(track.id);
          if (!live) continue; // never confirmed: nothing was reported
          s.live.delete(track.id);
          ended.push(live);
          endedIds.push(track.id);
        }
      }
      const outDets = dets.map((d, i) => {
        const id = trackIds[i];
        if (id !== undefined) return { ...d, trackId: id };
        if (d.trackId === undefined) return d;
        const { trackId: _, ...rest } = d;
        return rest;
      });
      const now = ctx.clock.monotonic();
      if (now - lastText > 500) {
        lastText = now;
        let live = 0;
        for (const st of streams.values()) live += st.live.size;
        const cue = appearance ? `; appearance ${reidName} on ${reidProvider || '?'} ${reidMs.toFixed(1)} ms/crop` : '';
        ctx.status({ text: `${live} track${live === 1 ? '' : 's'} in ${streams.size} stream${streams.size === 1 ? '' : 's'}${cue}` });
      }
      let waits: Promise<void>[] | undefined;
      for (let e = 0; e < ended.length; e++) {
        const l = ended[e];
        const w = ctx.emit('ended', {
          streamId: packet.streamId, seq: s.endedSeq++, captureTimeMs: t,
          data: { stream_id: packet.streamId, track_id: endedIds[e], category: l.category, label: l.label, first_seen: l.firstSeen, last_seen: l.lastSeen, end_reason: 'lost' },
        });
        if (w) (waits ??= []).push(w);
      }
      const w = ctx.emit('detections', { ...packet, data: { ...data, detections: outDets } });
      if (!waits) return w;
      if (w) waits.push(w);
      return Promise.all(waits).then(() => undefined);
    }

    return {
      async start() {
        if (!appearance) return;
        ctx.status({ text: `finding ${app.model}` });
        let found;
        try {
          found = await resolveModel(app.model, { baseDir: ctx.graphDir });
        } catch (err) {
          throw new Error(`appearance.model: cannot load ${app.model}: ${(err as Error).message}`);
        }
        const entry = found.entry;
        if (entry && entry.task !== 'reid') throw new Error(`appearance.model: "${entry.id}" is a ${entry.task} model; the appearance cue needs a re-identification model (task reid)`);
        if (entry && entry.input.resize !== 'stretch') throw new Error(`appearance.model: "${entry.id}" wants ${entry.input.resize} resizing; the appearance cue stretches each box to the model input`);
        // A path that is no manifest entry: the Open Model Zoo convention (BGR, 0–255 as they are).
        const norm = entry ? normalisation(entry.input) : { mean: [0, 0, 0], std: [1, 1, 1] };
        const engine: ReidEngineOptions = {
          model: found.path, providers: app.providers, threads: app.threads, order: entry?.input.colour ?? 'bgr',
          mean: norm.mean as [number, number, number], std: norm.std as [number, number, number],
        };
        reidName = entry?.id ?? path.basename(found.path);
        ctx.status({ text: `loading ${reidName} in ${app.workers} worker${app.workers > 1 ? 's' : ''}` });
        const p = new WorkerPool<ReidJob, ReidResult>(workerEntry, { size: app.workers, depth: 2, workerData: engine, maxQueue: 2 * app.workers, name: `bytetrack-reid:${ctx.id}` });
        try {
          await p.start();
        } catch (err) {
          await p.stop();
          throw new Error(`appearance.model: cannot load ${app.model}: ${(err as Error).message}`);
        }
        pool = p;
        ctx.status({ state: 'running', text: `appearance ${reidName} ready` });
      },

      process(packet: Packet) {
        if (!appearance) return track(packet, undefined);
        return embed(packet.data as Detections).then((emb) => track(packet, emb));
      },
      /** The input is over (file ended, graph stopping): every track still open ends now. */
      async flush() {
        for (const [streamId, s] of streams) {
          for (const [id, l] of s.live) {
            const w = ctx.emit('ended', {
              streamId, seq: s.endedSeq++, captureTimeMs: l.lastSeen,
              data: { stream_id: streamId, track_id: id, category: l.category, label: l.label, first_seen: l.firstSeen, last_seen: l.lastSeen, end_reason: 'input_ended' },
            });
            if (w) await w;
          }
          s.live.clear();
        }
      },

      async stop() {
        await pool?.stop();
        pool = undefined;
      },
    };
  },
});
