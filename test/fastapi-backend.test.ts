/**
 * The reference FastAPI backend (examples/fastapi-backend) run as a real uvicorn process: auth,
 * validation against the event contract (the pydantic models alone and with the JSON-schema
 * check, ajv's verdict on schemas/event.schema.json as the oracle), idempotency, uploads,
 * listing, the OpenAPI it serves against the schema file, persistence across restarts and
 * crashes, and the test-only fault modes the sink tests rely on.
 *
 * GRAPHRUN_FASTAPI_PYTHON picks the interpreter (default /usr/bin/python3: FastAPI 0.92 and
 * pydantic v1 from Debian 12).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createCanvas } from '@napi-rs/canvas';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_SCHEMA_PATH, validateEvent, type GraphrunEvent } from '../src/events/event.js';
import { pollFor } from './support/net.js';
import { BACKEND_DIR, BACKEND_PYTHON, backendPythonProblem, startBackend, type TestBackend } from './support/fastapi.js';

type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const TOKEN = 'test-token-7f3a9c';
const SCHEMA = JSON.parse(readFileSync(EVENT_SCHEMA_PATH, 'utf8')) as J;

function fallEvent(over: Partial<GraphrunEvent> = {}): GraphrunEvent {
  return {
    schema_version: '1.0', event_id: randomUUID(), event_type: 'fall', category: 'human', stream_id: 'hall',
    track_id: 4, timestamp_utc: '2024-05-01T12:00:01.250Z', frame_index: 180, frame_size: { width: 1280, height: 720 },
    bbox: { x: 400, y: 300.5, w: 220, h: 140 }, confidence: 0.87, label: 'person', risk_level: 'warn', reason: 'first_sighting',
    zones: ['hall', 'stairs'], inference_latency_ms: 41.5, gpu_enabled: false, model: 'yolox_s.onnx',
    pose_label: 'lying', pose_confidence: 0.8, keypoints: [{ x: 410, y: 310, score: 0.9 }, { x: 430, y: 312, score: 0.4 }],
    since_utc: '2024-05-01T12:00:00.000Z', ...over,
  };
}

function wildlifeEvent(over: Partial<GraphrunEvent> = {}): GraphrunEvent {
  return {
    schema_version: '1.0', event_id: randomUUID(), event_type: 'wildlife_intrusion', category: 'wildlife', stream_id: 'garden',
    track_id: 9, timestamp_utc: '2024-05-01T03:10:00.000Z', frame_index: 50, bbox: { x: 10, y: 20, w: 300, h: 200 },
    confidence: 0.7, label: 'bear', risk_level: 'critical', reason: 'escalation', inference_latency_ms: 30, gpu_enabled: true,
    species: 'bear', species_confidence: 0.66, threat_level: 'high', behavior_hint: 'moving', ...over,
  };
}

function otherEvent(over: Partial<GraphrunEvent> = {}): GraphrunEvent {
  return {
    schema_version: '1.0', event_id: randomUUID(), event_type: 'object_detected', category: 'other', stream_id: 'gate',
    track_id: 0, timestamp_utc: '2024-05-01T08:00:00+02:00', frame_index: 0, bbox: { x: 0, y: 0, w: 0, h: 0 },
    confidence: 1, label: 'car', risk_level: 'info', reason: 'after_cooldown', inference_latency_ms: 0, gpu_enabled: false,
    snapshot: { content_type: 'image/jpeg', width: 640, height: 360, bytes: 20480, crop: { x: 1, y: 2, w: 3, h: 4 }, url: 'http://127.0.0.1:9000/bucket/a.jpg', key: 'a.jpg' },
    ...over,
  };
}

async function jpeg(seed = 0): Promise<Buffer> {
  const canvas = createCanvas(48, 32);
  const g = canvas.getContext('2d');
  g.fillStyle = `rgb(${seed * 40 % 255}, 120, 200)`;
  g.fillRect(0, 0, 48, 32);
  return canvas.encode('jpeg', 80);
}

const postEvent = (be: TestBackend, ev: unknown, headers: Record<string, string> = {}, init: RequestInit = {}) =>
  be.request('/events', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(ev), ...init });

function uploadForm(eventId: string, data: Buffer, type = 'image/jpeg'): FormData {
  const form = new FormData();
  form.set('event_id', eventId);
  form.set('file', new Blob([new Uint8Array(data)], { type }), 'snapshot.jpg');
  return form;
}

// ---- JSON-schema helpers (for the OpenAPI comparison and the mutation battery) ---------------

function resolver(root: J): (node: J) => J {
  return (node) => {
    let n = node;
    for (let hops = 0; n && typeof n.$ref === 'string'; hops++) {
      if (hops > 20) throw new Error(`$ref loop at ${n.$ref}`);
      const ref = n.$ref as string;
      if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`);
      n = ref.slice(2).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')).reduce((o: J, k) => o?.[k], root);
      if (!n) throw new Error(`dangling $ref ${ref}`);
    }
    return n;
  };
}

const BOUND_KEYS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'uniqueItems', 'format'];

interface Facts {
  types: Set<string>;
  enums?: Set<string>;
  bounds: Record<string, unknown>;
  required?: Set<string>;
  props?: Map<string, J>;
  additional?: unknown;
  items?: J;
  nullBranch?: boolean;
}

const jsonType = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? 'number' : typeof v);

/** What a (sub)schema allows, merged over $ref, allOf, anyOf and oneOf; nullable: true adds the type null
 * (OpenAPI 3.0: an enum must list null itself). */
function facts(node: J, resolve: (n: J) => J, acc: Facts = { types: new Set(), bounds: {} }, top = true): Facts {
  const n = resolve(node);
  const typeList = n.type === undefined ? [] : Array.isArray(n.type) ? n.type : [n.type];
  for (const t of typeList) acc.types.add(t === 'integer' ? 'integer' : t);
  if (n.nullable === true) acc.types.add('null');
  const values = 'const' in n ? [n.const] : Array.isArray(n.enum) ? n.enum : undefined;
  if (values) {
    acc.enums ??= new Set();
    for (const v of values) {
      acc.enums.add(JSON.stringify(v));
      acc.types.add(jsonType(v));
    }
  }
  for (const k of BOUND_KEYS) if (k in n) acc.bounds[k] = n[k];
  if (n.properties) {
    acc.props ??= new Map();
    for (const [k, v] of Object.entries(n.properties as J)) acc.props.set(k, v as J);
    acc.required = new Set([...(acc.required ?? []), ...((n.required as string[] | undefined) ?? [])]);
    acc.additional = n.additionalProperties;
  }
  if (n.items) acc.items = n.items as J;
  if (typeList.length === 1 && typeList[0] === 'null') acc.nullBranch = true;
  for (const key of ['allOf', 'anyOf', 'oneOf']) for (const sub of (n[key] as J[] | undefined) ?? []) facts(sub, resolve, acc, false);
  // anyOf [{enum: [...]}, {type: 'null'}] allows the values and null.
  if (top && acc.enums && acc.nullBranch) acc.enums.add('null');
  return acc;
}

/** Differences between the contract (schema file) and a model of the OpenAPI, as readable lines. */
function compareSchemas(want: J, got: J, resolveWant: (n: J) => J, resolveGot: (n: J) => J, at: string, extraProps: string[] = [], out: string[] = []): string[] {
  const w = facts(want, resolveWant);
  const g = facts(got, resolveGot);
  const set = (s?: Set<string>) => [...(s ?? [])].sort().join(',');
  if (w.types.size && set(w.types) !== set(g.types)) out.push(`${at}: types ${set(w.types)} in the schema, ${set(g.types)} in the OpenAPI`);
  if (set(w.enums) !== set(g.enums)) out.push(`${at}: values ${set(w.enums) || '(any)'} in the schema, ${set(g.enums) || '(any)'} in the OpenAPI`);
  for (const k of BOUND_KEYS) {
    if (JSON.stringify(w.bounds[k]) !== JSON.stringify(g.bounds[k])) out.push(`${at}: ${k} ${JSON.stringify(w.bounds[k])} in the schema, ${JSON.stringify(g.bounds[k])} in the OpenAPI`);
  }
  if (w.props || g.props) {
    const wp = [...(w.props?.keys() ?? [])].sort();
    const gp = [...(g.props?.keys() ?? [])].filter((k) => !extraProps.includes(k)).sort();
    if (wp.join() !== gp.join()) out.push(`${at}: properties ${wp.join()} in the schema, ${gp.join()} in the OpenAPI`);
    if (set(w.required) !== set(g.required)) out.push(`${at}: required ${set(w.required)} in the schema, ${set(g.required)} in the OpenAPI`);
    if (w.additional !== g.additional) out.push(`${at}: additionalProperties ${String(w.additional)} in the schema, ${String(g.additional)} in the OpenAPI`);
    for (const k of wp) if (g.props?.has(k)) compareSchemas(w.props!.get(k)!, g.props.get(k)!, resolveWant, resolveGot, `${at}.${k}`, [], out);
  }
  if (w.items || g.items) {
    if (!w.items || !g.items) out.push(`${at}: items ${w.items ? 'described' : 'free'} in the schema, ${g.items ? 'described' : 'free'} in the OpenAPI`);
    else compareSchemas(w.items, g.items, resolveWant, resolveGot, `${at}[]`, [], out);
  }
  return out;
}

interface Mutant { label: string; event: J }

function getAt(o: J, p: (string | number)[]): any { return p.reduce((x: any, k) => x?.[k], o); } // eslint-disable-line @typescript-eslint/no-explicit-any
function withAt(base: J, p: (string | number)[], value: unknown, remove = false): J {
  const copy = structuredClone(base);
  const parent = getAt(copy, p.slice(0, -1));
  if (remove) delete parent[p[p.length - 1]];
  else parent[p[p.length - 1]] = value;
  return copy;
}

/** Variations of a valid event, field by field, from what the schema says about each field:
 * left out, null, each allowed value and one more, wrong JSON types, just past each bound, bad
 * formats, an unknown property. Some stay valid: ajv decides what the backend must answer. */
function mutants(base: J, name: string): Mutant[] {
  const resolve = resolver(SCHEMA);
  const out: Mutant[] = [];
  const walk = (node: J, p: (string | number)[]) => {
    const f = facts(node, resolve);
    const value = getAt(base, p);
    const label = `${name}${p.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('')}`;
    const add = (what: string, v: unknown) => out.push({ label: `${label} = ${what}`, event: withAt(base, p, v) });
    if (p.length) {
      if (typeof p[p.length - 1] === 'string') out.push({ label: `${label} left out`, event: withAt(base, p, undefined, true) });
      add('null', null);
      for (const e of f.enums ?? []) add(e, JSON.parse(e));
      if (f.enums) add('"bogus"', 'bogus');
      if (f.types.has('number') || f.types.has('integer')) { add('"1"', '1'); add('true', true); }
      if (f.types.has('integer')) add('1.5', 1.5);
      if (f.types.has('string')) add('12345', 12345);
      if (f.types.has('boolean')) { add('"true"', 'true'); add('1', 1); }
      if (f.types.has('object')) add('"x"', 'x');
      if (f.types.has('array')) add('{}', {});
      const b = f.bounds;
      if (typeof b.minimum === 'number') { add(`${b.minimum as number - 1}`, b.minimum as number - 1); add(`${b.minimum}`, b.minimum); }
      if (typeof b.maximum === 'number') { add(`${b.maximum as number + 0.5}`, b.maximum as number + 0.5); add(`${b.maximum}`, b.maximum); }
      if (typeof b.minLength === 'number' && b.minLength > 0) add('too short', 'x'.repeat(b.minLength - 1));
      if (typeof b.maxLength === 'number') { add('too long', 'x'.repeat(b.maxLength + 1)); add('longest', 'x'.repeat(b.maxLength)); }
      if (typeof b.maxItems === 'number' && Array.isArray(value) && value.length) add('too many items', Array(b.maxItems + 1).fill(value[0]));
      if (b.uniqueItems && Array.isArray(value) && value.length) add('a repeated item', [value[0], value[0]]);
      if (b.format === 'uuid') { add('"not-a-uuid"', 'not-a-uuid'); add('upper case', String(value).toUpperCase()); }
      if (b.format === 'date-time') { add('no zone', '2024-05-01T12:00:00'); add('30 February', '2024-02-30T00:00:00Z'); add('a date', '2024-05-01'); }
      if (b.format === 'uri') add('no scheme', 'no scheme here');
    }
    if (f.props && value && typeof value === 'object' && !Array.isArray(value)) {
      out.push({ label: `${label} + unknown property`, event: withAt(base, [...p, 'unknown_field'], 1) });
      for (const k of Object.keys(value)) if (f.props.has(k)) walk(f.props.get(k)!, [...p, k]);
    }
    if (f.items && Array.isArray(value) && value.length) walk(f.items, [...p, 0]);
  };
  walk(SCHEMA, []);
  // A mutant gets its own event_id (unless event_id is what it changes), so a valid one is new.
  return out.map((m) => (m.label.startsWith(`${name}.event_id `) ? m : { ...m, event: { ...m.event, event_id: randomUUID() } }));
}

/** Posts every mutant; returns where the backend's answer disagrees with ajv's verdict. */
async function battery(be: TestBackend): Promise<{ checked: number; accepted: number; disagreements: string[] }> {
  const all = [fallEvent(), wildlifeEvent(), otherEvent({ zones: ['gate'], frame_size: { width: 640, height: 360 } })]
    .flatMap((ev, i) => mutants(ev as unknown as J, ['fall', 'wildlife', 'other'][i]));
  const disagreements: string[] = [];
  let accepted = 0;
  for (let i = 0; i < all.length; i += 8) {
    await Promise.all(all.slice(i, i + 8).map(async (m) => {
      const errors = validateEvent(m.event);
      const r = await postEvent(be, m.event);
      const body = await r.text();
      if (r.ok) accepted++;
      const expected = errors.length ? 'rejected (422)' : 'accepted (2xx)';
      const agrees = errors.length ? r.status === 422 : r.ok;
      if (!agrees) disagreements.push(`${m.label}: ajv ${errors.length ? `says ${errors.join('; ')}` : 'accepts it'}, expected ${expected}, backend ${r.status} ${body.slice(0, 200)}`);
    }));
  }
  return { checked: all.length, accepted, disagreements };
}

// ---- the tests ------------------------------------------------------------------------------

const problem = backendPythonProblem();
if (problem) throw new Error(problem);

let be: TestBackend; // faults on, JSON-schema check required
let plain: TestBackend; // pydantic models only, no fault hook

beforeAll(async () => {
  [be, plain] = await Promise.all([
    startBackend({ token: TOKEN, jsonschema: '1' }),
    startBackend({ token: TOKEN, jsonschema: '0', faults: false }),
  ]);
});

afterAll(async () => {
  await Promise.all([be?.close(), plain?.close()]);
});

describe(`FastAPI reference backend (${BACKEND_PYTHON})`, () => {
  it('answers GET /health without a token, and says how it validates', async () => {
    const r = await fetch(`${be.url}/health`);
    expect(r.status).toBe(200);
    const h = (await r.json()) as { status: string; validation: string; pydantic: string };
    expect(h.status).toBe('ok');
    expect(h.validation).toBe('pydantic+jsonschema');
    expect((await (await fetch(`${plain.url}/health`)).json() as { validation: string }).validation).toBe('pydantic');
  });

  it('refuses to start without FASTAPI_TOKEN, saying so', () => {
    const r = spawnSync(BACKEND_PYTHON, ['-m', 'uvicorn', 'app:app', '--port', '0'], {
      cwd: BACKEND_DIR, env: { ...process.env, FASTAPI_TOKEN: '', BACKEND_DB: path.join(path.dirname(be.dbPath), 'never.db') }, encoding: 'utf8', timeout: 20000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('FASTAPI_TOKEN is not set');
  });

  it('answers 401 without the token, with a wrong one, or another scheme, and stores nothing', async () => {
    const ev = fallEvent();
    const before = (await be.stats()).counters.unauthorized;
    const tries: [string, Record<string, string>][] = [
      ['no header', {}], ['wrong token', { authorization: 'Bearer not-the-token' }],
      ['token prefix', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }], ['basic', { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` }],
    ];
    for (const [what, headers] of tries) {
      const r = await fetch(`${be.url}/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(ev) });
      expect(r.status, what).toBe(401);
      expect(r.headers.get('www-authenticate'), what).toBe('Bearer');
    }
    for (const p of ['/events', `/events/${ev.event_id}`, '/stats']) expect((await fetch(be.url + p)).status, p).toBe(401);
    const form = uploadForm(ev.event_id, await jpeg());
    expect((await fetch(`${be.url}/upload`, { method: 'POST', body: form })).status).toBe(401);
    expect(await be.event(ev.event_id)).toBeUndefined();
    expect((await be.stats()).counters.unauthorized).toBe(before + tries.length + 4);
    expect(be.output()).not.toContain(TOKEN);
  });

  it('stores a valid event (201) and returns it as sent', async () => {
    for (const ev of [fallEvent(), wildlifeEvent(), otherEvent()]) {
      const r = await postEvent(be, ev, { 'idempotency-key': ev.event_id });
      expect(r.status, ev.event_type).toBe(201);
      expect(await r.json()).toEqual({ status: 'stored', event_id: ev.event_id });
      const got = await be.event(ev.event_id);
      expect(got?.event).toEqual(ev);
      expect(got).toMatchObject({ stream_id: ev.stream_id, event_type: ev.event_type, risk_level: ev.risk_level, timestamp_utc: ev.timestamp_utc, has_upload: false });
      expect(Date.parse(got!.received_at)).toBeGreaterThan(Date.now() - 60000);
    }
    // The row is in the SQLite file itself, committed before the answer.
    const db = new Database(be.dbPath, { readonly: true });
    try {
      const n = db.prepare("SELECT COUNT(*) AS n FROM events WHERE stream_id IN ('hall', 'garden', 'gate')").get() as { n: number };
      expect(n.n).toBeGreaterThanOrEqual(3);
    } finally {
      db.close();
    }
  });

  it('acknowledges a duplicate (200) without storing it twice, also when 10 arrive at once', async () => {
    const ev = wildlifeEvent({ stream_id: 'dup-cam' });
    const s0 = await be.stats();
    expect((await postEvent(be, ev)).status).toBe(201);
    const again = await postEvent(be, { ...ev, confidence: 0.1 }, { 'idempotency-key': ev.event_id });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ status: 'duplicate', event_id: ev.event_id });
    expect((await be.event(ev.event_id))?.event.confidence).toBe(0.7); // the first one stays

    const burst = wildlifeEvent({ stream_id: 'dup-cam' });
    const codes = await Promise.all(Array.from({ length: 10 }, () => postEvent(be, burst).then((r) => r.status)));
    expect(codes.filter((c) => c === 201)).toHaveLength(1);
    expect(codes.filter((c) => c === 200)).toHaveLength(9);

    const db = new Database(be.dbPath, { readonly: true });
    try {
      const rows = db.prepare('SELECT event_id FROM events WHERE stream_id = ?').all('dup-cam') as { event_id: string }[];
      expect(rows.map((r) => r.event_id).sort()).toEqual([ev.event_id, burst.event_id].sort());
    } finally {
      db.close();
    }
    const s1 = await be.stats();
    expect(s1.counters.events_stored - s0.counters.events_stored).toBe(2);
    expect(s1.counters.events_duplicate - s0.counters.events_duplicate).toBe(10);
    expect(s1.events - s0.events).toBe(2);
  });

  it('rejects invalid events with 422 (missing field, wildlife without species) and a mismatched Idempotency-Key with 400', async () => {
    const { label: _label, ...noLabel } = fallEvent();
    const r1 = await postEvent(be, noLabel);
    expect(r1.status).toBe(422);
    expect(JSON.stringify(await r1.json())).toContain('label');
    const { species: _s, ...noSpecies } = wildlifeEvent();
    for (const target of [be, plain]) {
      const r2 = await postEvent(target, noSpecies);
      expect(r2.status).toBe(422);
      expect(JSON.stringify(await r2.json())).toContain('species');
      expect(await target.event(noSpecies.event_id)).toBeUndefined();
    }
    expect((await be.request('/events', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"not json' })).status).toBe(422);
    const ev = otherEvent();
    const r3 = await postEvent(be, ev, { 'idempotency-key': randomUUID() });
    expect(r3.status).toBe(400);
    expect(await be.event(ev.event_id)).toBeUndefined();
  });

  it('agrees with ajv on schemas/event.schema.json for hundreds of variations: pydantic models alone, and with the JSON-schema check', async () => {
    for (const target of [plain, be]) {
      const r = await battery(target);
      expect(r.disagreements).toEqual([]);
      expect(r.checked).toBeGreaterThan(200);
      expect(r.accepted).toBeGreaterThan(20); // the battery has valid variations too
    }
  });

  it('stores an upload (multipart), idempotently, and links it to its event', async () => {
    const ev = fallEvent({ stream_id: 'upload-cam' });
    const img = await jpeg(1);
    // The upload may come first.
    const mismatch = await be.request('/upload', { method: 'POST', headers: { 'idempotency-key': randomUUID() }, body: uploadForm(ev.event_id, img) });
    expect(mismatch.status).toBe(400);
    const u1 = await be.request('/upload', { method: 'POST', headers: { 'idempotency-key': ev.event_id }, body: uploadForm(ev.event_id, img) });
    expect(u1.status).toBe(201);
    expect(await u1.json()).toMatchObject({ status: 'stored', event_id: ev.event_id });
    const u2 = await be.request('/upload', { method: 'POST', body: uploadForm(ev.event_id, await jpeg(2)) });
    expect(u2.status).toBe(200);
    expect(await u2.json()).toMatchObject({ status: 'duplicate' });
    expect((await postEvent(be, ev)).status).toBe(201);

    const got = await be.event(ev.event_id);
    expect(got?.has_upload).toBe(true);
    expect(got?.upload).toMatchObject({ bytes: img.length, source: 'upload' });
    const snap = await be.request(got!.upload!.href);
    expect(snap.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await snap.arrayBuffer()).equals(img)).toBe(true); // the first one, not the duplicate
    expect(readFileSync(path.join(be.mediaDir, `${ev.event_id}.jpg`)).equals(img)).toBe(true);

    expect((await be.request('/upload', { method: 'POST', body: uploadForm(randomUUID(), Buffer.from('GIF89a....'), 'image/gif') })).status).toBe(415);
    expect((await be.request('/upload', { method: 'POST', body: uploadForm(randomUUID(), Buffer.from('not a jpeg')) })).status).toBe(415);
    expect((await be.request('/upload', { method: 'POST', body: uploadForm('nope', img) })).status).toBe(422);
    const big = await startBackend({ token: TOKEN, env: { BACKEND_MAX_UPLOAD_BYTES: '100' } });
    try {
      expect((await big.request('/upload', { method: 'POST', body: uploadForm(randomUUID(), img) })).status).toBe(413);
    } finally {
      await big.close();
    }
  });

  it('takes the snapshot inline (image_jpeg_base64) and keeps it out of the stored event', async () => {
    const ev = otherEvent({ stream_id: 'inline-cam' });
    const img = await jpeg(3);
    const r = await postEvent(be, { ...ev, image_jpeg_base64: img.toString('base64') });
    expect(r.status).toBe(201);
    expect(await r.json()).toEqual({ status: 'stored', event_id: ev.event_id, upload: 'stored' });
    const got = await be.event(ev.event_id);
    expect(got?.event).toEqual(ev);
    expect(got?.upload).toMatchObject({ source: 'inline', bytes: img.length });
    expect(got?.snapshot_url).toBe(ev.snapshot!.url);
    expect(Buffer.from(await (await be.request(got!.upload!.href)).arrayBuffer()).equals(img)).toBe(true);
    const dup = await postEvent(be, { ...ev, image_jpeg_base64: img.toString('base64') });
    expect(await dup.json()).toEqual({ status: 'duplicate', event_id: ev.event_id, upload: 'duplicate' });

    const bad = otherEvent({ stream_id: 'inline-cam' });
    expect((await postEvent(be, { ...bad, image_jpeg_base64: '***' })).status).toBe(422);
    expect((await postEvent(be, { ...bad, image_jpeg_base64: Buffer.from('plain text').toString('base64') })).status).toBe(415);
    expect(await be.event(bad.event_id)).toBeUndefined();
  });

  it('lists events newest first, with filters and paging', async () => {
    const stream = `list-${randomUUID().slice(0, 8)}`;
    const times = ['2024-06-01T10:00:00.000Z', '2024-06-01T12:00:00.000Z', '2024-06-01T11:00:00.000Z', '2024-06-01T13:30:00+02:00'];
    const sent = times.map((t, i) => (i === 1 ? wildlifeEvent({ stream_id: stream, timestamp_utc: t }) : fallEvent({ stream_id: stream, timestamp_utc: t })));
    for (const ev of sent) expect((await postEvent(be, ev)).status).toBe(201);
    const all = await be.events({ stream_id: stream });
    expect(all.total).toBe(4);
    // 13:30+02:00 is 11:30Z: between 11:00Z and 12:00Z.
    expect(all.items.map((i) => i.timestamp_utc)).toEqual([times[1], times[3], times[2], times[0]]);
    expect(all.items.every((i) => i.has_upload === false && i.stream_id === stream)).toBe(true);
    const falls = await be.events({ stream_id: stream, event_type: 'fall' });
    expect(falls.items.map((i) => i.event_id).sort()).toEqual([sent[0], sent[2], sent[3]].map((e) => e.event_id).sort());
    const page = await be.events({ stream_id: stream, limit: 2, offset: 1 });
    expect(page.total).toBe(4);
    expect(page.items.map((i) => i.timestamp_utc)).toEqual([times[3], times[2]]);
    expect((await be.request('/events?limit=0')).status).toBe(422);
    expect((await be.events()).total).toBeGreaterThan(4);
  });

  it('serves an OpenAPI whose event model has the fields, required lists, enums and bounds of schemas/event.schema.json', async () => {
    const api = (await (await fetch(`${be.url}/openapi.json`)).json()) as J;
    const resolveApi = resolver(api);
    const resolveSchema = resolver(SCHEMA);
    const body = api.paths['/events'].post.requestBody;
    expect(body.required).toBe(true);
    const submission = body.content['application/json'].schema as J;
    expect(compareSchemas(SCHEMA, submission, resolveSchema, resolveApi, 'POST /events body', ['image_jpeg_base64'])).toEqual([]);
    expect(facts(submission, resolveApi).props?.has('image_jpeg_base64')).toBe(true);
    // The stored event (GET /events/{id}) is the contract itself.
    const stored = facts(api.paths['/events/{event_id}'].get.responses['200'].content['application/json'].schema, resolveApi);
    expect(compareSchemas(SCHEMA, stored.props!.get('event')!, resolveSchema, resolveApi, 'GET /events/{id} event')).toEqual([]);
    // The comparison can fail: a schema with one more required field does not match.
    const changed = structuredClone(SCHEMA);
    changed.required = [...changed.required, 'model'];
    changed.properties.risk_level.enum = ['info', 'warn'];
    expect(compareSchemas(changed, submission, resolver(changed), resolveApi, 'x', ['image_jpeg_base64'])).toHaveLength(2);
    expect(api.components.securitySchemes).toBeDefined();
    for (const p of ['/events', '/upload', '/events/{event_id}', '/health', '/stats']) expect(api.paths[p], p).toBeDefined();
    expect(api.paths['/_faults']).toBeUndefined();
  });

  it('keeps events, uploads and counters across a stop, and across a crash right after the acknowledgement', async () => {
    const a = fallEvent({ stream_id: 'restart-cam' });
    expect((await postEvent(be, a)).status).toBe(201);
    expect((await be.request('/upload', { method: 'POST', body: uploadForm(a.event_id, await jpeg(4)) })).status).toBe(201);
    const before = await be.stats();
    await be.stop();
    expect(be.running()).toBe(false);
    await expect(fetch(`${be.url}/health`)).rejects.toThrow();
    await be.restart();
    expect((await be.event(a.event_id))?.has_upload).toBe(true);
    expect((await be.stats()).counters).toEqual(before.counters);
    expect((await postEvent(be, a)).status).toBe(200); // still a duplicate after the restart

    const b = wildlifeEvent({ stream_id: 'restart-cam' });
    expect((await postEvent(be, b)).status).toBe(201);
    await be.kill(); // SIGKILL straight after the 201: the acknowledgement meant committed
    await be.restart();
    expect((await be.event(b.event_id))?.event).toEqual(b);
    expect((await be.events({ stream_id: 'restart-cam' })).total).toBe(2);
  });

  describe('fault injection (BACKEND_FAULTS=1)', () => {
    it('is off unless enabled', async () => {
      expect((await plain.request('/_faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"mode":"reset"}' })).status).toBe(404);
      expect((await be.request('/_faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"mode":"explode"}' })).status).toBe(422);
      expect((await fetch(`${be.url}/_faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"mode":"reset"}' })).status).toBe(401);
    });

    it('status: 503 with Retry-After for `count` requests, then normal', async () => {
      await be.fault({ mode: 'status', status: 503, retry_after: 2, count: 2 });
      const ev = fallEvent();
      for (let i = 0; i < 2; i++) {
        const r = await postEvent(be, ev);
        expect(r.status).toBe(503);
        expect(r.headers.get('retry-after')).toBe('2');
        expect(await be.event(ev.event_id)).toBeUndefined();
      }
      expect((await postEvent(be, ev)).status).toBe(201);
      await be.fault({ mode: 'status', status: 429, retry_after: 0.2, path: '/upload' });
      expect((await postEvent(be, fallEvent())).status).toBe(201); // /events untouched
      const u = await be.request('/upload', { method: 'POST', body: uploadForm(ev.event_id, await jpeg()) });
      expect(u.status).toBe(429);
      expect(u.headers.get('retry-after')).toBe('1'); // whole seconds, rounded up
      expect((await be.request('/upload', { method: 'POST', body: uploadForm(ev.event_id, await jpeg()) })).status).toBe(201);
    });

    it('html500: a 500 with an HTML body', async () => {
      await be.fault({ mode: 'html500' });
      const ev = otherEvent();
      const r = await postEvent(be, ev);
      expect(r.status).toBe(500);
      expect(r.headers.get('content-type')).toContain('text/html');
      expect(await r.text()).toContain('<html>');
      expect((await postEvent(be, ev)).status).toBe(201);
    });

    it('slow: waits delay_s, then handles the request; a sender that timed out finds it stored', async () => {
      await be.fault({ mode: 'slow', delay_s: 1.2, count: 2 });
      const ev = wildlifeEvent();
      const t0 = Date.now();
      const r = await postEvent(be, ev);
      expect(r.status).toBe(201);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1150);
      const late = wildlifeEvent();
      await expect(postEvent(be, late, {}, { signal: AbortSignal.timeout(300) })).rejects.toThrow(/abort|timeout/i);
      const stored = await pollFor(() => be.event(late.event_id), 6000, 'the timed-out event to be stored', 100);
      expect(stored.event).toEqual(late);
      expect((await postEvent(be, late)).status).toBe(200); // the retry is a duplicate
    });

    it('reset: the connection is closed with a TCP reset and no response; nothing stored', async () => {
      await be.fault({ mode: 'reset' });
      const ev = fallEvent();
      const raw = await rawPost(be, ev);
      expect(raw.error).toBe('ECONNRESET');
      expect(raw.received).toBe('');
      expect(await be.event(ev.event_id)).toBeUndefined();
      await be.fault({ mode: 'reset' });
      await expect(postEvent(be, ev)).rejects.toThrow(/fetch failed|socket|reset/i);
      expect((await postEvent(be, ev)).status).toBe(201);
    });

    it('stage after: stored, then the answer is lost; the retry is a duplicate', async () => {
      await be.fault({ mode: 'reset', stage: 'after' });
      const ev = fallEvent();
      await expect(postEvent(be, ev)).rejects.toThrow();
      expect((await be.event(ev.event_id))?.event).toEqual(ev);
      await be.fault({ mode: 'status', status: 503, stage: 'after' });
      const ev2 = otherEvent();
      expect((await postEvent(be, ev2)).status).toBe(503);
      expect((await postEvent(be, ev2)).status).toBe(200);
    });

    it('reject_event: only that event gets the status, until cleared', async () => {
      const bad = fallEvent();
      await be.fault({ mode: 'reject_event', event_id: bad.event_id, status: 400, count: 0 });
      expect((await postEvent(be, otherEvent())).status).toBe(201);
      for (let i = 0; i < 2; i++) {
        const r = await postEvent(be, bad);
        expect(r.status).toBe(400);
        expect(await r.text()).toContain(bad.event_id);
      }
      const listed = (await (await be.request('/_faults')).json()) as { rules: { fired: number }[] };
      expect(listed.rules).toHaveLength(1);
      expect(listed.rules[0].fired).toBe(2);
      await be.clearFaults();
      expect((await postEvent(be, bad)).status).toBe(201);
    });
  });
});

/** POST /events over a bare socket: what came back before the connection ended, and how it ended. */
function rawPost(be: TestBackend, ev: unknown): Promise<{ received: string; error?: string }> {
  const body = JSON.stringify(ev);
  return new Promise((resolve) => {
    const s = net.connect(be.port, '127.0.0.1');
    let received = '';
    s.on('data', (d) => { received += d.toString(); });
    s.on('error', (err: NodeJS.ErrnoException) => resolve({ received, error: err.code }));
    s.on('close', () => resolve({ received }));
    s.write(`POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${be.token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    setTimeout(() => s.destroy(), 10000).unref();
  });
}
