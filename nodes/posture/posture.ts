/**
 * posture — per person: a posture label (standing, crouching, sitting, lying) with a
 * confidence, and per track the fall and immobility logic that raises events.
 *
 * Ports: in `detections` (detections with keypoints, e.g. from rtmpose; default queue
 * `drop_oldest: 8`, since the logic wants every frame it can get); out `detections` (the same,
 * each person with `pose: { label, confidence }`, and `risk: { level, reason, since }` while the
 * track is fallen (warn) or collapsed (critical) — what the cooldown gate turns into events) and `events` (kind `event`): one packet per
 * escalation of a track —
 * `{ event_type: 'fall' | 'collapsed', risk_level, track_id, stream_id, pose_label,
 * pose_confidence, timestamp, since, bbox, keypoints }`, `timestamp` being the packet time
 * (ms) of the frame that raised it. fall → risk `warn`; collapsed → `critical`; a track with
 * neither is at `info` and raises nothing.
 * Time: only packet time (`captureTimeMs`), so a file plays the same at any speed and tests
 * use fake time. Posture rules: classify.ts; fall and immobility: fall.ts.
 * Tracks: `trackId` when a tracker set it; otherwise this node associates persons frame to
 * frame itself (greedy IoU with a maximum gap, see associate.ts) — its ids then appear only in
 * events, never as `trackId` on detections. State is per stream and track, forgotten after
 * `max_gap_ms` without the track.
 *
 * ```yaml
 * posture:
 *   type: posture
 *   fall_window_ms: 1500
 *   immobile_ms: 30000
 *   inputs: { detections: pose.detections }
 * ```
 */
import { defineNode, Type, type Detection, type Detections, type Packet } from '../../src/contract.js';
import { isPerson } from '../rtmpose/rtmpose.js';
import { Associator, DEFAULT_ASSOCIATE } from './associate.js';
import { classifyPosture } from './classify.js';
import { FallTracker, type Escalation } from './fall.js';

export interface PostureEvent {
  event_type: 'fall' | 'collapsed';
  risk_level: Escalation['risk'];
  track_id: number;
  stream_id: string;
  pose_label: NonNullable<Detection['pose']>['label'];
  pose_confidence: number;
  /** Packet time (ms since the epoch) of the frame that raised it. */
  timestamp: number;
  /** fall: time of the last standing frame; collapsed: since when the person has not moved. */
  since: number;
  bbox: Detection['box'];
  keypoints?: Detection['keypoints'];
}

interface TrackEntry { tracker: FallTracker; lastMs: number }

export const posture = defineNode({
  type: 'posture',
  summary: 'Posture per person (standing/crouching/sitting/lying) and per-track fall and collapse events, on packet time.',
  options: Type.Object({
    fall_window_ms: Type.Integer({ minimum: 100, maximum: 60000, default: 1500, description: 'A fall is upright to lying within this time (with the hips going down).' }),
    immobile_ms: Type.Integer({ minimum: 100, maximum: 3600000, default: 30000, description: 'Lying without moving this long raises collapsed (critical).' }),
    immobile_tolerance: Type.Number({ minimum: 0, maximum: 2, default: 0.15, description: 'Movement below this share of the body length (box centre or size) counts as not moving.' }),
    confirm_ms: Type.Integer({ minimum: 0, maximum: 10000, default: 300, description: 'A posture must hold this long (70% of frames, at least two) before it counts.' }),
    hip_drop: Type.Number({ minimum: 0, maximum: 2, default: 0.2, description: 'A fall needs the hips to go down by this share of the standing box height.' }),
    require_keypoints: Type.Boolean({ default: true, description: 'Raise events only for tracks whose skeleton was seen at least once (static false detections never show one).' }),
    floor_height_ratio: Type.Number({ minimum: 0.05, maximum: 1, default: 0.45, description: 'Down on the floor: a box at most this share of the standing box height (not standing).' }),
    min_keypoint_score: Type.Number({ minimum: 0, maximum: 1, default: 0.3, description: 'Keypoints below this score are ignored.' }),
    max_gap_ms: Type.Integer({ minimum: 0, maximum: 600000, default: 3000, description: 'A track unseen this long is forgotten (also the gap own association bridges).' }),
    min_iou: Type.Number({ minimum: 0, maximum: 1, default: 0.3, description: 'Own association (no trackId): least IoU to continue a track.' }),
  }),
  inputs: { detections: { kind: 'detections', description: 'Detections with keypoints (from a pose node) and their frame.', defaultQueue: { mode: 'drop_oldest', size: 8 } } },
  outputs: {
    detections: { kind: 'detections', description: 'The same detections, persons with `pose` {label, confidence} and, while fallen or collapsed, `risk` {level, reason, since}.' },
    events: { kind: 'event', description: 'One packet per fall (warn) and collapse (critical) of a track.' },
  },
  canPause: true,
  create(cfg, ctx) {
    const fallOpts = { fallWindowMs: cfg.fall_window_ms, immobileMs: cfg.immobile_ms, immobileTolerance: cfg.immobile_tolerance, confirmMs: cfg.confirm_ms, hipDrop: cfg.hip_drop, floorRatio: cfg.floor_height_ratio, requireSkeleton: cfg.require_keypoints };
    const tracks = new Map<string, TrackEntry>();
    const associators = new Map<string, Associator>();
    const falls = ctx.metrics.counter('posture_falls_total', 'Falls detected.');
    const collapses = ctx.metrics.counter('posture_collapsed_total', 'Persons lying still past immobile_ms.');
    let fallCount = 0, collapsedCount = 0;

    return {
      async process(packet: Packet) {
        const data = packet.data as Detections;
        const t = packet.captureTimeMs;
        const dets = data.detections;
        const personIdx = dets.map((d, i) => (isPerson(d) ? i : -1)).filter((i) => i >= 0);
        if (personIdx.length === 0 && tracks.size === 0) return ctx.emit('detections', packet);
        // Own association over every person, following the tracker's ids where it has them.
        let a = associators.get(packet.streamId);
        if (!a) associators.set(packet.streamId, (a = new Associator({ ...DEFAULT_ASSOCIATE, minIou: cfg.min_iou, maxGapMs: cfg.max_gap_ms })));
        const own = a.assign(personIdx.map((i) => dets[i].box), t, personIdx.map((i) => dets[i].trackId));
        const ids = new Map<number, number>();
        personIdx.forEach((i, j) => ids.set(i, own[j]));
        // A person the tracker lost (typically mid-fall) keeps the tracker's id while this
        // association still follows them, unless the tracker gave that id to a box in this frame.
        const usedIds = new Set(dets.map((d) => d.trackId).filter((x) => x !== undefined));
        const inherited = new Map<number, number>();
        for (const i of personIdx) {
          if (dets[i].trackId !== undefined) continue;
          const h = a.hintOf(ids.get(i)!);
          if (h !== undefined && !usedIds.has(h)) { inherited.set(i, h); usedIds.add(h); }
        }
        const events: PostureEvent[] = [];
        const out = dets.map((d, i) => {
          const id = ids.get(i);
          if (id === undefined) return d;
          const c = classifyPosture(d.box, d.keypoints, cfg.min_keypoint_score);
          const key = `${packet.streamId}\u0000${id}`;
          let tr = tracks.get(key);
          if (!tr) tracks.set(key, (tr = { tracker: new FallTracker(fallOpts), lastMs: t }));
          tr.lastMs = t;
          for (const e of tr.tracker.update({ t, label: c.label, confidence: c.confidence, box: d.box, hipY: c.hipY, keypoints: d.keypoints, skeleton: c.features.torsoDeg !== undefined })) {
            if (e.type === 'fall') { falls.inc(); fallCount++; } else { collapses.inc(); collapsedCount++; }
            events.push({
              event_type: e.type, risk_level: e.risk, track_id: d.trackId ?? inherited.get(i) ?? id, stream_id: packet.streamId,
              pose_label: e.sample.label, pose_confidence: e.sample.confidence, timestamp: t, since: e.sinceMs,
              bbox: d.box, keypoints: d.keypoints,
            });
            ctx.log.info({ event: e.type, risk: e.risk, track: id, stream: packet.streamId, t }, `${e.type} (${e.risk}) track ${id}`);
          }
          const risk = tr.tracker.riskState;
          const trackId = d.trackId ?? inherited.get(i);
          const o: Detection = { ...d, pose: { label: c.label, confidence: c.confidence } };
          if (trackId !== undefined) o.trackId = trackId;
          if (risk) o.risk = risk;
          return o;
        });
        for (const [k, tr] of tracks) if (t - tr.lastMs > cfg.max_gap_ms && k.startsWith(`${packet.streamId}\u0000`)) tracks.delete(k);
        const lying = [...tracks.values()].filter((x) => x.tracker.stable === 'lying').length;
        ctx.status({ text: `${tracks.size} tracks, ${lying} lying; ${fallCount} falls, ${collapsedCount} collapsed` });
        const r = ctx.emit('detections', { ...packet, data: { ...data, detections: out } });
        if (r) await r;
        for (const ev of events) {
          const e = ctx.emit('events', { streamId: packet.streamId, seq: packet.seq, captureTimeMs: t, data: ev });
          if (e) await e;
        }
      },
      stop() {
        tracks.clear();
        associators.clear();
      },
    };
  },
});
