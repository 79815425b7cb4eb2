/**
 * The status page in a real browser (headless Chromium), and the status server's token rules
 * over plain HTTP and WebSocket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import WebSocket from 'ws';
import type { StatusSnapshot } from '../src/status/snapshot.js';
import { startGraph, type TestApp } from './support/app.js';
import { artifactPath, launchChromium, nodeField, nodeNumber, openStatusPage } from './support/browser.js';
import { pollFor } from './support/net.js';

const NODE_IDS = ['cam', 'pass1', 'pass2', 'flaky', 'rec'];

const PIPELINE = `
version: 1
name: page-test
nodes:
  cam:
    type: synthetic-source
    width: 64
    height: 48
    fps: 50
  pass1:
    type: test-pass
    inputs: { in: cam.frames }
  pass2:
    type: test-pass
    inputs: { in: pass1.out }
  flaky:
    type: test-flaky
    fail_every: 15
    restart: { initial_ms: 100, max_ms: 200 }
    inputs: { in: pass2.out }
  rec:
    type: test-recorder
    keep: false
    inputs: { in: flaky.out }
`;

let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

describe('status page in Chromium', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startGraph(PIPELINE, { statusIntervalMs: 200 });
  });
  afterAll(async () => {
    await t?.app.stop();
  });

  it('shows every node, live counters, and the flaky node failing and restarting', async () => {
    const page = await openStatusPage(browser, t.app.statusUrl);
    try {
      for (const id of NODE_IDS) {
        const box = page.locator(`.node[data-node-id="${id}"]`);
        await expect(box.count()).resolves.toBe(1);
        expect(await nodeField(page, id, 'id')).toBe(id);
      }
      expect(await nodeField(page, 'cam', 'type')).toBe('synthetic-source');
      expect(await nodeField(page, 'flaky', 'type')).toBe('test-flaky');

      // Counters move while the page is open (the page, not the runtime, is read).
      const first = await pollFor(async () => { const n = await nodeNumber(page, 'pass2', 'packetsIn'); return n > 0 ? n : undefined; }, 5000, 'pass2 packetsIn > 0 on the page');
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, 1500));
      const second = await nodeNumber(page, 'pass2', 'packetsIn');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
      expect(second).toBeGreaterThan(first);
      // ~50 fps for 1.5 s: a page stuck on a stale snapshot would show (almost) no change.
      expect(second - first).toBeGreaterThanOrEqual(20);
      expect(Number(await nodeField(page, 'pass2', 'inRate'))).toBeGreaterThan(0);

      // The flaky node fails every 15th packet: the page must show errors and restarts.
      await pollFor(async () => {
        const errors = await nodeNumber(page, 'flaky', 'errors');
        const restarts = await nodeNumber(page, 'flaky', 'restarts');
        return errors > 0 && restarts > 0 ? true : undefined;
      }, 8000, 'flaky errors > 0 and restarts > 0 on the page');
      expect(await nodeField(page, 'flaky', 'lastError')).toMatch(/planned failure on packet \d+/);
      // Healthy nodes show no errors; no diagnostics and no connection banner.
      expect(await nodeNumber(page, 'pass1', 'errors')).toBe(0);
      expect(await page.locator('#diagnostics').isHidden()).toBe(true);
      expect(await page.locator('#conn-banner').isHidden()).toBe(true);
      expect(await page.locator('#graph-name').textContent()).toBe('page-test');

      await page.screenshot({ path: artifactPath('status-page.png'), fullPage: true });
    } finally {
      await page.close();
    }
  });
});

describe('status server token', () => {
  const TOKEN = 's3cret-tok';
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await startGraph(`
version: 1
name: token-test
status: { token: ${TOKEN} }
nodes:
  cam:
    type: synthetic-source
    width: 16
    height: 16
    fps: 50
  sink:
    type: debug-sink
    inputs: { in: cam.frames }
`, { statusIntervalMs: 200 });
    base = t.app.statusUrl.replace(/\/$/, '');
  });
  afterAll(async () => {
    await t?.app.stop();
  });

  it('refuses page, metrics and status.json without the token', async () => {
    for (const p of ['/', '/metrics', '/status.json', '/readyz', '/index.html']) {
      const r = await fetch(base + p);
      expect(r.status, `GET ${p} without token`).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await r.text()).not.toContain('cam');
    }
    const wrong = await fetch(`${base}/status.json?token=s3cret-toX`);
    expect(wrong.status).toBe(401);
    const bearerWrong = await fetch(`${base}/status.json`, { headers: { authorization: `Bearer ${TOKEN}x` } });
    expect(bearerWrong.status).toBe(401);
  });

  it('accepts ?token=, Authorization: Bearer and X-Graphrun-Token', async () => {
    for (const p of ['/', '/metrics', '/status.json']) {
      const q = await fetch(`${base}${p}?token=${TOKEN}`);
      expect(q.status, `GET ${p}?token=`).toBe(200);
      const b = await fetch(base + p, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(b.status, `GET ${p} with Bearer`).toBe(200);
      const x = await fetch(base + p, { headers: { 'x-graphrun-token': TOKEN } });
      expect(x.status, `GET ${p} with X-Graphrun-Token`).toBe(200);
      const lower = await fetch(base + p, { headers: { authorization: `bearer ${TOKEN}` } });
      expect(lower.status, `GET ${p} with "bearer" (auth schemes are case-insensitive)`).toBe(200);
      if (p === '/status.json') {
        const snap = (await b.json()) as StatusSnapshot;
        expect(snap.nodes.map((n) => n.id).sort()).toEqual(['cam', 'sink']);
      }
      if (p === '/metrics') expect(await q.text()).toContain('graphrun_node_packets_in_total');
      if (p === '/') expect(await q.text()).toContain('<title>graphrun status</title>');
    }
  });

  it('keeps /healthz open without the token', async () => {
    const r = await fetch(`${base}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('ok\n');
  });

  it('refuses a WebSocket upgrade without the token and streams snapshots with it', async () => {
    const wsBase = base.replace(/^http/, 'ws');
    const refused = await new Promise<number | string>((resolve) => {
      const ws = new WebSocket(`${wsBase}/ws`);
      ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
      ws.on('open', () => { resolve('open'); ws.close(); });
      ws.on('error', (e) => resolve(`error: ${e.message}`));
    });
    expect(refused).toBe(401);

    const wrong = await new Promise<number | string>((resolve) => {
      const ws = new WebSocket(`${wsBase}/ws`, { headers: { authorization: 'Bearer nope' } });
      ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
      ws.on('open', () => { resolve('open'); ws.close(); });
      ws.on('error', (e) => resolve(`error: ${e.message}`));
    });
    expect(wrong).toBe(401);

    for (const opts of [{ url: `${wsBase}/ws?token=${TOKEN}`, headers: {} }, { url: `${wsBase}/ws`, headers: { authorization: `Bearer ${TOKEN}` } }]) {
      const snaps = await new Promise<StatusSnapshot[]>((resolve, reject) => {
        const got: StatusSnapshot[] = [];
        const ws = new WebSocket(opts.url, { headers: opts.headers });
        const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no snapshots from ${opts.url}`)); }, 5000);
        ws.on('message', (data) => {
          got.push(JSON.parse(data.toString()) as StatusSnapshot);
          if (got.length === 2) { clearTimeout(timer); ws.close(); resolve(got); }
        });
        ws.on('error', (e) => { clearTimeout(timer); reject(e); });
      });
      expect(snaps[0].graph.name).toBe('token-test');
      expect(snaps[0].nodes.map((n) => n.id).sort()).toEqual(['cam', 'sink']);
      expect(snaps[1].time).toBeGreaterThanOrEqual(snaps[0].time);
      expect(JSON.stringify(snaps)).not.toContain(TOKEN);
    }
  });

  it('serves a page that works in Chromium with ?token=', async () => {
    const page = await openStatusPage(browser, `${t.app.statusUrl}?token=${TOKEN}`);
    try {
      expect(await nodeField(page, 'cam', 'id')).toBe('cam');
      expect(await nodeField(page, 'sink', 'id')).toBe('sink');
      await pollFor(async () => ((await nodeNumber(page, 'sink', 'packetsIn')) > 0 ? true : undefined), 5000, 'sink packetsIn > 0 on the tokened page');
      expect(await page.locator('#conn-banner').isHidden()).toBe(true);
    } finally {
      await page.close();
    }
    // Without the token the page itself is refused.
    const page2 = await browser.newPage();
    try {
      const resp = await page2.goto(t.app.statusUrl);
      expect(resp?.status()).toBe(401);
    } finally {
      await page2.close();
    }
  });
});

describe('status page connection', () => {
  const SMALL = `
version: 1
name: conn-test
nodes:
  cam:
    type: synthetic-source
    width: 16
    height: 16
    fps: 30
  sink:
    type: debug-sink
    inputs: { in: cam.frames }
`;

  it('shows the banner while the server is gone and recovers when it is back', async () => {
    const t1 = await startGraph(SMALL, { statusIntervalMs: 200 });
    const port = Number(new URL(t1.app.statusUrl).port);
    let t2: TestApp | undefined;
    const page = await openStatusPage(browser, t1.app.statusUrl);
    try {
      expect(await page.locator('#conn-banner').isHidden()).toBe(true);
      expect(await page.locator('#conn-text').textContent()).toBe('live');
      await t1.app.stop();
      await page.locator('#conn-banner').waitFor({ state: 'visible', timeout: 5000 });
      expect(await page.locator('#conn-banner').textContent()).toMatch(/^disconnected — reconnecting/);
      expect(await page.locator('#content').getAttribute('class')).toContain('stale');
      // The last data stays on screen.
      expect(await nodeField(page, 'sink', 'id')).toBe('sink');

      t2 = await startGraph(SMALL, { statusIntervalMs: 200, listen: { host: '127.0.0.1', port } });
      await page.locator('#conn-banner').waitFor({ state: 'hidden', timeout: 10000 });
      expect(await page.locator('#conn-text').textContent()).toBe('live');
      expect(await page.locator('#content').getAttribute('class')).not.toContain('stale');
      // Data from the new run: its file is a different temp file.
      await pollFor(async () => ((await page.locator('#graph-file').textContent()) === t2!.app.runtime.graph.file ? true : undefined), 5000, 'the page to show the new run');
    } finally {
      await page.close();
      await t1.app.stop();
      await t2?.app.stop();
    }
  });
});
