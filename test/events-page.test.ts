/**
 * The status server's events page in headless Chromium: a graph with a test source emitting
 * EventPackets with real JPEG snapshots (@napi-rs/canvas) into a local-store node; /events lists
 * them newest first with loaded thumbnails and updates without a reload; /api/events and the
 * snapshot route; with a token, page, API and images all need it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createCanvas } from '@napi-rs/canvas';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineNode, Type } from '../src/contract.js';
import type { EventPacket, GraphrunEvent } from '../src/events/event.js';
import { startGraph, type TestApp } from './support/app.js';
import { artifactPath, launchChromium } from './support/browser.js';
import { makeEvent } from './support/local-store-fixtures.js';
import { pollFor } from './support/net.js';
import { testRegistry } from './support/test-nodes.js';

/** What each test-event-source node emits next, by node id: the test decides when. */
const queues = new Map<string, EventPacket[]>();

const eventSource = defineNode({
  type: 'test-event-source',
  summary: 'Emits the EventPackets a test puts in its queue (tests only).',
  options: Type.Object({}),
  inputs: {},
  outputs: { events: { kind: 'event', description: 'EventPackets.' } },
  canPause: true,
  create(_cfg, ctx) {
    return {
      async run() {
        let seq = 0;
        while (!ctx.signal.aborted) {
          const q = queues.get(ctx.id) ?? [];
          for (let p = q.shift(); p; p = q.shift()) {
            ctx.emit('events', { streamId: p.event.stream_id, seq: seq++, captureTimeMs: Date.parse(p.event.timestamp_utc), data: p });
          }
          try { await ctx.clock.sleep(30, ctx.signal); } catch { break; }
        }
      },
    };
  },
});
const registry = testRegistry.with([eventSource]);

const W = 320, H = 180;
const COLOURS = ['#2e7d32', '#ef6c00', '#c62828', '#1565c0', '#6a1b9a', '#00838f'];
/** A real JPEG: a coloured picture with the event's number on it. */
async function jpegFor(n: number): Promise<Buffer> {
  const c = createCanvas(W, H);
  const g = c.getContext('2d');
  g.fillStyle = COLOURS[n % COLOURS.length];
  g.fillRect(0, 0, W, H);
  g.fillStyle = '#fff';
  g.fillRect(40 + n * 10, 40, 60, 100);
  return c.encode('jpeg', 80);
}

async function eventPacket(n: number, o: Partial<GraphrunEvent>, snapshot = true): Promise<EventPacket> {
  // Through JSON: fields set to undefined (not allowed for wildlife) disappear.
  const event = JSON.parse(JSON.stringify(makeEvent({ track_id: n, timestamp_utc: new Date(Date.UTC(2026, 6, 1, 12, 0, n)).toISOString(), ...o }))) as GraphrunEvent;
  if (!snapshot) return { event };
  const jpeg = await jpegFor(n);
  return { event: { ...event, snapshot: { content_type: 'image/jpeg', width: W, height: H, bytes: jpeg.length } }, snapshot: { jpeg, width: W, height: H } };
}

const graph = (dir: string, status = '') => `
version: 1
name: events-page
${status}
nodes:
  cams:
    type: test-event-source
  store:
    type: local-store
    dir: ${JSON.stringify(dir)}
    inputs: { events: cams.events }
`;

async function rowIds(page: Page): Promise<string[]> {
  return page.locator('#rows tr').evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.eventId ?? ''));
}
async function field(page: Page, id: string, name: string): Promise<string> {
  return (await page.locator(`#rows tr[data-event-id="${id}"] [data-field="${name}"]`).textContent())?.trim() ?? '';
}
/** Every thumbnail on the page has loaded and decoded: naturalWidth > 0. */
async function thumbnailWidths(page: Page): Promise<number[]> {
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#rows img')).every((i) => (i as HTMLImageElement).complete), undefined, { timeout: 10000 });
  return page.locator('#rows img').evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).naturalWidth));
}

let browser: Browser;
beforeAll(async () => { browser = await launchChromium(); });
afterAll(async () => { await browser?.close(); });

describe('events page', () => {
  let t: TestApp;
  let base: string;
  const sent: EventPacket[] = [];
  beforeAll(async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'events-page-')), 'events');
    t = await startGraph(graph(dir), { registry, statusIntervalMs: 200 });
    base = t.app.statusUrl.replace(/\/$/, '');
  });
  afterAll(async () => { await t?.app.stop(); });

  it('lists stored events newest first with loaded thumbnails, and new ones appear without a reload', async () => {
    const q: EventPacket[] = [];
    queues.set('cams', q);
    sent.push(
      await eventPacket(1, { stream_id: 'garden', zones: ['lawn', 'beds'] }),
      await eventPacket(2, { stream_id: 'front door', event_type: 'fall', risk_level: 'warn', since_utc: '2026-07-01T12:00:01.000Z', pose_label: 'lying', pose_confidence: 0.7 }),
      await eventPacket(3, { stream_id: 'garden', category: 'wildlife', event_type: 'wildlife_intrusion', label: 'dog', species: 'fox', species_confidence: 0.6, threat_level: 'high', risk_level: 'critical', behavior_hint: 'moving', pose_label: undefined, pose_confidence: undefined, keypoints: undefined, zones: undefined }),
    );
    q.push(...sent);

    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(`${base}/events`);
      await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 10000 });
      await pollFor(async () => ((await rowIds(page)).length === 3 ? true : undefined), 10000, '3 rows on the events page');
      expect(await rowIds(page)).toEqual(sent.map((p) => p.event.event_id).reverse());
      expect(await thumbnailWidths(page)).toEqual([W, W, W]);

      const [e1, e2, e3] = sent.map((p) => p.event);
      expect(await field(page, e1.event_id, 'stream')).toBe('garden');
      expect(await field(page, e1.event_id, 'type')).toBe('person_detected');
      expect(await field(page, e1.event_id, 'risk')).toBe('info');
      expect(await field(page, e1.event_id, 'track')).toBe('#1');
      expect(await field(page, e1.event_id, 'zones')).toBe('lawnbeds');
      expect(await page.locator(`#rows tr[data-event-id="${e1.event_id}"] .zone`).allTextContents()).toEqual(['lawn', 'beds']);
      expect(await field(page, e2.event_id, 'stream')).toBe('front door');
      expect(await field(page, e2.event_id, 'type')).toBe('fall');
      expect(await field(page, e2.event_id, 'risk')).toBe('warn');
      expect(await field(page, e3.event_id, 'object')).toBe('fox 81%');
      expect(await field(page, e3.event_id, 'risk')).toBe('critical');
      expect(await field(page, e3.event_id, 'zones')).toBe('–');
      expect(await field(page, e1.event_id, 'time')).not.toBe('');

      // Two more (one without a snapshot) while the page stays open.
      const more = [await eventPacket(4, { stream_id: 'garden' }, false), await eventPacket(5, { stream_id: 'front door' })];
      sent.push(...more);
      q.push(...more);
      await pollFor(async () => ((await rowIds(page)).length === 5 ? true : undefined), 10000, '5 rows without a reload');
      expect(await rowIds(page)).toEqual(sent.map((p) => p.event.event_id).reverse());
      expect(await field(page, more[0].event.event_id, 'snapshot')).toBe('no snapshot');
      expect(await thumbnailWidths(page)).toEqual([W, W, W, W]);

      // The stream filter.
      await page.selectOption('#stream', 'front door');
      await pollFor(async () => ((await rowIds(page)).length === 2 ? true : undefined), 10000, 'front door rows only');
      expect(await rowIds(page)).toEqual([more[1].event.event_id, e2.event_id]);
      await page.selectOption('#stream', '');
      await pollFor(async () => ((await rowIds(page)).length === 5 ? true : undefined), 10000, 'all rows again');

      await page.screenshot({ path: artifactPath('events-page.png'), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('the main status page links to it', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${base}/`);
      await page.click('#events-link');
      await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 10000 });
      expect(new URL(page.url()).pathname).toBe('/events');
    } finally {
      await page.close();
    }
  });

  it('/api/events: newest first, limit and stream; snapshots by event id only', async () => {
    const r = await fetch(`${base}/api/events?limit=2`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { stores: string[]; events: { node: string; snapshot_url: string | null; event: GraphrunEvent }[] };
    expect(body.stores).toEqual(['store']);
    expect(body.events.map((e) => e.event.event_id)).toEqual(sent.slice(-2).map((p) => p.event.event_id).reverse());
    expect(body.events[0].node).toBe('store');
    expect(body.events[1].snapshot_url).toBeNull(); // event 4 had none
    expect(body.events[0].event.snapshot?.key).toMatch(/^front_door-[0-9a-f]{8}\/2026-07-01\/[0-9a-f-]{36}\.jpg$/);

    const garden = (await (await fetch(`${base}/api/events?stream=garden`)).json()) as typeof body;
    expect(garden.events.map((e) => e.event.track_id)).toEqual([4, 3, 1]);

    for (const bad of ['abc', '0', '501', '1.5']) expect((await fetch(`${base}/api/events?limit=${bad}`)).status, bad).toBe(400);

    const img = await fetch(base + body.events[0].snapshot_url!);
    expect(img.status).toBe(200);
    expect(img.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await img.arrayBuffer()).equals(sent[4].snapshot!.jpeg)).toBe(true);

    for (const p of [`/api/events/${crypto.randomUUID()}.jpg`, `/api/events/${sent[3].event.event_id}.jpg`, '/api/events/..%2F..%2Fevents.db.jpg',
      '/api/events/../../etc/passwd', '/api/events/%2e%2e/%2e%2e/etc/passwd.jpg', '/api/events/garden.jpg']) {
      const x = await fetch(base + p);
      expect(x.status, p).toBe(404);
      expect(x.headers.get('content-type'), p).not.toBe('image/jpeg');
    }
  });
});

describe('events page with a token', () => {
  const TOKEN = 'ev-s3cret';
  let t: TestApp;
  let base: string;
  let p: EventPacket;
  beforeAll(async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'events-page-')), 'events');
    p = await eventPacket(9, { stream_id: 'porch' });
    queues.set('cams', [p]);
    t = await startGraph(graph(dir, `status: { token: ${TOKEN} }`), { registry, statusIntervalMs: 200 });
    base = t.app.statusUrl.replace(/\/$/, '');
  });
  afterAll(async () => { await t?.app.stop(); });

  it('page, API and images need the token; the page passes it on', async () => {
    const img = `/api/events/${p.event.event_id}.jpg`;
    await pollFor(async () => ((await fetch(`${base}${img}?token=${TOKEN}`)).status === 200 ? true : undefined), 10000, 'the snapshot stored');
    for (const u of ['/events', '/api/events', img]) {
      const r = await fetch(base + u);
      expect(r.status, `${u} without token`).toBe(401);
      expect(await r.text()).not.toContain('porch');
      expect((await fetch(`${base}${u}?token=wrong`)).status, `${u} wrong token`).toBe(401);
      expect((await fetch(base + u, { headers: { authorization: `Bearer ${TOKEN}` } })).status, `${u} with Bearer`).toBe(200);
    }

    const page = await browser.newPage();
    try {
      // Without it the page itself is refused.
      const refused = await page.goto(`${base}/events`);
      expect(refused?.status()).toBe(401);
      // From the main page with ?token=, through its link: rows and images load.
      await page.goto(`${base}/?token=${TOKEN}`);
      await page.click('#events-link');
      await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 10000 });
      expect(new URL(page.url()).searchParams.get('token')).toBe(TOKEN);
      await pollFor(async () => ((await rowIds(page)).length === 1 ? true : undefined), 10000, 'the row');
      expect(await thumbnailWidths(page)).toEqual([W]);
      expect(await field(page, p.event.event_id, 'stream')).toBe('porch');
    } finally {
      await page.close();
    }
  });
});
