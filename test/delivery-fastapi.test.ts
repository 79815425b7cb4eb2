/**
 * fastapi-sink against the real reference backend (examples/fastapi-backend under uvicorn):
 * outages, faults, dead letters, snapshots. Nothing mocked: the backend's own SQLite is the
 * witness of what arrived, the outbox file of what is still owed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import * as contract from '../src/contract.js';
import { openOutbox } from '../src/outbox/outbox.js';
import { startGraph, waitFor, type TestApp } from './support/app.js';
import { eventBurstNode, idOf, sampleJpeg } from './support/event-burst.mjs';
import { startBackend, type TestBackend } from './support/fastapi.js';
import { testRegistry } from './support/test-nodes.js';

const TOKEN = 'test-token-5f0c';
const registry = testRegistry.with([eventBurstNode(contract)]);
let backend: TestBackend;
let dir: string;
let app: TestApp | undefined;

beforeAll(async () => { backend = await startBackend({ token: TOKEN }); });
afterAll(async () => { await backend?.close(); });
afterEach(async () => {
  await app?.app.stop();
  app = undefined;
  if (!backend.running()) await backend.restart();
  await backend.clearFaults();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function graph(o: { count: number; rate: number; prefix: string; snapshot?: boolean; media?: string; sink?: string; streams?: number }): string {
  dir = mkdtempSync(path.join(os.tmpdir(), 'graphrun-fastapi-'));
  return `
version: 1
name: delivery
status: { enabled: false }
nodes:
  src: { type: test-event-burst, count: ${o.count}, rate: ${o.rate}, prefix: ${o.prefix}, snapshot: ${o.snapshot ?? false}, streams: ${o.streams ?? 1} }
  backend:
    type: fastapi-sink
    endpoint: ${backend.url}
    token: \${TEST_FASTAPI_TOKEN}
    media: ${o.media ?? 'none'}
    outbox: { path: ${path.join(dir, 'outbox.db')} }
    retry: { initial_ms: 200, max_ms: 5000 }
    breaker: { failures: 5, open_ms: 500, max_open_ms: 4000 }
    timeout_ms: 1500
    ${o.sink ?? ''}
    inputs: { events: { from: src.events, queue: { block: 64 } } }
`;
}

const env = { ...process.env, TEST_FASTAPI_TOKEN: TOKEN };
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => idOf(`${prefix}-${i}`));

async function storedIds(prefix: string): Promise<string[]> {
  const all: string[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = await backend.events({ limit: 500, offset });
    all.push(...page.items.map((e) => e.event_id));
    if (page.items.length < 500) break;
  }
  const mine = new Set(ids(prefix, 10_000));
  return all.filter((id) => mine.has(id));
}

describe('fastapi-sink → reference backend', () => {
  it('backend stopped for 30 s in the middle of a burst of 500 events: exactly 500 distinct events arrive once it is back', async () => {
    const before = (await backend.stats()).counters;
    app = await startGraph(graph({ count: 500, rate: 50, prefix: 'outage' }), { registry, env });
    await waitFor(() => true, 10);
    await new Promise((r) => setTimeout(r, 4000)); // ~200 events delivered
    await backend.stop();
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 30_000));
    await backend.restart();
    const upAt = Date.now();
    let got: string[] = [];
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      got = await storedIds('outage');
      if (got.length >= 500) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const drainS = (Date.now() - upAt) / 1000;
    const after = (await backend.stats()).counters;
    const dup = after.events_duplicate - before.events_duplicate;
    console.log(`outage: down ${((upAt - downAt) / 1000).toFixed(1)} s; 500 events; drained ${drainS.toFixed(1)} s after the restart; duplicates the backend acknowledged without storing: ${dup}; received ${after.events_received - before.events_received}`);
    expect(got.length).toBe(500);
    expect(new Set(got)).toEqual(new Set(ids('outage', 500)));
    expect(after.events_stored - before.events_stored).toBe(500);
    // The status line says so (it is refreshed every second).
    await waitFor(() => /500 delivered, backlog 0/.test(app!.app.runtime.snapshot().nodes.find((n) => n.id === 'backend')!.text), 5000, 'status: 500 delivered');
  }, 180_000);

  it('a 400 for one event puts it in the dead letters with the response; HTML 500 pages, slow answers and resets are retried; the rest flow', async () => {
    const bad = idOf('faults-7');
    await backend.fault({ mode: 'reject_event', event_id: bad, status: 400 });
    await backend.fault({ mode: 'html500', count: 3 });
    await backend.fault({ mode: 'slow', delay_s: 3, count: 2 });
    await backend.fault({ mode: 'reset', count: 2 });
    app = await startGraph(graph({ count: 60, rate: 100, prefix: 'faults', streams: 3 }), { registry, env });
    await waitFor(() => /59 delivered/.test(app!.app.runtime.snapshot().nodes.find((n) => n.id === 'backend')!.text), 60_000, '59 delivered');
    const got = await storedIds('faults');
    expect(got.length).toBe(59);
    expect(got).not.toContain(bad);
    await app.app.stop();
    app = undefined;
    const ob = openOutbox(path.join(dir, 'outbox.db'), {});
    try {
      const dead = ob.deadLetters('backend');
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({ key: bad, status: 400 });
      expect(String(dead[0].response)).toMatch(/./);
      expect(ob.stats('backend').backlog).toBe(0);
    } finally {
      ob.close();
    }
  }, 120_000);

  it('snapshots: media upload sends the JPEG after the event, inline as image_jpeg_base64; both arrive intact', async () => {
    const jpg = await sampleJpeg();
    const sha = createHash('sha256').update(jpg).digest('hex');
    for (const media of ['upload', 'inline'] as const) {
      app = await startGraph(graph({ count: 5, rate: 50, prefix: `media-${media}`, snapshot: true, media }), { registry, env });
      await waitFor(() => /5 delivered/.test(app!.app.runtime.snapshot().nodes.find((n) => n.id === 'backend')!.text), 20_000, '5 delivered');
      for (const id of ids(`media-${media}`, 5)) {
        const e = await backend.event(id);
        expect(e?.upload, `${media} ${id}`).toMatchObject({ bytes: jpg.length, sha256: sha, source: media });
      }
      await app.app.stop();
      app = undefined;
    }
  }, 60_000);

  it('a wrong token is not a bad event: rows wait (401 retried, breaker opens) and go out once the token is right', async () => {
    app = await startGraph(graph({ count: 10, rate: 100, prefix: 'token' }), { registry, env: { ...env, TEST_FASTAPI_TOKEN: 'wrong' } });
    await waitFor(() => /paused/.test(app!.app.runtime.snapshot().nodes.find((n) => n.id === 'backend')!.text), 20_000, 'breaker open');
    const text = app.app.runtime.snapshot().nodes.find((n) => n.id === 'backend')!.text;
    expect(text).toMatch(/backlog 10/);
    expect(text).toMatch(/401/);
    expect(text).not.toContain('wrong'); // the token never shows
    await app.app.stop();
    // Same outbox, right token: the ten go out.
    const first = dir;
    const yaml = graph({ count: 0, rate: 100, prefix: 'token' }).replace(/outbox: \{ path: [^}]+\}/, `outbox: { path: ${path.join(first, 'outbox.db')} }`);
    rmSync(dir, { recursive: true, force: true });
    dir = first;
    app = await startGraph(yaml, { registry, env });
    await waitFor(() => /10 delivered/.test(app!.app.runtime.snapshot().nodes.find((n) => n.id === 'backend')!.text), 20_000, '10 delivered');
    expect((await storedIds('token')).length).toBe(10);
  }, 60_000);
});
