/**
 * The outbox file's SQLite schema and its migrations, versioned with `PRAGMA user_version`.
 *
 * To change the schema later: append a migration to MIGRATIONS (never edit a released one).
 * Opening runs every migration above the file's version in one transaction, so a file is
 * always at one version; a file newer than this code is refused rather than misread.
 */
import type Database from 'better-sqlite3';

const V1 = `
-- Pending rows, one per (dest, key). id order is put order; ids are given by the process (one
-- above the highest ever seen), not by AUTOINCREMENT, which costs a page write per insert.
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY,
  dest TEXT NOT NULL,
  key TEXT NOT NULL,
  stream TEXT NOT NULL,
  priority INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  payload BLOB NOT NULL,          -- TEXT or BLOB as put (no affinity: the type is kept)
  blob BLOB,
  wait_dest TEXT,
  wait_key TEXT,
  wait_until INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error TEXT
);
CREATE UNIQUE INDEX outbox_dest_key ON outbox(dest, key);
CREATE INDEX outbox_dest_stream ON outbox(dest, stream, id);
CREATE INDEX outbox_priority ON outbox(priority, id);

-- How a key ended (done / dead / dropped) and the destination's answer for dependants
-- (e.g. the snapshot URL). Insertion order = rowid order, which pruning relies on.
CREATE TABLE results (
  dest TEXT NOT NULL,
  key TEXT NOT NULL,
  state TEXT NOT NULL,
  result TEXT,
  at INTEGER NOT NULL
);
CREATE UNIQUE INDEX results_dest_key ON results(dest, key);

CREATE TABLE dead_letter (
  id INTEGER PRIMARY KEY,
  outbox_id INTEGER NOT NULL,
  dest TEXT NOT NULL,
  key TEXT NOT NULL,
  stream TEXT NOT NULL,
  priority INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  dead_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  payload BLOB NOT NULL,
  blob BLOB,
  status INTEGER,
  response TEXT,
  error TEXT
);
CREATE INDEX dead_letter_dest ON dead_letter(dest, id);

-- The most recent drops (evicted or refused rows), bounded; the totals are in dest_state.
CREATE TABLE dropped (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  dest TEXT NOT NULL,
  key TEXT NOT NULL,
  stream TEXT NOT NULL,
  priority INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  reason TEXT NOT NULL
);

-- Per-destination totals that must survive restarts.
CREATE TABLE dest_state (
  dest TEXT PRIMARY KEY,
  dropped_info INTEGER NOT NULL DEFAULT 0,
  dropped_warn INTEGER NOT NULL DEFAULT 0,
  dropped_critical INTEGER NOT NULL DEFAULT 0,
  evicted INTEGER NOT NULL DEFAULT 0,
  refused INTEGER NOT NULL DEFAULT 0,
  dead_letters INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  last_error_at INTEGER
) WITHOUT ROWID;
`;

/** MIGRATIONS[i] takes a file from version i to i + 1. */
const MIGRATIONS: string[] = [V1];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * The file's schema version; throws (naming the file) on a newer or foreign file. Called before
 * anything is written, so a file that is not ours is left as it was.
 */
export function checkVersion(db: Database.Database, file: string): number {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(`outbox ${file}: written by a newer graphrun (schema version ${version}; this one reads up to ${SCHEMA_VERSION})`);
  }
  if (version === 0) {
    const tables = db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).get() as { n: number };
    if (tables.n > 0) throw new Error(`outbox ${file}: an SQLite file that is not a graphrun outbox (it has tables but no outbox schema version)`);
  }
  return version;
}

/** Bring the file to SCHEMA_VERSION. */
export function migrate(db: Database.Database, file: string): void {
  const version = checkVersion(db, file);
  if (version === SCHEMA_VERSION) return;
  db.transaction(() => {
    for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}
