/**
 * The durable outbox (src/outbox/): real SQLite files in a temp folder, a fake clock where time
 * matters, and a real child process killed with SIGKILL in the middle of a burst.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MetricsHub } from '../src/metrics.js';
import { openOutbox, priorityOf, type Outbox, type OutboxItem, type OutboxOptions, type Priority } from '../src/outbox/outbox.js';
import { OutboxMetrics, outboxStatusText } from '../src/outbox/metrics.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHILD = path.join(ROOT, 'test', 'support', 'outbox-child.ts');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'graphrun-outbox-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
const opened: Outbox[] = [];
/** A fresh file (in a folder that does not exist yet) with a fake clock. */
function fresh(opts: OutboxOptions = {}) {
  const file = path.join(tmp, `t${++n}`, 'sub', 'outbox.db');
  const clock = { t: 1_000_000 };
  const ob = openOutbox(file, { now: () => clock.t, ...opts });
  opened.push(ob);
  return { ob, file, clock, reopen: (o: OutboxOptions = {}) => { const h = openOutbox(file, { now: () => clock.t, ...o }); opened.push(h); return h; } };
}
afterEach(() => {
  for (const h of opened.splice(0)) h.close();
});

const item = (key: string, stream = 's', priority: Priority = 0, extra: Partial<OutboxItem> = {}): OutboxItem => ({
  key, stream, priority, payload: JSON.stringify({ key }), ...extra,
});
const keys = (rows: { key: string }[]) => rows.map((r) => r.key);

describe('outbox: put, ready, ack', () => {
  it('hands out the head of each stream, oldest first, never twice while in flight; ack moves the stream on', () => {
    const { ob, file } = fresh();
    expect(existsSync(file)).toBe(true);
    ob.put('api', item('a1', 'A'));
    ob.put('api', item('b1', 'B'));
    ob.put('api', item('a2', 'A'));
    ob.put('api', item('c1', 'C'));
    ob.put('api', item('b2', 'B'));
    ob.put('other', item('o1', 'A'));

    const first = ob.ready('api', 10);
    expect(keys(first)).toEqual(['a1', 'b1', 'c1']); // heads only, in put order; other dests apart
    expect(first[0]).toMatchObject({ dest: 'api', stream: 'A', priority: 0, payload: '{"key":"a1"}', blob: null, attempts: 0, createdAt: 1_000_000 });
    expect(ob.ready('api', 10)).toEqual([]); // all in flight
    expect(ob.stats('api')).toMatchObject({ backlog: 5, inFlight: 3 });

    expect(ob.ack('api', first[1].id, 'https://x/b1')).toBe(true);
    expect(ob.ack('api', first[1].id)).toBe(false); // gone
    expect(keys(ob.ready('api', 10))).toEqual(['b2']);
    expect(ob.result('api', 'b1')).toEqual({ state: 'done', result: 'https://x/b1' });
    expect(ob.result('api', 'a2')).toEqual({ state: 'pending' });
    expect(ob.result('api', 'zz')).toEqual({ state: 'unknown' });
    expect(ob.get('api', first[0].id)?.key).toBe('a1');
    expect(ob.get('other', first[0].id)).toBeUndefined(); // ids are checked against the dest

    expect(ob.release('api', first[0].id)).toBe(true);
    expect(keys(ob.ready('api', 1))).toEqual(['a1']); // limit, oldest first
    const s = ob.stats('api');
    expect(s).toMatchObject({ backlog: 4, inFlight: 3, delivered: 1 });
    expect(s.backlogBytes).toBe(['a1', 'a2', 'c1', 'b2'].reduce((t, k) => t + `{"key":"${k}"}`.length + k.length + 1, 0));
  });

  it('keeps strict order within a stream through retries; other streams go on; attempts and error are kept', () => {
    const { ob, clock } = fresh();
    for (const k of ['a1', 'a2', 'a3']) ob.put('api', item(k, 'A'));
    ob.put('api', item('b1', 'B'));
    const [a1, b1] = ob.ready('api', 10);
    expect(ob.retry('api', a1.id, { nextAttemptAt: clock.t + 5000, error: 'HTTP 503 from https://user:pw@host/x?token=abc' })).toBe(true);
    ob.ack('api', b1.id);
    expect(ob.ready('api', 10)).toEqual([]); // a2 waits behind a1
    expect(ob.nextDueAt('api')).toBe(clock.t + 5000);
    const st = ob.stats('api');
    expect(st).toMatchObject({ retrying: 1, inFlight: 0, lastErrorAt: clock.t });
    expect(st.lastError).toContain('HTTP 503');
    expect(st.lastError).not.toContain('pw@'); // the password and token are scrubbed
    expect(st.lastError).not.toContain('abc');
    clock.t += 5000;
    const again = ob.ready('api', 10);
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ key: 'a1', attempts: 1 });
    expect(again[0].lastError).toContain('HTTP 503');
    ob.ack('api', again[0].id);
    expect(keys(ob.ready('api', 10))).toEqual(['a2']);
    expect(ob.retry('api', 999, { nextAttemptAt: 0 })).toBe(false);
  });

  it('ignores and reports duplicates: a pending key, and a key delivered recently', () => {
    const { ob } = fresh();
    const r1 = ob.put('api', item('k'));
    expect(r1).toMatchObject({ ok: true, evicted: 0 });
    expect(ob.put('api', item('k'))).toEqual({ ok: false, reason: 'duplicate', evicted: 0 });
    expect(ob.put('s3', item('k')).ok).toBe(true); // unique per dest
    ob.ack('api', (r1 as { id: number }).id);
    expect(ob.put('api', item('k'))).toMatchObject({ ok: false, reason: 'duplicate' });
    expect(ob.stats('api')).toMatchObject({ duplicates: 2, backlog: 0 });
    // A dead-lettered key may be put again (e.g. replayed by an operator).
    const r2 = ob.put('api', item('d'));
    ob.deadLetter('api', (r2 as { id: number }).id, { error: 'rejected' });
    expect(ob.put('api', item('d')).ok).toBe(true);
  });

  it('refuses bad input with errors naming the field', () => {
    const { ob } = fresh();
    expect(() => ob.put('api', { ...item('k'), priority: 3 as Priority })).toThrow(/item\.priority must be 0 \(info\), 1 \(warn\) or 2 \(critical\)/);
    expect(() => ob.put('api', { ...item('k'), key: '' })).toThrow(/item\.key/);
    expect(() => ob.put('api', { ...item('k'), payload: 5 as unknown as string })).toThrow(/item\.payload must be a string or a Buffer/);
    expect(() => ob.put('api', { ...item('k'), waitFor: { dest: 's3' } as { dest: string; key: string } })).toThrow(/item\.waitFor/);
    expect(() => ob.put('', item('k'))).toThrow(/dest must be a non-empty string/);
    expect(() => openOutbox(path.join(tmp, 'bad-opts.db'), { maxRows: 0 })).toThrow(/option maxRows must be a positive integer/);
    expect(() => openOutbox(path.join(tmp, 'bad-sync.db'), { synchronous: 'off' as 'full' })).toThrow(/option synchronous must be 'normal' or 'full'/);
  });
});

describe('outbox: dependencies (waitFor)', () => {
  it('holds a row until its dependency is acknowledged, and the dependant reads the result', async () => {
    const { ob } = fresh();
    ob.put('api', item('ev1', 'cam', 2, { waitFor: { dest: 's3', key: 'ev1' }, waitMaxMs: 30_000 }));
    ob.put('api', item('ev2', 'cam', 2)); // behind ev1 in its stream
    expect(ob.ready('api', 10)).toEqual([]); // the dependency is not even put yet
    ob.put('s3', { ...item('ev1', 'cam', 2), blob: Buffer.from('jpeg') });
    expect(ob.ready('api', 10)).toEqual([]);
    let woken = 0;
    ob.onWake('api', () => woken++);
    const [snap] = ob.ready('s3', 10);
    expect(snap.blob?.toString()).toBe('jpeg');
    ob.ack('s3', snap.id, 'https://bucket/ev1.jpg');
    await Promise.resolve();
    expect(woken).toBe(1);
    const [ev] = ob.ready('api', 10);
    expect(ev.key).toBe('ev1');
    expect(ob.result('s3', 'ev1')).toEqual({ state: 'done', result: 'https://bucket/ev1.jpg' });
  });

  it('releases the dependant when the dependency is dead-lettered', () => {
    const { ob } = fresh();
    ob.put('s3', item('ev1'));
    ob.put('api', item('ev1', 's', 2, { waitFor: { dest: 's3', key: 'ev1' } }));
    expect(ob.ready('api', 10)).toEqual([]);
    const [snap] = ob.ready('s3', 10);
    ob.deadLetter('s3', snap.id, { status: 403, error: 'forbidden' });
    expect(ob.result('s3', 'ev1')).toEqual({ state: 'dead' });
    expect(keys(ob.ready('api', 10))).toEqual(['ev1']);
  });

  it('waits at most waitMaxMs, then goes without the dependency', () => {
    const { ob, clock } = fresh();
    ob.put('s3', item('ev1'));
    ob.put('api', item('ev1', 's', 2, { waitFor: { dest: 's3', key: 'ev1' }, waitMaxMs: 2000 }));
    expect(ob.nextDueAt('api')).toBe(clock.t + 2000);
    clock.t += 1999;
    expect(ob.ready('api', 10)).toEqual([]);
    clock.t += 1;
    expect(keys(ob.ready('api', 10))).toEqual(['ev1']);
    expect(ob.result('s3', 'ev1').state).toBe('pending');
  });
});

describe('outbox: ignoreBackoff (the destination is back)', () => {
  it('hands out rows still in retry backoff, but never a row still waiting for its dependency', () => {
    const { ob, clock } = fresh();
    ob.put('api', item('a', 's1'));
    ob.put('s3', item('b'));
    ob.put('api', item('b', 's2', 0, { waitFor: { dest: 's3', key: 'b' }, waitMaxMs: 60_000 }));
    const [a] = ob.ready('api', 10);
    expect(a.key).toBe('a');
    ob.retry('api', a.id, { nextAttemptAt: clock.t + 30_000, error: 'down' });
    expect(ob.ready('api', 10)).toEqual([]);
    expect(keys(ob.ready('api', 10, undefined, { ignoreBackoff: true }))).toEqual(['a']);
  });
});

describe('outbox: dead letters', () => {
  it('moves the row with payload and blob, counts it, keeps the stream going', () => {
    const { ob } = fresh();
    ob.put('api', { ...item('a1', 'A', 1), blob: Buffer.from([1, 2, 3]) });
    ob.put('api', item('a2', 'A'));
    const [a1] = ob.ready('api', 10);
    ob.retry('api', a1.id, { nextAttemptAt: 0, error: 'timeout' });
    const [again] = ob.ready('api', 10);
    expect(ob.deadLetter('api', again.id, { status: 422, response: `{"detail":"bad field"}${'x'.repeat(5000)}`, error: 'HTTP 422' })).toBe(true);
    expect(ob.deadLetter('api', again.id, { error: 'again' })).toBe(false);
    expect(keys(ob.ready('api', 10))).toEqual(['a2']);
    const [dl] = ob.deadLetters('api');
    expect(dl).toMatchObject({ outboxId: a1.id, key: 'a1', stream: 'A', priority: 1, attempts: 1, status: 422, error: 'HTTP 422', payload: '{"key":"a1"}' });
    expect(dl.blob).toEqual(Buffer.from([1, 2, 3]));
    expect(dl.response!.length).toBeLessThanOrEqual(2000);
    expect(ob.stats('api')).toMatchObject({ deadLetters: 1, backlog: 1, lastError: 'HTTP 422' });
  });

  it('keeps at most maxDeadLetters (the count stays exact)', () => {
    const { ob } = fresh({ maxDeadLetters: 3 });
    for (let i = 0; i < 6; i++) {
      ob.put('api', item(`k${i}`));
      const [r] = ob.ready('api', 1);
      ob.deadLetter('api', r.id, { error: `e${i}` });
    }
    expect(keys(ob.deadLetters('api'))).toEqual(['k5', 'k4', 'k3']);
    expect(ob.stats('api').deadLetters).toBe(6);
  });
});

describe('outbox: full policy', () => {
  it('evicts the oldest info row for a critical one; refuses critical when full of critical; counts every drop', () => {
    const { ob, reopen } = fresh({ maxRows: 4 });
    for (let i = 0; i < 4; i++) ob.put('api', item(`i${i}`, `s${i % 2}`, 0));
    const c0 = ob.put('api', item('c0', 's0', 2));
    expect(c0).toMatchObject({ ok: true, evicted: 1 });
    expect(ob.result('api', 'i0')).toEqual({ state: 'dropped' }); // the oldest info
    for (let i = 1; i < 4; i++) expect(ob.put('api', item(`c${i}`, 's0', 2))).toMatchObject({ ok: true, evicted: 1 });
    // Now four critical rows: a fifth is refused, and so are info and warn ones.
    expect(ob.put('api', item('c4', 's0', 2))).toEqual({ ok: false, reason: 'full', evicted: 0 });
    expect(ob.put('api', item('i9', 's0', 0))).toEqual({ ok: false, reason: 'full', evicted: 0 });
    expect(ob.put('api', item('w9', 's0', 1))).toEqual({ ok: false, reason: 'full', evicted: 0 });
    expect(keys(ob.ready('api', 10))).toEqual(['c0']); // stream s1 lost its info rows; s0's head is c0
    const st = ob.stats('api');
    expect(st.dropped).toEqual({ info: 5, warn: 1, critical: 1 });
    expect(st).toMatchObject({ evicted: 4, refused: 3, backlog: 4 });
    expect(ob.droppedLog('api', 3).map((d) => [d.key, d.reason])).toEqual([['w9', 'full'], ['i9', 'full'], ['c4', 'full']]);
    // Counters survive a restart.
    ob.close();
    const again = reopen();
    expect(again.stats('api')).toMatchObject({ dropped: { info: 5, warn: 1, critical: 1 }, evicted: 4, refused: 3, backlog: 4 });
  });

  it('warn evicts info, critical evicts info then warn, info evicts the oldest info; in-flight rows are never evicted', () => {
    const { ob } = fresh({ maxRows: 3 });
    ob.put('api', item('w0', 'a', 1));
    ob.put('api', item('i0', 'b', 0));
    ob.put('api', item('i1', 'c', 0));
    expect(ob.put('api', item('i2', 'c', 0))).toMatchObject({ ok: true, evicted: 1 }); // oldest info: i0
    expect(ob.result('api', 'i0').state).toBe('dropped');
    expect(ob.put('api', item('w1', 'a', 1))).toMatchObject({ ok: true, evicted: 1 }); // info before warn: i1
    expect(ob.result('api', 'i1').state).toBe('dropped');
    expect(ob.put('api', item('w2', 'a', 1))).toMatchObject({ ok: true, evicted: 1 }); // the last info: i2
    expect(ob.put('api', item('w3', 'a', 1))).toMatchObject({ ok: false, reason: 'full' }); // warn never evicts warn
    const [head] = ob.ready('api', 10); // w0 in flight
    expect(head.key).toBe('w0');
    expect(ob.put('api', item('c0', 'x', 2))).toMatchObject({ ok: true, evicted: 1 });
    expect(ob.result('api', 'w0').state).toBe('pending'); // in flight: skipped
    expect(ob.result('api', 'w1').state).toBe('dropped');
    expect(ob.ack('api', head.id)).toBe(true);
    expect(keys(ob.ready('api', 10))).toEqual(['w2', 'c0']);
    expect(ob.stats('api').dropped).toEqual({ info: 3, warn: 2, critical: 0 });
  });

  it('applies maxBytes over all dests, refuses a row larger than the limit, and settles dependants of dropped rows', () => {
    const big = (k: string, p: Priority, dest = 's3') => ({ dest, it: { ...item(k, 'cam', p), payload: '{}', blob: Buffer.alloc(400) } });
    const { ob } = fresh({ maxBytes: 1000 });
    for (const k of ['j0', 'j1']) { const b = big(k, 0); ob.put(b.dest, b.it); }
    ob.put('api', item('ev', 'cam', 2, { waitFor: { dest: 's3', key: 'j0' } }));
    expect(ob.ready('api', 10)).toEqual([]);
    const c = big('j2', 2);
    expect(ob.put(c.dest, c.it)).toMatchObject({ ok: true, evicted: 1 }); // j0 out: 2 x 407 + 17 + 407 > 1000
    expect(keys(ob.ready('api', 10))).toEqual(['ev']); // its dependency was dropped: no more waiting
    expect(ob.stats('s3').file.bytes).toBeLessThanOrEqual(1000);
    expect(ob.put('s3', { ...item('huge'), blob: Buffer.alloc(2000) })).toEqual({ ok: false, reason: 'too_large', evicted: 0 });
    expect(ob.stats('s3').dropped.info).toBe(2);
  });

  it('stays bounded under a flood of info rows', () => {
    const { ob, file } = fresh({ maxRows: 500 });
    for (let i = 0; i < 5000; i++) expect(ob.put('api', item(`k${i}`, `cam${i % 7}`, 0)).ok).toBe(true);
    const st = ob.stats('api');
    expect(st).toMatchObject({ backlog: 500, dropped: { info: 4500, warn: 0, critical: 0 }, evicted: 4500 });
    expect(st.file.rows).toBe(500);
    const rows = ob.ready('api', 100);
    expect(rows).toHaveLength(7); // the newest 500 survive; heads are k4500..k4506
    expect(keys(rows)).toEqual(Array.from({ length: 7 }, (_, i) => `k${4500 + i}`));
    expect(ob.droppedLog(undefined, 5000).length).toBeLessThanOrEqual(1064); // the log is bounded too
    ob.close();
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM outbox').pluck().get()).toBe(500);
    db.close();
  });
});

describe('outbox: restarts and sharing', () => {
  it('brings every pending row back after close and reopen, in-flight ones included, with attempts and backoff', () => {
    const { ob, clock, reopen } = fresh();
    for (let i = 0; i < 6; i++) ob.put('api', item(`k${i}`, `s${i % 2}`, 1));
    const [k0, k1] = ob.ready('api', 10); // in flight
    ob.ack('api', k0.id);
    const [k2] = ob.ready('api', 10);
    ob.retry('api', k2.id, { nextAttemptAt: clock.t + 60_000, error: 'down' });
    expect(k1.key).toBe('k1');
    ob.close();
    const again = reopen();
    expect(again.stats('api')).toMatchObject({ backlog: 5, inFlight: 0, retrying: 1, lastError: 'down' });
    expect(keys(again.ready('api', 10))).toEqual(['k1']); // k2 (stream s0) backs off
    clock.t += 60_000;
    const [r] = again.ready('api', 10);
    expect(r).toMatchObject({ key: 'k2', attempts: 1, lastError: 'down' });
  });

  it('shares one connection between handles of one file; a closed handle gives its rows back', () => {
    const { ob, file } = fresh();
    const other = openOutbox(path.join(path.dirname(file), '..', 'sub', 'outbox.db'));
    opened.push(other);
    expect(other.path).toBe(ob.path);
    ob.put('api', item('a'));
    ob.put('s3', item('b'));
    expect(keys(other.ready('api', 10))).toEqual(['a']);
    expect(ob.ready('api', 10)).toEqual([]); // in flight through `other`
    other.close();
    expect(other.closed).toBe(true);
    expect(() => other.put('api', item('x'))).toThrow(/handle is closed/);
    expect(keys(ob.ready('api', 10))).toEqual(['a']);
    expect(ob.stats('s3').backlog).toBe(1);
  });

  it('wakes the delivery loop on a put, and at the next due time', async () => {
    const { ob } = fresh({ now: Date.now });
    const t0 = Date.now();
    const waiting = ob.waitForWork('api', { maxWaitMs: 5000 });
    setTimeout(() => ob.put('api', item('a')), 20);
    await waiting;
    expect(Date.now() - t0).toBeLessThan(2000);
    const [a] = ob.ready('api');
    ob.retry('api', a.id, { nextAttemptAt: Date.now() + 150 });
    const t1 = Date.now();
    await ob.waitForWork('api', { maxWaitMs: 5000 });
    expect(Date.now() - t1).toBeGreaterThanOrEqual(100);
    expect(keys(ob.ready('api'))).toEqual(['a']);
    const ac = new AbortController();
    const w = ob.waitForWork('api', { signal: ac.signal });
    ac.abort();
    await w;
  });

  it('refuses a file that is not an outbox, or one from a newer version, naming the file', () => {
    const junk = path.join(tmp, 'junk.db');
    writeFileSync(junk, 'this is not a database at all, just some text that is long enough'.repeat(20));
    expect(() => openOutbox(junk)).toThrow(new RegExp(`outbox ${junk.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (not an SQLite file|cannot open)`));
    const foreign = path.join(tmp, 'foreign.db');
    const f = new Database(foreign);
    f.exec('CREATE TABLE users (id INTEGER)');
    f.close();
    expect(() => openOutbox(foreign)).toThrow(/not a graphrun outbox/);
    const newer = path.join(tmp, 'newer.db');
    const nw = new Database(newer);
    nw.pragma('user_version = 99');
    nw.close();
    expect(() => openOutbox(newer)).toThrow(/newer graphrun \(schema version 99/);
  });

  it('exposes stats as Prometheus series through a node’s metrics; risk levels map to priorities', async () => {
    const { ob } = fresh({ maxRows: 2 });
    const hub = new MetricsHub({ processMetrics: false });
    const m = new OutboxMetrics(hub.forNode('out', 'fastapi-sink'));
    ob.put('api', item('a', 's', priorityOf('critical')));
    ob.put('api', item('b', 's', priorityOf('info')));
    ob.put('api', item('c', 's', priorityOf('warn'))); // evicts b
    const [a] = ob.ready('api');
    ob.ack('api', a.id);
    m.update(ob.stats('api'));
    m.update(ob.stats('api')); // counters count each total once
    const text = await hub.text();
    expect(text).toMatch(/graphrun_outbox_backlog\{node_id="out",node_type="fastapi-sink"\} 1/);
    expect(text).toMatch(/graphrun_outbox_delivered_total\{node_id="out",node_type="fastapi-sink"\} 1/);
    expect(text).toMatch(/graphrun_outbox_dropped_info_total\{node_id="out",node_type="fastapi-sink"\} 1/);
    expect(text).toMatch(/graphrun_outbox_in_flight\{node_id="out",node_type="fastapi-sink"\} 0/);
    expect([priorityOf('info'), priorityOf('warn'), priorityOf('critical'), priorityOf(undefined)]).toEqual([0, 1, 2, 0]);
  });

  it('status text says backlog, age, drops and the last error', () => {
    const { ob, clock } = fresh({ maxRows: 1 });
    ob.put('api', item('a', 's', 2));
    ob.put('api', item('b', 's', 2));
    clock.t += 5200;
    const [a] = ob.ready('api');
    ob.retry('api', a.id, { nextAttemptAt: clock.t + 1000, error: 'HTTP 503' });
    clock.t += 10_000;
    expect(outboxStatusText(ob.stats('api'), clock.t)).toBe('outbox: 1 pending (13 B), oldest 15 s; dropped 1 critical; last error 10 s ago: HTTP 503');
  });
});

describe('outbox: crashes', () => {
  /** Start the child; resolves once it printed `ready`; collects its stdout lines. */
  function child(file: string, mode: 'burst' | 'hold') {
    const cp = spawn(process.execPath, ['--import', 'tsx', CHILD, file, mode], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    let rest = '';
    const listeners = new Set<() => void>();
    cp.stdout!.on('data', (d: Buffer) => {
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop()!;
      lines.push(...parts);
      for (const l of listeners) l();
    });
    const exited = new Promise<number | null>((r) => cp.once('exit', (code) => r(code)));
    const until = (pred: () => boolean, what: string, ms = 20000) => new Promise<void>((resolve, reject) => {
      const check = () => { if (pred()) { listeners.delete(check); clearTimeout(timer); resolve(); } };
      const timer = setTimeout(() => { listeners.delete(check); reject(new Error(`outbox child: no ${what} within ${ms} ms (${lines.length} lines)`)); }, ms);
      listeners.add(check);
      void exited.then((code) => { if (!pred()) { clearTimeout(timer); reject(new Error(`outbox child exited (${code}) before ${what}`)); } });
      check();
    });
    return { cp, lines, until, exited };
  }

  it('SIGKILL mid-burst: every row reported put is pending or was acked, exactly once; the file is intact', async () => {
    const file = path.join(tmp, 'crash', 'outbox.db');
    const c = child(file, 'burst');
    try {
      await c.until(() => c.lines.filter((l) => l.startsWith('put ')).length >= 3000, '3000 puts');
      c.cp.kill('SIGKILL');
      await c.exited;
    } finally {
      c.cp.kill('SIGKILL');
    }
    const put = new Map<string, number>();
    const acked = new Set<string>();
    for (const l of c.lines) {
      const [op, key, id] = l.split(' ');
      if (op === 'put') put.set(key, Number(id));
      else if (op === 'ack') acked.add(key);
    }
    expect(put.size).toBeGreaterThanOrEqual(3000);
    expect(acked.size).toBeGreaterThan(0);
    expect(put.size - acked.size).toBeGreaterThan(1000); // plenty left pending at the kill

    const db = new Database(file);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const pending = new Map((db.prepare(`SELECT key, id FROM outbox WHERE dest = 'api'`).all() as { key: string; id: number }[]).map((r) => [r.key, r.id]));
    const done = new Map((db.prepare(`SELECT key, result FROM results WHERE dest = 'api' AND state = 'done'`).all() as { key: string; result: string }[]).map((r) => [r.key, r.result]));
    db.close();
    for (const [key, id] of put) {
      const isPending = pending.has(key);
      expect(isPending || done.has(key), `${key} lost`).toBe(true);
      expect(isPending && done.has(key), `${key} both pending and delivered`).toBe(false);
      if (isPending) expect(pending.get(key)).toBe(id);
    }
    for (const key of acked) {
      expect(done.get(key)).toBe(`ok-${key}`);
      expect(pending.has(key)).toBe(false);
    }

    // After the restart everything pending goes out once, each stream in put order.
    const ob = openOutbox(file);
    opened.push(ob);
    expect(ob.stats('api').backlog).toBe(pending.size);
    const seen = new Set<string>();
    const lastIndex = new Map<string, number>();
    for (let rows = ob.ready('api', 64); rows.length; rows = ob.ready('api', 64)) {
      for (const r of rows) {
        const idx = Number(r.key.slice(1));
        expect(idx).toBeGreaterThan(lastIndex.get(r.stream) ?? -1);
        lastIndex.set(r.stream, idx);
        expect(seen.has(r.key)).toBe(false);
        seen.add(r.key);
        ob.ack('api', r.id);
      }
    }
    expect(seen.size).toBe(pending.size);
    expect(ob.stats('api').backlog).toBe(0);
  }, 60000);

  it('a second process cannot open a file in use', async () => {
    const file = path.join(tmp, 'held', 'outbox.db');
    const c = child(file, 'hold');
    try {
      await c.until(() => c.lines.includes('ready'), 'ready');
      expect(() => openOutbox(file)).toThrow(/in use by another process/);
    } finally {
      c.cp.kill('SIGKILL');
      await c.exited;
    }
    const ob = openOutbox(file); // the kernel dropped the dead process's lock
    opened.push(ob);
    expect(ob.stats('api').backlog).toBe(0);
  }, 30000);
});
