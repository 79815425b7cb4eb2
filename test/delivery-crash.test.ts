/**
 * graphrun killed with SIGKILL in the middle of a burst, then started again: every event the
 * sink had accepted (written to the outbox) reaches the backend exactly once. A real graphrun
 * process (the built CLI plus a test event source), the real backend under uvicorn.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { openOutbox } from '../src/outbox/outbox.js';
import { ensureBuilt } from './support/build.js';
import { idOf } from './support/event-burst.mjs';
import { startBackend, type TestBackend } from './support/fastapi.js';
import { repoRoot } from './support/media.js';

const TOKEN = 'crash-token-91d2';
let backend: TestBackend;
let dir: string;

beforeAll(async () => {
  ensureBuilt();
  backend = await startBackend({ token: TOKEN });
  dir = mkdtempSync(path.join(os.tmpdir(), 'graphrun-crash-'));
}, 120_000);
afterAll(async () => {
  await backend?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** count events of prefix `crash`; 0: one event of another prefix, then a source that idles (the process keeps running). */
function writeGraph(count: number): string {
  const file = path.join(dir, `graph-${count}.yml`);
  const src = count > 0 ? `{ type: test-event-burst, count: ${count}, rate: 200, prefix: crash, streams: 2 }` : '{ type: test-event-burst, count: 2, rate: 0.001, prefix: idle }';
  writeFileSync(file, `
version: 1
name: crash
status: { enabled: false }
nodes:
  src: ${src}
  backend:
    type: fastapi-sink
    endpoint: ${backend.url}
    token: \${TEST_FASTAPI_TOKEN}
    media: none
    outbox: { path: ${path.join(dir, 'outbox.db')} }
    retry: { initial_ms: 100, max_ms: 2000 }
    inputs: { events: { from: src.events, queue: { block: 64 } } }
`);
  return file;
}

function run(file: string): ChildProcess {
  return spawn(process.execPath, [path.join(repoRoot, 'test', 'support', 'sink-child.mjs'), 'run', file], {
    cwd: dir, env: { ...process.env, TEST_FASTAPI_TOKEN: TOKEN, GRAPHRUN_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'],
  });
}

const exited = (c: ChildProcess) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r)));
const crashIds = new Set(Array.from({ length: 2000 }, (_, i) => idOf(`crash-${i}`)));

/** Ids of the burst's events the backend stored. */
async function stored(): Promise<string[]> {
  const all: string[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = await backend.events({ limit: 500, offset });
    all.push(...page.items.map((e) => e.event_id).filter((id) => crashIds.has(id)));
    if (page.items.length < 500) return all;
  }
}

describe('crash safety (SIGKILL mid-burst)', () => {
  it('every accepted event reaches the backend exactly once after the restart', async () => {
    const child = run(writeGraph(2000));
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    // Let it get going, then kill it without warning while it is still producing and sending.
    const t0 = Date.now();
    while ((await stored()).length < 300 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGKILL');
    await exited(child);
    await new Promise((r) => setTimeout(r, 500)); // requests the backend had fully received are committed
    const atKill = await stored();
    expect(atKill.length, stderr).toBeGreaterThan(0);
    expect(atKill.length).toBeLessThan(2000); // really mid-burst

    // What graphrun had accepted: delivered + still in the outbox.
    // A row whose request reached the backend but whose answer died with the process is both
    // stored and pending: it goes again and the backend acknowledges the duplicate.
    const db = new Database(path.join(dir, 'outbox.db'), { readonly: true });
    const pendingIds = (db.prepare("SELECT key FROM outbox WHERE dest = 'backend'").all() as { key: string }[]).map((r) => r.key);
    db.close();
    const acceptedIds = new Set([...atKill, ...pendingIds]);
    const accepted = acceptedIds.size;
    const both = pendingIds.filter((id) => atKill.includes(id)).length;
    console.log(`SIGKILL after ${atKill.length} delivered; ${pendingIds.length} pending in the outbox (${both} of them already stored: answer lost in the kill); accepted ${accepted} of 2000`);

    // Start again with a source that emits nothing: only the outbox drains.
    const again = run(writeGraph(0));
    const t1 = Date.now();
    let now: string[] = [];
    while (Date.now() - t1 < 60_000) {
      now = await stored();
      if (now.length >= accepted) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 1000)); // anything more would be a duplicate or a surprise
    now = await stored();
    again.kill('SIGTERM');
    await exited(again);
    const stats = await backend.stats();
    console.log(`after restart: ${now.length} stored in ${((Date.now() - t1) / 1000).toFixed(1)} s; backend counted ${stats.counters.events_duplicate} duplicates (acknowledged, not stored)`);
    // Exactly once: no id twice, and the set is exactly what was accepted — per stream a prefix
    // of the burst (events of a stream are accepted and delivered in order).
    expect(new Set(now).size).toBe(now.length);
    expect(now.length).toBe(accepted);
    expect(new Set(now)).toEqual(acceptedIds);
    const seqOf = new Map(Array.from({ length: 2000 }, (_, i) => [idOf(`crash-${i}`), i] as const));
    for (const parity of [0, 1]) {
      const seqs = now.map((id) => seqOf.get(id)!).filter((s) => s % 2 === parity).sort((a, b) => a - b);
      seqs.forEach((s, k) => expect(s).toBe(parity + 2 * k));
    }
    const ob2 = openOutbox(path.join(dir, 'outbox.db'), {});
    expect(ob2.stats('backend').backlog).toBe(0);
    ob2.close();
  }, 180_000);
});
