/**
 * snapshot — a JPEG of the frame an event was raised on, with the event's object box in its
 * risk colour (info green, warn orange, critical red) and a label ("person #12 · fall",
 * "fox #3 · high"), the object's COCO-17 keypoints and skeleton, and the frame's other
 * detections thin and grey with their track id; optionally cropped around the object.
 *
 * Ports: in `events` (kind event: EventPacket { event, frame?, detection?, others? }; default
 * queue `drop_oldest: 64` — events are rare and each one matters, so the queue is deep, and a
 * drop, should one happen, is counted on the edge like every drop). Out `events`: a new packet
 * { event: { ...event, snapshot: { content_type, width, height, bytes, crop? } }, detection,
 * snapshot: { jpeg, width, height } } WITHOUT the frame, so the runtime hands the frame's
 * pooled memory back as soon as this node is done. Sinks decide how to ship the bytes.
 * A packet without a frame passes on unchanged with `snapshot: null` (counted); so does one
 * whose frame cannot be drawn (counted, logged). Every event is validated against
 * schemas/event.schema.json on the way in and out: an invalid one is a bug upstream, so it is
 * counted, logged with the errors, and not emitted.
 *
 * Drawing happens on the event loop (about 2 ms for 1280x720 rgb24 into a reused canvas); the
 * JPEG encoding (about 11 ms at 1280x720, quality 80) runs in libuv's thread pool.
 *
 * ```yaml
 * snap:
 *   type: snapshot
 *   quality: 80
 *   max_width: 1280
 *   max_height: 720
 *   crop: none            # or: object
 *   inputs: { events: gate.events }
 * ```
 */
import { defineNode, Type, type Detection, type Packet } from '../../src/contract.js';
import { validateEvent, type EventPacket, type GraphrunEvent, type SnapshotRef } from '../../src/events/event.js';
import { hasFonts, SnapshotRenderer, type Box, type Overlay } from './draw.js';

/** The label of the event's object: "person #12 · fall", "fox #3 · high", "car #7". */
export function objectLabel(e: GraphrunEvent): string {
  const name = e.category === 'wildlife' ? (e.species ?? e.label) : e.label;
  let detail: string | undefined;
  if (e.category === 'human') detail = e.event_type === 'fall' || e.event_type === 'collapsed' ? e.event_type : (e.pose_label ?? undefined);
  else if (e.category === 'wildlife' && e.threat_level && e.threat_level !== 'none') detail = e.threat_level;
  return `${name} #${e.track_id}${detail ? ` · ${detail}` : ''}`;
}

const sameBox = (a: Box, b: Box) => Math.abs(a.x - b.x) < 0.5 && Math.abs(a.y - b.y) < 0.5 && Math.abs(a.w - b.w) < 0.5 && Math.abs(a.h - b.h) < 0.5;

/** The overlay for an event: its object, and the other detections but that object. */
export function overlayOf(p: EventPacket): Overlay {
  const e = p.event;
  const isObject = (d: Detection) => d === p.detection || (d.trackId !== undefined && d.trackId === e.track_id && d.category === e.category) || sameBox(d.box, e.bbox);
  return {
    box: e.bbox,
    risk: e.risk_level,
    label: objectLabel(e),
    keypoints: p.detection?.keypoints ?? e.keypoints,
    others: (p.others ?? []).filter((d) => !isObject(d)).map((d) => ({ box: d.box, label: d.trackId !== undefined ? `${d.label} #${d.trackId}` : d.label })),
  };
}

export const snapshot = defineNode({
  type: 'snapshot',
  summary: 'JPEG of the event frame with boxes, labels, track ids and keypoints drawn (optionally cropped); frame released.',
  options: Type.Object({
    quality: Type.Integer({ minimum: 1, maximum: 100, default: 80, description: 'JPEG quality, 1–100 (80: about 130 kB at 1280x720).' }),
    max_width: Type.Integer({ minimum: 16, maximum: 7680, default: 1280, description: 'Largest picture width; larger pictures are scaled down keeping the aspect, never up.' }),
    max_height: Type.Integer({ minimum: 16, maximum: 4320, default: 720, description: 'Largest picture height; larger pictures are scaled down keeping the aspect, never up.' }),
    crop: Type.Union([Type.Literal('none'), Type.Literal('object')], { default: 'none', description: 'none: the whole frame; object: the object\'s box padded by crop_padding, clipped to the frame.' }),
    crop_padding: Type.Number({ minimum: 0, maximum: 10, default: 0.5, description: 'crop: object — added on each side, as a share of the box width (left, right) and height (top, bottom).' }),
    draw: Type.Object({
      boxes: Type.Boolean({ default: true, description: 'Draw the object\'s box (risk colour) and the other detections\' boxes (grey).' }),
      labels: Type.Boolean({ default: true, description: 'Draw labels with track ids (needs a system font, e.g. DejaVu or Liberation).' }),
      keypoints: Type.Boolean({ default: true, description: 'Draw the object\'s keypoints and COCO-17 skeleton (score ≥ 0.3).' }),
    }, { default: {}, additionalProperties: false, description: 'What to draw over the picture.' }),
  }),
  inputs: {
    events: {
      kind: 'event',
      description: 'Events with the frame they were raised on (EventPacket: event, frame, detection, others).',
      defaultQueue: { mode: 'drop_oldest', size: 64 },
    },
  },
  outputs: { events: { kind: 'event', description: 'The events with snapshot set and the JPEG bytes beside them, without the frame.' } },
  canPause: true,
  create(cfg, ctx) {
    const renderer = new SnapshotRenderer();
    const m = {
      made: ctx.metrics.counter('snapshot_made_total', 'Snapshots made.'),
      noFrame: ctx.metrics.counter('snapshot_without_frame_total', 'Events passed on without a snapshot: they came without a frame.'),
      failed: ctx.metrics.counter('snapshot_failed_total', 'Events passed on without a snapshot: their frame could not be drawn or encoded.'),
      invalid: ctx.metrics.counter('snapshot_invalid_events_total', 'Events not emitted because they fail schemas/event.schema.json (a bug upstream).'),
      seconds: ctx.metrics.histogram('snapshot_render_seconds', 'Drawing and JPEG encoding per snapshot.', [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]),
    };
    const n = { made: 0, noFrame: 0, failed: 0, invalid: 0 };
    let last = '';
    const show = () => ctx.status({ text: `${n.made} snapshots${last}; ${n.noFrame} without frame, ${n.failed} failed, ${n.invalid} invalid events` });
    const invalid = (p: Packet, where: string, errors: string[]) => {
      m.invalid.inc(); n.invalid++;
      ctx.log.error({ stream: p.streamId, seq: p.seq, event_id: (p.data as EventPacket | undefined)?.event?.event_id, errors }, `invalid event ${where}, not emitted: ${errors.slice(0, 5).join('; ')}`);
      show();
    };

    return {
      start() {
        if (cfg.draw.labels && !hasFonts()) ctx.log.warn('no system fonts found: snapshot labels are not drawn (install fonts-dejavu-core or fonts-liberation)');
        show();
      },
      async process(packet: Packet) {
        const data = packet.data as EventPacket | undefined;
        if (!data || typeof data !== 'object' || !data.event) return invalid(packet, 'received', ['/: the packet carries no event']);
        const inErrors = validateEvent(data.event);
        if (inErrors.length) return invalid(packet, 'received', inErrors);

        let out: EventPacket;
        if (!data.frame) {
          m.noFrame.inc(); n.noFrame++;
          const { frame: _none, ...rest } = data;
          out = { ...rest, event: { ...data.event, snapshot: data.event.snapshot ?? null } };
        } else {
          const t0 = ctx.clock.monotonic();
          try {
            const r = await renderer.render(data.frame, overlayOf(data), { maxWidth: cfg.max_width, maxHeight: cfg.max_height, crop: cfg.crop, cropPadding: cfg.crop_padding }, cfg.draw, cfg.quality);
            const ms = ctx.clock.monotonic() - t0;
            m.seconds.observe(ms / 1000);
            m.made.inc(); n.made++;
            last = ` (last ${r.width}x${r.height}, ${Math.round(r.jpeg.length / 1024)} kB, ${ms.toFixed(1)} ms)`;
            const ref: SnapshotRef = { content_type: 'image/jpeg', width: r.width, height: r.height, bytes: r.jpeg.length, ...(r.crop ? { crop: r.crop } : {}) };
            out = { event: { ...data.event, snapshot: ref }, ...(data.detection ? { detection: data.detection } : {}), snapshot: { jpeg: r.jpeg, width: r.width, height: r.height } };
          } catch (err) {
            m.failed.inc(); n.failed++;
            ctx.log.warn({ stream: packet.streamId, seq: packet.seq, event_id: data.event.event_id, err: (err as Error).message }, `snapshot failed, event passed on without one: ${(err as Error).message}`);
            out = { event: { ...data.event, snapshot: null }, ...(data.detection ? { detection: data.detection } : {}) };
          }
        }
        const outErrors = validateEvent(out.event);
        if (outErrors.length) return invalid(packet, 'after adding the snapshot', outErrors);
        show();
        const r = ctx.emit('events', { ...packet, data: out });
        if (r) await r;
      },
      stop() {
        renderer.clear();
      },
    };
  },
});
