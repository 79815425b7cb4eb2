/**
 * The local event store: events in an SQLite file (`<dir>/events.db`, WAL) and their snapshots
 * as JPEG files under `<dir>/<stream>/<yyyy-mm-dd>/<event_id>.jpg`, with retention by age and
 * by total size. Used by the local-store node; usable on its own (tests, tools).
 *
 *   const s = await EventStore.open({ dir: '/var/lib/graphrun/events', maxAgeDays: 30, maxBytes: 1 << 30 });
 *   await s.put(eventPacket);        // { status: 'stored' | 'duplicate' | 'invalid', … }
 *   s.putSummary(trackSummary);      // 'stored' | 'duplicate' | 'invalid'
 *   await s.housekeep();             // age, then size; returns what it removed
 *   s.recent({ limit: 50 });         // most recently stored first
 *   await s.close();
 *
 * What counts toward `maxBytes`: per event, its JPEG's size plus its JSON's size (UTF-8); per
 * track summary, its JSON's size. SQLite's own overhead (indexes, free pages, the WAL) is not
 * counted: the events.db file runs larger than the JSON it holds (stats() reports its size).
 *
 * Order: "oldest" is the order of storing (stored_at, then insertion order), not the event's
 * capture time, so a camera with a wrong clock cannot make its events jump the queue.
 *
 * Writes (put) and housekeeping run one at a time: housekeeping never removes a date folder a
 * put is about to write into. A JPEG is written to a temporary name, flushed and renamed before
 * its row is committed, so a row never references a half-written file; files left by a crash
 * between the rename and the commit (or temporary files) are removed when the store opens.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { mkdir, open, readdir, rename, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { validateEvent, type EventPacket, type GraphrunEvent, type SnapshotRef, type TrackSummary } from '../../src/events/event.js';
import type { StoredEvent } from '../../src/events/stores.js';

export interface EventStoreOptions {
  /** Absolute folder for events.db and the snapshot files (created when missing). */
  dir: string;
  /** Rows stored longer ago than this are removed. */
  maxAgeDays: number;
  /** Total of snapshot files + event and track JSON above which the oldest are removed. */
  maxBytes: number;
  /** Write snapshot JPEGs (false: events only). Default true. */
  storeSnapshots?: boolean;
  /** Wall clock, ms since the epoch (tests fake it). Default Date.now. */
  now?: () => number;
}

/** A track summary, with the cooldown gate's additions when it came through the gate. */
export type SummaryInput = TrackSummary & { events?: number; suppressed?: number; max_level?: string | null };

export type PutResult =
  | { status: 'stored'; seq: number; bytes: number; key?: string }
  | { status: 'duplicate' }
  | { status: 'invalid'; errors: string[] };

export interface HousekeepingResult {
  /** Wall-clock ms when it ran. */
  at: number;
  /** Events removed for being older than maxAgeDays. */
  removedByAge: number;
  /** Events removed to bring the total under maxBytes. */
  removedBySize: number;
  /** Track summaries removed (by age or size). */
  removedTracks: number;
  filesRemoved: number;
  dirsRemoved: number;
  bytesFreed: number;
  /** Files that could not be removed (other than already gone). */
  fileErrors: number;
  /** What is stored afterwards. */
  events: number;
  bytes: number;
  ms: number;
}

export interface StoreStats {
  events: number;
  tracks: number;
  /** Counted toward maxBytes: snapshot files + event JSON + track JSON. */
  bytes: number;
  snapshotBytes: number;
  /** Size of events.db and its WAL on disk. */
  dbFileBytes: number;
}

export const DB_FILE = 'events.db';
const DAY_MS = 86_400_000;
const BATCH = 500;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_DIR = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The folder name for a stream id. Stream ids are user input (graph files, camera names): only
 * letters, digits, `_` and `-` are kept, anything else (slashes, dots — so never `..`, a hidden
 * name or `events.db` —, spaces, non-ASCII) becomes `_`, at most 80 characters; a name that had
 * to change gets a short hash of the original, so `cam/1` and `cam_1` stay apart.
 */
export function streamFolder(streamId: string): string {
  const safe = streamId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 80);
  if (safe === streamId && safe.length > 0) return safe;
  return `${safe || '_'}-${createHash('sha256').update(streamId).digest('hex').slice(0, 8)}`;
}

/** The snapshot's path relative to the store folder, `/`-separated: `<stream>/<yyyy-mm-dd>/<event_id>.jpg`. */
export function snapshotKey(e: Pick<GraphrunEvent, 'stream_id' | 'timestamp_utc' | 'event_id'>): string {
  if (!UUID.test(e.event_id)) throw new Error(`event_id ${JSON.stringify(e.event_id)} is not a UUID`);
  const t = Date.parse(e.timestamp_utc);
  if (!Number.isFinite(t)) throw new Error(`timestamp_utc ${JSON.stringify(e.timestamp_utc)} is not a date`);
  return `${streamFolder(e.stream_id)}/${new Date(t).toISOString().slice(0, 10)}/${e.event_id}.jpg`;
}

const SCHEMA_V1 = `
-- Events, one per event_id (the idempotency key). seq is insertion order.
CREATE TABLE events (
  seq INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  stream_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  category TEXT NOT NULL,
  risk_level TEXT NOT NULL,
  timestamp_utc TEXT NOT NULL,
  track_id INTEGER NOT NULL,
  stored_at INTEGER NOT NULL,
  json TEXT NOT NULL,
  snapshot_path TEXT,               -- relative to the store folder, '/'-separated
  snapshot_bytes INTEGER NOT NULL,
  bytes INTEGER NOT NULL            -- snapshot_bytes + UTF-8 length of json
);
CREATE INDEX events_stream ON events(stream_id, seq);
CREATE INDEX events_stored ON events(stored_at, seq);

-- Track summaries (bytetrack's ended tracks, enriched by the cooldown gate).
CREATE TABLE tracks (
  seq INTEGER PRIMARY KEY,
  stream_id TEXT NOT NULL,
  track_id INTEGER NOT NULL,
  category TEXT NOT NULL,
  label TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  end_reason TEXT,
  events INTEGER,
  suppressed INTEGER,
  max_level TEXT,
  stored_at INTEGER NOT NULL,
  json TEXT NOT NULL,
  bytes INTEGER NOT NULL
);
CREATE UNIQUE INDEX tracks_key ON tracks(stream_id, category, track_id, first_seen);
CREATE INDEX tracks_stored ON tracks(stored_at, seq);
`;
const MIGRATIONS = [SCHEMA_V1];

/** Folders opened by a store in this process: two stores on one folder would fight over retention. */
const openDirs = new Set<string>();

function isErr(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException)?.code === code;
}

export class EventStore {
  private chain: Promise<unknown> = Promise.resolve();
  private closing = false;
  private count = 0;
  private total = 0;
  private readonly storeSnapshots: boolean;
  private readonly now: () => number;
  /** Files removed at open: temporary files and JPEGs no row references (crash leftovers). */
  sweptFiles = 0;

  private constructor(private readonly db: Database.Database, readonly dir: string, private readonly opts: EventStoreOptions) {
    this.storeSnapshots = opts.storeSnapshots ?? true;
    this.now = opts.now ?? Date.now;
    this.refreshTotals();
  }

  /** Open (or create) the store in `opts.dir`; rejects with a message naming the folder. */
  static async open(opts: EventStoreOptions): Promise<EventStore> {
    const dir = path.resolve(opts.dir);
    if (openDirs.has(dir)) throw new Error(`event store folder ${dir} is already open in this process (two local-store nodes with the same dir?)`);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new Error(`cannot create event store folder ${dir}: ${(err as Error).message}`);
    }
    let db: Database.Database;
    try {
      db = new Database(path.join(dir, DB_FILE));
    } catch (err) {
      throw new Error(`cannot open ${path.join(dir, DB_FILE)}: ${(err as Error).message}`);
    }
    try {
      // auto_vacuum must be chosen before the first table; incremental lets housekeeping give
      // freed pages back to the file system without rewriting the whole file.
      db.pragma('auto_vacuum = INCREMENTAL');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      migrate(db, path.join(dir, DB_FILE));
    } catch (err) {
      db.close();
      throw new Error(`cannot use ${path.join(dir, DB_FILE)}: ${(err as Error).message}`);
    }
    openDirs.add(dir);
    const store = new EventStore(db, dir, { ...opts, dir });
    try {
      await store.sweep();
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  /** Run `fn` after every write and housekeeping queued before it. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.chain.then(fn);
    this.chain = r.catch(() => undefined);
    return r;
  }

  private refreshTotals(): void {
    const e = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM events').get() as { n: number; b: number };
    const t = this.db.prepare('SELECT COALESCE(SUM(bytes), 0) AS b FROM tracks').get() as { b: number };
    this.count = e.n;
    this.total = e.b + t.b;
  }

  private abs(key: string): string {
    const p = path.resolve(this.dir, ...key.split('/'));
    // The key comes from our own rows; still, never touch anything outside the folder.
    if (!p.startsWith(this.dir + path.sep)) throw new Error(`snapshot path ${key} leaves the store folder`);
    return p;
  }

  /** Store one event (and its JPEG). A second put of the same event_id is ignored. */
  put(p: EventPacket): Promise<PutResult> {
    return this.serial(async () => {
      if (this.closing) throw new Error('event store is closed');
      const errors = p && typeof p === 'object' ? validateEvent(p.event) : ['/: not an event packet'];
      if (errors.length) return { status: 'invalid', errors };
      const e = p.event;
      if (this.db.prepare('SELECT 1 FROM events WHERE event_id = ?').get(e.event_id)) return { status: 'duplicate' };
      const stored: GraphrunEvent = { ...e };
      let key: string | undefined;
      let jpegBytes = 0;
      const jpeg = p.snapshot?.jpeg;
      if (this.storeSnapshots && jpeg && jpeg.length > 0) {
        key = snapshotKey(e);
        await this.writeFile(key, jpeg);
        jpegBytes = jpeg.length;
        const ref: SnapshotRef = e.snapshot ? { ...e.snapshot } : { content_type: 'image/jpeg', width: p.snapshot!.width, height: p.snapshot!.height, bytes: jpeg.length };
        ref.bytes = jpeg.length;
        ref.key = key;
        stored.snapshot = ref;
      }
      const json = JSON.stringify(stored);
      const bytes = jpegBytes + Buffer.byteLength(json);
      let seq: number;
      try {
        const r = this.db.prepare(`INSERT OR IGNORE INTO events
          (event_id, stream_id, event_type, category, risk_level, timestamp_utc, track_id, stored_at, json, snapshot_path, snapshot_bytes, bytes)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
          .run(e.event_id, e.stream_id, e.event_type, e.category, e.risk_level, e.timestamp_utc, e.track_id, this.now(), json, key ?? null, jpegBytes, bytes);
        if (r.changes === 0) return { status: 'duplicate' }; // the file, if any, is the same path
        seq = Number(r.lastInsertRowid);
      } catch (err) {
        if (key) await unlink(this.abs(key)).catch(() => undefined);
        throw err;
      }
      this.count++;
      this.total += bytes;
      return { status: 'stored', seq, bytes, key };
    });
  }

  /** Write to a temporary name, flush, rename: the final name only ever holds a whole file. */
  private async writeFile(key: string, data: Buffer): Promise<void> {
    const file = this.abs(key);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(data);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw new Error(`cannot write snapshot ${file}: ${(err as Error).message}`);
    }
  }

  /** Store a track summary; the same track (stream, category, id, first_seen) twice is ignored. */
  putSummary(s: SummaryInput): 'stored' | 'duplicate' | 'invalid' {
    if (this.closing) throw new Error('event store is closed');
    const ok = s && typeof s === 'object' && typeof s.stream_id === 'string' && Number.isInteger(s.track_id)
      && typeof s.category === 'string' && typeof s.label === 'string' && Number.isFinite(s.first_seen) && Number.isFinite(s.last_seen);
    if (!ok) return 'invalid';
    const json = JSON.stringify(s);
    const bytes = Buffer.byteLength(json);
    const r = this.db.prepare(`INSERT OR IGNORE INTO tracks
      (stream_id, track_id, category, label, first_seen, last_seen, end_reason, events, suppressed, max_level, stored_at, json, bytes)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(s.stream_id, s.track_id, s.category, s.label, Math.round(s.first_seen), Math.round(s.last_seen), s.end_reason ?? null,
        Number.isInteger(s.events) ? s.events : null, Number.isInteger(s.suppressed) ? s.suppressed : null, typeof s.max_level === 'string' ? s.max_level : null,
        this.now(), json, bytes);
    if (r.changes === 0) return 'duplicate';
    this.total += bytes;
    return 'stored';
  }

  /**
   * Retention: remove events and track summaries stored more than maxAgeDays ago; then, while
   * the total is above maxBytes, the oldest (events with their files, and track summaries, in
   * the order they were stored) — never the newest event. Empty date and stream folders go too.
   */
  housekeep(): Promise<HousekeepingResult> {
    return this.serial(async () => {
      const t0 = performance.now();
      const at = this.now();
      const r: HousekeepingResult = { at, removedByAge: 0, removedBySize: 0, removedTracks: 0, filesRemoved: 0, dirsRemoved: 0, bytesFreed: 0, fileErrors: 0, events: 0, bytes: 0, ms: 0 };
      const dirs = new Set<string>();
      const cutoff = at - this.opts.maxAgeDays * DAY_MS;

      // Age: events in batches (each batch's files are removed after its rows are gone).
      const oldEvents = this.db.prepare('SELECT seq, snapshot_path AS path, bytes FROM events WHERE stored_at < ? ORDER BY stored_at, seq LIMIT ?');
      const delEvent = this.db.prepare('DELETE FROM events WHERE seq = ?');
      const delTrack = this.db.prepare('DELETE FROM tracks WHERE seq = ?');
      while (!this.closing) {
        const rows = oldEvents.all(cutoff, BATCH) as { seq: number; path: string | null; bytes: number }[];
        if (rows.length === 0) break;
        this.db.transaction(() => { for (const x of rows) delEvent.run(x.seq); })();
        r.removedByAge += rows.length;
        for (const x of rows) r.bytesFreed += x.bytes;
        await this.removeFiles(rows, r, dirs);
      }
      const oldTracks = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM tracks WHERE stored_at < ?').get(cutoff) as { n: number; b: number };
      if (oldTracks.n > 0) {
        this.db.prepare('DELETE FROM tracks WHERE stored_at < ?').run(cutoff);
        r.removedTracks += oldTracks.n;
        r.bytesFreed += oldTracks.b;
      }
      this.refreshTotals();

      // Size: oldest first over events and tracks together, the newest event excluded.
      const oldest = this.db.prepare(`
        SELECT k, seq, bytes, path FROM (
          SELECT 'e' AS k, seq, stored_at, bytes, snapshot_path AS path FROM events
            WHERE seq <> COALESCE((SELECT seq FROM events ORDER BY stored_at DESC, seq DESC LIMIT 1), -1)
          UNION ALL
          SELECT 't' AS k, seq, stored_at, bytes, NULL AS path FROM tracks)
        ORDER BY stored_at, k, seq LIMIT ?`);
      while (!this.closing && this.total > this.opts.maxBytes) {
        const rows = oldest.all(BATCH) as { k: 'e' | 't'; seq: number; bytes: number; path: string | null }[];
        if (rows.length === 0) break;
        const take: typeof rows = [];
        let freed = 0;
        for (const x of rows) {
          if (this.total - freed <= this.opts.maxBytes) break;
          take.push(x);
          freed += x.bytes;
        }
        this.db.transaction(() => { for (const x of take) (x.k === 'e' ? delEvent : delTrack).run(x.seq); })();
        const events = take.filter((x) => x.k === 'e');
        r.removedBySize += events.length;
        r.removedTracks += take.length - events.length;
        r.bytesFreed += freed;
        this.total -= freed;
        this.count -= events.length;
        await this.removeFiles(events, r, dirs);
      }
      await this.removeEmptyDirs(dirs, r);
      if (r.removedByAge + r.removedBySize + r.removedTracks > 0 && !this.closing) {
        this.db.pragma('incremental_vacuum');
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      }
      this.refreshTotals();
      r.events = this.count;
      r.bytes = this.total;
      r.ms = Math.round((performance.now() - t0) * 10) / 10;
      return r;
    });
  }

  private async removeFiles(rows: { path: string | null }[], r: HousekeepingResult, dirs: Set<string>): Promise<void> {
    for (const x of rows) {
      if (!x.path) continue;
      let file: string;
      try {
        file = this.abs(x.path);
      } catch {
        r.fileErrors++;
        continue;
      }
      try {
        await unlink(file);
        r.filesRemoved++;
      } catch (err) {
        if (!isErr(err, 'ENOENT')) r.fileErrors++;
      }
      dirs.add(path.dirname(file));
    }
  }

  /** Remove date folders left empty, then their stream folders if empty too. */
  private async removeEmptyDirs(dirs: Set<string>, r: { dirsRemoved: number }): Promise<void> {
    const parents = new Set<string>();
    for (const d of dirs) {
      parents.add(path.dirname(d));
      if (await rmdir(d).then(() => true, () => false)) r.dirsRemoved++;
    }
    for (const d of parents) {
      if (d === this.dir || !d.startsWith(this.dir + path.sep)) continue;
      if (await rmdir(d).then(() => true, () => false)) r.dirsRemoved++;
    }
  }

  /**
   * At open: remove temporary files and JPEGs no row references (a crash after the rename and
   * before the commit), and empty folders. Only names of this layout are touched.
   */
  private async sweep(): Promise<void> {
    const byId = this.db.prepare('SELECT snapshot_path AS path FROM events WHERE event_id = ?');
    const dirs = new Set<string>();
    const list = async (d: string) => (await readdir(d, { withFileTypes: true }).catch(() => []));
    for (const s of await list(this.dir)) {
      if (!s.isDirectory()) continue;
      for (const day of await list(path.join(this.dir, s.name))) {
        if (!day.isDirectory() || !DATE_DIR.test(day.name)) continue;
        const dayDir = path.join(this.dir, s.name, day.name);
        dirs.add(dayDir);
        for (const f of await list(dayDir)) {
          if (!f.isFile()) continue;
          const m = /^(.+)\.jpg(\.\d+\.tmp)?$/.exec(f.name);
          if (!m || !UUID.test(m[1])) continue;
          const key = `${s.name}/${day.name}/${f.name}`;
          const row = m[2] ? undefined : (byId.get(m[1]) as { path: string | null } | undefined);
          if (row?.path === key) continue;
          await unlink(path.join(dayDir, f.name)).then(() => { this.sweptFiles++; }, () => undefined);
        }
      }
    }
    await this.removeEmptyDirs(dirs, { dirsRemoved: 0 });
  }

  /** Most recently stored first. */
  recent(q: { limit: number; stream?: string }): StoredEvent[] {
    if (!this.db.open) return [];
    const limit = Math.max(1, Math.min(1000, Math.floor(q.limit)));
    const rows = (q.stream !== undefined
      ? this.db.prepare('SELECT seq, stored_at, json, snapshot_path FROM events WHERE stream_id = ? ORDER BY seq DESC LIMIT ?').all(q.stream, limit)
      : this.db.prepare('SELECT seq, stored_at, json, snapshot_path FROM events ORDER BY seq DESC LIMIT ?').all(limit)) as { seq: number; stored_at: number; json: string; snapshot_path: string | null }[];
    return rows.map((x) => ({ seq: x.seq, stored_at: x.stored_at, event: JSON.parse(x.json) as GraphrunEvent, has_snapshot: x.snapshot_path !== null }));
  }

  /** Absolute path of an event's snapshot, by event id; undefined when none is stored. */
  snapshotFile(eventId: string): string | undefined {
    if (!this.db.open || !UUID.test(eventId)) return undefined;
    const row = this.db.prepare('SELECT snapshot_path AS path FROM events WHERE event_id = ?').get(eventId) as { path: string | null } | undefined;
    if (!row?.path) return undefined;
    try {
      return this.abs(row.path);
    } catch {
      return undefined;
    }
  }

  /** One event by id (tests, tools). */
  get(eventId: string): StoredEvent | undefined {
    const x = this.db.prepare('SELECT seq, stored_at, json, snapshot_path FROM events WHERE event_id = ?').get(eventId) as { seq: number; stored_at: number; json: string; snapshot_path: string | null } | undefined;
    return x && { seq: x.seq, stored_at: x.stored_at, event: JSON.parse(x.json) as GraphrunEvent, has_snapshot: x.snapshot_path !== null };
  }

  /** Track summaries, most recently stored first. */
  tracks(limit = 100): (SummaryInput & { stored_at: number })[] {
    const rows = this.db.prepare('SELECT json, stored_at FROM tracks ORDER BY seq DESC LIMIT ?').all(limit) as { json: string; stored_at: number }[];
    return rows.map((x) => ({ ...(JSON.parse(x.json) as SummaryInput), stored_at: x.stored_at }));
  }

  stats(): StoreStats {
    const e = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b, COALESCE(SUM(snapshot_bytes), 0) AS s FROM events').get() as { n: number; b: number; s: number };
    const t = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM tracks').get() as { n: number; b: number };
    let dbFileBytes = 0;
    for (const f of [DB_FILE, `${DB_FILE}-wal`]) {
      try { dbFileBytes += statSync(path.join(this.dir, f)).size; } catch { /* not there */ }
    }
    return { events: e.n, tracks: t.n, bytes: e.b + t.b, snapshotBytes: e.s, dbFileBytes };
  }

  /** Stored events and the bytes counted toward maxBytes (kept in memory: cheap to call). */
  totals(): { events: number; bytes: number } {
    return { events: this.count, bytes: this.total };
  }

  /** Let queued writes finish (a running housekeeping stops at its next batch), then close. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.chain;
    if (this.db.open) this.db.close();
    openDirs.delete(this.dir);
  }
}

function migrate(db: Database.Database, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) throw new Error(`${file} was written by a newer graphrun (schema version ${version}, this one knows ${MIGRATIONS.length})`);
  if (version === MIGRATIONS.length) return;
  db.transaction(() => {
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  })();
}
