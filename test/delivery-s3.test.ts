/**
 * s3-sink against a real S3-speaking server (s3rver, in this process), alone and together with
 * fastapi-sink (media: s3_url) in front of the real reference backend, both on one outbox file.
 *
 * Witnesses: s3rver's folder (what is stored), the backend's SQLite (what arrived), and a
 * forwarding proxy between fastapi-sink and the backend that, when an event with a snapshot
 * comes through, asks s3rver whether that snapshot's object exists at that moment — before
 * the backend sees the event (s3rver's object-created notices in this process, or a HEAD).
 * "Never an event before its snapshot" is checked there, with no clocks to compare.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as contract from '../src/contract.js';
import { openOutbox } from '../src/outbox/outbox.js';
import { startGraph, waitFor, type TestApp } from './support/app.js';
import { burstEvent, eventBurstNode, idOf, sampleJpeg } from './support/event-burst.mjs';
import { startBackend, type TestBackend } from './support/fastapi.js';
import { startS3, type TestS3 } from './support/s3.js';
import { testRegistry } from './support/test-nodes.js';

const TOKEN = 'test-token-s3-77a1';
const BUCKET = 'snaps';
const TEMPLATE = 'cams/{stream_id}/{yyyy}/{mm}/{dd}/{hh}/{category}-{track_id}-{event_id}.jpg';
const registry = testRegistry.with([eventBurstNode(contract)]);
let s3: TestS3;
let backend: TestBackend;
let undoCredentials: () => void;
let dir = '';
let app: TestApp | undefined;
let proxy: Witness | undefined;

beforeAll(async () => {
  s3 = await startS3({ bucket: BUCKET });
  undoCredentials = s3.useCredentials();
  backend = await startBackend({ token: TOKEN });
});
afterAll(async () => {
  await backend?.close();
  await s3?.close();
  undoCredentials?.();
});
afterEach(async () => {
  await app?.app.stop();
  app = undefined;
  await proxy?.close();
  proxy = undefined;
  if (!s3.running()) await s3.restart();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The key the template gives the burst's event `seq` — written out here, not taken from the sink. */
function expectedKey(prefix: string, seq: number, streams: number): string {
  const stream = streams === 1 ? 'garden' : `garden-${(seq % streams) + 1}`;
  // T0 is 2026-07-01 12:00:00 UTC and events are 100 ms apart: all within hour 12 for < 36 000 events.
  return `cams/${stream}/2026/07/01/12/human-${1 + Math.floor(seq / 5)}-${idOf(`${prefix}-${seq}`)}.jpg`;
}
const keyOfId = (prefix: string, n: number, streams: number) => new Map(Array.from({ length: n }, (_, i) => [idOf(`${prefix}-${i}`), expectedKey(prefix, i, streams)]));

interface Seen { eventId: string; url: string | undefined; key: string | undefined; objectExisted: boolean | string; at: number }
interface Witness { url: string; seen: Seen[]; close(): Promise<void> }

/**
 * Forwards everything to the backend; for each POST /events whose event has a snapshot, first
 * checks with s3rver (anonymous HEAD) whether the object the template names exists.
 */
async function startWitness(keys: Map<string, string>): Promise<Witness> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        if (req.method === 'POST' && req.url === '/events') {
          const e = JSON.parse(body.toString()) as { event_id: string; snapshot?: { url?: string; key?: string } | null };
          const key = keys.get(e.event_id);
          if (e.snapshot && key) {
            // s3rver's own "object created" notice (emitted once the file is written, before it
            // answers the PUT), else a HEAD — which cannot tell while S3 is down.
            const objectExisted = s3.stored.has(key) || await s3.exists(key).catch((err: Error) => `S3 unreachable: ${err.message}`);
            seen.push({ eventId: e.event_id, url: e.snapshot.url, key: e.snapshot.key, objectExisted, at: Date.now() });
          }
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'connection', 'content-length', 'transfer-encoding'].includes(k)) headers[k] = v;
        try {
          const r = await fetch(backend.url + req.url, { method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body });
          const out = Buffer.from(await r.arrayBuffer());
          const back: Record<string, string> = { 'content-type': r.headers.get('content-type') ?? 'text/plain' };
          const ra = r.headers.get('retry-after');
          if (ra) back['retry-after'] = ra;
          res.writeHead(r.status, back).end(out);
        } catch {
          res.writeHead(502).end('backend unreachable');
        }
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/**
 * A forwarding proxy in front of s3rver that answers some requests itself (S3-style errors).
 * Requests are passed on byte for byte with their Host header, so signatures stay valid.
 */
async function startS3Faults(rule: (method: string, objectKey: string) => { status: number; body: string } | undefined): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const objectKey = decodeURIComponent(u.pathname.replace(new RegExp(`^/${BUCKET}/?`), ''));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const own = rule(req.method ?? 'GET', objectKey);
      if (own) { res.writeHead(own.status, { 'content-type': 'application/xml' }).end(own.body); return; }
      const fwd = http.request({ host: '127.0.0.1', port: s3.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      fwd.on('error', () => res.writeHead(502).end());
      fwd.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

function graph(o: { count: number; rate: number; prefix: string; streams: number; backend?: string; snapshotWaitMs?: number }): string {
  dir = mkdtempSync(path.join(os.tmpdir(), 'graphrun-s3-'));
  const outbox = path.join(dir, 'outbox.db');
  const backendNode = o.backend ? `
  backend:
    type: fastapi-sink
    endpoint: ${o.backend}
    token: \${TEST_FASTAPI_TOKEN}
    media: s3_url
    s3_sink: s3
    ${o.snapshotWaitMs !== undefined ? `snapshot_wait_ms: ${o.snapshotWaitMs}` : ''}
    outbox: { path: ${outbox} }
    retry: { initial_ms: 200, max_ms: 2000 }
    breaker: { failures: 3, open_ms: 500, max_open_ms: 2000 }
    timeout_ms: 2000
    inputs: { events: { from: src.events, queue: { block: 64 } } }
` : '';
  return `
version: 1
name: s3
status: { enabled: false }
nodes:
  src: { type: test-event-burst, count: ${o.count}, rate: ${o.rate}, prefix: ${o.prefix}, snapshot: true, streams: ${o.streams} }
  s3:
    type: s3-sink
    bucket: ${BUCKET}
    endpoint: \${TEST_S3_ENDPOINT}
    force_path_style: true
    key_template: "${TEMPLATE}"
    outbox: { path: ${outbox} }
    retry: { initial_ms: 200, max_ms: 2000 }
    breaker: { failures: 3, open_ms: 500, max_open_ms: 2000 }
    timeout_ms: 2000
    inputs: { events: { from: src.events, queue: { block: 64 } } }
${backendNode}`;
}

const env = () => ({ ...process.env, TEST_FASTAPI_TOKEN: TOKEN, TEST_S3_ENDPOINT: s3.endpoint });
const text = (id: string) => app!.app.runtime.snapshot().nodes.find((n) => n.id === id)!.text;
const urlOf = (key: string) => `${s3.endpoint}/${BUCKET}/${key}`;

/** The backend's copies of the given ids. */
async function storedEvents(ids: Set<string>) {
  const all = [];
  for (let offset = 0; ; offset += 500) {
    const page = await backend.events({ limit: 500, offset });
    all.push(...page.items.filter((e) => ids.has(e.event_id)));
    if (page.items.length < 500) return all;
  }
}

/** Every object under the test's prefix is one of `keys` with the sample's bytes, type and metadata. */
async function checkObjects(prefix: string, keys: Map<string, string>, streams: number): Promise<void> {
  const jpg = await sampleJpeg();
  const listed = await s3.list(`cams/`);
  const mine = listed.filter((o) => [...keys.values()].includes(o.key));
  expect(mine.map((o) => o.key).sort()).toEqual([...keys.values()].sort());
  const bySeq = [...keys.keys()];
  for (let seq = 0; seq < bySeq.length; seq++) {
    const id = bySeq[seq];
    const o = await s3.get(keys.get(id)!);
    expect(o, `object of ${prefix}-${seq}`).toBeDefined();
    expect(o!.body.equals(jpg), `bytes of ${prefix}-${seq}`).toBe(true);
    expect(o!.contentType).toBe('image/jpeg');
    const e = burstEvent(prefix, seq, streams === 1 ? 'garden' : `garden-${(seq % streams) + 1}`);
    expect(o!.metadata).toEqual({ 'event-id': id, 'track-id': String(e.track_id), category: 'human', 'stream-id': e.stream_id });
  }
}

describe('s3-sink → s3rver', () => {
  it('stores each snapshot under the key template, as image/jpeg with the event metadata, byte for byte', async () => {
    const keys = keyOfId('keys', 12, 2);
    app = await startGraph(graph({ count: 12, rate: 50, prefix: 'keys', streams: 2 }), { registry, env: env() });
    await waitFor(() => /^12 stored, backlog 0/.test(text('s3')), 20_000, '12 stored');
    await checkObjects('keys', keys, 2);
    const jpg = await sampleJpeg();
    // The URL the sink hands to fastapi-sink is the object's (path style): fetch it.
    const first = await fetch(urlOf(expectedKey('keys', 0, 2)));
    expect(first.status).toBe(200);
    expect(Buffer.from(await first.arrayBuffer()).equals(jpg)).toBe(true);
  }, 60_000);

  it('S3 down for 30 s in the middle of a burst of 200: every snapshot arrives after it is back, and no event reaches the backend before its snapshot is in S3', async () => {
    const N = 200;
    const keys = keyOfId('s3out', N, 2);
    const ids = new Set(keys.keys());
    proxy = await startWitness(keys);
    app = await startGraph(graph({ count: N, rate: 20, prefix: 's3out', streams: 2, backend: proxy.url }), { registry, env: env() });
    const mineStored = () => [...keys.values()].filter((k) => s3.stored.has(k)).length;
    await waitFor(() => mineStored() >= 50, 20_000, '50 snapshots stored');
    await s3.stop();
    const downAt = Date.now();
    // A PUT that completed just before the stop is noticed (s3rver's created event) a moment later.
    await new Promise((r) => setTimeout(r, 1000));
    const atStop = mineStored();
    // While S3 is down the events whose snapshots are not stored wait: the backend gets at most
    // the ones whose snapshots made it.
    await new Promise((r) => setTimeout(r, 15_000));
    const midway = (await storedEvents(ids)).length;
    expect(midway).toBeLessThanOrEqual(atStop);
    expect(text('s3')).toMatch(/paused|last error/);
    await new Promise((r) => setTimeout(r, 30_000 - (Date.now() - downAt)));
    expect(mineStored()).toBe(atStop);
    await s3.restart();
    const upAt = Date.now();
    let s3Done = 0;
    let backendDone = 0;
    const deadline = upAt + 60_000;
    while (Date.now() < deadline && (!s3Done || !backendDone)) {
      if (!s3Done && mineStored() === N) s3Done = Date.now();
      if (!backendDone && (await storedEvents(ids)).length === N) backendDone = Date.now();
      await new Promise((r) => setTimeout(r, 100));
    }
    const events = await storedEvents(ids);
    console.log(`S3 outage: down ${((upAt - downAt) / 1000).toFixed(1)} s after ${atStop} of ${N} snapshots were stored; backend had ${midway} events midway; `
      + `after S3 came back: all snapshots in ${s3Done ? ((s3Done - upAt) / 1000).toFixed(1) : '—'} s, all events at the backend in ${backendDone ? ((backendDone - upAt) / 1000).toFixed(1) : '—'} s`);
    expect(mineStored()).toBe(N);
    expect(events).toHaveLength(N);

    // No event came through the proxy before its snapshot existed in S3, and each carried its URL.
    const early = proxy.seen.filter((s) => s.objectExisted !== true);
    expect(early, 'events that reached the backend before their snapshot was in S3').toEqual([]);
    expect(new Set(proxy.seen.map((s) => s.eventId))).toEqual(ids);
    for (const s of proxy.seen) {
      expect(s.url).toBe(urlOf(keys.get(s.eventId)!));
      expect(s.key).toBe(keys.get(s.eventId));
    }
    // The backend's record agrees: every event has its snapshot URL, and (same machine clock,
    // millisecond timestamps) was stored no earlier than s3rver stored the object.
    for (const e of events) {
      const key = keys.get(e.event_id)!;
      expect(e.snapshot_url).toBe(urlOf(key));
      expect(Date.parse(e.received_at)).toBeGreaterThanOrEqual(s3.stored.get(key)! - 1);
    }
    await checkObjects('s3out', keys, 2);
    await waitFor(() => new RegExp(`^${N} stored, backlog 0`).test(text('s3')) && new RegExp(`^${N} delivered, backlog 0`).test(text('backend')), 5000, 'status lines');
  }, 150_000);

  it('snapshot_wait_ms: while S3 stays down longer than that, events go to the backend without the URL; the snapshots follow once S3 is back', async () => {
    const N = 10;
    const keys = keyOfId('s3wait', N, 1);
    const ids = new Set(keys.keys());
    await s3.stop();
    proxy = await startWitness(keys);
    const t0 = Date.now();
    app = await startGraph(graph({ count: N, rate: 20, prefix: 's3wait', streams: 1, backend: proxy.url, snapshotWaitMs: 1500 }), { registry, env: env() });
    let events = await storedEvents(ids);
    while (events.length < N && Date.now() - t0 < 20_000) {
      await new Promise((r) => setTimeout(r, 100));
      events = await storedEvents(ids);
    }
    const tookS = (Date.now() - t0) / 1000;
    expect(s3.running()).toBe(false);
    expect(events).toHaveLength(N);
    for (const e of events) {
      expect(e.snapshot_url).toBeNull();
      expect(e.event.snapshot).toMatchObject({ content_type: 'image/jpeg', bytes: (await sampleJpeg()).length });
    }
    expect(proxy.seen).toHaveLength(N);
    expect(proxy.seen.every((s) => s.url === undefined && s.objectExisted !== true)).toBe(true);
    // Not sooner than the wait: the first event was held ~1.5 s.
    const firstAt = Math.min(...proxy.seen.map((s) => s.at));
    expect(firstAt - t0).toBeGreaterThanOrEqual(1400);
    await s3.restart();
    const upAt = Date.now();
    await waitFor(() => [...keys.values()].every((k) => s3.stored.has(k)), 20_000, 'the snapshots in S3');
    console.log(`snapshot_wait_ms 1500 with S3 down: ${N} events at the backend without URL within ${tookS.toFixed(1)} s; snapshots stored ${((Date.now() - upAt) / 1000).toFixed(1)} s after S3 came back`);
    await checkObjects('s3wait', keys, 1);
  }, 60_000);
  it('S3 errors: a 400 RequestTimeout is retried, a 400 InvalidArgument dead-lettered; a probe answered 403 (no s3:ListBucket) still resumes sending', async () => {
    const N = 10;
    const keys = keyOfId('s3err', N, 1);
    const key = (seq: number) => expectedKey('s3err', seq, 1);
    let putsFailed = 0;
    let probes = 0;
    let timeouts = 0;
    const s3Error = (status: number, code: string) => ({ status, body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code} (test)</Message><RequestId>t</RequestId></Error>` });
    const fp = await startS3Faults((method, objectKey) => {
      if (method === 'HEAD' && objectKey === '') { probes++; return { status: 403, body: '' }; }
      if (method !== 'PUT') return undefined;
      if (putsFailed < 3) { putsFailed++; return s3Error(503, 'SlowDown'); } // three in a row: the breaker opens
      if (objectKey === key(3) && timeouts++ === 0) return s3Error(400, 'RequestTimeout');
      if (objectKey === key(6)) return s3Error(400, 'InvalidArgument');
      return undefined;
    });
    try {
      app = await startGraph(graph({ count: N, rate: 50, prefix: 's3err', streams: 1 }).replace('endpoint: ${TEST_S3_ENDPOINT}', `endpoint: ${fp.url}`), { registry, env: env() });
      await waitFor(() => /^9 stored, backlog 0, 1 dead letters/.test(text('s3')), 20_000, '9 stored, 1 dead letter');
      expect(probes).toBeGreaterThan(0);
      expect(timeouts).toBe(2); // refused once, then stored
      const stored = [...keys.values()].filter((k) => s3.stored.has(k));
      expect(stored.sort()).toEqual([...keys.values()].filter((k) => k !== key(6)).sort());
      await app.app.stop();
      app = undefined;
      const ob = openOutbox(path.join(dir, 'outbox.db'), {});
      try {
        const dead = ob.deadLetters('s3');
        expect(dead).toHaveLength(1);
        expect(dead[0]).toMatchObject({ key: idOf('s3err-6'), status: 400 });
        expect(dead[0].error).toMatch(/InvalidArgument/);
      } finally {
        ob.close();
      }
    } finally {
      await fp.close();
    }
  }, 60_000);
});
