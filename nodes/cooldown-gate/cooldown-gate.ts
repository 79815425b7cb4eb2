/**
 * cooldown-gate — turns tracked detections into events: one per incident, not one per frame.
 *
 * Ports: in `detections` (tracked detections — a tracker upstream sets `trackId`; detections
 * without one are ignored and counted — with posture's `pose`/`risk` and zone-filter's
 * `zones` when those run upstream; default queue `drop_oldest: 32`) and, optional, `ended`
 * (bytetrack's track summaries); out `events` (kind event: an EventPacket per event — the
 * event JSON, validated against schemas/event.schema.json, with the frame and detection for a
 * snapshot node) and `summaries` (kind summary: each ended track with the events it raised and
 * the sightings suppressed).
 *
 * The decision (gate.ts): keyed by (stream, category, track id); first sighting → event;
 * same track inside `cooldown_ms` → suppressed and counted; after it → event; a higher risk
 * (person: info → warn fall → critical collapsed) or threat (wildlife) → event at once; a new
 * track id where a recently lost track of the same category was (IoU ≥ `returning_iou`) → the
 * same incident. All on packet time. Wildlife events carry `behavior_hint` from the track's
 * speed in body lengths (box heights) per second: below `feeding_below` feeding, above
 * `running_above` running, else moving.
 *
 * ```yaml
 * gate:
 *   type: cooldown-gate
 *   cooldown_ms: 10000
 *   inputs: { detections: posture.detections, ended: track.ended }
 * ```
 */
import { defineNode, Type, type Category, type Detection, type Detections, type Packet } from '../../src/contract.js';
import { assembleEvent } from '../../src/events/assemble.js';
import { riskRank, threatRank, validateEvent, type BehaviorHint, type EventPacket, type TrackSummary } from '../../src/events/event.js';
import { StreamGate, type KeyState, type Sighting } from './gate.js';

/** What `summaries` carries: the tracker's summary plus what the gate made of the track. */
export interface GateTrackSummary extends TrackSummary {
  /** last_seen − first_seen, ms. */
  duration_ms: number;
  events: number;
  suppressed: number;
  /** Highest risk (humans) or threat (wildlife) of its events; null when it raised none. */
  max_level: string | null;
}

interface Motion { cx: number; cy: number; t: number; speed: number }

const RISKS = ['info', 'warn', 'critical'];
const THREATS = ['none', 'low', 'medium', 'high'];

export const cooldownGate = defineNode({
  type: 'cooldown-gate',
  summary: 'Tracked detections → validated events, one per incident: cooldown per track, escalation bypass, returning-track merge.',
  options: Type.Object({
    cooldown_ms: Type.Integer({ minimum: 0, maximum: 86400000, default: 10000, description: 'Sightings of a track this soon after its last event (and, with extend_on_sighting, after its last sighting) are suppressed.' }),
    extend_on_sighting: Type.Boolean({ default: true, description: 'Each sighting extends the window: one event per continuous presence. false: a track in view raises again every cooldown_ms.' }),
    min_score: Type.Number({ minimum: 0, maximum: 1, default: 0.3, description: 'Detector score a track needs in a frame to raise an info event (risks above info raise at any score: people on the floor score low).' }),
    categories: Type.Array(Type.Union([Type.Literal('human'), Type.Literal('wildlife'), Type.Literal('other')]), { default: ['human', 'wildlife'], uniqueItems: true, description: 'Categories that raise events (other: vehicles and the rest of the label table).' }),
    returning_iou: Type.Number({ minimum: 0, maximum: 1.01, default: 0.3, description: 'A new track id overlapping a recently lost track of the same category this much is the same incident (above 1: never).' }),
    feeding_below: Type.Number({ minimum: 0, default: 0.2, description: 'Wildlife speed (box heights per second) below which behavior_hint is feeding.' }),
    running_above: Type.Number({ minimum: 0, default: 1.5, description: 'Wildlife speed (box heights per second) above which behavior_hint is running.' }),
    max_keys: Type.Integer({ minimum: 1, default: 100000, description: 'Most tracks remembered per stream; the least recently seen are forgotten beyond it.' }),
  }),
  inputs: {
    detections: { kind: 'detections', description: 'Tracked detections (trackId set), with pose/risk and zones when upstream nodes add them.', defaultQueue: { mode: 'drop_oldest', size: 32 } },
    ended: { kind: 'summary', description: "The tracker's summaries of ended tracks (bytetrack.ended).", defaultQueue: { mode: 'drop_oldest', size: 256 }, required: false },
  },
  outputs: {
    events: { kind: 'event', description: 'One EventPacket per event: the validated event, its frame and detection.' },
    summaries: { kind: 'summary', description: 'Each ended track with the events it raised and the sightings suppressed.' },
  },
  canPause: true,
  create(cfg, ctx) {
    const opts = { cooldownMs: cfg.cooldown_ms, extendOnSighting: cfg.extend_on_sighting, minScore: cfg.min_score, returningIou: cfg.returning_iou, maxKeys: cfg.max_keys };
    const cats = new Set<Category>(cfg.categories as Category[]);
    const streams = new Map<string, StreamGate>();
    const motion = new Map<string, Map<number, Motion>>();
    const seqs = new Map<string, number>();
    const m = {
      events: ctx.metrics.counter('gate_events_total', 'Events raised.'),
      suppressed: ctx.metrics.counter('gate_suppressed_total', 'Sightings suppressed inside a cooldown window.'),
      merges: ctx.metrics.counter('gate_returning_merges_total', 'New track ids taken as a returning track (same incident).'),
      untracked: ctx.metrics.counter('gate_untracked_total', 'Detections without a trackId (no tracker upstream?), ignored.'),
      invalid: ctx.metrics.counter('gate_invalid_events_total', 'Events that failed schema validation (a bug): logged, never sent.'),
    };
    let events = 0, suppressed = 0, merges = 0, untracked = 0, invalid = 0;
    let lastText = -Infinity;
    /** Stats of tracks the gate forgot before their summary came, by stream and track id. */
    const forgottenStats = new Map<string, { events: number; suppressed: number; level: number; category: Category }>();

    const nextSeq = (stream: string): number => {
      const n = seqs.get(stream) ?? 0;
      seqs.set(stream, n + 1);
      return n;
    };

    function behavior(stream: string, d: Detection, t: number): BehaviorHint {
      let ms = motion.get(stream);
      if (!ms) motion.set(stream, (ms = new Map()));
      const id = d.trackId!;
      const cx = d.box.x + d.box.w / 2, cy = d.box.y + d.box.h / 2;
      const prev = ms.get(id);
      // Exponentially smoothed (a detector's box jitters frame to frame); NaN until two sightings.
      let speed = prev?.speed ?? NaN;
      if (prev && t > prev.t) {
        const v = Math.hypot(cx - prev.cx, cy - prev.cy) / Math.max(1, d.box.h) / ((t - prev.t) / 1000);
        speed = Number.isNaN(prev.speed) ? v : prev.speed + 0.3 * (v - prev.speed);
      }
      ms.delete(id);
      ms.set(id, { cx, cy, t, speed });
      // Least recently seen first: drop those unseen for 10 s (and beyond the cap).
      for (const [k, v] of ms) {
        if (t - v.t <= 10000 && ms.size <= cfg.max_keys) break;
        ms.delete(k);
      }
      if (Number.isNaN(speed)) return 'moving';
      return speed < cfg.feeding_below ? 'feeding' : speed > cfg.running_above ? 'running' : 'moving';
    }

    function forget(stream: string) {
      return (st: KeyState) => {
        // Keep the figures for the summary that may still come (bounded like the keys).
        forgottenStats.set(`${stream}\u0000${st.category}#${st.trackId}`, { events: st.events, suppressed: st.suppressed, level: st.maxLevel, category: st.category });
        if (forgottenStats.size > cfg.max_keys) forgottenStats.delete(forgottenStats.keys().next().value as string);
      };
    }

    function status(): void {
      const now = ctx.clock.monotonic();
      if (now - lastText < 500) return;
      lastText = now;
      let keys = 0;
      for (const g of streams.values()) keys += g.keys.size;
      ctx.status({ text: `${events} events, ${suppressed} suppressed, ${merges} returning, ${keys} tracks in window${untracked ? `; ${untracked} detections without a track skipped` : ''}${invalid ? `; ${invalid} INVALID events dropped` : ''}` });
    }

    async function onDetections(packet: Packet) {
      const data = packet.data as Detections;
      const t = packet.captureTimeMs;
      let g = streams.get(packet.streamId);
      if (!g) streams.set(packet.streamId, (g = new StreamGate(opts)));
      const picked: Detection[] = [];
      const sightings: Sighting[] = [];
      for (const d of data.detections) {
        if (!cats.has(d.category)) continue;
        if (d.trackId === undefined) { untracked++; m.untracked.inc(); continue; }
        const level = d.category === 'human' ? riskRank(d.risk?.level ?? 'info') : d.category === 'wildlife' ? threatRank(d.threatLevel) : 0;
        picked.push(d);
        sightings.push({ trackId: d.trackId, category: d.category, score: d.score, level, box: d.box });
      }
      const beforeSup = g.suppressed, beforeMerge = g.merges;
      const decisions = g.frame(t, sightings, forget(packet.streamId));
      suppressed += g.suppressed - beforeSup; m.suppressed.inc(g.suppressed - beforeSup);
      merges += g.merges - beforeMerge; m.merges.inc(g.merges - beforeMerge);
      for (let i = 0; i < picked.length; i++) {
        const d = picked[i];
        const hint = d.category === 'wildlife' ? behavior(packet.streamId, d, t) : undefined;
        const dec = decisions[i];
        if (!dec.emit) continue;
        const event = assembleEvent(packet, data, d, { reason: dec.reason, behaviorHint: hint });
        const errors = validateEvent(event);
        if (errors.length) {
          invalid++; m.invalid.inc();
          ctx.log.error({ errors, event_type: event.event_type, track_id: event.track_id }, 'event failed schema validation (a bug): not sent');
          continue;
        }
        events++; m.events.inc();
        const out: EventPacket = { event, frame: data.frame, detection: d, others: data.detections.filter((x) => x !== d) };
        const w = ctx.emit('events', { streamId: packet.streamId, seq: nextSeq(packet.streamId), captureTimeMs: t, data: out });
        if (w) await w;
      }
      status();
    }

    function summaryOf(s: TrackSummary): GateTrackSummary {
      const g = streams.get(s.stream_id);
      const cat = s.category as Category;
      const levelName = (cat2: Category, level: number) => (level < 0 ? null : (cat2 === 'wildlife' ? THREATS : RISKS)[level] ?? null);
      // The key may have moved on to a newer track id (returning merge): then the ended id is
      // among its former ids, and the incident continues — report what this id raised.
      const duration_ms = Math.max(0, s.last_seen - s.first_seen);
      const st = g?.keys.get(`${cat}#${s.track_id}`);
      if (st) return { ...s, duration_ms, events: st.events, suppressed: st.suppressed, max_level: levelName(cat, st.maxLevel) };
      const f = forgottenStats.get(`${s.stream_id}\u0000${cat}#${s.track_id}`);
      if (f) { forgottenStats.delete(`${s.stream_id}\u0000${cat}#${s.track_id}`); return { ...s, duration_ms, events: f.events, suppressed: f.suppressed, max_level: levelName(cat, f.level) }; }
      return { ...s, duration_ms, events: 0, suppressed: 0, max_level: null };
    }

    return {
      process(packet: Packet, port: string) {
        if (port === 'ended') return ctx.emit('summaries', { ...packet, data: summaryOf(packet.data as TrackSummary) });
        return onDetections(packet);
      },
      flush() {
        for (const [stream, g] of streams) g.drain(forget(stream));
        lastText = -Infinity;
        status();
      },
      stop() {
        streams.clear();
        motion.clear();
        forgottenStats.clear();
      },
    };
  },
});
