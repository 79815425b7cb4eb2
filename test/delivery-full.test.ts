/**
 * The outbox full, seen from a sink: fastapi-sink with a small outbox while the backend is
 * down. The documented policy (src/outbox/README.md: info gives way first, warn only to
 * critical, critical never) decides what stays; every drop is counted in the status line and
 * in graphrun_sink_dropped_total; what was kept arrives once the backend is back; memory stays
 * flat however many events are refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as contract from '../src/contract.js';
import { openOutbox } from '../src/outbox/outbox.js';
import { startGraph, waitFor, type TestApp } from './support/app.js';
import { burstEvent, eventBurstNode } from './support/event-burst.mjs';
import { startBackend, type TestBackend } from './support/fastapi.js';
import { testRegistry } from './support/test-nodes.js';

const TOKEN = 'test-token-full-0b9d';
const registry = testRegistry.with([eventBurstNode(contract)]);
let backend: TestBackend;
let dir = '';
let app: TestApp | undefined;

beforeAll(async () => {
  backend = await startBackend({ token: TOKEN });
  await backend.stop();
});
afterAll(async () => { await backend?.close(); });
afterEach(async () => {
  await app?.app.stop();
  app = undefined;
  if (backend.running()) await backend.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function graph(o: { count: number; rate: number; prefix: string; maxRows: number }): string {
  dir = mkdtempSync(path.join(os.tmpdir(), 'graphrun-full-'));
  return `
version: 1
name: full
nodes:
  src: { type: test-event-burst, count: ${o.count}, rate: ${o.rate}, prefix: ${o.prefix} }
  backend:
    type: fastapi-sink
    endpoint: ${backend.url}
    token: \${TEST_FASTAPI_TOKEN}
    media: none
    outbox: { path: ${path.join(dir, 'outbox.db')}, max_rows: ${o.maxRows} }
    retry: { initial_ms: 200, max_ms: 2000 }
    breaker: { failures: 3, open_ms: 300, max_open_ms: 1000 }
    timeout_ms: 1500
    inputs: { events: { from: src.events, queue: { block: 64 } } }
`;
}

const env = { ...process.env, TEST_FASTAPI_TOKEN: TOKEN };
const sink = () => app!.app.runtime.snapshot().nodes.find((n) => n.id === 'backend')!;

async function droppedMetric(): Promise<number> {
  const text = await (await fetch(new URL('/metrics', app!.app.statusUrl))).text();
  const line = text.split('\n').find((l) => l.startsWith('graphrun_sink_dropped_total{') && l.includes('node_id="backend"'));
  if (!line) throw new Error('graphrun_sink_dropped_total{node_id="backend"} not in /metrics');
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** global.gc, when node runs without --expose-gc too. */
function gc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

describe('outbox full at the sink (backend down)', () => {
  it('1000 events into max_rows 50: 950 dropped, counted in the status line and metrics; all 20 critical kept; the 50 kept arrive once the backend is back', async () => {
    const N = 1000;
    app = await startGraph(graph({ count: N, rate: 1000, prefix: 'full', maxRows: 50 }), { registry, env });
    await waitFor(() => sink().packetsIn === N && sink().inFlight === 0, 30_000, `${N} events taken by the sink`);
    // Nothing was delivered, so every event is either one of the 50 rows or a drop.
    await waitFor(() => /950 dropped \(outbox full\)/.test(sink().text), 5000, 'status: 950 dropped').catch((err: Error) => { throw new Error(`${err.message}; status: ${sink().text}`); });
    const text = sink().text;
    expect(text).toMatch(/^0 delivered, backlog 50 \(oldest [\d.]+ s\), 950 dropped \(outbox full\)/);
    expect(text).toMatch(/last error: .*(ECONNREFUSED|fetch failed)/);
    expect(await droppedMetric()).toBe(950);

    // The file, read through the same process (the lock is per process): the policy's outcome.
    const ob = openOutbox(path.join(dir, 'outbox.db'), {});
    const s = ob.stats('backend');
    ob.close();
    expect(s.file.rows).toBeLessThanOrEqual(50);
    expect(s.backlog).toBe(50);
    // 900 info, 80 warn, 20 critical came. Warn rows pushed the info rows out; once warn and
    // critical filled the file, info was refused and warn too (warn never evicts warn), while
    // each critical took the place of the oldest warn.
    expect(s.dropped).toEqual({ info: 900, warn: 50, critical: 0 });
    console.log(`outbox full: ${N} events, max_rows 50 → kept ${s.backlog}, dropped ${JSON.stringify(s.dropped)} (evicted ${s.evicted}, refused ${s.refused}); status: "${text}"`);

    await backend.restart();
    const upAt = Date.now();
    await waitFor(() => /^50 delivered, backlog 0/.test(sink().text), 30_000, '50 delivered');
    const drainS = (Date.now() - upAt) / 1000;
    const page = await backend.events({ limit: 500 });
    const ours = new Set(Array.from({ length: N }, (_, i) => burstEvent('full', i).event_id));
    const mine = page.items.filter((e) => ours.has(e.event_id));
    expect(mine).toHaveLength(50);
    const byRisk = (r: string) => mine.filter((e) => e.risk_level === r).map((e) => e.event_id).sort();
    const critical = Array.from({ length: N }, (_, i) => burstEvent('full', i)).filter((e) => e.risk_level === 'critical').map((e) => e.event_id).sort();
    expect(critical).toHaveLength(20);
    expect(byRisk('critical')).toEqual(critical);
    expect(byRisk('warn')).toHaveLength(30);
    expect(byRisk('info')).toHaveLength(0);
    console.log(`backend back: the 50 kept delivered in ${drainS.toFixed(1)} s`);
    // The count of drops stays (it is in the file), and the status line keeps saying so.
    expect(sink().text).toMatch(/950 dropped \(outbox full\)/);
    expect(await droppedMetric()).toBe(950);
  }, 90_000);

  it('10 000 events into a full outbox: heap stays flat, logs do not flood', async () => {
    const collect = gc();
    const N = 10_000;
    app = await startGraph(graph({ count: N, rate: 5000, prefix: 'heap', maxRows: 50 }), { registry, env });
    await waitFor(() => sink().packetsIn >= 1000, 30_000, 'the first 1000 events');
    collect();
    const base = process.memoryUsage().heapUsed;
    const t0 = Date.now();
    await waitFor(() => sink().packetsIn === N && sink().inFlight === 0, 50_000, `${N} events taken by the sink`);
    const tookS = (Date.now() - t0) / 1000;
    collect();
    const after = process.memoryUsage().heapUsed;
    const growthMb = (after - base) / 2 ** 20;
    await waitFor(() => new RegExp(`${N - 50} dropped`).test(sink().text), 5000, `${N - 50} dropped`).catch((err: Error) => { throw new Error(`${err.message}; status: ${sink().text}`); });
    const refusalLogs = app.logs.filter((l) => l.includes('outbox refused')).length;
    console.log(`heap: ${N - 1000} events into a full outbox in ${tookS.toFixed(1)} s (${Math.round((N - 1000) / tookS)}/s); heapUsed ${(base / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MB (growth ${growthMb.toFixed(1)} MB); ${refusalLogs} refusal log lines`);
    expect(growthMb).toBeLessThan(50);
    expect(refusalLogs).toBeLessThan(10);
  }, 90_000);
});
