// test-event-burst: a source of schema-valid EventPackets for delivery tests — `count` events
// at `rate` per second, ids derived from `prefix` and the sequence number (the same run twice
// gives the same ids), every 10th a fall (warn), every 50th collapsed (critical), optionally with
// a real JPEG snapshot. Plain JS so both in-process tests (vitest) and child processes running
// the built CLI (test/support/sink-child.mjs) can load it.
import { createHash } from 'node:crypto';
import { createCanvas } from '@napi-rs/canvas';

/** A UUID v4-shaped id from a string (deterministic). */
export function idOf(s) {
  const h = createHash('sha256').update(s).digest('hex').split('');
  h[12] = '4';
  h[16] = '89ab'[parseInt(h[16], 16) & 3];
  const x = h.join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

let jpeg;
export async function sampleJpeg() {
  if (!jpeg) {
    const c = createCanvas(320, 180);
    const g = c.getContext('2d');
    g.fillStyle = '#3a6'; g.fillRect(0, 0, 320, 180);
    g.strokeStyle = '#f00'; g.lineWidth = 4; g.strokeRect(100, 40, 60, 120);
    jpeg = await c.encode('jpeg', 80);
  }
  return jpeg;
}

export const T0 = Date.UTC(2026, 6, 1, 12, 0, 0);

export function burstEvent(prefix, seq, stream = 'garden') {
  const kind = seq % 50 === 49 ? 'collapsed' : seq % 10 === 9 ? 'fall' : 'person_detected';
  const t = T0 + seq * 100;
  return {
    schema_version: '1.0', event_id: idOf(`${prefix}-${seq}`), event_type: kind, category: 'human', stream_id: stream,
    track_id: 1 + Math.floor(seq / 5), timestamp_utc: new Date(t).toISOString(), frame_index: seq, frame_size: { width: 1280, height: 720 },
    bbox: { x: 100, y: 200, w: 80, h: 240 }, confidence: 0.8, label: 'person',
    risk_level: kind === 'collapsed' ? 'critical' : kind === 'fall' ? 'warn' : 'info',
    reason: kind === 'person_detected' ? 'first_sighting' : 'escalation',
    inference_latency_ms: 12.5, gpu_enabled: false, model: 'yolox-nano',
    pose_label: kind === 'person_detected' ? 'standing' : 'lying', pose_confidence: 0.9, keypoints: [],
    ...(kind === 'person_detected' ? {} : { since_utc: new Date(t - 1000).toISOString() }),
    snapshot: null,
  };
}

/** @param {{ defineNode: Function, Type: any }} lib the contract module (src or dist) */
export function eventBurstNode({ defineNode, Type }) {
  return defineNode({
    type: 'test-event-burst',
    summary: 'Emits count events at rate per second (tests only).',
    options: Type.Object({
      count: Type.Integer({ minimum: 0, default: 100, description: 'Events to emit.' }),
      rate: Type.Number({ exclusiveMinimum: 0, default: 100, description: 'Events per second.' }),
      prefix: Type.String({ default: 'burst', description: 'Seed of the event ids.' }),
      streams: Type.Integer({ minimum: 1, default: 1, description: 'Streams, round robin (garden, garden-2, …).' }),
      snapshot: Type.Boolean({ default: false, description: 'Attach a real JPEG snapshot.' }),
    }),
    inputs: {},
    outputs: { events: { kind: 'event', description: 'EventPackets.' } },
    canPause: true,
    create(cfg, ctx) {
      return {
        async run() {
          const jpg = cfg.snapshot ? await sampleJpeg() : undefined;
          const t0 = performance.now();
          for (let seq = 0; seq < cfg.count && !ctx.signal.aborted; seq++) {
            const stream = cfg.streams === 1 ? 'garden' : `garden-${(seq % cfg.streams) + 1}`;
            const event = burstEvent(cfg.prefix, seq, stream);
            const data = { event };
            if (jpg) {
              event.snapshot = { content_type: 'image/jpeg', width: 320, height: 180, bytes: jpg.length };
              data.snapshot = { jpeg: jpg, width: 320, height: 180 };
            }
            const w = ctx.emit('events', { streamId: stream, seq, captureTimeMs: T0 + seq * 100, data });
            if (w) await w;
            const due = t0 + ((seq + 1) * 1000) / cfg.rate - performance.now();
            await new Promise((r) => {
              const t = setTimeout(done, Math.max(0, due));
              function done() { clearTimeout(t); ctx.signal.removeEventListener('abort', done); r(); }
              ctx.signal.addEventListener('abort', done, { once: true });
            });
          }
          if (process.send) process.send({ burst: 'done' });
        },
      };
    },
  });
}
