/**
 * local-store — the embedded event store: events into an SQLite file, snapshots as JPEG files
 * on local disk, retention by age and total size, and the status server's events page reads
 * it. The default sink for the demo and for anyone without a backend.
 *
 * Ports: in `events` (kind event: EventPacket { event, snapshot?: { jpeg, width, height } }, e.g.
 * from a snapshot node; default queue `drop_oldest: 256` — events are rare and each matters)
 * and, optional, `summaries` (kind summary: track summaries, bytetrack's or the cooldown gate's
 * with events/suppressed/max_level; default queue `drop_oldest: 256`). No outputs.
 *
 * On disk (store.ts): `<dir>/events.db` (tables events, keyed by event_id, and tracks) and
 * `<dir>/<stream>/<yyyy-mm-dd>/<event_id>.jpg`, the stream id made safe for a folder name and
 * the date the event's (UTC). The stored event JSON carries `snapshot.key`, the file's path
 * relative to `dir`. The same event_id twice is stored once (counted as a duplicate).
 *
 * Retention, every `housekeeping_ms` and once at start: rows stored more than `max_age_days`
 * ago go, with their files; then, while snapshot files + event and track JSON exceed
 * `max_bytes`, the oldest stored go (never the newest event); empty folders go too.
 *
 * ```yaml
 * store:
 *   type: local-store
 *   dir: var/events          # relative to the working directory graphrun runs in
 *   max_age_days: 30
 *   max_bytes: 1073741824    # 1 GiB
 *   inputs: { events: snap.events, summaries: gate.summaries }
 * ```
 */
import path from 'node:path';
import { defineNode, Type, type NodeInstance, type Packet } from '../../src/contract.js';
import type { EventPacket } from '../../src/events/event.js';
import { registerEventStore, unregisterEventStore } from '../../src/events/stores.js';
import { EventStore, type HousekeepingResult, type SummaryInput } from './store.js';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export const localStore = defineNode({
  type: 'local-store',
  summary: 'Events into SQLite and snapshots as JPEG files on local disk, with retention by age and size; shown on the status server\'s events page.',
  options: Type.Object({
    dir: Type.String({ minLength: 1, default: 'var/events', description: 'Folder for events.db and the snapshot files (created when missing). A relative path is resolved against the working directory of the graphrun process, not the graph file.' }),
    max_age_days: Type.Number({ exclusiveMinimum: 0, default: 30, description: 'Events and track summaries stored longer ago than this are removed, with their snapshot files.' }),
    max_bytes: Type.Integer({ minimum: 1, default: 1073741824, description: 'Limit on snapshot files + event JSON + track JSON, in bytes (default 1 GiB); above it the oldest stored are removed, never the newest event. SQLite overhead is not counted.' }),
    housekeeping_ms: Type.Integer({ minimum: 50, default: 60000, description: 'How often retention runs (it also runs once at start).' }),
    store_snapshots: Type.Boolean({ default: true, description: 'Write snapshot JPEGs. false: events only (the event keeps the snapshot metadata it came with, without a key).' }),
  }),
  inputs: {
    events: { kind: 'event', description: 'Events to store, with their snapshot JPEG when a snapshot node made one.', defaultQueue: { mode: 'drop_oldest', size: 256 } },
    summaries: { kind: 'summary', description: 'Track summaries to store (bytetrack.ended or cooldown-gate.summaries).', defaultQueue: { mode: 'drop_oldest', size: 256 }, required: false },
  },
  outputs: {},
  canPause: true,
  create(cfg, ctx) {
    const dir = path.resolve(cfg.dir);
    const m = {
      stored: ctx.metrics.counter('local_store_events_stored_total', 'Events written to the local store.'),
      duplicates: ctx.metrics.counter('local_store_duplicates_total', 'Events ignored because their event_id was already stored.'),
      invalid: ctx.metrics.counter('local_store_invalid_total', 'Packets refused: not a schema-valid event or track summary.'),
      errors: ctx.metrics.counter('local_store_write_errors_total', 'Events or summaries that could not be written (disk full, file system errors).'),
      tracks: ctx.metrics.counter('local_store_tracks_stored_total', 'Track summaries written to the local store.'),
      removedAge: ctx.metrics.counter('local_store_removed_age_total', 'Events removed by retention for their age.'),
      removedSize: ctx.metrics.counter('local_store_removed_size_total', 'Events removed by retention to stay under max_bytes.'),
      removedTracks: ctx.metrics.counter('local_store_removed_tracks_total', 'Track summaries removed by retention.'),
      events: ctx.metrics.gauge('local_store_events', 'Events in the local store.'),
      bytes: ctx.metrics.gauge('local_store_bytes', 'Bytes counted toward max_bytes: snapshot files + event and track JSON.'),
      housekeepingMs: ctx.metrics.histogram('local_store_housekeeping_ms', 'Duration of a retention pass, ms.', [1, 5, 20, 100, 500, 2000, 10000]),
    };
    let store: EventStore | undefined;
    let timer: NodeJS.Timeout | undefined;
    let stored = 0, duplicates = 0, invalid = 0, errors = 0;
    let last: HousekeepingResult | undefined;
    let lastError = '';

    function update(): void {
      if (!store) return;
      const t = store.totals();
      m.events.set(t.events);
      m.bytes.set(t.bytes);
      let text = `${t.events} events, ${formatBytes(t.bytes)} of ${formatBytes(cfg.max_bytes)}; ${stored} stored, ${duplicates} duplicates`;
      if (invalid) text += `, ${invalid} invalid`;
      if (last) text += `; housekeeping ${new Date(last.at).toISOString().slice(11, 19)}Z removed ${last.removedByAge} by age, ${last.removedBySize} by size (${last.ms} ms)`;
      if (errors) text += `; ${errors} write errors, last: ${lastError}`;
      ctx.status({ text, state: errors && lastError ? 'degraded' : 'running' });
    }

    async function housekeep(): Promise<void> {
      const s = store;
      if (!s) return;
      try {
        const r = await s.housekeep();
        last = r;
        m.removedAge.inc(r.removedByAge);
        m.removedSize.inc(r.removedBySize);
        m.removedTracks.inc(r.removedTracks);
        m.housekeepingMs.observe(r.ms);
        if (r.removedByAge + r.removedBySize + r.removedTracks > 0 || r.fileErrors > 0) {
          ctx.log.info({ removed_by_age: r.removedByAge, removed_by_size: r.removedBySize, removed_tracks: r.removedTracks, files: r.filesRemoved, dirs: r.dirsRemoved, file_errors: r.fileErrors, bytes_freed: r.bytesFreed, events: r.events, bytes: r.bytes, ms: r.ms }, 'local store housekeeping');
        }
      } catch (err) {
        if (ctx.signal.aborted) return;
        ctx.log.error({ err }, 'local store housekeeping failed');
      }
      update();
    }

    function fail(err: unknown, what: string): void {
      errors++;
      m.errors.inc();
      lastError = (err as Error)?.message ?? String(err);
      ctx.log.error({ err }, `local store: cannot store ${what}`);
      update();
    }

    const instance: NodeInstance = {
      async start() {
        store = await EventStore.open({ dir, maxAgeDays: cfg.max_age_days, maxBytes: cfg.max_bytes, storeSnapshots: cfg.store_snapshots, now: () => ctx.clock.now() });
        if (store.sweptFiles > 0) ctx.log.warn({ files: store.sweptFiles, dir }, 'local store: removed files left by an interrupted write');
        const s = store;
        registerEventStore(instance, { nodeId: ctx.id, recent: (q) => s.recent(q), snapshotFile: (id) => s.snapshotFile(id) });
        ctx.log.info({ dir, events: s.totals().events }, 'local store open');
        update();
        void housekeep();
        timer = setInterval(() => void housekeep(), cfg.housekeeping_ms);
        timer.unref(); // never the reason the process stays up
      },
      async process(packet: Packet, port: string) {
        const s = store!;
        if (port === 'summaries') {
          try {
            const r = s.putSummary(packet.data as SummaryInput);
            if (r === 'stored') m.tracks.inc();
            else if (r === 'invalid') { invalid++; m.invalid.inc(); ctx.log.warn({ stream_id: packet.streamId }, 'local store: not a track summary, ignored'); }
          } catch (err) {
            fail(err, 'a track summary');
          }
          return;
        }
        try {
          const r = await s.put(packet.data as EventPacket);
          if (r.status === 'stored') { stored++; m.stored.inc(); if (lastError) lastError = ''; }
          else if (r.status === 'duplicate') { duplicates++; m.duplicates.inc(); }
          else {
            invalid++;
            m.invalid.inc();
            ctx.log.warn({ stream_id: packet.streamId, errors: r.errors.slice(0, 10) }, 'local store: invalid event, not stored');
          }
          update();
        } catch (err) {
          fail(err, 'an event');
        }
      },
      async stop() {
        clearInterval(timer);
        unregisterEventStore(instance);
        const s = store;
        store = undefined;
        await s?.close();
      },
    };
    return instance;
  },
});
