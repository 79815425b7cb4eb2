/**
 * /metrics: scraped by a real Prometheus, parsed as Prometheus text, and checked for leaked
 * secrets (together with /status.json and the logs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { defineNode, Type } from '../src/contract.js';
import { startGraph, type TestApp } from './support/app.js';
import { pollFor } from './support/net.js';
import { startPrometheus, type TestPrometheus } from './support/prometheus.js';
import { testRegistry } from './support/test-nodes.js';

const SECRET = 'hunter2-zz';

/** Puts its `url` option everywhere a node can: its log, its status text, its error messages. */
const leaky = defineNode({
  type: 'test-leaky',
  summary: 'Shows its url option in logs, status text and errors (secret-leak tests).',
  options: Type.Object({ url: Type.String({ default: '', description: 'A URL with credentials.' }) }),
  inputs: { in: { kind: 'any', description: 'Anything.', defaultQueue: { mode: 'latest' } } },
  outputs: {},
  canPause: true,
  create(cfg, ctx) {
    let n = 0;
    return {
      start() {
        ctx.log.info({ url: cfg.url }, `connecting to ${cfg.url}`);
        ctx.status({ state: 'degraded', text: `connected to ${cfg.url}` });
      },
      process() {
        if (++n % 25 === 0) throw new Error(`lost connection to ${cfg.url} (password ${SECRET})`);
      },
    };
  },
});

const GRAPH = `
version: 1
name: metrics-test
nodes:
  cam:
    type: synthetic-source
    description: rtsp://user:\${CAM_PASSWORD}@host/x
    stream_id: cam-\${CAM_PASSWORD}
    width: 32
    height: 24
    fps: 50
  fast:
    type: test-pass
    inputs: { in: cam.frames }
  slow:
    type: test-pass
    delay_ms: 40
    inputs: { in: { from: fast.out, queue: { drop_newest: 2 } } }
  flaky:
    type: test-flaky
    fail_every: 10
    restart: { initial_ms: 50, max_ms: 100 }
    inputs: { in: slow.out }
  rec:
    type: test-recorder
    keep: false
    inputs: { in: flaky.out }
  lossy:
    type: test-pass
    delay_ms: 40
    inputs: { in: cam.frames }
  sink:
    type: debug-sink
    log_every: 5
    inputs: { in: lossy.out }
  leak:
    type: test-leaky
    url: rtsp://admin:\${CAM_PASSWORD}@10.0.0.7/stream1
    restart: { initial_ms: 50, max_ms: 100 }
    inputs: { in: cam.frames }
`;

const NODES: Record<string, string> = {
  cam: 'synthetic-source', fast: 'test-pass', slow: 'test-pass', flaky: 'test-flaky', rec: 'test-recorder',
  lossy: 'test-pass', sink: 'debug-sink', leak: 'test-leaky',
};
const EDGES: Record<string, { from: string; to: string; policy: string; capacity: number }> = {
  'cam.frames->fast.in': { from: 'cam.frames', to: 'fast.in', policy: 'latest', capacity: 1 },
  'fast.out->slow.in': { from: 'fast.out', to: 'slow.in', policy: 'drop_newest: 2', capacity: 2 },
  'slow.out->flaky.in': { from: 'slow.out', to: 'flaky.in', policy: 'drop_oldest: 8', capacity: 8 },
  'flaky.out->rec.in': { from: 'flaky.out', to: 'rec.in', policy: 'drop_oldest: 64', capacity: 64 },
  'cam.frames->lossy.in': { from: 'cam.frames', to: 'lossy.in', policy: 'latest', capacity: 1 },
  'lossy.out->sink.in': { from: 'lossy.out', to: 'sink.in', policy: 'drop_oldest: 64', capacity: 64 },
  'cam.frames->leak.in': { from: 'cam.frames', to: 'leak.in', policy: 'latest', capacity: 1 },
};
const SOURCES = new Set(['cam']);

let t: TestApp;
let hostPort: { host: string; port: number };
let promStarting: Promise<TestPrometheus> | undefined;

beforeAll(async () => {
  t = await startGraph(GRAPH, {
    registry: testRegistry.with([leaky]),
    env: { ...process.env, CAM_PASSWORD: SECRET },
    statusIntervalMs: 200,
  });
  const u = new URL(t.app.statusUrl);
  hostPort = { host: u.hostname, port: Number(u.port) };
  // Prometheus applies a new scrape target only after ~5 s: start it now, the other tests run meanwhile.
  promStarting = startPrometheus([hostPort]);
  promStarting.catch(() => undefined); // reported by the Prometheus test
  // Let every node see traffic, the slow ones drop, and the failing ones fail and restart.
  await pollFor(() => {
    const s = t.app.runtime.snapshot();
    const ok = s.nodes.every((n) => n.source ? n.packetsOut > 0 : n.packetsIn > 0)
      && s.nodes.find((n) => n.id === 'flaky')!.restarts > 0
      && s.nodes.find((n) => n.id === 'leak')!.restarts > 0
      && (s.edges.find((e) => e.id === 'fast.out->slow.in')!.drops.rejected ?? 0) > 0
      && (s.edges.find((e) => e.id === 'cam.frames->lossy.in')!.drops.evicted ?? 0) > 0;
    return ok ? true : undefined;
  }, 10000, 'traffic, drops, errors and restarts in every part of the graph');
});
afterAll(async () => {
  await (await promStarting?.catch(() => undefined))?.stop();
  await t?.app.stop();
});

async function scrape(): Promise<string> {
  const r = await fetch(new URL('/metrics', t.app.statusUrl));
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return r.text();
}

/**
 * parse-prometheus-text-format folds every series of a labelled histogram into one bucket map
 * (labels, _sum and _count are lost), so histograms are also parsed with their TYPE lines
 * turned to untyped: `_bucket`, `_sum` and `_count` then come out as samples with labels.
 */
function parseBoth(text: string): { families: Map<string, ParsedFamily>; flat: Map<string, ParsedFamily> } {
  const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  const histNames = [...families.values()].filter((f) => f.type === 'HISTOGRAM').map((f) => f.name);
  const untyped = text.split('\n').map((l) => {
    const m = /^# TYPE (\S+) histogram$/.exec(l);
    return m && histNames.includes(m[1]) ? `# TYPE ${m[1]} untyped` : l;
  }).join('\n');
  // prom-client writes _bucket, _sum, _count per series, so each name comes back in runs: merge them.
  const flat = new Map<string, ParsedFamily>();
  for (const f of parsePrometheusTextFormat(untyped)) {
    const had = flat.get(f.name);
    if (had) had.metrics.push(...f.metrics); else flat.set(f.name, f);
  }
  return { families, flat };
}

function series(f: ParsedFamily | undefined, name: string): { labels: Record<string, string>; value: number }[] {
  if (!f) throw new Error(`metric family ${name} missing from /metrics`);
  return f.metrics.map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) }));
}

describe('/metrics as Prometheus text', () => {
  it('has per-node series with the right labels and sane values', async () => {
    const { families, flat } = parseBoth(await scrape());
    const byNode = (name: string, type: string) => {
      const f = families.get(name);
      expect(f?.type, `${name} type`).toBe(type);
      expect(f!.help.length).toBeGreaterThan(10);
      const s = series(f, name);
      const m = new Map<string, number>();
      for (const x of s) {
        expect(Object.keys(x.labels).sort(), `${name} labels`).toEqual(['node_id', 'node_type']);
        expect(x.labels.node_type, `${name} node_type of ${x.labels.node_id}`).toBe(NODES[x.labels.node_id]);
        expect(Number.isFinite(x.value) && x.value >= 0, `${name}{node_id=${x.labels.node_id}} = ${x.value}`).toBe(true);
        m.set(x.labels.node_id, x.value);
      }
      expect([...m.keys()].sort(), `${name} nodes`).toEqual(Object.keys(NODES).sort());
      return m;
    };
    const pin = byNode('graphrun_node_packets_in_total', 'COUNTER');
    const pout = byNode('graphrun_node_packets_out_total', 'COUNTER');
    const errors = byNode('graphrun_node_errors_total', 'COUNTER');
    const restarts = byNode('graphrun_node_restarts_total', 'COUNTER');
    const inflight = byNode('graphrun_node_in_flight', 'GAUGE');
    for (const id of Object.keys(NODES)) {
      if (SOURCES.has(id)) {
        expect(pin.get(id)).toBe(0);
        expect(pout.get(id)).toBeGreaterThan(0);
      } else expect(pin.get(id), `packets in of ${id}`).toBeGreaterThan(0);
      expect(inflight.get(id)).toBeLessThanOrEqual(1); // concurrency 1 everywhere
      expect(Number.isInteger(pin.get(id)) && Number.isInteger(pout.get(id))).toBe(true);
    }
    for (const id of ['flaky', 'leak']) {
      expect(errors.get(id), `errors of ${id}`).toBeGreaterThan(0);
      expect(restarts.get(id), `restarts of ${id}`).toBeGreaterThan(0);
    }
    for (const id of ['cam', 'fast', 'slow', 'rec', 'lossy', 'sink']) {
      expect(errors.get(id), `errors of ${id}`).toBe(0);
      expect(restarts.get(id), `restarts of ${id}`).toBe(0);
    }
    // A pass-through emits what it takes in (minus the one in hand); sinks emit nothing.
    for (const id of ['fast', 'slow', 'lossy']) {
      expect(pin.get(id)! - pout.get(id)!, `in - out of ${id}`).toBeGreaterThanOrEqual(0);
      expect(pin.get(id)! - pout.get(id)!, `in - out of ${id}`).toBeLessThanOrEqual(1);
    }
    for (const id of ['rec', 'sink', 'leak']) expect(pout.get(id)).toBe(0);
    // The flaky node emits every packet but the failing ones (1 in 10, counted across restarts).
    expect(pout.get('flaky')! + errors.get('flaky')!).toBeLessThanOrEqual(pin.get('flaky')!);

    // One state per node is 1, the others 0.
    const states = series(families.get('graphrun_node_state'), 'graphrun_node_state');
    for (const id of Object.keys(NODES)) {
      const mine = states.filter((s) => s.labels.node_id === id);
      expect(mine.map((s) => s.labels.state).sort()).toEqual(['degraded', 'error', 'running', 'starting', 'stopped']);
      expect(mine.filter((s) => s.value === 1).length, `states of ${id} set to 1`).toBe(1);
      expect(mine.every((s) => s.value === 0 || s.value === 1)).toBe(true);
    }

    // Processing histogram: one series per node that processed something, buckets cumulative,
    // and (one scrape reads all counters at one instant) count + in flight = packets in.
    expect(families.get('graphrun_node_processing_seconds')?.type).toBe('HISTOGRAM');
    const buckets = series(flat.get('graphrun_node_processing_seconds_bucket'), 'graphrun_node_processing_seconds_bucket');
    const counts = series(flat.get('graphrun_node_processing_seconds_count'), 'graphrun_node_processing_seconds_count');
    const sums = series(flat.get('graphrun_node_processing_seconds_sum'), 'graphrun_node_processing_seconds_sum');
    for (const id of Object.keys(NODES).filter((x) => !SOURCES.has(x))) {
      const bs = buckets.filter((b) => b.labels.node_id === id);
      expect(bs.length, `processing buckets of ${id}`).toBeGreaterThan(5);
      expect(bs.every((b) => b.labels.node_type === NODES[id])).toBe(true);
      const les = bs.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
      expect(les).toEqual([...les].sort((a, b) => a - b));
      expect(les[les.length - 1]).toBe(Infinity);
      for (let i = 1; i < bs.length; i++) expect(bs[i].value).toBeGreaterThanOrEqual(bs[i - 1].value);
      const count = counts.find((c) => c.labels.node_id === id)!.value;
      const sum = sums.find((c) => c.labels.node_id === id)!.value;
      expect(bs[bs.length - 1].value).toBe(count);
      expect(count).toBeGreaterThan(0);
      expect(sum).toBeGreaterThan(0);
      if (!['flaky', 'leak'].includes(id)) expect(count + inflight.get(id)!, `histogram count + in flight of ${id}`).toBe(pin.get(id));
    }
    // The 40 ms pass-throughs spend ≥ 40 ms per packet; the instant ones far less.
    const mean = (id: string) => sums.find((c) => c.labels.node_id === id)!.value / counts.find((c) => c.labels.node_id === id)!.value;
    expect(mean('slow')).toBeGreaterThanOrEqual(0.035);
    expect(mean('slow')).toBeLessThan(1);
    expect(mean('fast')).toBeLessThan(0.02);
    expect(buckets.some((b) => b.labels.node_id === 'cam')).toBe(false);
  });

  it('has per-edge queue depth, capacity, delivered and drops by reason', async () => {
    const { families } = parseBoth(await scrape());
    const byEdge = (name: string, type: string, extra: string[] = []) => {
      const f = families.get(name);
      expect(f?.type, `${name} type`).toBe(type);
      const s = series(f, name);
      for (const x of s) {
        expect(Object.keys(x.labels).sort(), `${name} labels`).toEqual(['edge', 'from', 'policy', 'to', ...extra].sort());
        const e = EDGES[x.labels.edge];
        expect(e, `unexpected edge ${x.labels.edge}`).toBeDefined();
        expect({ from: x.labels.from, to: x.labels.to, policy: x.labels.policy }).toEqual({ from: e.from, to: e.to, policy: e.policy });
        expect(Number.isInteger(x.value) && x.value >= 0, `${name}{edge=${x.labels.edge}} = ${x.value}`).toBe(true);
      }
      expect([...new Set(s.map((x) => x.labels.edge))].sort()).toEqual(Object.keys(EDGES).sort());
      return s;
    };
    const depth = byEdge('graphrun_edge_queue_depth', 'GAUGE');
    const capacity = byEdge('graphrun_edge_queue_capacity', 'GAUGE');
    const delivered = byEdge('graphrun_edge_delivered_total', 'COUNTER');
    const dropped = byEdge('graphrun_edge_dropped_total', 'COUNTER', ['reason']);
    const pin = new Map(series(families.get('graphrun_node_packets_in_total'), 'x').map((s) => [s.labels.node_id, s.value]));
    for (const [id, e] of Object.entries(EDGES)) {
      const cap = capacity.find((s) => s.labels.edge === id)!.value;
      expect(cap, `capacity of ${id}`).toBe(e.capacity);
      expect(depth.find((s) => s.labels.edge === id)!.value).toBeLessThanOrEqual(cap);
      // Every consumer here has one input edge: what the edge delivered is what the node took.
      expect(delivered.find((s) => s.labels.edge === id)!.value, `delivered by ${id}`).toBe(pin.get(e.to.split('.')[0]));
      const reasons = dropped.filter((s) => s.labels.edge === id);
      expect(reasons.map((s) => s.labels.reason).sort(), `drop reasons of ${id}`).toEqual(['evicted', 'rejected', 'removed', 'shutdown']);
      const r = Object.fromEntries(reasons.map((s) => [s.labels.reason, s.value]));
      expect(r.shutdown + r.removed, `shutdown/removed drops of ${id} while running`).toBe(0);
      if (e.policy === 'latest' || e.policy.startsWith('drop_oldest')) expect(r.rejected).toBe(0);
      if (e.policy.startsWith('drop_newest')) expect(r.evicted).toBe(0);
    }
    const drop = (edge: string, reason: string) => dropped.find((s) => s.labels.edge === edge && s.labels.reason === reason)!.value;
    expect(drop('fast.out->slow.in', 'rejected')).toBeGreaterThan(0);
    expect(drop('cam.frames->lossy.in', 'evicted')).toBeGreaterThan(0);
  });

  it('has process metrics and node-specific metrics', async () => {
    const { families } = parseBoth(await scrape());
    const one = (name: string) => {
      const f = families.get(name);
      expect(f, `${name} in /metrics`).toBeDefined();
      return Number(f!.metrics[0].value);
    };
    const rss = one('graphrun_process_resident_memory_bytes');
    expect(rss).toBeGreaterThan(10 * 1024 * 1024);
    expect(rss).toBeLessThan(16 * 1024 ** 3);
    expect(one('graphrun_process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(one('graphrun_process_start_time_seconds')).toBeGreaterThan(1.5e9);
    expect(one('graphrun_nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    const frames = series(families.get('graphrun_synthetic_frames_total'), 'graphrun_synthetic_frames_total');
    expect(frames.map((s) => s.labels)).toEqual([{ node_id: 'cam', node_type: 'synthetic-source' }]);
    expect(frames[0].value).toBeGreaterThan(0);
    // Every family is ours (graphrun_ prefix), and names are unique.
    for (const name of families.keys()) expect(name).toMatch(/^graphrun_/);
  });
});

describe('secrets', () => {
  it('never show in /metrics, /status.json or the logs', async () => {
    // Let the debug sink log a few packets and the leaky node fail a few times.
    await pollFor(() => (t.logs.filter((l) => l.includes('"msg":"packet"')).length >= 3 && t.app.runtime.snapshot().nodes.find((n) => n.id === 'leak')!.errors >= 2 ? true : undefined), 10000, 'debug-sink packet logs and leak errors');
    const metrics = await scrape();
    const status = await (await fetch(new URL('/status.json', t.app.statusUrl))).text();
    const ready = await (await fetch(new URL('/readyz', t.app.statusUrl))).text();
    const logs = t.logs.join('\n');
    for (const [what, text] of [['/metrics', metrics], ['/status.json', status], ['/readyz', ready], ['logs', logs]] as const) {
      expect(text.includes(SECRET), `${what} contains the secret`).toBe(false);
    }
    // ...and the places it would have been are really there, scrubbed (the test is not vacuous).
    expect(logs).toContain('rtsp://admin:***@10.0.0.7/stream1'); // the leaky node's log line
    expect(logs).toMatch(/"stream_id":"cam-\*\*\*"/); // debug-sink logs the stream id
    expect(logs).toContain('lost connection to rtsp://admin:***@10.0.0.7/stream1 (password ***)');
    const snap = JSON.parse(status) as { nodes: { id: string; text: string; lastError: string | null }[] };
    const leak = snap.nodes.find((n) => n.id === 'leak')!;
    expect(leak.lastError).toBe('lost connection to rtsp://admin:***@10.0.0.7/stream1 (password ***)');
    // The runtime's own view is scrubbed too (the page and the socket read the same).
    expect(JSON.stringify(t.app.runtime.snapshot())).not.toContain(SECRET);
  });
});

describe('scraped by Prometheus', () => {
  it('stores per-node and per-edge series', async () => {
    const prom = await promStarting!;
    const ids = Object.keys(NODES).sort();
    const pin = await pollFor(async () => {
      const r = await prom.query('graphrun_node_packets_in_total');
      const seen = new Set(r.filter((s) => SOURCES.has(s.metric.node_id) || Number(s.value[1]) > 0).map((s) => s.metric.node_id));
      return ids.every((id) => seen.has(id)) ? r : undefined;
    }, 15000, 'Prometheus to have scraped packets_in for every node');
    for (const s of pin) {
      expect(s.metric.job).toBe('graphrun-0');
      expect(s.metric.instance).toBe(`${hostPort.host}:${hostPort.port}`);
      expect(s.metric.node_type).toBe(NODES[s.metric.node_id]);
      if (!SOURCES.has(s.metric.node_id)) expect(Number(s.value[1]), `packets in of ${s.metric.node_id}`).toBeGreaterThan(0);
    }
    expect([...new Set(pin.map((s) => s.metric.node_id))].sort()).toEqual(ids);
    const out = await prom.query('graphrun_node_packets_out_total{node_id="cam"}');
    expect(Number(out[0]?.value[1])).toBeGreaterThan(0);

    const depth = await prom.query('graphrun_edge_queue_depth');
    expect([...new Set(depth.map((s) => s.metric.edge))].sort()).toEqual(Object.keys(EDGES).sort());
    for (const s of depth) expect(s.metric.policy).toBe(EDGES[s.metric.edge].policy);

    const buckets = await prom.query('graphrun_node_processing_seconds_bucket');
    expect(buckets.length).toBeGreaterThan(0);
    expect([...new Set(buckets.map((s) => s.metric.node_id))].sort()).toEqual(ids.filter((id) => !SOURCES.has(id)));
    expect(buckets.every((s) => s.metric.le !== undefined)).toBe(true);

    // PromQL over the histogram works (the series are a well-formed histogram).
    const p95 = await prom.query('histogram_quantile(0.95, sum by (le, node_id) (graphrun_node_processing_seconds_bucket{node_id="slow"}))');
    expect(Number(p95[0]?.value[1])).toBeGreaterThan(0.03);

    const up = await prom.query('up{job="graphrun-0"}');
    expect(up.map((s) => s.value[1])).toEqual(['1']);
    // Nothing Prometheus stored from us carries the secret.
    const all = await prom.query('{job="graphrun-0"}');
    expect(all.length).toBeGreaterThan(50);
    expect(JSON.stringify(all)).not.toContain(SECRET);
  });
});
