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
 * ```yaml
 * track:
 *   type: bytetrack
 *   inputs: { detections: detect.detections }
 *   track_thresh: 0.5
 * ```
 */
import { defineNode, Type, type Detection, type Detections, type Packet } from '../../src/contract.js';
import { ByteTracker } from './byte-tracker.js';

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

    return {
      process(packet: Packet) {
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
            const tr = new ByteTracker({ trackThresh: cfg.track_thresh, lowThresh: cfg.low_thresh, matchThresh: cfg.match_thresh, trackBuffer: cfg.track_buffer, frameRate: fps, nextId: s.nextId });
            tr.frameId = s.updates; // frame numbers are the stream's: only its first frame confirms new tracks at once
            s.trackers.set(k, tr);
          }
        }
        s.updates++;
        if (tlbr.length < 4 * dets.length) { tlbr = new Float64Array(8 * dets.length); scores = new Float64Array(2 * dets.length); }
        const trackIds: (number | undefined)[] = new Array(dets.length);
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
          tr.setFrameRate(fps);
          const out = tr.update(tlbr, scores, n);
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
          ctx.status({ text: `${live} track${live === 1 ? '' : 's'} in ${streams.size} stream${streams.size === 1 ? '' : 's'}` });
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
    };
  },
});
