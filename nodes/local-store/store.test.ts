import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { validateEvent, type EventPacket, type GraphrunEvent } from '../../src/events/event.js';
import { fakeJpeg, makeEvent, T0 } from '../../test/support/local-store-fixtures.js';
import { DB_FILE, EventStore, snapshotKey, streamFolder, type EventStoreOptions } from './store.js';

const DAY = 86_400_000;

const withJpeg = (event: GraphrunEvent, jpeg: Buffer): EventPacket => ({
  event: { ...event, snapshot: { content_type: 'image/jpeg', width: 640, height: 360, bytes: jpeg.length } },
  snapshot: { jpeg, width: 640, height: 360 },
});

/** Every file under `dir`, relative, `/`-separated. */
function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r); else out.push(r);
    }
  };
  walk(dir, '');
  return out.sort();
}

const open: EventStore[] = [];
let root = '';
async function openStore(o: Partial<EventStoreOptions> = {}): Promise<EventStore> {
  if (!o.dir) root = mkdtempSync(path.join(tmpdir(), 'local-store-'));
  const s = await EventStore.open({ dir: path.join(root, 'events'), maxAgeDays: 30, maxBytes: 1 << 30, ...o });
  open.push(s);
  return s;
}
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

describe('event store', () => {
  it('stores events with and without snapshots: <stream>/<date>/<event_id>.jpg, snapshot.key in the JSON, schema-valid', async () => {
    const s = await openStore();
    const jpeg = fakeJpeg(5000);
    const a = makeEvent({ stream_id: 'front-door', timestamp_utc: '2026-07-01T23:59:59.900Z' });
    const b = makeEvent({ stream_id: 'front-door', event_type: 'fall', risk_level: 'warn', since_utc: '2026-07-02T00:00:01.000Z', timestamp_utc: '2026-07-02T00:00:02.000Z' });
    const ra = await s.put(withJpeg(a, jpeg));
    const rb = await s.put({ event: b });
    expect(ra).toMatchObject({ status: 'stored', key: `front-door/2026-07-01/${a.event_id}.jpg` });
    expect(rb).toMatchObject({ status: 'stored' });
    expect(rb.status === 'stored' && rb.key).toBeFalsy();

    expect(files(s.dir)).toEqual([`front-door/2026-07-01/${a.event_id}.jpg`, DB_FILE, `${DB_FILE}-shm`, `${DB_FILE}-wal`].sort());
    expect(readFileSync(path.join(s.dir, 'front-door', '2026-07-01', `${a.event_id}.jpg`)).equals(jpeg)).toBe(true);

    const sa = s.get(a.event_id)!;
    expect(sa.has_snapshot).toBe(true);
    expect(sa.event.snapshot).toEqual({ content_type: 'image/jpeg', width: 640, height: 360, bytes: 5000, key: `front-door/2026-07-01/${a.event_id}.jpg` });
    expect(validateEvent(sa.event)).toEqual([]);
    expect(sa.event).toEqual({ ...a, snapshot: sa.event.snapshot });
    const sb = s.get(b.event_id)!;
    expect(sb.has_snapshot).toBe(false);
    expect(sb.event).toEqual(b);
    expect(s.snapshotFile(a.event_id)).toBe(path.join(s.dir, 'front-door', '2026-07-01', `${a.event_id}.jpg`));
    expect(s.snapshotFile(b.event_id)).toBeUndefined();

    // Newest stored first; per stream.
    expect(s.recent({ limit: 10 }).map((e) => e.event.event_id)).toEqual([b.event_id, a.event_id]);
    expect(s.recent({ limit: 10, stream: 'other' })).toEqual([]);
    // What counts: the JPEG plus the stored JSON.
    expect(s.totals()).toEqual({ events: 2, bytes: 5000 + Buffer.byteLength(JSON.stringify(sa.event)) + Buffer.byteLength(JSON.stringify(b)) });
    expect(s.stats()).toMatchObject({ events: 2, snapshotBytes: 5000, bytes: s.totals().bytes });
  });

  it('a snapshot without event metadata gets it; store_snapshots false writes no file', async () => {
    const s = await openStore({ storeSnapshots: false });
    const e = makeEvent();
    expect(await s.put(withJpeg(e, fakeJpeg(3000)))).toMatchObject({ status: 'stored' });
    expect(files(s.dir).filter((f) => f.endsWith('.jpg'))).toEqual([]);
    expect(s.get(e.event_id)!.event.snapshot).toEqual({ content_type: 'image/jpeg', width: 640, height: 360, bytes: 3000 });

    const s2 = await openStore({ dir: path.join(root, 'two') });
    const f = makeEvent();
    await s2.put({ event: f, snapshot: { jpeg: fakeJpeg(2000), width: 320, height: 240 } });
    expect(s2.get(f.event_id)!.event.snapshot).toMatchObject({ content_type: 'image/jpeg', width: 320, height: 240, bytes: 2000, key: snapshotKey(f) });
    expect(validateEvent(s2.get(f.event_id)!.event)).toEqual([]);
  });

  it('a duplicate event_id is ignored: one row, the first file kept', async () => {
    const s = await openStore();
    const e = makeEvent();
    const first = fakeJpeg(4000);
    expect((await s.put(withJpeg(e, first))).status).toBe('stored');
    expect(await s.put(withJpeg(e, fakeJpeg(4000)))).toEqual({ status: 'duplicate' });
    expect(await s.put({ event: { ...e, track_id: 99 } })).toEqual({ status: 'duplicate' });
    expect(s.totals().events).toBe(1);
    expect(s.get(e.event_id)!.event.track_id).toBe(7);
    expect(readFileSync(s.snapshotFile(e.event_id)!).equals(first)).toBe(true);
  });

  it('refuses invalid events with the schema errors, and writes nothing for them', async () => {
    const s = await openStore();
    const bad = { ...makeEvent(), event_id: '../../../etc/passwd' } as GraphrunEvent;
    const r = await s.put(withJpeg(bad, fakeJpeg(1000)));
    expect(r.status).toBe('invalid');
    expect(r.status === 'invalid' && r.errors.join('\n')).toMatch(/event_id/);
    const missing = makeEvent() as Partial<GraphrunEvent>;
    delete missing.timestamp_utc;
    const r2 = await s.put({ event: missing as GraphrunEvent });
    expect(r2.status === 'invalid' && r2.errors.join('\n')).toMatch(/timestamp_utc/);
    expect(await s.put(null as unknown as EventPacket)).toMatchObject({ status: 'invalid' });
    expect(s.totals().events).toBe(0);
    expect(files(s.dir).filter((f) => !f.startsWith(DB_FILE))).toEqual([]);
    expect(() => snapshotKey({ stream_id: 'a', timestamp_utc: '2026-01-01T00:00:00Z', event_id: '../x' })).toThrow(/not a UUID/);
  });

  it('stream ids are made safe for the file system: no .., no slashes, nothing outside the folder', async () => {
    const s = await openStore();
    const ids = ['../../etc', '..', '.', '.hidden', 'a/b', 'a\\b', '/abs/path', 'cam 1', 'kamera-ü', 'events.db', 'x'.repeat(200), 'cam/1', 'cam_1', 'front-door'];
    const folders = new Map<string, string>();
    for (const id of ids) {
      const e = makeEvent({ stream_id: id });
      const r = await s.put(withJpeg(e, fakeJpeg(500)));
      expect(r.status, id).toBe('stored');
      const file = s.snapshotFile(e.event_id)!;
      const rel = path.relative(s.dir, file);
      expect(rel.startsWith('..') || path.isAbsolute(rel), `${id} → ${rel}`).toBe(false);
      const [folder, day, name] = rel.split(path.sep);
      expect(folder, id).toMatch(/^[A-Za-z0-9_-]{1,90}$/);
      expect(day).toBe('2026-07-01');
      expect(name).toBe(`${e.event_id}.jpg`);
      expect(existsSync(file)).toBe(true);
      folders.set(id, folder);
      expect(s.get(e.event_id)!.event.stream_id).toBe(id); // the event keeps the real id
    }
    expect(new Set(folders.values()).size).toBe(ids.length);
    expect(folders.get('front-door')).toBe('front-door');
    expect(streamFolder('cam_1')).toBe('cam_1');
    expect(streamFolder('cam/1')).not.toBe('cam_1');
    // Nothing was created beside the store folder.
    expect(readdirSync(root)).toEqual(['events']);
    expect(s.recent({ limit: 100, stream: '../../etc' }).map((e) => e.event.stream_id)).toEqual(['../../etc']);
  });

  it('retention by size: 100 events of 30 KB under a 1 MB limit keep the newest that fit, rows and files; old date folders go', async () => {
    let now = T0;
    const s = await openStore({ maxBytes: 1048576, now: () => now });
    const ids: string[] = [];
    const bytes = new Map<string, number>();
    for (let i = 0; i < 100; i++) {
      now = T0 + i * 60_000;
      // Spread over 5 days of capture time, 20 per day.
      const e = makeEvent({ stream_id: 'garden', timestamp_utc: new Date(T0 + Math.floor(i / 20) * DAY + i * 1000).toISOString(), track_id: i });
      const r = await s.put(withJpeg(e, fakeJpeg(30 * 1024)));
      if (r.status !== 'stored') throw new Error(r.status);
      ids.push(e.event_id);
      bytes.set(e.event_id, r.bytes);
    }
    const before = s.totals();
    expect(before.events).toBe(100);
    expect(before.bytes).toBeGreaterThan(100 * 30 * 1024);
    expect(readdirSync(path.join(s.dir, 'garden')).sort()).toEqual(['2026-07-01', '2026-07-02', '2026-07-03', '2026-07-04', '2026-07-05']);

    const r = await s.housekeep();
    const after = s.totals();
    expect(after.bytes).toBeLessThanOrEqual(1048576);
    const kept = s.recent({ limit: 1000 }).map((e) => e.event.event_id).reverse();
    const k = kept.length;
    // The newest k, in order; and no more removed than needed: one more would not fit.
    expect(kept).toEqual(ids.slice(100 - k));
    expect(after.bytes + bytes.get(ids[100 - k - 1])!).toBeGreaterThan(1048576);
    expect(k).toBeGreaterThanOrEqual(30);
    expect(k).toBeLessThanOrEqual(34);
    expect(r).toMatchObject({ removedByAge: 0, removedBySize: 100 - k, filesRemoved: 100 - k, fileErrors: 0, events: k, bytes: after.bytes });
    expect(r.bytesFreed).toBe(before.bytes - after.bytes);
    // Files: exactly those of the kept events; their total within the limit.
    const jpgs = files(s.dir).filter((f) => f.endsWith('.jpg'));
    expect(jpgs.map((f) => path.basename(f, '.jpg')).sort()).toEqual([...kept].sort());
    const onDisk = jpgs.reduce((n, f) => n + statSync(path.join(s.dir, f)).size, 0);
    expect(onDisk).toBeLessThanOrEqual(1048576);
    for (const id of ids.slice(0, 100 - k)) {
      expect(s.get(id)).toBeUndefined();
      expect(s.snapshotFile(id)).toBeUndefined();
    }
    // The first days held only removed events: their folders are gone.
    const keptDays = [...new Set(ids.slice(100 - k).map((_, j) => Math.floor((100 - k + j) / 20)))].map((d) => new Date(T0 + d * DAY).toISOString().slice(0, 10));
    expect(keptDays).toEqual(['2026-07-04', '2026-07-05']);
    expect(readdirSync(path.join(s.dir, 'garden')).sort()).toEqual(keptDays);
    expect(r.dirsRemoved).toBe(3);

    // Nothing more to do the second time.
    expect(await s.housekeep()).toMatchObject({ removedBySize: 0, removedByAge: 0, events: k });
  });

  it('retention never removes the newest event, even alone above the limit', async () => {
    const s = await openStore({ maxBytes: 10_000 });
    const a = makeEvent(), b = makeEvent();
    await s.put(withJpeg(a, fakeJpeg(20_000)));
    await s.put(withJpeg(b, fakeJpeg(20_000)));
    const r = await s.housekeep();
    expect(r.removedBySize).toBe(1);
    expect(s.recent({ limit: 10 }).map((e) => e.event.event_id)).toEqual([b.event_id]);
    expect(existsSync(s.snapshotFile(b.event_id)!)).toBe(true);
  });

  it('retention by age (fake clock): rows and track summaries stored before max_age_days go, with their files', async () => {
    let now = T0;
    const s = await openStore({ maxAgeDays: 30, now: () => now });
    const at = [-40, -31, -29.9, -1].map((d) => T0 + d * DAY);
    const evs = at.map((t, i) => makeEvent({ stream_id: 'yard', timestamp_utc: new Date(t).toISOString(), track_id: i }));
    for (let i = 0; i < evs.length; i++) {
      now = at[i];
      await s.put(withJpeg(evs[i], fakeJpeg(1000)));
      s.putSummary({ stream_id: 'yard', track_id: i, category: 'human', label: 'person', first_seen: at[i] - 5000, last_seen: at[i], end_reason: 'lost', events: 1, suppressed: 3, max_level: 'info' });
    }
    const oldFiles = evs.slice(0, 2).map((e) => s.snapshotFile(e.event_id)!);
    expect(oldFiles.every((f) => existsSync(f))).toBe(true);
    now = T0;
    const r = await s.housekeep();
    expect(r).toMatchObject({ removedByAge: 2, removedBySize: 0, removedTracks: 2, filesRemoved: 2, events: 2 });
    expect(s.recent({ limit: 10 }).map((e) => e.event.track_id)).toEqual([3, 2]);
    expect(s.tracks().map((t) => t.track_id)).toEqual([3, 2]);
    for (const f of oldFiles) expect(existsSync(f)).toBe(false);
    // The date folders of the removed events are gone; the others stay.
    expect(readdirSync(path.join(s.dir, 'yard')).sort()).toEqual([new Date(at[2]).toISOString().slice(0, 10), new Date(at[3]).toISOString().slice(0, 10)].sort());
    // Everything ages out eventually, the newest too.
    now = T0 + 40 * DAY;
    expect(await s.housekeep()).toMatchObject({ removedByAge: 2, events: 0, bytes: 0 });
    expect(existsSync(path.join(s.dir, 'yard'))).toBe(false);
  });

  it('track summaries: stored once, counted toward the limit, invalid ones refused', async () => {
    const s = await openStore();
    const t = { stream_id: 'g', track_id: 4, category: 'wildlife', label: 'dog', first_seen: T0, last_seen: T0 + 9000, end_reason: 'input_ended' as const, events: 2, suppressed: 40, max_level: 'medium' };
    expect(s.putSummary(t)).toBe('stored');
    expect(s.putSummary(t)).toBe('duplicate');
    expect(s.putSummary({ ...t, track_id: 1.5 })).toBe('invalid');
    expect(s.putSummary(null as never)).toBe('invalid');
    expect(s.tracks()).toEqual([{ ...t, stored_at: expect.any(Number) }]);
    expect(s.totals().bytes).toBe(Buffer.byteLength(JSON.stringify(t)));
  });

  it('a restart keeps the data; files left by an interrupted write are swept, referenced ones kept', async () => {
    const s = await openStore();
    const a = makeEvent({ stream_id: 'cam' });
    await s.put(withJpeg(a, fakeJpeg(2000)));
    s.putSummary({ stream_id: 'cam', track_id: 1, category: 'human', label: 'person', first_seen: T0, last_seen: T0 + 1 });
    const dir = s.dir;
    await s.close();
    open.splice(0);
    // A crash after the rename and before the commit, and one in the middle of a write.
    const orphan = path.join(dir, 'cam', '2026-07-01', `${randomUUID()}.jpg`);
    const tmp = path.join(dir, 'cam', '2026-07-01', `${randomUUID()}.jpg.4242.tmp`);
    const other = path.join(dir, 'cam', '2026-07-01', 'notes.txt'); // not ours: left alone
    mkdirSync(path.join(dir, 'old', '2026-01-01'), { recursive: true });
    for (const f of [orphan, tmp, other]) writeFileSync(f, 'x');

    const s2 = await openStore({ dir });
    expect(s2.sweptFiles).toBe(2);
    expect(existsSync(orphan) || existsSync(tmp)).toBe(false);
    expect(existsSync(other)).toBe(true);
    expect(existsSync(path.join(dir, 'old'))).toBe(false);
    expect(s2.recent({ limit: 10 }).map((e) => e.event.event_id)).toEqual([a.event_id]);
    expect(existsSync(s2.snapshotFile(a.event_id)!)).toBe(true);
    expect(s2.tracks()).toHaveLength(1);
    expect(await s2.put({ event: a })).toEqual({ status: 'duplicate' });
  });

  it('clear errors: a folder already open in this process, a folder that is a file', async () => {
    const s = await openStore();
    await expect(EventStore.open({ dir: s.dir, maxAgeDays: 1, maxBytes: 1 })).rejects.toThrow(/already open in this process/);
    const file = path.join(root, 'plain-file');
    writeFileSync(file, 'x');
    await expect(EventStore.open({ dir: file, maxAgeDays: 1, maxBytes: 1 })).rejects.toThrow(new RegExp(`cannot create event store folder ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    await s.close();
    const again = await EventStore.open({ dir: s.dir, maxAgeDays: 1, maxBytes: 1 });
    open.push(again);
    expect(again.totals().events).toBe(0);
  });
});
