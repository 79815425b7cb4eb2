"""SQLite storage of the reference backend: events keyed by event_id, snapshot JPEGs in a folder.

Every write commits (WAL, synchronous=FULL) before the caller answers, so an acknowledgement
means the event is on disk. Writes are idempotent: a second event or upload with the same
event_id is counted as a duplicate and changes nothing.
"""
import datetime
import hashlib
import json
import os
import sqlite3
import threading
from typing import Any, Dict, List, Optional, Tuple

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  event_id      TEXT PRIMARY KEY,          -- lower-case UUID, the idempotency key
  stream_id     TEXT NOT NULL,
  event_type    TEXT NOT NULL,
  category      TEXT NOT NULL,
  risk_level    TEXT NOT NULL,
  timestamp_utc TEXT NOT NULL,             -- as sent
  ts_ms         INTEGER NOT NULL,          -- timestamp_utc in ms since the epoch (for ordering)
  received_at   TEXT NOT NULL,             -- when this backend stored it (UTC)
  raw_json      TEXT NOT NULL              -- the event as sent, less image_jpeg_base64
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (ts_ms DESC);
CREATE INDEX IF NOT EXISTS events_by_stream ON events (stream_id, ts_ms DESC);
CREATE TABLE IF NOT EXISTS uploads (
  event_id    TEXT PRIMARY KEY,            -- may arrive before its event
  file        TEXT NOT NULL,               -- name in the media folder
  bytes       INTEGER NOT NULL,
  sha256      TEXT NOT NULL,
  source      TEXT NOT NULL,               -- 'upload' (POST /upload) or 'inline' (image_jpeg_base64)
  received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
"""

#: What GET /stats reports (all persisted, so they survive a restart).
COUNTERS = (
    "events_received", "events_stored", "events_duplicate", "events_rejected",
    "uploads_received", "uploads_stored", "uploads_duplicate", "uploads_rejected", "unauthorized",
)


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_ms(ts: str) -> int:
    """RFC 3339 (already validated) → ms since the epoch."""
    s = ts.strip().replace("t", "T").replace(" ", "T", 1)
    if s[-1] in "Zz":
        s = s[:-1] + "+00:00"
    # fromisoformat before Python 3.11 takes at most 6 fraction digits.
    head, sep, rest = s.partition(".")
    if sep:
        digits = "".join(c for c in rest if c.isdigit())
        s = head + "." + (digits[:6].ljust(6, "0")) + rest[len(digits):]
    return int(datetime.datetime.fromisoformat(s).timestamp() * 1000)


class Store:
    def __init__(self, db_path: str, media_dir: str) -> None:
        self.db_path = os.path.abspath(db_path)
        self.media_dir = os.path.abspath(media_dir)
        os.makedirs(os.path.dirname(self.db_path), exist_ok=True)
        os.makedirs(self.media_dir, exist_ok=True)
        # One connection shared by the request threads, one writer at a time.
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # the ack means stored, also across a power cut
        self._db.executescript(SCHEMA)
        self._db.executemany("INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)", [(c,) for c in COUNTERS])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def ping(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1").fetchone()[0] == 1

    # ---- writes ----------------------------------------------------------------------------

    def count(self, *names: str) -> None:
        with self._lock:
            self._bump(names)
            # autocommit: each statement is its own transaction

    def _bump(self, names: Tuple[str, ...]) -> None:
        for n in names:
            self._db.execute("UPDATE counters SET value = value + 1 WHERE name = ?", (n,))

    def put_event(self, key: str, event: Dict[str, Any], image: Optional[bytes] = None) -> Tuple[bool, Optional[bool]]:
        """Stores the event (and its inline JPEG) unless already there.
        Returns (event stored now, upload stored now or None without an image)."""
        raw = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            has_upload = image is not None and self._has_upload(key)
            file = self._write_media(key, image) if image is not None and not has_upload else None
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO events (event_id, stream_id, event_type, category, risk_level, timestamp_utc, ts_ms, received_at, raw_json)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, event["stream_id"], event["event_type"], event["category"], event["risk_level"],
                     event["timestamp_utc"], to_ms(event["timestamp_utc"]), now_iso(), raw))
                stored = cur.rowcount == 1
                self._bump(("events_received", "events_stored" if stored else "events_duplicate"))
                upload: Optional[bool] = None
                if image is not None:
                    upload = file is not None and self._insert_upload(key, file, image, "inline")
                    self._bump(("uploads_received", "uploads_stored" if upload else "uploads_duplicate"))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return stored, upload

    def put_upload(self, key: str, image: bytes) -> bool:
        """Stores a snapshot JPEG for event `key` unless one is there; True when stored now."""
        with self._lock:
            if self._has_upload(key):
                self._bump(("uploads_received", "uploads_duplicate"))
                return False
            file = self._write_media(key, image)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                stored = self._insert_upload(key, file, image, "upload")
                self._bump(("uploads_received", "uploads_stored" if stored else "uploads_duplicate"))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return stored

    def _has_upload(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM uploads WHERE event_id = ?", (key,)).fetchone() is not None

    def _insert_upload(self, key: str, file: str, image: bytes, source: str) -> bool:
        cur = self._db.execute(
            "INSERT OR IGNORE INTO uploads (event_id, file, bytes, sha256, source, received_at) VALUES (?, ?, ?, ?, ?, ?)",
            (key, file, len(image), hashlib.sha256(image).hexdigest(), source, now_iso()))
        return cur.rowcount == 1

    def _write_media(self, key: str, image: bytes) -> str:
        """Writes the file durably (temporary name, fsync, rename) before its row commits."""
        name = key + ".jpg"
        tmp = os.path.join(self.media_dir, ".%s.%d.tmp" % (name, os.getpid()))
        with open(tmp, "wb") as f:
            f.write(image)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.media_dir, name))
        return name

    # ---- reads -----------------------------------------------------------------------------

    def stats(self) -> Dict[str, Any]:
        with self._lock:
            counters = {r["name"]: r["value"] for r in self._db.execute("SELECT name, value FROM counters")}
            events = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            uploads = self._db.execute("SELECT COUNT(*) FROM uploads").fetchone()[0]
        return {"events": events, "uploads": uploads, "counters": {c: counters.get(c, 0) for c in COUNTERS}}

    def list_events(self, limit: int, offset: int, stream_id: Optional[str], event_type: Optional[str]) -> Tuple[int, List[Dict[str, Any]]]:
        where, args = [], []  # type: List[str], List[Any]
        if stream_id is not None:
            where.append("e.stream_id = ?")
            args.append(stream_id)
        if event_type is not None:
            where.append("e.event_type = ?")
            args.append(event_type)
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        with self._lock:
            total = self._db.execute("SELECT COUNT(*) FROM events e" + cond, args).fetchone()[0]
            rows = self._db.execute(
                "SELECT e.*, u.bytes AS u_bytes, u.sha256 AS u_sha256, u.source AS u_source, u.received_at AS u_received_at"
                " FROM events e LEFT JOIN uploads u ON u.event_id = e.event_id" + cond +
                " ORDER BY e.ts_ms DESC, e.rowid DESC LIMIT ? OFFSET ?", args + [limit, offset]).fetchall()
        return total, [self._item(r) for r in rows]

    def get_event(self, key: str) -> Optional[Dict[str, Any]]:
        with self._lock:
            r = self._db.execute(
                "SELECT e.*, u.bytes AS u_bytes, u.sha256 AS u_sha256, u.source AS u_source, u.received_at AS u_received_at"
                " FROM events e LEFT JOIN uploads u ON u.event_id = e.event_id WHERE e.event_id = ?", (key,)).fetchone()
        return self._item(r) if r is not None else None

    def upload_path(self, key: str) -> Optional[str]:
        with self._lock:
            r = self._db.execute("SELECT file FROM uploads WHERE event_id = ?", (key,)).fetchone()
        return os.path.join(self.media_dir, r["file"]) if r is not None else None

    @staticmethod
    def _item(r: sqlite3.Row) -> Dict[str, Any]:
        event = json.loads(r["raw_json"])
        snapshot = event.get("snapshot") or {}
        upload = None
        if r["u_bytes"] is not None:
            upload = {"bytes": r["u_bytes"], "sha256": r["u_sha256"], "source": r["u_source"],
                      "received_at": r["u_received_at"], "href": "/events/%s/snapshot" % r["event_id"]}
        return {
            "event_id": r["event_id"], "stream_id": r["stream_id"], "event_type": r["event_type"],
            "category": r["category"], "risk_level": r["risk_level"], "timestamp_utc": r["timestamp_utc"],
            "received_at": r["received_at"], "has_upload": upload is not None, "upload": upload,
            "snapshot_url": snapshot.get("url"), "event": event,
        }
