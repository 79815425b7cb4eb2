/**
 * The durable outbox shared by every sink that sends events out of the process (HTTP, S3,
 * webhooks). A sink `put`s an event before it accepts it; the row stays in an SQLite file (WAL)
 * until the destination acknowledged it; after a crash or restart the pending rows go out again,
 * oldest first, in order per stream. Design, full policy and guarantees: src/outbox/README.md.
 *
 *   const ob = openOutbox('var/outbox.db', { maxRows: 100_000, maxBytes: 256 << 20 });
 *   // sink side (synchronous: it is one SQLite insert)
 *   const r = ob.put('fastapi', { key: ev.event_id, stream: ev.camera_id, priority: 2, payload: JSON.stringify(ev),
 *                                 waitFor: { dest: 's3', key: ev.event_id }, waitMaxMs: 30_000 });
 *   if (!r.ok) log.warn({ reason: r.reason }, 'event not queued');   // 'duplicate' | 'full' | 'too_large'
 *   // delivery loop
 *   for (;;) {
 *     const rows = ob.ready('fastapi', 8);                   // heads of their streams, due, dependencies met
 *     if (rows.length === 0) { await ob.waitForWork('fastapi', { signal }); continue; }
 *     for (const row of rows) {
 *       const url = ob.result('s3', row.key).result;          // what the dependency's ack stored
 *       try { await send(row.payload, url); ob.ack('fastapi', row.id); }
 *       catch (e) { permanent(e) ? ob.deadLetter('fastapi', row.id, { status, error: e.message })
 *                                : ob.retry('fastapi', row.id, { nextAttemptAt: Date.now() + backoff(row.attempts), error: e.message }); }
 *     }
 *   }
 *   ob.stats('fastapi');  // backlog, oldest pending age, last error, drops… (memory only: call it every second)
 *   ob.close();           // releases this handle's in-flight rows and its reference to the file
 *
 * API (one `Outbox` handle per opener; all handles of one file share one connection):
 * - `openOutbox(path, opts)`: opens or creates the file (and its folders); ref-counted per real path.
 *   Options: maxRows, maxBytes (limits over all dests of the file), synchronous ('normal' | 'full'),
 *   maxDeadLetters, maxDroppedLog, maxResults, resultsMaxAgeMs, now (the clock).
 * - `put(dest, item)` → `{ ok: true, id, evicted }` | `{ ok: false, reason, evicted: 0 }`.
 * - `ready(dest, limit?, nowMs?, { ignoreBackoff? })` → rows to send now (ignoreBackoff: retry delays do not count, after the destination came back); they are in flight (memory only) until
 *   `ack` / `retry` / `deadLetter` / `release`.
 * - `ack(dest, id, result?)`, `retry(dest, id, { nextAttemptAt, error })`,
 *   `deadLetter(dest, id, { status?, response?, error })`, `release(dest, id)` → false when the
 *   row is not (or no longer) pending.
 * - `get(dest, id)`, `result(dest, key)` → { state: pending | done | dead | dropped | unknown, result? }.
 * - `stats(dest)`, `deadLetters(dest, limit?)`, `droppedLog(dest?, limit?)`.
 * - `onWake(dest, fn)` → unsubscribe; `nextDueAt(dest)`; `waitForWork(dest, { signal?, maxWaitMs? })`.
 * - `priorityOf(event.risk_level)`; src/outbox/metrics.ts: `OutboxMetrics` (Prometheus series
 *   through a node's metrics) and `outboxStatusText(stats)` (the status line).
 *
 * One process per file: the file is opened with an exclusive lock, and a second process gets a
 * clear error instead of delivering the same rows twice.
 */
import Database from 'better-sqlite3';
import { mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { RiskLevel } from '../contract.js';
import { redactSecrets } from '../redact.js';
import { checkVersion, migrate } from './schema.js';

/** 0 info ("person seen"), 1 warn, 2 critical (falls). Decides who is dropped when the file is full. */
export type Priority = 0 | 1 | 2;
export const PRIORITY = { info: 0, warn: 1, critical: 2 } as const;

/** The outbox priority of an event's risk_level (falls are warn, collapsed is critical). */
export function priorityOf(risk: RiskLevel | undefined): Priority {
  return risk === 'critical' ? 2 : risk === 'warn' ? 1 : 0;
}

export interface OutboxItem {
  /** Idempotency key (e.g. event_id), unique per dest; also sent to the destination so it can de-duplicate. */
  key: string;
  /** Ordering domain: rows of one stream go out strictly in put order (e.g. the camera id). */
  stream: string;
  priority: Priority;
  /** What to send: a JSON string (kept as text) or bytes. */
  payload: string | Buffer;
  /** Large bytes beside the payload (e.g. a snapshot JPEG). */
  blob?: Buffer;
  /** Not ready until that row was acknowledged, dead-lettered or dropped, or `waitMaxMs` passed. */
  waitFor?: { dest: string; key: string };
  /** Bound on the `waitFor` wait, from the put (default 60 000). */
  waitMaxMs?: number;
}

export type PutResult =
  | { ok: true; id: number; evicted: number }
  | { ok: false; reason: 'duplicate' | 'full' | 'too_large'; evicted: 0 };

export interface OutboxRow {
  id: number;
  dest: string;
  key: string;
  stream: string;
  priority: Priority;
  payload: string | Buffer;
  blob: Buffer | null;
  /** Failed attempts so far (retry calls); survives restarts. */
  attempts: number;
  createdAt: number;
  lastError: string | null;
}

export type ResultState = 'pending' | 'done' | 'dead' | 'dropped' | 'unknown';

export interface OutboxStats {
  dest: string;
  /** Rows pending for this dest (in flight included). */
  backlog: number;
  backlogBytes: number;
  /** Age of the oldest pending row; 0 when none. */
  oldestPendingAgeMs: number;
  inFlight: number;
  /** Streams whose head row failed at least once and waits for its next attempt. */
  retrying: number;
  lastError: string | null;
  lastErrorAt: number | null;
  /** Totals kept in the file (survive restarts). */
  deadLetters: number;
  dropped: { info: number; warn: number; critical: number };
  evicted: number;
  refused: number;
  /** Since this process opened the file. */
  delivered: number;
  duplicates: number;
  /** The whole file, all dests. */
  file: { rows: number; bytes: number; maxRows: number; maxBytes: number };
}

export interface DeadLetterRow {
  id: number;
  outboxId: number;
  dest: string;
  key: string;
  stream: string;
  priority: Priority;
  createdAt: number;
  deadAt: number;
  attempts: number;
  payload: string | Buffer;
  blob: Buffer | null;
  status: number | null;
  response: string | null;
  error: string | null;
}

export interface DroppedRow {
  id: number;
  at: number;
  dest: string;
  key: string;
  stream: string;
  priority: Priority;
  bytes: number;
  reason: 'evicted' | 'full' | 'too_large';
}

export interface OutboxOptions {
  /** Most pending rows in the file, all dests together (default 100 000). */
  maxRows?: number;
  /** Most pending bytes (payload + blob + key + stream) in the file (default 256 MiB). */
  maxBytes?: number;
  /**
   * 'normal' (default): a put survives a crash of the process (SIGKILL, OOM kill), not a
   * power loss or kernel crash. 'full': fsync on every commit, survives power loss too, at the
   * cost of one disk flush per put (about 10x slower, disk-dependent). The strongest asked by
   * any opener of the file wins.
   */
  synchronous?: 'normal' | 'full';
  /** Dead letters kept (oldest pruned; the total count is kept) (default 1000). */
  maxDeadLetters?: number;
  /** Entries kept in the dropped log (default 1000). */
  maxDroppedLog?: number;
  /** Key outcomes kept for `result()` and duplicate detection (default 100 000)… */
  maxResults?: number;
  /** …and for at most this long (default one day). */
  resultsMaxAgeMs?: number;
  /** Clock, ms since the epoch (default Date.now). The first opener's is used. */
  now?: () => number;
}

const DEFAULTS = {
  maxRows: 100_000,
  maxBytes: 256 * 1024 * 1024,
  maxDeadLetters: 1000,
  maxDroppedLog: 1000,
  maxResults: 100_000,
  resultsMaxAgeMs: 24 * 3600 * 1000,
};
const DEFAULT_WAIT_MAX_MS = 60_000;
const MAX_KEY = 1024;
const MAX_STREAM = 512;
const MAX_ERROR = 500;
const MAX_RESPONSE = 2000;
const PRUNE_EVERY_MS = 60_000;

/** The head (oldest pending row) of one stream of one dest: everything `ready` decides on. */
interface Head {
  dest: Dest;
  id: number;
  key: string;
  stream: string;
  createdAt: number;
  attempts: number;
  nextAttemptAt: number;
  waitDest: string | null;
  waitKey: string | null;
  waitUntil: number;
  /** The dependency is settled (acked, dead-lettered or dropped). */
  waitDone: boolean;
  /** The handle that holds it in flight, or null. */
  owner: Outbox | null;
}

interface Dest {
  name: string;
  heads: Map<string, Head>;
  byId: Map<number, Head>;
  backlog: number;
  backlogBytes: number;
  inFlight: number;
  dropped: [number, number, number];
  evicted: number;
  refused: number;
  deadLetters: number;
  delivered: number;
  duplicates: number;
  lastError: string | null;
  lastErrorAt: number | null;
  /** Wake listeners with the wake count at which they subscribed. */
  listeners: Map<() => void, number>;
  /** wake() calls so far; a listener is woken by a wake that came after it subscribed. */
  wakes: number;
  wakeQueued: boolean;
}

interface HeadRow {
  id: number; key: string; stream: string; created_at: number; attempts: number;
  next_attempt_at: number; wait_dest: string | null; wait_key: string | null; wait_until: number | null;
}
interface Candidate { id: number; dest: string; key: string; stream: string; priority: Priority; bytes: number }

function positiveInt(v: unknown, name: string, file: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new TypeError(`outbox ${file}: option ${name} must be a positive integer (got ${JSON.stringify(v)})`);
  return v;
}

function clip(text: string | undefined | null, max: number): string | null {
  if (text === undefined || text === null) return null;
  const s = redactSecrets(String(text));
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** One open file: the connection, its statements and the in-memory state every handle shares. */
class Store {
  readonly db: Database.Database;
  refs = 0;
  maxRows: number;
  maxBytes: number;
  maxDeadLetters: number;
  maxDroppedLog: number;
  maxResults: number;
  resultsMaxAgeMs: number;
  synchronous: 'normal' | 'full';
  readonly now: () => number;
  /** Pending rows and bytes over all dests. */
  rows = 0;
  bytes = 0;
  /** Ids only grow while the process runs, so a late ack can never hit a newer row. */
  private nextId = 1;
  readonly dests = new Map<string, Dest>();
  /** Heads waiting on a dependency, by `dest\0key` of the dependency. */
  private readonly waiting = new Map<string, Set<Head>>();
  private lastPrune = 0;
  /** Dests whose dest_state row exists (it is created on the first persisted count). */
  private readonly ensured = new Set<string>();

  private readonly s: ReturnType<Store['prepare']>;
  private readonly evictInsertTx: (evict: Candidate[], now: number, args: unknown[]) => Database.RunResult;
  private readonly refuseTx: (dest: string, item: OutboxItem, bytes: number, reason: string, now: number) => void;
  private readonly ackTx: (dest: string, id: number, result: string | null, now: number) => { key: string; bytes: number } | undefined;
  private readonly retryTx: (dest: string, id: number, next: number, err: string | null, now: number) => number;
  private readonly deadTx: (dest: string, id: number, status: number | null, response: string | null, err: string | null, now: number) => { key: string; bytes: number } | undefined;

  constructor(readonly file: string, opts: OutboxOptions) {
    this.maxRows = positiveInt(opts.maxRows ?? DEFAULTS.maxRows, 'maxRows', file);
    this.maxBytes = positiveInt(opts.maxBytes ?? DEFAULTS.maxBytes, 'maxBytes', file);
    this.maxDeadLetters = positiveInt(opts.maxDeadLetters ?? DEFAULTS.maxDeadLetters, 'maxDeadLetters', file);
    this.maxDroppedLog = positiveInt(opts.maxDroppedLog ?? DEFAULTS.maxDroppedLog, 'maxDroppedLog', file);
    this.maxResults = positiveInt(opts.maxResults ?? DEFAULTS.maxResults, 'maxResults', file);
    this.resultsMaxAgeMs = positiveInt(opts.resultsMaxAgeMs ?? DEFAULTS.resultsMaxAgeMs, 'resultsMaxAgeMs', file);
    this.synchronous = checkSync(opts.synchronous, file);
    this.now = opts.now ?? Date.now;

    let db: Database.Database;
    try {
      db = new Database(file, { timeout: 2000 });
    } catch (err) {
      throw openError(file, err);
    }
    this.db = db;
    try {
      // Exclusive: a second process cannot open the file and send the same rows again; WAL
      // then keeps its index in process memory (no -shm file).
      db.pragma('locking_mode = EXCLUSIVE');
      checkVersion(db, file);
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`could not switch to WAL (journal_mode is ${String(mode)})`);
      db.pragma(`synchronous = ${this.synchronous.toUpperCase()}`);
      db.pragma('journal_size_limit = 67108864');
      migrate(db, file);
      this.s = this.prepare();
      this.load();
    } catch (err) {
      db.close();
      throw openError(file, err);
    }
    const s = this.s;

    this.evictInsertTx = db.transaction((evict: Candidate[], now: number, args: unknown[]) => {
      for (const c of evict) {
        s.deleteById.run(c.id);
        this.recordDrop(c.dest, c.key, c.stream, c.priority, c.bytes, 'evicted', now);
      }
      return s.insert.run(...args);
    });
    this.refuseTx = db.transaction((dest: string, item: OutboxItem, bytes: number, reason: string, now: number) => {
      this.recordDrop(dest, item.key, item.stream, item.priority, bytes, reason, now);
    });
    this.ackTx = db.transaction((dest: string, id: number, result: string | null, now: number) => {
      const r = s.deleteRow.get(id, dest) as { key: string; bytes: number } | undefined;
      if (r) s.resultPut.run(dest, r.key, 'done', result, now);
      return r;
    });
    this.retryTx = db.transaction((dest: string, id: number, next: number, err: string | null, now: number) => {
      const n = s.retry.run(next, err, id, dest).changes;
      if (n) s.destError.run(err, now, dest);
      return n;
    });
    this.deadTx = db.transaction((dest: string, id: number, status: number | null, response: string | null, err: string | null, now: number) => {
      const ins = s.deadInsert.run(now, status, response, err, id, dest);
      if (!ins.changes) return undefined;
      const r = s.deleteRow.get(id, dest) as { key: string; bytes: number };
      s.resultPut.run(dest, r.key, 'dead', null, now);
      s.destDead.run(err, now, dest);
      s.deadPrune.run(Number(ins.lastInsertRowid) - this.maxDeadLetters);
      return r;
    });
    this.pruneResults(this.now());
  }

  private prepare() {
    const db = this.db;
    const HEAD_COLS = 'id, key, stream, created_at, attempts, next_attempt_at, wait_dest, wait_key, wait_until';
    return {
      insert: db.prepare(`INSERT INTO outbox (id, dest, key, stream, priority, created_at, bytes, payload, blob, wait_dest, wait_key, wait_until)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dest, key) DO NOTHING`),
      resultState: db.prepare('SELECT state FROM results WHERE dest = ? AND key = ?').pluck(),
      result: db.prepare('SELECT state, result FROM results WHERE dest = ? AND key = ?'),
      pendingId: db.prepare('SELECT id FROM outbox WHERE dest = ? AND key = ?').pluck(),
      headOf: db.prepare(`SELECT ${HEAD_COLS} FROM outbox WHERE dest = ? AND stream = ? ORDER BY id LIMIT 1`),
      row: db.prepare('SELECT id, dest, key, stream, priority, payload, blob, attempts, created_at, last_error FROM outbox WHERE id = ? AND dest = ?'),
      deleteRow: db.prepare('DELETE FROM outbox WHERE id = ? AND dest = ? RETURNING key, bytes'),
      deleteById: db.prepare('DELETE FROM outbox WHERE id = ?'),
      resultPut: db.prepare('INSERT OR REPLACE INTO results (dest, key, state, result, at) VALUES (?, ?, ?, ?, ?)'),
      retry: db.prepare('UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ? AND dest = ?'),
      destEnsure: db.prepare('INSERT INTO dest_state (dest) VALUES (?) ON CONFLICT DO NOTHING'),
      destError: db.prepare('UPDATE dest_state SET last_error = ?, last_error_at = ? WHERE dest = ?'),
      destDrop: db.prepare(`UPDATE dest_state SET dropped_info = dropped_info + ?, dropped_warn = dropped_warn + ?,
        dropped_critical = dropped_critical + ?, evicted = evicted + ?, refused = refused + ? WHERE dest = ?`),
      destDead: db.prepare('UPDATE dest_state SET dead_letters = dead_letters + 1, last_error = ?, last_error_at = ? WHERE dest = ?'),
      deadInsert: db.prepare(`INSERT INTO dead_letter (outbox_id, dest, key, stream, priority, created_at, dead_at, attempts, payload, blob, status, response, error)
        SELECT id, dest, key, stream, priority, created_at, ?, attempts, payload, blob, ?, ?, ? FROM outbox WHERE id = ? AND dest = ?`),
      deadPrune: db.prepare('DELETE FROM dead_letter WHERE id <= ?'),
      droppedInsert: db.prepare('INSERT INTO dropped (at, dest, key, stream, priority, bytes, reason) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      droppedPrune: db.prepare('DELETE FROM dropped WHERE id <= ?'),
      // Lowest priority first, oldest first within one: the eviction order.
      candidates: db.prepare('SELECT id, dest, key, stream, priority, bytes FROM outbox WHERE priority < ? ORDER BY priority, id'),
      firstFreshResult: db.prepare('SELECT rowid FROM results WHERE at >= ? ORDER BY rowid LIMIT 1').pluck(),
      maxResultRowid: db.prepare('SELECT max(rowid) FROM results').pluck(),
      pruneResults: db.prepare('DELETE FROM results WHERE rowid < ?'),
      deadList: db.prepare(`SELECT id, outbox_id, dest, key, stream, priority, created_at, dead_at, attempts, payload, blob, status, response, error
        FROM dead_letter WHERE dest = ? ORDER BY id DESC LIMIT ?`),
      droppedList: db.prepare('SELECT id, at, dest, key, stream, priority, bytes, reason FROM dropped WHERE dest = ? ORDER BY id DESC LIMIT ?'),
      droppedListAll: db.prepare('SELECT id, at, dest, key, stream, priority, bytes, reason FROM dropped ORDER BY id DESC LIMIT ?'),
    };
  }

  /** Counters and stream heads from the file (in-flight is memory only: every row is pending again). */
  private load(): void {
    const db = this.db;
    const top = db.prepare('SELECT max((SELECT coalesce(max(id), 0) FROM outbox), (SELECT coalesce(max(outbox_id), 0) FROM dead_letter))').pluck().get() as number;
    this.nextId = top + 1;
    for (const r of db.prepare('SELECT dest, count(*) AS n, sum(bytes) AS b FROM outbox GROUP BY dest').all() as { dest: string; n: number; b: number }[]) {
      const d = this.dest(r.dest);
      d.backlog = r.n;
      d.backlogBytes = r.b;
      this.rows += r.n;
      this.bytes += r.b;
    }
    for (const r of db.prepare('SELECT * FROM dest_state').all() as Record<string, unknown>[]) {
      const d = this.dest(r.dest as string);
      d.dropped = [r.dropped_info as number, r.dropped_warn as number, r.dropped_critical as number];
      d.evicted = r.evicted as number;
      d.refused = r.refused as number;
      d.deadLetters = r.dead_letters as number;
      d.lastError = r.last_error as string | null;
      d.lastErrorAt = r.last_error_at as number | null;
    }
    for (const r of db.prepare('SELECT DISTINCT dest, stream FROM outbox').all() as { dest: string; stream: string }[]) {
      this.loadHead(this.dest(r.dest), r.stream);
    }
  }

  dest(name: string): Dest {
    let d = this.dests.get(name);
    if (!d) {
      d = {
        name, heads: new Map(), byId: new Map(), backlog: 0, backlogBytes: 0, inFlight: 0,
        dropped: [0, 0, 0], evicted: 0, refused: 0, deadLetters: 0, delivered: 0, duplicates: 0,
        lastError: null, lastErrorAt: null, listeners: new Map(), wakes: 0, wakeQueued: false,
      };
      this.dests.set(name, d);
    }
    return d;
  }

  setLimits(opts: OutboxOptions): void {
    if (opts.maxRows !== undefined) this.maxRows = positiveInt(opts.maxRows, 'maxRows', this.file);
    if (opts.maxBytes !== undefined) this.maxBytes = positiveInt(opts.maxBytes, 'maxBytes', this.file);
    if (opts.maxDeadLetters !== undefined) this.maxDeadLetters = positiveInt(opts.maxDeadLetters, 'maxDeadLetters', this.file);
    if (opts.maxDroppedLog !== undefined) this.maxDroppedLog = positiveInt(opts.maxDroppedLog, 'maxDroppedLog', this.file);
    if (opts.maxResults !== undefined) this.maxResults = positiveInt(opts.maxResults, 'maxResults', this.file);
    if (opts.resultsMaxAgeMs !== undefined) this.resultsMaxAgeMs = positiveInt(opts.resultsMaxAgeMs, 'resultsMaxAgeMs', this.file);
    if (checkSync(opts.synchronous, this.file) === 'full' && this.synchronous !== 'full') {
      this.synchronous = 'full';
      this.db.pragma('synchronous = FULL');
    }
  }

  // ---- put -------------------------------------------------------------------------------

  put(dest: string, item: OutboxItem): PutResult {
    validateItem(dest, item);
    const d = this.dest(dest);
    const { key, stream, priority, payload } = item;
    const blob = item.blob ?? null;
    const bytes = (typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length) + (blob ? blob.length : 0) + key.length + stream.length;
    const now = this.now();
    if (bytes > this.maxBytes) return this.refuse(d, item, bytes, 'too_large', now);
    // A key delivered recently is a replay: refuse it, as a pending one is refused by the index.
    if (this.s.resultState.get(dest, key) === 'done') return this.duplicate(d);
    const needRows = this.rows + 1 - this.maxRows;
    const needBytes = this.bytes + bytes - this.maxBytes;
    let evict: Candidate[] | undefined;
    if (needRows > 0 || needBytes > 0) {
      if (this.s.pendingId.get(dest, key) !== undefined) return this.duplicate(d);
      evict = this.planEviction(priority, needRows, needBytes);
      if (!evict) return this.refuse(d, item, bytes, 'full', now);
    }
    const wait = item.waitFor;
    const waitUntil = wait ? now + (item.waitMaxMs ?? DEFAULT_WAIT_MAX_MS) : null;
    const id = this.nextId;
    const args = [id, dest, key, stream, priority, now, bytes, payload, blob, wait ? wait.dest : null, wait ? wait.key : null, waitUntil];
    if (evict) for (const c of evict) this.ensureDest(c.dest);
    const info = evict ? this.evictInsertTx(evict, now, args) : this.s.insert.run(...args);
    if (info.changes === 0) return this.duplicate(d);
    this.nextId++;
    if (evict) this.applyEvictions(evict);
    this.rows++;
    this.bytes += bytes;
    d.backlog++;
    d.backlogBytes += bytes;
    if (!d.heads.has(stream)) {
      this.setHead(d, {
        id, key, stream, created_at: now, attempts: 0, next_attempt_at: 0,
        wait_dest: wait ? wait.dest : null, wait_key: wait ? wait.key : null, wait_until: waitUntil,
      });
      this.wake(d);
    }
    return { ok: true, id, evicted: evict ? evict.length : 0 };
  }

  /** Create the dest's dest_state row (its own commit, before the transaction that counts). */
  private ensureDest(dest: string): void {
    if (this.ensured.has(dest)) return;
    this.s.destEnsure.run(dest);
    this.ensured.add(dest);
  }

  private duplicate(d: Dest): PutResult {
    d.duplicates++;
    return { ok: false, reason: 'duplicate', evicted: 0 };
  }

  private refuse(d: Dest, item: OutboxItem, bytes: number, reason: 'full' | 'too_large', now: number): PutResult {
    this.ensureDest(d.name);
    this.refuseTx(d.name, item, bytes, reason, now);
    d.dropped[item.priority]++;
    d.refused++;
    // Rows waiting on this key stop waiting: it will not come.
    if (this.s.pendingId.get(d.name, item.key) === undefined) this.settle(d.name, item.key);
    return { ok: false, reason, evicted: 0 };
  }

  /** Inside a transaction: log one drop, count it, settle its key for dependants. */
  private recordDrop(dest: string, key: string, stream: string, priority: Priority, bytes: number, reason: string, now: number): void {
    const s = this.s;
    const logId = Number(s.droppedInsert.run(now, dest, key, stream, priority, bytes, reason).lastInsertRowid);
    if (logId % 64 === 0) s.droppedPrune.run(logId - this.maxDroppedLog);
    if (reason === 'evicted' || s.pendingId.get(dest, key) === undefined) s.resultPut.run(dest, key, 'dropped', null, now);
    const evicted = reason === 'evicted' ? 1 : 0;
    s.destDrop.run(priority === 0 ? 1 : 0, priority === 1 ? 1 : 0, priority === 2 ? 1 : 0, evicted, 1 - evicted, dest);
  }

  /**
   * The rows to evict so that a row of `priority` fits, or undefined when it cannot fit (then
   * nothing is evicted). Candidates: rows of lower priority, and info rows for an info row;
   * lowest priority first, oldest first; rows in flight are being delivered and are skipped.
   */
  private planEviction(priority: Priority, needRows: number, needBytes: number): Candidate[] | undefined {
    const out: Candidate[] = [];
    let rows = 0;
    let bytes = 0;
    for (const c of this.s.candidates.iterate(Math.max(priority, 1)) as IterableIterator<Candidate>) {
      if (this.dests.get(c.dest)?.byId.get(c.id)?.owner) continue;
      out.push(c);
      rows++;
      bytes += c.bytes;
      if (rows >= needRows && bytes >= needBytes) return out; // leaving the loop closes the iterator
    }
    return undefined;
  }

  private applyEvictions(evict: Candidate[]): void {
    for (const c of evict) {
      const d = this.dest(c.dest);
      this.rows--;
      this.bytes -= c.bytes;
      d.backlog--;
      d.backlogBytes -= c.bytes;
      d.dropped[c.priority]++;
      d.evicted++;
      const head = d.byId.get(c.id);
      if (head) {
        this.advance(d, head);
        this.wake(d);
      }
      this.settle(c.dest, c.key);
    }
  }

  // ---- heads -----------------------------------------------------------------------------

  private setHead(d: Dest, r: HeadRow): void {
    const h: Head = {
      dest: d, id: r.id, key: r.key, stream: r.stream, createdAt: r.created_at, attempts: r.attempts,
      nextAttemptAt: r.next_attempt_at, waitDest: r.wait_dest, waitKey: r.wait_key, waitUntil: r.wait_until ?? 0,
      waitDone: true, owner: null,
    };
    if (h.waitDest !== null && h.waitKey !== null && !this.settled(h.waitDest, h.waitKey)) {
      h.waitDone = false;
      const k = `${h.waitDest}\0${h.waitKey}`;
      let set = this.waiting.get(k);
      if (!set) this.waiting.set(k, (set = new Set()));
      set.add(h);
    }
    d.heads.set(h.stream, h);
    d.byId.set(h.id, h);
  }

  private loadHead(d: Dest, stream: string): void {
    const r = this.s.headOf.get(d.name, stream) as HeadRow | undefined;
    if (r) this.setHead(d, r);
    else d.heads.delete(stream);
  }

  /** The head left (acked, dead, evicted): the next row of its stream becomes the head. */
  private advance(d: Dest, h: Head): void {
    if (!h.waitDone) this.unwait(h);
    d.byId.delete(h.id);
    if (h.owner) {
      h.owner = null;
      d.inFlight--;
    }
    d.heads.delete(h.stream);
    this.loadHead(d, h.stream);
  }

  private unwait(h: Head): void {
    const k = `${h.waitDest}\0${h.waitKey}`;
    const set = this.waiting.get(k);
    if (set) {
      set.delete(h);
      if (set.size === 0) this.waiting.delete(k);
    }
  }

  private settled(dest: string, key: string): boolean {
    return this.s.pendingId.get(dest, key) === undefined && this.s.resultState.get(dest, key) !== undefined;
  }

  /** (dest, key) left the outbox for good: heads waiting on it may go. */
  private settle(dest: string, key: string): void {
    const k = `${dest}\0${key}`;
    const set = this.waiting.get(k);
    if (!set) return;
    this.waiting.delete(k);
    for (const h of set) {
      h.waitDone = true;
      this.wake(h.dest);
    }
  }

  /**
   * Tell the dest's listeners, in a microtask, coalesced. Only listeners that subscribed before
   * the (last) wake hear it: a delivery loop that calls ready() and then waits has seen that
   * change already.
   */
  private wake(d: Dest): void {
    if (d.listeners.size === 0) return;
    d.wakes++;
    if (d.wakeQueued) return;
    d.wakeQueued = true;
    queueMicrotask(() => {
      d.wakeQueued = false;
      for (const [fn, since] of [...d.listeners]) {
        if (since >= d.wakes) continue;
        try { fn(); } catch { /* a listener's failure is its own */ }
      }
    });
  }

  // ---- delivery --------------------------------------------------------------------------

  ready(owner: Outbox, dest: string, limit: number, now: number, ignoreBackoff = false): OutboxRow[] {
    const d = this.dests.get(dest);
    if (!d || d.heads.size === 0) return [];
    const due: Head[] = [];
    for (const h of d.heads.values()) {
      if (h.owner === null && (ignoreBackoff || h.nextAttemptAt <= now) && (h.waitDone || h.waitUntil <= now)) due.push(h);
    }
    if (due.length > limit) due.sort((a, b) => a.id - b.id).length = limit;
    else due.sort((a, b) => a.id - b.id);
    const rows: OutboxRow[] = [];
    for (const h of due) {
      const r = this.s.row.get(h.id, dest) as RawRow | undefined;
      if (!r) continue;
      h.owner = owner;
      d.inFlight++;
      rows.push(toRow(r));
    }
    return rows;
  }

  nextDueAt(dest: string): number | undefined {
    const d = this.dests.get(dest);
    if (!d) return undefined;
    let t = Infinity;
    for (const h of d.heads.values()) {
      if (h.owner) continue;
      const at = h.waitDone ? h.nextAttemptAt : Math.max(h.nextAttemptAt, h.waitUntil);
      if (at < t) t = at;
    }
    return t === Infinity ? undefined : t;
  }

  ack(dest: string, id: number, result: string | undefined): boolean {
    const now = this.now();
    const r = this.ackTx(dest, id, result ?? null, now);
    if (!r) return false;
    const d = this.dest(dest);
    this.removed(d, id, r.bytes);
    d.delivered++;
    this.settle(dest, r.key);
    if (now - this.lastPrune >= PRUNE_EVERY_MS) this.pruneResults(now);
    return true;
  }

  retry(dest: string, id: number, nextAttemptAt: number, error: string | null): boolean {
    const now = this.now();
    this.ensureDest(dest);
    if (!this.retryTx(dest, id, nextAttemptAt, error, now)) return false;
    const d = this.dest(dest);
    d.lastError = error;
    d.lastErrorAt = now;
    const h = d.byId.get(id);
    if (h) {
      h.attempts++;
      h.nextAttemptAt = nextAttemptAt;
      if (h.owner) {
        h.owner = null;
        d.inFlight--;
      }
    }
    this.wake(d);
    return true;
  }

  deadLetter(dest: string, id: number, status: number | null, response: string | null, error: string | null): boolean {
    const now = this.now();
    this.ensureDest(dest);
    const r = this.deadTx(dest, id, status, response, error, now);
    if (!r) return false;
    const d = this.dest(dest);
    d.deadLetters++;
    d.lastError = error;
    d.lastErrorAt = now;
    this.removed(d, id, r.bytes);
    this.settle(dest, r.key);
    return true;
  }

  private removed(d: Dest, id: number, bytes: number): void {
    this.rows--;
    this.bytes -= bytes;
    d.backlog--;
    d.backlogBytes -= bytes;
    const h = d.byId.get(id);
    if (h) this.advance(d, h);
    this.wake(d);
  }

  release(dest: string, id: number, owner?: Outbox): boolean {
    const d = this.dests.get(dest);
    const h = d?.byId.get(id);
    if (!d || !h || !h.owner || (owner && h.owner !== owner)) return false;
    h.owner = null;
    d.inFlight--;
    this.wake(d);
    return true;
  }

  /** A closing handle's in-flight rows become pending again. */
  releaseAll(owner: Outbox): void {
    for (const d of this.dests.values()) {
      for (const h of d.heads.values()) if (h.owner === owner) this.release(d.name, h.id);
    }
  }

  get(dest: string, id: number): OutboxRow | undefined {
    const r = this.s.row.get(id, dest) as RawRow | undefined;
    return r ? toRow(r) : undefined;
  }

  result(dest: string, key: string): { state: ResultState; result?: string } {
    if (this.s.pendingId.get(dest, key) !== undefined) return { state: 'pending' };
    const r = this.s.result.get(dest, key) as { state: ResultState; result: string | null } | undefined;
    if (!r) return { state: 'unknown' };
    return r.result === null ? { state: r.state } : { state: r.state, result: r.result };
  }

  stats(dest: string): OutboxStats {
    const d = this.dests.get(dest) ?? this.dest(dest);
    let oldest: Head | undefined;
    let retrying = 0;
    for (const h of d.heads.values()) {
      if (!oldest || h.id < oldest.id) oldest = h;
      if (h.attempts > 0 && !h.owner) retrying++;
    }
    return {
      dest,
      backlog: d.backlog,
      backlogBytes: d.backlogBytes,
      oldestPendingAgeMs: oldest ? Math.max(0, this.now() - oldest.createdAt) : 0,
      inFlight: d.inFlight,
      retrying,
      lastError: d.lastError,
      lastErrorAt: d.lastErrorAt,
      deadLetters: d.deadLetters,
      dropped: { info: d.dropped[0], warn: d.dropped[1], critical: d.dropped[2] },
      evicted: d.evicted,
      refused: d.refused,
      delivered: d.delivered,
      duplicates: d.duplicates,
      file: { rows: this.rows, bytes: this.bytes, maxRows: this.maxRows, maxBytes: this.maxBytes },
    };
  }

  deadLetters(dest: string, limit: number): DeadLetterRow[] {
    return (this.s.deadList.all(dest, limit) as Record<string, unknown>[]).map((r) => ({
      id: r.id as number, outboxId: r.outbox_id as number, dest: r.dest as string, key: r.key as string,
      stream: r.stream as string, priority: r.priority as Priority, createdAt: r.created_at as number,
      deadAt: r.dead_at as number, attempts: r.attempts as number, payload: r.payload as string | Buffer,
      blob: r.blob as Buffer | null, status: r.status as number | null, response: r.response as string | null,
      error: r.error as string | null,
    }));
  }

  droppedLog(dest: string | undefined, limit: number): DroppedRow[] {
    return (dest === undefined ? this.s.droppedListAll.all(limit) : this.s.droppedList.all(dest, limit)) as DroppedRow[];
  }

  /** Forget key outcomes older than resultsMaxAgeMs or beyond the newest maxResults. */
  pruneResults(now: number): void {
    this.lastPrune = now;
    const max = this.s.maxResultRowid.get() as number | null;
    if (max === null) return;
    const fresh = this.s.firstFreshResult.get(now - this.resultsMaxAgeMs) as number | undefined;
    const keepFrom = Math.max(fresh ?? max + 1, max - this.maxResults + 1);
    this.s.pruneResults.run(keepFrom);
  }

  close(): void {
    this.db.close();
  }
}

interface RawRow {
  id: number; dest: string; key: string; stream: string; priority: Priority; payload: string | Buffer;
  blob: Buffer | null; attempts: number; created_at: number; last_error: string | null;
}

function toRow(r: RawRow): OutboxRow {
  return {
    id: r.id, dest: r.dest, key: r.key, stream: r.stream, priority: r.priority, payload: r.payload,
    blob: r.blob, attempts: r.attempts, createdAt: r.created_at, lastError: r.last_error,
  };
}

function checkSync(v: unknown, file: string): 'normal' | 'full' {
  if (v === undefined) return 'normal';
  if (v === 'normal' || v === 'full') return v;
  throw new TypeError(`outbox ${file}: option synchronous must be 'normal' or 'full' (got ${JSON.stringify(v)})`);
}

function validateItem(dest: string, item: OutboxItem): void {
  const bad = (field: string, want: string, got: unknown) =>
    new TypeError(`outbox put (dest "${dest}"): ${field} must be ${want} (got ${typeof got === 'string' ? JSON.stringify(got.slice(0, 40)) : typeof got})`);
  if (typeof dest !== 'string' || dest === '') throw new TypeError(`outbox put: dest must be a non-empty string (got ${JSON.stringify(dest)})`);
  if (item === null || typeof item !== 'object') throw bad('item', 'an object', item);
  if (typeof item.key !== 'string' || item.key === '' || item.key.length > MAX_KEY) throw bad('item.key', `a string of 1 to ${MAX_KEY} characters`, item.key);
  if (typeof item.stream !== 'string' || item.stream.length > MAX_STREAM) throw bad('item.stream', `a string of up to ${MAX_STREAM} characters`, item.stream);
  if (item.priority !== 0 && item.priority !== 1 && item.priority !== 2) throw bad('item.priority', '0 (info), 1 (warn) or 2 (critical)', item.priority);
  if (typeof item.payload !== 'string' && !Buffer.isBuffer(item.payload)) throw bad('item.payload', 'a string or a Buffer', item.payload);
  if (item.blob !== undefined && !Buffer.isBuffer(item.blob)) throw bad('item.blob', 'a Buffer', item.blob);
  if (item.waitFor !== undefined) {
    const w = item.waitFor;
    if (w === null || typeof w !== 'object' || typeof w.dest !== 'string' || w.dest === '' || typeof w.key !== 'string' || w.key === '') {
      throw bad('item.waitFor', 'an object { dest, key } of non-empty strings', w);
    }
  }
  if (item.waitMaxMs !== undefined && !(typeof item.waitMaxMs === 'number' && item.waitMaxMs >= 0 && Number.isFinite(item.waitMaxMs))) {
    throw bad('item.waitMaxMs', 'a finite number >= 0', item.waitMaxMs);
  }
}

function openError(file: string, err: unknown): Error {
  const e = err as { code?: string; message?: string };
  if (e?.message?.startsWith(`outbox ${file}`)) return err as Error;
  if (e?.code === 'SQLITE_BUSY' || e?.code === 'SQLITE_LOCKED') {
    return new Error(`outbox ${file}: in use by another process (an outbox file is opened by one process at a time)`);
  }
  if (e?.code === 'SQLITE_NOTADB') return new Error(`outbox ${file}: not an SQLite file`);
  return new Error(`outbox ${file}: cannot open: ${e?.message ?? String(err)}`);
}

const stores = new Map<string, Store>();

/**
 * A handle on the outbox file at `file` (created with its folders when missing). Handles of
 * one file in one process share a connection and its state; the file closes with the last
 * handle. Limits given by a later opener replace the earlier ones.
 */
export function openOutbox(file: string, opts: OutboxOptions = {}): Outbox {
  if (typeof file !== 'string' || file === '') throw new TypeError(`outbox: path must be a non-empty string (got ${JSON.stringify(file)})`);
  const abs = path.resolve(file);
  try {
    mkdirSync(path.dirname(abs), { recursive: true });
  } catch (err) {
    throw new Error(`outbox ${abs}: cannot create its folder: ${(err as Error).message}`);
  }
  const real = path.join(realpathSync(path.dirname(abs)), path.basename(abs));
  let store = stores.get(real);
  if (store) store.setLimits(opts);
  else {
    store = new Store(real, opts);
    stores.set(real, store);
  }
  store.refs++;
  return new Outbox(store);
}

export class Outbox {
  private store: Store | undefined;
  private readonly unsubscribers = new Set<() => void>();

  /** @internal use openOutbox */
  constructor(store: Store) {
    this.store = store;
  }

  /** The real path of the file. */
  get path(): string {
    return this.open().file;
  }

  get closed(): boolean {
    return this.store === undefined;
  }

  private open(): Store {
    if (!this.store) throw new Error('outbox: this handle is closed');
    return this.store;
  }

  /** Queue one row (an SQLite commit: durable when this returns). See the README for the full policy. */
  put(dest: string, item: OutboxItem): PutResult {
    return this.open().put(dest, item);
  }

  /**
   * Rows to send now, oldest first: the head of each stream of `dest` that is not in flight,
   * whose next attempt is due and whose dependency is settled (or waited long enough). They
   * are in flight until ack / retry / deadLetter / release (or this handle closes).
   */
  ready(dest: string, limit = 16, nowMs?: number, o: { ignoreBackoff?: boolean } = {}): OutboxRow[] {
    const s = this.open();
    if (!Number.isInteger(limit) || limit < 0) throw new TypeError(`outbox ready (dest "${dest}"): limit must be an integer >= 0 (got ${limit})`);
    return s.ready(this, dest, limit, nowMs ?? s.now(), o.ignoreBackoff === true);
  }

  /** Delivered: the row is deleted; `result` (e.g. the stored object's URL) is kept for `result()`. */
  ack(dest: string, id: number, result?: string): boolean {
    return this.open().ack(dest, id, result);
  }

  /** Failed, try again at `nextAttemptAt`: the row stays the head of its stream (order is kept). */
  retry(dest: string, id: number, o: { nextAttemptAt: number; error?: string }): boolean {
    if (typeof o?.nextAttemptAt !== 'number' || !Number.isFinite(o.nextAttemptAt)) {
      throw new TypeError(`outbox retry (dest "${dest}"): nextAttemptAt must be a finite number of ms since the epoch (got ${o?.nextAttemptAt})`);
    }
    return this.open().retry(dest, id, o.nextAttemptAt, clip(o.error, MAX_ERROR));
  }

  /** Failed for good: the row (payload too) moves to the dead-letter table; its stream goes on. */
  deadLetter(dest: string, id: number, o: { status?: number; response?: string; error?: string } = {}): boolean {
    return this.open().deadLetter(dest, id, o.status ?? null, clip(o.response, MAX_RESPONSE), clip(o.error, MAX_ERROR));
  }

  /** Hand an in-flight row back untouched (e.g. the sink is stopping). */
  release(dest: string, id: number): boolean {
    return this.open().release(dest, id);
  }

  get(dest: string, id: number): OutboxRow | undefined {
    return this.open().get(dest, id);
  }

  /** What became of a key: pending, done (with the ack's result), dead, dropped, or unknown. */
  result(dest: string, key: string): { state: ResultState; result?: string } {
    return this.open().result(dest, key);
  }

  /** Counters from memory: cheap enough to call every second. */
  stats(dest: string): OutboxStats {
    return this.open().stats(dest);
  }

  deadLetters(dest: string, limit = 100): DeadLetterRow[] {
    return this.open().deadLetters(dest, limit);
  }

  /** The most recent drops, newest first (bounded log; totals are in stats). */
  droppedLog(dest?: string, limit = 100): DroppedRow[] {
    return this.open().droppedLog(dest, limit);
  }

  /** When the earliest row of `dest` that is not ready now becomes due (retry backoff, dependency wait). */
  nextDueAt(dest: string): number | undefined {
    return this.open().nextDueAt(dest);
  }

  /** `fn` runs (in a microtask, coalesced) when something may have become ready for `dest`. */
  onWake(dest: string, fn: () => void): () => void {
    const d = this.open().dest(dest);
    d.listeners.set(fn, d.wakes);
    const off = () => {
      d.listeners.delete(fn);
      this.unsubscribers.delete(off);
    };
    this.unsubscribers.add(off);
    return off;
  }

  /**
   * Resolves when `ready(dest)` may return something new: a wake, the next due time, `maxWaitMs`
   * (default 60 s) or `signal` aborting, whichever comes first. Call it after `ready` came back
   * empty (or short).
   */
  waitForWork(dest: string, o: { signal?: AbortSignal; maxWaitMs?: number } = {}): Promise<void> {
    const s = this.open();
    return new Promise((resolve) => {
      if (o.signal?.aborted) return resolve();
      let delay = o.maxWaitMs ?? 60_000;
      const due = s.nextDueAt(dest);
      if (due !== undefined) delay = Math.min(delay, Math.max(0, due - s.now()));
      const done = () => {
        clearTimeout(timer);
        off();
        o.signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, delay);
      const off = this.onWake(dest, done);
      o.signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Release this handle: its in-flight rows become pending, and the file closes with the last handle. */
  close(): void {
    const s = this.store;
    if (!s) return;
    for (const off of [...this.unsubscribers]) off();
    s.releaseAll(this);
    this.store = undefined;
    if (--s.refs === 0) {
      stores.delete(s.file);
      s.close();
    }
  }
}
