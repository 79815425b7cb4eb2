/**
 * `delivery`: how fast events leave graphrun for the users' backend. The reference backend
 * (examples/fastapi-backend under uvicorn, its SQLite committing each event before it answers)
 * on this machine; a graph `bench-event-source → fastapi-sink` (media: none) whose source
 * emits N schema-valid events as fast as the sink accepts them (each accepted = one outbox put);
 * a fresh outbox file per measurement. Per run:
 *
 * - 1 stream: delivered events/s, first event emitted → last one acknowledged. The outbox
 *   sends one row per stream at a time (order within a stream), so this is bound by the round
 *   trip of one POST /events;
 * - 4 streams (round robin), concurrency 4 (the sink's default): up to 4 requests at once;
 * - backlog: the backend is stopped, the N events (4 streams) go into the outbox, then the
 *   backend starts again: time from it answering /health to the first delivery (the breaker's
 *   probe), and the drain rate from the first to the last delivery;
 * - the references, without graphrun: one POST /events round trip from this process (fetch,
 *   sequential), median, and POST /events 4 at once (events/s): the backend's own pace.
 *
 * Also the sink's accept rate (events/s into the outbox while the backend is receiving).
 * Checks, every run: every event acknowledged once, the backend stored exactly N new events,
 * the outbox is empty afterwards, nothing dead-lettered or dropped.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { defineNode, Type } from '../src/contract.js';
import { validateEvent, type GraphrunEvent } from '../src/events/event.js';
import { openOutbox } from '../src/outbox/outbox.js';
import { backendPythonProblem, startBackend, type TestBackend } from './lib/fastapi-backend.js';
import { startGraph, within } from './lib/graph.js';
import type { BenchContext, Check, Metric, RunResult, SubBenchmark } from './lib/harness.js';
import { benchRegistry } from './lib/nodes.js';

/** The issue's aim for delivery to the local backend. */
const TARGET_RATE = 500;
const TOKEN_VAR = 'BENCH_FASTAPI_TOKEN';
const TOKEN = `bench-${randomUUID()}`;

interface Sizes { events: number; rtt: number }
const FULL: Sizes = { events: 1000, rtt: 200 };
const QUICK: Sizes = { events: 150, rtt: 40 };
const WARMUP: Sizes = { events: 100, rtt: 20 };

/** A person event as cpu.yml sends one (17 keypoints, zones): about 1.6 KB of JSON. */
function makeEvent(stream: string, seq: number): GraphrunEvent {
  const t = Date.UTC(2026, 6, 1, 12) + seq * 100;
  return {
    schema_version: '1.0', event_id: randomUUID(), event_type: 'person_detected', category: 'human', stream_id: stream,
    track_id: 1 + Math.floor(seq / 4), timestamp_utc: new Date(t).toISOString(), frame_index: seq, frame_size: { width: 896, height: 504 },
    bbox: { x: 310.5, y: 120.25, w: 80.75, h: 240.5 }, confidence: 0.83, label: 'person', risk_level: 'info', reason: 'first_sighting',
    zones: ['garden'], inference_latency_ms: 41.7, gpu_enabled: false, model: 'yolox-nano', pose_label: 'standing', pose_confidence: 0.91,
    keypoints: Array.from({ length: 17 }, (_, k) => ({ x: 330.123 + k * 2.5, y: 130.456 + k * 13.25, score: 0.875 })),
    snapshot: null,
  } as GraphrunEvent;
}

/** When the source emitted its first event (performance.now()), per node id. */
const firstEmit = new Map<string, number>();
/** When it had emitted all of them (every one accepted by the sink's queue). */
const lastEmit = new Map<string, number>();

const eventSource = defineNode({
  type: 'bench-event-source',
  summary: 'Emits `count` schema-valid person events round robin over `streams` as fast as they are accepted; benchmarks only.',
  options: Type.Object({
    count: Type.Integer({ minimum: 1, default: 1000, description: 'Events to emit, then end.' }),
    streams: Type.Integer({ minimum: 1, default: 1, description: 'Streams, round robin (cam-1, cam-2, …).' }),
  }),
  inputs: {},
  outputs: { events: { kind: 'event', description: 'EventPackets without frames or snapshots.' } },
  canPause: true,
  create(cfg, ctx) {
    // Made before the clock starts: the figure is about delivery, not about building JSON.
    const events = Array.from({ length: cfg.count }, (_, seq) => makeEvent(`cam-${(seq % cfg.streams) + 1}`, seq));
    return {
      async run() {
        firstEmit.set(ctx.id, performance.now());
        for (let seq = 0; seq < cfg.count && !ctx.signal.aborted; seq++) {
          const event = events[seq];
          const w = ctx.emit('events', { streamId: event.stream_id, seq, captureTimeMs: Date.parse(event.timestamp_utc), data: { event } });
          if (w) await w;
        }
        lastEmit.set(ctx.id, performance.now());
      },
    };
  },
});

const registry = benchRegistry.with([eventSource]);

interface Delivered { acceptRate: number; firstAckAt: number; doneAt: number; startAt: number; upAt?: number; checks: Check[] }

/**
 * Runs `src → fastapi-sink` with `count` events over `streams` into a fresh outbox. `beforeAck`
 * runs once every event is in the outbox (the backlog case: start the backend there).
 */
async function deliver(ctx: BenchContext, be: TestBackend, label: string, count: number, streams: number, beforeAck?: () => Promise<number>): Promise<Delivered> {
  const dir = mkdtempSync(path.join(tmpdir(), 'graphrun-bench-delivery-'));
  const file = path.join(dir, 'outbox.db');
  const id = `src_${label}_${ctx.run + 1}`.replace(/[^A-Za-z0-9_]/g, '_');
  const app = await startGraph(`version: 1
name: bench-delivery
status: { enabled: false }
nodes:
  ${id}: { type: bench-event-source, count: ${count}, streams: ${streams} }
  backend:
    type: fastapi-sink
    endpoint: ${be.url}
    token: \${${TOKEN_VAR}}
    media: none
    concurrency: 4
    outbox: { path: ${JSON.stringify(file)} }
    retry: { initial_ms: 100, max_ms: 1000 }
    breaker: { failures: 5, open_ms: 200, max_open_ms: 500 }
    timeout_ms: 5000
    inputs: { events: { from: ${id}.events, queue: { block: 256 } } }
`, registry, `delivery-${label}`);
  const ob = openOutbox(file);
  const checks: Check[] = [];
  try {
    const stats = () => ob.stats('backend');
    // Every event accepted (in the outbox) — the source finished emitting and the queue drained.
    const tAccepted = await poll(() => (lastEmit.has(id) && stats().backlog + stats().delivered >= count ? performance.now() : undefined), 60_000, `${label}: ${count} events into the outbox`);
    const startAt = firstEmit.get(id)!;
    const acceptRate = (count / (tAccepted - startAt)) * 1000;
    const upAt = beforeAck ? await beforeAck() : undefined;
    if (upAt !== undefined && stats().delivered !== 0) throw new Error(`${label}: delivered while the backend was down`);
    let firstAckAt = NaN;
    const doneAt = await poll(() => {
      const s = stats();
      if (Number.isNaN(firstAckAt) && s.delivered > 0) firstAckAt = performance.now();
      return s.delivered >= count ? performance.now() : undefined;
    }, 120_000, `${label}: ${count} events delivered`, 2);
    const s = stats();
    checks.push({ name: `${label}: every event acknowledged once, outbox empty`, ok: s.delivered === count && s.backlog === 0 && s.deadLetters === 0, detail: `${s.delivered}/${count} delivered, backlog ${s.backlog}, dead ${s.deadLetters}` });
    checks.push({ name: `${label}: nothing dropped on the way into the outbox`, ok: s.dropped.info + s.dropped.warn + s.dropped.critical + s.refused === 0 && app.runtime.snapshot().nodes.every((n) => n.errors === 0), detail: `dropped ${JSON.stringify(s.dropped)}, refused ${s.refused}` });
    return { acceptRate, firstAckAt, doneAt, startAt, upAt, checks };
  } finally {
    ob.close();
    await within(app.stop(), 15_000, 'stopping the delivery graph');
    rmSync(dir, { recursive: true, force: true });
    firstEmit.delete(id);
    lastEmit.delete(id);
  }
}

async function poll<T>(fn: () => T | undefined, timeoutMs: number, what: string, everyMs = 5): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** POST /events from this process with `parallel` requests at once: each round trip (ms, sorted) and events/s over all. */
async function rawPosts(be: TestBackend, n: number, parallel: number): Promise<{ ms: number[]; rate: number }> {
  const ms: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < n) {
      const e = makeEvent(`raw-${parallel}`, next++);
      const t = performance.now();
      const r = await fetch(`${be.url}/events`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'idempotency-key': e.event_id }, body: JSON.stringify(e) });
      await r.text();
      ms.push(performance.now() - t);
      if (r.status !== 201) throw new Error(`POST /events: HTTP ${r.status}`);
    }
  }));
  return { ms: ms.sort((a, b) => a - b), rate: (n / (performance.now() - t0)) * 1000 };
}

export const deliveryBench: SubBenchmark = {
  name: 'delivery',
  description: 'events/s from fastapi-sink (durable outbox) to the reference backend: 1 stream, 4 streams, and draining a backlog after an outage',
  runs: { full: 5, quick: 1 },
  skip() {
    return backendPythonProblem();
  },
  async setup(ctx: BenchContext) {
    process.env[TOKEN_VAR] = TOKEN;
    const errors = validateEvent(makeEvent('cam-1', 0));
    if (errors.length) throw new Error(`bench event does not validate: ${JSON.stringify(errors)}`);
    ctx.state.backend = await startBackend({ token: TOKEN, faults: false });
  },
  async run(ctx: BenchContext): Promise<RunResult> {
    const be = ctx.state.backend as TestBackend;
    const sz = ctx.warmup ? WARMUP : ctx.quick ? QUICK : FULL;
    const metrics: Metric[] = [];
    const checks: Check[] = [];
    const stored = async () => (await be.stats()).counters.events_stored;

    // The backend's own pace, without graphrun: what 1 and 4 streams can at best reach.
    const seq = await rawPosts(be, sz.rtt, 1);
    metrics.push({ key: 'delivery.rtt.p50_ms', label: 'reference: one POST /events round trip (fetch, sequential), median', unit: 'ms', value: seq.ms[Math.floor(seq.ms.length / 2)], better: 'lower', decimals: 2 });
    const par = await rawPosts(be, sz.rtt * 2, 4);
    metrics.push({ key: 'delivery.raw4.rate', label: 'reference: POST /events from this process, 4 at once', unit: 'events/s', value: par.rate, better: 'higher', decimals: 0 });

    for (const streams of [1, 4]) {
      const before = await stored();
      const r = await deliver(ctx, be, `${streams}-stream`, sz.events, streams);
      const after = await stored();
      checks.push(...r.checks, { name: `${streams} stream(s): the backend stored each event once`, ok: after - before === sz.events, detail: `${after - before} of ${sz.events}` });
      const rate = (sz.events / (r.doneAt - r.startAt)) * 1000;
      metrics.push({ key: `delivery.streams${streams}.rate`, label: `delivered, ${streams} stream${streams > 1 ? 's' : ''}${streams > 1 ? ' (concurrency 4)' : ' (one request at a time)'}`, unit: 'events/s', value: rate, better: 'higher', decimals: 0 });
      if (streams === 1) metrics.push({ key: 'delivery.accept.rate', label: 'accepted by the sink (outbox put), backend receiving', unit: 'events/s', value: r.acceptRate, better: 'higher', decimals: 0 });
      ctx.log(`delivery: ${streams} stream(s): ${Math.round(rate)} events/s`);
    }

    // Backlog: the backend down while the events come in, then back.
    const before = await stored();
    await be.stop();
    let downMs = 0;
    const r = await deliver(ctx, be, 'backlog', sz.events, 4, async () => {
      // Let the loop find it down and the breaker open, as in a real outage.
      const t = performance.now();
      await new Promise((res) => setTimeout(res, 600));
      await be.restart();
      downMs = performance.now() - t;
      return performance.now();
    });
    const after = await stored();
    checks.push(...r.checks, { name: 'backlog: the backend stored each event once', ok: after - before === sz.events, detail: `${after - before} of ${sz.events}` });
    const drain = (sz.events / (r.doneAt - r.firstAckAt)) * 1000;
    metrics.push({ key: 'delivery.backlog.drain_rate', label: 'backlog drained after an outage, 4 streams (first → last delivery)', unit: 'events/s', value: drain, better: 'higher', decimals: 0 });
    metrics.push({ key: 'delivery.backlog.resume_ms', label: 'backend answering again → first delivery (breaker probe)', unit: 'ms', value: r.firstAckAt - r.upAt!, better: 'lower', decimals: 0 });
    return { metrics, checks, info: { sizes: sz, downMs: Math.round(downMs) } };
  },
  async teardown(ctx: BenchContext) {
    await (ctx.state.backend as TestBackend | undefined)?.close();
  },
  notes: ({ metrics }) => {
    const m = (k: string) => metrics.find((x) => x.key === k)?.median;
    const one = m('delivery.streams1.rate'), four = m('delivery.streams4.rate'), rtt = m('delivery.rtt.p50_ms'), raw4 = m('delivery.raw4.rate');
    return [
      `Aim: >= ${TARGET_RATE} events/s delivered to the local backend${one && four ? ` (median here: 1 stream ${Math.round(one)}, 4 streams ${Math.round(four)})` : ''}. Each event is one POST /events that the reference backend validates (pydantic, plus jsonschema where installed) and commits to SQLite before answering 201; graphrun then acknowledges it in the outbox (one more SQLite commit).`,
      `One stream sends one event at a time to keep its order, so it cannot beat 1000 / round trip${rtt ? ` (median round trip here ${rtt.toFixed(1)} ms → ${Math.round(1000 / rtt)} events/s)` : ''}; the rest of its interval is graphrun's own turn-around (outbox ready + ack, the loop's wake-up, JSON). Four streams are bound by the backend${raw4 && four ? ` (4 requests at once straight from fetch: ${Math.round(raw4)} events/s; the sink reaches ${Math.round((four / raw4) * 100)}% of it)` : ''}: one uvicorn worker, one SQLite writer.`,
      'What would raise it without changing the contract: on the backend, more uvicorn workers and a group commit (the answer still after the commit); on graphrun\'s side, more streams in flight (concurrency) — per-stream order allows no pipelining within a stream.',
      'Backlog: the sink\'s breaker is set short here (open 200 ms, at most 500 ms; defaults 2 s / 30 s), so the time to the first delivery after the outage shows the probe, not the default wait. All figures are wall clock with the backend on the same cores: on a shared machine they are noisy.',
    ];
  },
};
