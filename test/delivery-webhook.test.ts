/**
 * webhook-sink against a real HTTP receiver (node:http in this process): the JSON and Slack
 * bodies and headers, the risk/threat filters, the per-minute rate limit, retries (500, a reset
 * connection), dead letters (400) — and the webhook URL, a secret for Slack, never shown in
 * logs, status text, /status.json or /metrics.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as contract from '../src/contract.js';
import { defineNode, Type } from '../src/contract.js';
import type { GraphrunEvent } from '../src/events/event.js';
import { openOutbox } from '../src/outbox/outbox.js';
import { startGraph, waitFor, type TestApp } from './support/app.js';
import { burstEvent, eventBurstNode, idOf, T0 } from './support/event-burst.mjs';
import { testRegistry } from './support/test-nodes.js';

// ---- a receiver --------------------------------------------------------------------------

interface Got { path: string; headers: IncomingHttpHeaders; body: string; answer: string; at: number }
type Answer = 'ok' | 'reset' | { status: number; body?: string; headers?: Record<string, string> };
interface Receiver { url: string; got: Got[]; accepted(): Got[]; answer: (g: Got) => Answer; close(): Promise<void> }

async function startReceiver(): Promise<Receiver> {
  const got: Got[] = [];
  const r: Receiver = {
    url: '', got, answer: () => 'ok',
    accepted: () => got.filter((g) => g.answer === '200'),
    close: () => new Promise<void>((done) => { server.closeAllConnections(); server.close(() => done()); }),
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const g: Got = { path: req.url ?? '', headers: req.headers, body, answer: '', at: Date.now() };
      got.push(g);
      const a = r.answer(g);
      if (a === 'reset') { g.answer = 'reset'; req.socket.destroy(); return; }
      if (a === 'ok') { g.answer = '200'; res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'); return; }
      g.answer = String(a.status);
      res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers }).end(a.body ?? '');
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return r;
}

// ---- a source of chosen events -----------------------------------------------------------

/** Events for test-event-list, with their packet times (ms since the epoch). */
let listed: { event: GraphrunEvent; at: number }[] = [];
const eventList = defineNode({
  type: 'test-event-list',
  summary: 'Emits the events the test put in `listed` (tests only).',
  options: Type.Object({}),
  inputs: {},
  outputs: { events: { kind: 'event', description: 'EventPackets.' } },
  canPause: true,
  create(_cfg, ctx) {
    return {
      async run() {
        let seq = 0;
        for (const { event, at } of listed) {
          const w = ctx.emit('events', { streamId: event.stream_id, seq: seq++, captureTimeMs: at, data: { event } });
          if (w) await w;
        }
      },
    };
  },
});

function wildlife(seq: number, threat: 'none' | 'low' | 'medium' | 'high'): GraphrunEvent {
  const base = burstEvent('wild', seq, 'orchard');
  return {
    ...base, event_type: 'wildlife_intrusion', category: 'wildlife', label: 'fox', reason: 'first_sighting',
    risk_level: threat === 'high' ? 'critical' : threat === 'medium' ? 'warn' : 'info',
    pose_label: undefined, pose_confidence: undefined, keypoints: undefined, since_utc: undefined,
    species: 'fox', species_confidence: 0.9, threat_level: threat, behavior_hint: 'moving',
  };
}

// ---- graphs ------------------------------------------------------------------------------

const registry = testRegistry.with([eventBurstNode(contract), eventList]);
const SECRET_PATH = '/services/T0GR4PH/B0RUN/xoxSeCrEtWeBhOoK9f3';
let dir = '';
let app: TestApp | undefined;
let receivers: Receiver[] = [];

afterEach(async () => {
  await app?.app.stop();
  app = undefined;
  for (const r of receivers) await r.close();
  receivers = [];
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

/** A graph of `source` and webhook sinks (id → extra option lines), on one outbox file. */
function graph(source: string, sinks: Record<string, string>): string {
  dir = mkdtempSync(path.join(os.tmpdir(), 'graphrun-webhook-'));
  const nodes = Object.entries(sinks).map(([id, opts]) => `
  ${id}:
    type: webhook-sink
    outbox: { path: ${path.join(dir, 'outbox.db')} }
    retry: { initial_ms: 100, max_ms: 1000 }
    breaker: { failures: 4, open_ms: 200, max_open_ms: 1000 }
    timeout_ms: 2000
${opts.trim().split('\n').map((l) => `    ${l.trim()}`).join('\n')}
    inputs: { events: { from: src.events, queue: { block: 64 } } }`).join('');
  return `
version: 1
name: webhook
nodes:
  src: ${source}
${nodes}
`;
}

const node = (id: string) => app!.app.runtime.snapshot().nodes.find((n) => n.id === id)!;

/** One counter of a node from /metrics (Prometheus text). */
async function metric(name: string, nodeId: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', app!.app.statusUrl))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`node_id="${nodeId}"`));
  if (!line) throw new Error(`${name}{node_id="${nodeId}"} not in /metrics`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

// ---- tests -------------------------------------------------------------------------------

describe('webhook-sink → a real HTTP receiver', () => {
  it('json: the event as the body, Idempotency-Key and bearer token; info events below min_risk are filtered and counted', async () => {
    const rx = await receiver();
    app = await startGraph(graph('{ type: test-event-burst, count: 50, rate: 200, prefix: wh-json }', {
      alert: `url: \${TEST_WEBHOOK_URL}\nformat: json\ntoken: \${TEST_WEBHOOK_TOKEN}\nmax_per_minute: 0`,
    }), { registry, env: { ...process.env, TEST_WEBHOOK_URL: `${rx.url}/hook`, TEST_WEBHOOK_TOKEN: 'wh-token-3c1e' } });
    // Every 10th is a fall (warn), the 50th collapsed (critical): 4 + 1 alerts, 45 info filtered.
    await waitFor(() => /^5 alerts sent, backlog 0/.test(node('alert').text), 15_000, '5 alerts sent');
    await new Promise((r) => setTimeout(r, 300)); // nothing more comes
    const seqs = [9, 19, 29, 39, 49];
    expect(rx.got).toHaveLength(5);
    for (const [i, g] of rx.got.entries()) {
      const e = burstEvent('wh-json', seqs[i]);
      expect(g.path).toBe('/hook');
      expect(JSON.parse(g.body)).toEqual(e);
      expect(g.headers['idempotency-key']).toBe(e.event_id);
      expect(g.headers.authorization).toBe('Bearer wh-token-3c1e');
      expect(g.headers['content-type']).toBe('application/json');
    }
    expect(await metric('graphrun_webhook_filtered_total', 'alert')).toBe(45);
    expect(await metric('graphrun_sink_delivered_total', 'alert')).toBe(5);
    expect(app.logs.join('\n')).not.toContain('wh-token-3c1e');
  });

  it('slack: a text message per alert (title, who, where, when, risk; the snapshot link when stored), no token sent', async () => {
    const rx = await receiver();
    const fall = burstEvent('wh-slack', 9);
    const collapsed = { ...burstEvent('wh-slack', 49), zones: ['lawn', 'patio'], snapshot: { content_type: 'image/jpeg' as const, width: 320, height: 180, bytes: 1000, url: 'https://snaps.example/x.jpg' } };
    const fox = wildlife(3, 'high');
    listed = [fall, collapsed, fox].map((event, i) => ({ event, at: T0 + i * 1000 }));
    app = await startGraph(graph('{ type: test-event-list }', {
      alert: `url: \${TEST_WEBHOOK_URL}\nformat: slack\ntoken: not-for-slack-77`,
    }), { registry, env: { ...process.env, TEST_WEBHOOK_URL: `${rx.url}${SECRET_PATH}` } });
    await waitFor(() => /^3 alerts sent/.test(node('alert').text), 15_000, '3 alerts sent');
    // fall and collapsed are on stream garden (in this order), the fox on orchard: no order between streams.
    expect(rx.got.map((g) => JSON.parse(g.body)).sort((x, y) => (x.text < y.text ? -1 : 1))).toEqual([
      { text: `:warning: *Fall* — person #${fall.track_id}, lying at garden, 2026-07-01 12:00:00 UTC (risk warn)` },
      { text: `:rotating_light: *Person lying still* — person #${collapsed.track_id}, lying at garden / lawn, patio, 2026-07-01 12:00:04 UTC (risk critical) <https://snaps.example/x.jpg|snapshot>` },
      { text: ':rotating_light: *Wildlife* — fox (threat high, moving) at orchard, 2026-07-01 12:00:00 UTC (risk critical)' },
    ].sort((x, y) => (x.text < y.text ? -1 : 1)));
    const garden = rx.got.map((g) => (JSON.parse(g.body) as { text: string }).text).filter((t) => t.includes(' at garden'));
    expect(garden[0]).toMatch(/^:warning: \*Fall\*/);
    for (const g of rx.got) {
      expect(g.path).toBe(SECRET_PATH);
      expect(g.headers.authorization).toBeUndefined();
      expect(g.headers['content-type']).toBe('application/json');
    }
  });

  it('filters: min_risk and, for wildlife, min_threat', async () => {
    const a = await receiver();
    const b = await receiver();
    const events = [
      burstEvent('wh-filter', 0), // human info
      burstEvent('wh-filter', 9), // human warn (fall)
      wildlife(1, 'none'), wildlife(2, 'low'), wildlife(3, 'medium'), wildlife(4, 'high'),
      burstEvent('wh-filter', 49), // human critical
    ];
    listed = events.map((event, i) => ({ event, at: T0 + i * 1000 }));
    app = await startGraph(graph('{ type: test-event-list }', {
      everything_medium: `url: ${a.url}/a\nmin_risk: info\nmin_threat: medium\nmax_per_minute: 0`,
      defaults_high: `url: ${b.url}/b\nmin_threat: high\nmax_per_minute: 0`, // min_risk: warn (default)
    }), { registry, env: process.env });
    await waitFor(() => /^5 alerts sent/.test(node('everything_medium').text) && /^3 alerts sent/.test(node('defaults_high').text), 15_000, 'alerts sent');
    await new Promise((r) => setTimeout(r, 300));
    const idsOf = (rx: Receiver) => rx.got.map((g) => (JSON.parse(g.body) as GraphrunEvent).event_id);
    const id = (i: number) => events[i].event_id;
    // info: human info passes, wildlife none/low fail min_threat; medium and high pass.
    // (Two streams, garden and orchard: no order between them.)
    expect(idsOf(a)).toHaveLength(5);
    expect(new Set(idsOf(a))).toEqual(new Set([id(0), id(1), id(4), id(5), id(6)]));
    // warn + high: human info below min_risk; wildlife medium below min_threat.
    expect(idsOf(b)).toHaveLength(3);
    expect(new Set(idsOf(b))).toEqual(new Set([id(1), id(5), id(6)]));
    expect(await metric('graphrun_webhook_filtered_total', 'everything_medium')).toBe(2);
    expect(await metric('graphrun_webhook_filtered_total', 'defaults_high')).toBe(4);
  });

  it('max_per_minute: warn and info alerts beyond it are dropped and counted (packet time); critical ones always go', async () => {
    const rx = await receiver();
    const ev = (seq: number, kind: 'info' | 'warn' | 'critical') => burstEvent('wh-rate', kind === 'info' ? seq * 50 : kind === 'warn' ? seq * 50 + 9 : seq * 50 + 49);
    // Seconds of packet time, with what each should become.
    const plan: [number, GraphrunEvent, boolean][] = [
      [0, ev(0, 'info'), true], [1, ev(1, 'warn'), true], [2, ev(2, 'warn'), true],
      [3, ev(3, 'warn'), false], [4, ev(4, 'info'), false], [5, ev(5, 'critical'), true], [6, ev(6, 'warn'), false],
      [7, ev(7, 'critical'), true],
      // A minute after the first three, the window has room again (the two criticals still count).
      [62, ev(8, 'warn'), true], [63, ev(9, 'info'), false],
    ];
    listed = plan.map(([s, event]) => ({ event, at: T0 + s * 1000 }));
    app = await startGraph(graph('{ type: test-event-list }', { alert: `url: ${rx.url}/r\nmin_risk: info\nmax_per_minute: 3` }), { registry, env: process.env });
    const want = plan.filter(([, , pass]) => pass).map(([, e]) => e.event_id);
    await waitFor(() => new RegExp(`^${want.length} alerts sent`).test(node('alert').text), 15_000, `${want.length} alerts sent`);
    await new Promise((r) => setTimeout(r, 300));
    expect(rx.got.map((g) => (JSON.parse(g.body) as GraphrunEvent).event_id)).toEqual(want);
    expect(await metric('graphrun_webhook_rate_limited_total', 'alert')).toBe(plan.length - want.length);
    expect(app.logs.filter((l) => l.includes('alert rate limit reached'))).toHaveLength(plan.length - want.length);
  });

  it('retries 500s and reset connections, dead-letters a 400 with its response; the secret URL shows nowhere', async () => {
    const rx = await receiver();
    const bad = idOf('wh-fault-19');
    let n = 0;
    // Like many servers, the error pages repeat the path they were asked for.
    rx.answer = (g) => {
      const id = (JSON.parse(g.body) as GraphrunEvent).event_id;
      if (id === bad) return { status: 400, body: `bad payload for ${g.path}` };
      n++;
      if (n <= 2) return { status: 500, body: `<html>internal error at ${g.path}</html>` };
      if (n <= 4) return 'reset';
      if (n === 5) return { status: 503, body: `unavailable: ${g.path}`, headers: { 'retry-after': '1' } };
      return 'ok';
    };
    const url = `${rx.url}${SECRET_PATH}`;
    app = await startGraph(graph('{ type: test-event-burst, count: 60, rate: 200, prefix: wh-fault, streams: 2 }', {
      alert: `url: \${SLACK_WEBHOOK_URL}\nformat: json\nmax_per_minute: 0\nmin_risk: warn`,
    }), { registry, env: { ...process.env, SLACK_WEBHOOK_URL: url }, statusIntervalMs: 100 });
    // 6 alerts (5 falls, 1 collapsed); seq 19 is refused for good.
    const texts: string[] = [];
    const end = Date.now() + 30_000;
    while (!/^5 alerts sent, backlog 0, 1 dead letters/.test(node('alert').text) && Date.now() < end) {
      texts.push(JSON.stringify(app.app.runtime.snapshot()));
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(node('alert').text).toMatch(/^5 alerts sent, backlog 0, 1 dead letters/);
    const want = [9, 29, 39, 49, 59].map((s) => idOf(`wh-fault-${s}`));
    expect(new Set(rx.accepted().map((g) => (JSON.parse(g.body) as GraphrunEvent).event_id))).toEqual(new Set(want));
    expect(rx.got.filter((g) => g.answer === '500')).toHaveLength(2);
    expect(rx.got.filter((g) => g.answer === 'reset')).toHaveLength(2);
    expect(rx.got.filter((g) => g.answer === '503')).toHaveLength(1);
    // Retry-After: 1 on the 503: that event is not asked again sooner.
    const i503 = rx.got.findIndex((g) => g.answer === '503');
    const again = rx.got.slice(i503 + 1).find((g) => g.body === rx.got[i503].body)!;
    expect(again.at - rx.got[i503].at).toBeGreaterThanOrEqual(950);
    // Per stream in order, each event delivered once.
    expect(rx.accepted()).toHaveLength(5);
    for (const stream of ['garden-1', 'garden-2']) {
      const seqs = rx.accepted().map((g) => JSON.parse(g.body) as GraphrunEvent).filter((e) => e.stream_id === stream).map((e) => e.frame_index);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    }
    expect(await metric('graphrun_sink_retries_total', 'alert')).toBe(5);
    expect(await metric('graphrun_sink_dead_letters_total', 'alert')).toBe(1);
    const statusJson = await (await fetch(new URL('/status.json', app.app.statusUrl))).text();
    const metricsText = await (await fetch(new URL('/metrics', app.app.statusUrl))).text();
    const { logs } = app;
    await app.app.stop();
    app = undefined;
    const ob = openOutbox(path.join(dir, 'outbox.db'), {});
    let deadText = '';
    try {
      const dead = ob.deadLetters('alert');
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({ key: bad, status: 400 });
      expect(dead[0].response).toMatch(/^bad payload for /);
      deadText = JSON.stringify(dead);
    } finally {
      ob.close();
    }
    // The error texts quote the path and went into logs, the status line, the dead letter: never the URL's secret part.
    expect(texts.some((t) => /last error: webhook POST: HTTP (500|503)/.test(t)), 'an error was shown at all').toBe(true);
    expect(logs.some((l) => l.includes('refused for good')), 'the dead letter was logged').toBe(true);
    for (const [where, s] of [['logs', logs.join('\n')], ['status snapshots', texts.join('\n')], ['/status.json', statusJson], ['/metrics', metricsText], ['dead letter', deadText]] as const) {
      expect(s.includes('xoxSeCrEtWeBhOoK9f3'), `secret in ${where}: ${s.split('\n').find((l) => l.includes('xoxSeCrEtWeBhOoK9f3'))?.slice(0, 300)}`).toBe(false);
      expect(s.includes(SECRET_PATH), `URL path in ${where}`).toBe(false);
    }
  });
});
