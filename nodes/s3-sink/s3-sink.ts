/**
 * s3-sink — stores event snapshots in S3 (or any S3-speaking server), through the durable
 * outbox: a snapshot accepted here is uploaded even if S3 is unreachable for a while or
 * graphrun restarts. Its acknowledgement records where the object went, which a fastapi-sink
 * with `media: s3_url` puts into the event before sending it (the event waits for it).
 *
 * Ports: in `events` (EventPackets with `snapshot` bytes, from a snapshot node; events without
 * a snapshot are skipped and counted). No outputs.
 * Credentials: the AWS SDK's default chain — environment (AWS_ACCESS_KEY_ID, …), shared config
 * files, the EC2 instance role — never options in the graph.
 * Objects: `key_template` with {stream_id}, {event_id}, {track_id}, {category}, {event_type},
 * {yyyy}, {mm}, {dd}, {hh} (UTC, from the event time); content type image/jpeg; metadata
 * event-id, track-id, category, stream-id.
 *
 * ```yaml
 * s3:
 *   type: s3-sink
 *   bucket: ${S3_BUCKET}
 *   region: ${AWS_REGION:-eu-west-1}
 *   inputs: { events: snap.events }
 * ```
 */
import { HeadBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { defineNode, Type, type Packet } from '../../src/contract.js';
import type { Outcome } from '../../src/delivery/loop.js';
import { deliveryOptions, startDelivery, type SinkDelivery } from '../../src/delivery/sink.js';
import { riskRank, type EventPacket, type GraphrunEvent } from '../../src/events/event.js';
import type { OutboxRow } from '../../src/outbox/outbox.js';

const FIELDS = new Set(['stream_id', 'event_id', 'track_id', 'category', 'event_type', 'yyyy', 'mm', 'dd', 'hh']);
/**
 * S3 answers 400 for some errors that are not about the object: a slow upload (RequestTimeout),
 * temporary credentials that expired (ExpiredToken, refreshed by the SDK), the wrong region
 * (AuthorizationHeaderMalformed: a configuration problem, like a wrong token — the rows wait for
 * the fix instead of being given up). These are retried; any other 400 is a dead letter.
 */
const RETRY_400 = new Set(['RequestTimeout', 'ExpiredToken', 'TokenRefreshRequired', 'AuthorizationHeaderMalformed', 'IncompleteBody', 'InvalidToken']);

/** The object key of an event's snapshot from the template. */
export function objectKey(template: string, e: GraphrunEvent): string {
  const t = new Date(e.timestamp_utc);
  const two = (n: number) => String(n).padStart(2, '0');
  const v: Record<string, string> = {
    stream_id: e.stream_id, event_id: e.event_id, track_id: String(e.track_id), category: e.category, event_type: e.event_type,
    yyyy: String(t.getUTCFullYear()), mm: two(t.getUTCMonth() + 1), dd: two(t.getUTCDate()), hh: two(t.getUTCHours()),
  };
  // Values are user input (stream ids): keep them to one safe path segment.
  return template.replace(/\{(\w+)\}/g, (_, k: string) => (v[k] ?? '').replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_'));
}

interface Stored { objectKey: string; url: string; metadata: Record<string, string> }

export const s3Sink = defineNode({
  type: 's3-sink',
  summary: 'Event snapshots to S3 (or an S3-speaking server) through the durable outbox; the object URL is handed to fastapi-sink (media: s3_url).',
  options: Type.Object({
    bucket: Type.String({ minLength: 3, description: 'Bucket name: ${S3_BUCKET}.' }),
    region: Type.String({ default: 'us-east-1', description: 'AWS region of the bucket: ${AWS_REGION}.' }),
    key_template: Type.String({ default: '{stream_id}/{yyyy}/{mm}/{dd}/{event_id}.jpg', description: 'Object key: {stream_id} {event_id} {track_id} {category} {event_type} {yyyy} {mm} {dd} {hh} (UTC).' }),
    endpoint: Type.String({ default: '', description: 'S3-speaking server other than AWS (MinIO, s3rver): its URL; empty for AWS.' }),
    force_path_style: Type.Boolean({ default: false, description: 'bucket in the path (endpoint/bucket/key), as MinIO-style servers want.' }),
    storage_class: Type.String({ default: '', description: 'e.g. STANDARD_IA; empty: the bucket default.' }),
    ...deliveryOptions,
  }),
  inputs: { events: { kind: 'event', description: 'EventPackets with snapshot bytes (from a snapshot node).', defaultQueue: { mode: 'drop_oldest', size: 256 } } },
  outputs: {},
  canPause: true,
  create(cfg, ctx) {
    for (const m of cfg.key_template.matchAll(/\{(\w+)\}/g)) {
      if (!FIELDS.has(m[1])) throw new Error(`key_template: unknown field {${m[1]}} (known: ${[...FIELDS].map((f) => `{${f}}`).join(' ')})`);
    }
    if (!cfg.key_template.includes('{event_id}')) throw new Error('key_template must contain {event_id}: keys must be unique per event');
    const client = new S3Client({
      region: cfg.region,
      ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
      forcePathStyle: cfg.force_path_style,
      maxAttempts: 1, // the outbox retries, with its own backoff and breaker
    });
    const objectUrl = (key: string): string => {
      const k = key.split('/').map(encodeURIComponent).join('/');
      if (cfg.endpoint) {
        const ep = cfg.endpoint.replace(/\/+$/, '');
        return cfg.force_path_style ? `${ep}/${cfg.bucket}/${k}` : ep.replace('://', `://${cfg.bucket}.`) + `/${k}`;
      }
      return `https://${cfg.bucket}.s3.${cfg.region}.amazonaws.com/${k}`;
    };
    const skipped = ctx.metrics.counter('s3_sink_skipped_total', 'Events without a snapshot (nothing to store).');
    let d: SinkDelivery | undefined;

    async function send(row: OutboxRow, signal: AbortSignal): Promise<Outcome> {
      const s = JSON.parse(row.payload as string) as Stored;
      const abort = AbortSignal.any([signal, AbortSignal.timeout(cfg.timeout_ms)]);
      try {
        await client.send(new PutObjectCommand({
          Bucket: cfg.bucket, Key: s.objectKey, Body: row.blob ?? Buffer.alloc(0), ContentType: 'image/jpeg', Metadata: s.metadata,
          ...(cfg.storage_class ? { StorageClass: cfg.storage_class as never } : {}),
        }), { abortSignal: abort });
        return { kind: 'ack', result: JSON.stringify({ url: s.url, key: s.objectKey }) };
      } catch (err) {
        const e = err as Error & { name?: string; $metadata?: { httpStatusCode?: number } };
        const status = e.$metadata?.httpStatusCode;
        const error = `PutObject ${s.objectKey}: ${abort.aborted && !signal.aborted ? `no answer within ${cfg.timeout_ms} ms` : `${e.name ?? 'Error'}: ${e.message}`}${status ? ` (HTTP ${status})` : ''}`;
        // 400: the request itself is wrong (key too long, bad metadata): retrying cannot help.
        if (status === 400 && !RETRY_400.has(e.name ?? '')) return { kind: 'dead', status, error, response: e.message };
        return { kind: 'retry', status, error };
      }
    }

    // "Is S3 answering?" HeadBucket needs s3:ListBucket on the bucket; a writer allowed only
    // s3:PutObject gets 403, which still means S3 is up: sending resumes, and if the uploads fail
    // too the breaker opens again. Down, unreachable, 5xx or throttling (429/503): not yet.
    async function probe(signal: AbortSignal): Promise<boolean> {
      try {
        await client.send(new HeadBucketCommand({ Bucket: cfg.bucket }), { abortSignal: AbortSignal.any([signal, AbortSignal.timeout(5000)]) });
        return true;
      } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        return status !== undefined && status < 500 && status !== 429;
      }
    }

    return {
      start() {
        d = startDelivery(ctx, cfg, ctx.id, send, probe, 'stored');
      },
      process(packet: Packet) {
        const p = packet.data as EventPacket;
        if (!p.snapshot) { skipped.inc(); return; }
        const e = p.event;
        const key = objectKey(cfg.key_template, e);
        const stored: Stored = {
          objectKey: key, url: objectUrl(key),
          metadata: { 'event-id': e.event_id, 'track-id': String(e.track_id), category: e.category, 'stream-id': e.stream_id.replace(/[^\x20-\x7e]/g, '_') },
        };
        d!.put({ key: e.event_id, stream: e.stream_id, priority: Math.min(2, riskRank(e.risk_level)) as 0 | 1 | 2, payload: JSON.stringify(stored), blob: p.snapshot.jpeg });
      },
      async stop() {
        await d?.stop();
        client.destroy();
      },
    };
  },
});
