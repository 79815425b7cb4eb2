/**
 * fastapi-sink — delivers events to the users' backend (the contract of
 * examples/fastapi-backend): `POST {endpoint}/events` with the event JSON, `Authorization:
 * Bearer <token>`, `Idempotency-Key: <event_id>`; through the durable outbox, so an event
 * accepted here survives a backend outage, a network fault and a crash of graphrun.
 *
 * Ports: in `events` (kind event: EventPackets from cooldown-gate or snapshot; default queue
 * `drop_oldest: 256` — writing a row takes well under a millisecond, so it drops only when the
 * disk stalls, and counts it). No outputs.
 * Accepting = written to the outbox (SQLite, before `process` returns). Acknowledged = 2xx or
 * 409; 429/503 honour Retry-After; 400/422 and other permanent 4xx → dead letters with the
 * response; 5xx, timeouts, resets → retried with backoff; after repeated failures the breaker
 * pauses sending and probes `GET {endpoint}/health` before resuming (src/delivery/http.ts).
 *
 * Snapshots (`media`): `upload` — after the event, `POST {endpoint}/upload` (multipart: event_id,
 * file); `inline` — `image_jpeg_base64` in the event JSON; `s3_url` — the event waits (at most
 * `snapshot_wait_ms`) for the s3-sink named by `s3_sink` to store the snapshot, and carries its
 * URL in `snapshot.url`; `none`.
 *
 * ```yaml
 * backend:
 *   type: fastapi-sink
 *   endpoint: ${FASTAPI_ENDPOINT}
 *   token: ${FASTAPI_TOKEN}
 *   media: s3_url
 *   s3_sink: s3
 *   inputs: { events: snap.events }
 * ```
 */
import { defineNode, Type, type Packet } from '../../src/contract.js';
import { classify, request } from '../../src/delivery/http.js';
import type { Outcome } from '../../src/delivery/loop.js';
import { deliveryOptions, startDelivery, type SinkDelivery } from '../../src/delivery/sink.js';
import { riskRank, type EventPacket, type GraphrunEvent } from '../../src/events/event.js';
import type { OutboxRow } from '../../src/outbox/outbox.js';

export const fastapiSink = defineNode({
  type: 'fastapi-sink',
  summary: 'Events to the FastAPI backend (POST /events, bearer token, idempotency key) through the durable outbox; snapshots uploaded, inline, or as S3 URLs.',
  options: Type.Object({
    endpoint: Type.String({ pattern: '^https?://', description: 'Base URL of the backend (…/events, …/upload and …/health are under it): ${FASTAPI_ENDPOINT}.' }),
    token: Type.String({ default: '', description: 'Bearer token: write ${FASTAPI_TOKEN}, never a literal. Empty: no Authorization header.' }),
    media: Type.Union([Type.Literal('upload'), Type.Literal('inline'), Type.Literal('s3_url'), Type.Literal('none')], { default: 'upload', description: 'Snapshots: upload (POST /upload after the event), inline (image_jpeg_base64), s3_url (the URL from s3_sink), none.' }),
    s3_sink: Type.String({ default: '', description: 'media: s3_url — id of the s3-sink node storing the snapshots (it must use the same outbox file).' }),
    snapshot_wait_ms: Type.Integer({ minimum: 0, default: 60000, description: 'media: s3_url — longest an event waits for its snapshot upload; after it, it goes without the URL.' }),
    ...deliveryOptions,
  }),
  inputs: { events: { kind: 'event', description: 'Events (EventPackets), with snapshots when a snapshot node ran.', defaultQueue: { mode: 'drop_oldest', size: 256 } } },
  outputs: {},
  canPause: true,
  create(cfg, ctx) {
    if (cfg.media === 's3_url' && !cfg.s3_sink) throw new Error('media: s3_url needs s3_sink: the id of the s3-sink node');
    const base = cfg.endpoint.replace(/\/+$/, '');
    const auth: Record<string, string> = cfg.token ? { authorization: `Bearer ${cfg.token}` } : {};
    let d: SinkDelivery | undefined;

    async function send(row: OutboxRow, signal: AbortSignal): Promise<Outcome> {
      // The stored JSON goes as it is, unless this mode adds to it (the S3 URL, the inline JPEG).
      let body = row.payload as string;
      if (cfg.media === 's3_url' || (cfg.media === 'inline' && row.blob)) {
        const event = JSON.parse(body) as GraphrunEvent & { image_jpeg_base64?: string };
        if (cfg.media === 's3_url' && event.snapshot) {
          const r = d!.outbox.result(cfg.s3_sink, row.key);
          if (r.state === 'done' && r.result) {
            const stored = JSON.parse(r.result) as { url?: string; key?: string };
            event.snapshot = { ...event.snapshot, ...(stored.url ? { url: stored.url } : {}), ...(stored.key ? { key: stored.key } : {}) };
          }
        }
        if (cfg.media === 'inline' && row.blob) event.image_jpeg_base64 = row.blob.toString('base64');
        body = JSON.stringify(event);
      }
      const res = await request({
        url: `${base}/events`, method: 'POST', timeoutMs: cfg.timeout_ms, signal,
        headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': row.key },
        body,
      });
      const o = classify(res, 'POST /events');
      if (o.kind !== 'ack' || cfg.media !== 'upload' || !row.blob) return o;
      const form = new FormData();
      form.set('event_id', row.key);
      form.set('file', new Blob([new Uint8Array(row.blob)], { type: 'image/jpeg' }), `${row.key}.jpg`);
      const up = await request({ url: `${base}/upload`, method: 'POST', timeoutMs: cfg.timeout_ms, signal, headers: { ...auth, 'idempotency-key': row.key }, body: form });
      return classify(up, 'POST /upload');
    }

    async function probe(signal: AbortSignal): Promise<boolean> {
      try {
        const r = await request({ url: `${base}/health`, timeoutMs: Math.min(cfg.timeout_ms, 5000), signal, headers: auth });
        return r.status >= 200 && r.status < 300;
      } catch {
        return false;
      }
    }

    return {
      start() {
        d = startDelivery(ctx, cfg, ctx.id, send, probe, 'delivered');
      },
      process(packet: Packet) {
        const p = packet.data as EventPacket;
        const e = p.event;
        const snap = p.snapshot;
        const waitFor = cfg.media === 's3_url' && snap ? { dest: cfg.s3_sink, key: e.event_id } : undefined;
        d!.put({
          key: e.event_id, stream: e.stream_id, priority: Math.min(2, riskRank(e.risk_level)) as 0 | 1 | 2,
          payload: JSON.stringify(e),
          ...(snap && (cfg.media === 'upload' || cfg.media === 'inline') ? { blob: snap.jpeg } : {}),
          ...(waitFor ? { waitFor, waitMaxMs: cfg.snapshot_wait_ms } : {}),
        });
      },
      async stop() {
        await d?.stop();
      },
    };
  },
});
