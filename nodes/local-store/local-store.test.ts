import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Packet } from '../../src/contract.js';
import type { EventPacket } from '../../src/events/event.js';
import { eventStoreOf } from '../../src/events/stores.js';
import { buildNode, type Harness } from '../../test/support/node-harness.js';
import { waitFor } from '../../test/support/app.js';
import { fakeJpeg, makeEvent } from '../../test/support/local-store-fixtures.js';

const started: Harness[] = [];
async function start(yaml: string): Promise<Harness> {
  const h = buildNode(yaml);
  await h.instance.start!();
  started.push(h);
  return h;
}
async function stop(h: Harness): Promise<void> {
  started.splice(started.indexOf(h), 1);
  h.abort.abort();
  await h.instance.stop!();
}
afterEach(async () => {
  for (const h of started.splice(0)) { h.abort.abort(); await h.instance.stop!(); }
});

const packet = (data: unknown, stream = 'garden'): Packet => ({ streamId: stream, seq: 0, captureTimeMs: Date.now(), data });
const lastText = (h: Harness) => [...h.statuses].reverse().find((s) => s.text)?.text ?? '';

describe('local-store node', () => {
  it('stores events and summaries, counts duplicates and invalid packets, shows it in its status', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'local-store-node-')), 'ev');
    const h = await start(`{ type: local-store, dir: ${JSON.stringify(dir)} }`);
    const view = eventStoreOf(h.instance)!;
    expect(view.nodeId).toBe('n');
    const e = makeEvent();
    const p: EventPacket = { event: e, snapshot: { jpeg: fakeJpeg(4096), width: 64, height: 48 } };
    await h.instance.process!(packet(p), 'events');
    await h.instance.process!(packet(p), 'events');
    await h.instance.process!(packet({ event: { ...makeEvent(), risk_level: 'bad' } }), 'events');
    await h.instance.process!(packet({ stream_id: 'garden', track_id: 1, category: 'human', label: 'person', first_seen: 1, last_seen: 2, events: 1, suppressed: 0, max_level: 'info' }), 'summaries');
    expect(lastText(h)).toMatch(/^1 events, [\d.]+ KiB of 1\.0 GiB; 1 stored, 1 duplicates, 1 invalid/);
    expect(view.recent({ limit: 5 }).map((x) => x.event.event_id)).toEqual([e.event_id]);
    expect(view.snapshotFile(e.event_id)).toBe(path.join(dir, 'garden', e.timestamp_utc.slice(0, 10), `${e.event_id}.jpg`));
    expect(h.logs.some((l) => /invalid event, not stored/.test(l) && /risk_level/.test(l))).toBe(true);
    await stop(h);
    expect(eventStoreOf(h.instance)).toBeUndefined();
  });

  it('housekeeping runs at start and on its timer: the oldest go once the limit is passed, counted in the status', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'local-store-node-')), 'ev');
    const h = await start(`{ type: local-store, dir: ${JSON.stringify(dir)}, max_bytes: 100000, housekeeping_ms: 100 }`);
    await waitFor(() => /housekeeping .* removed 0 by age, 0 by size/.test(lastText(h)), 5000, 'first housekeeping at start');
    const evs = Array.from({ length: 10 }, (_, i) => makeEvent({ track_id: i }));
    for (const e of evs) await h.instance.process!(packet({ event: e, snapshot: { jpeg: fakeJpeg(20_000), width: 64, height: 48 } }), 'events');
    // A pass may run while the events come in: wait until the passes have brought the store
    // under the limit (the status line shows only the last pass, which may have removed 0).
    const view = eventStoreOf(h.instance)!;
    // The rows go before the pass has finished with the files and updated the status: wait for both.
    await waitFor(() => view.recent({ limit: 100 }).length === 4 && /^4 events/.test(lastText(h)), 20_000, 'housekeeping by size');
    expect(lastText(h)).toMatch(/^4 events, .*removed 0 by age, \d+ by size/);
    const kept = view.recent({ limit: 100 }).map((x) => x.event.track_id);
    expect(kept).toEqual([9, 8, 7, 6]); // 4 × ~20.6 KB fit in 100 000 bytes, 5 do not
    expect(readdirSync(path.join(dir, 'garden', evs[0].timestamp_utc.slice(0, 10)))).toHaveLength(4);
    const removed = h.logs.filter((l) => /local store housekeeping/.test(l)).map((l) => (JSON.parse(l) as { removed_by_size: number }).removed_by_size);
    expect(removed.reduce((a, b) => a + b, 0)).toBe(6);
  });

  it('a restart keeps the data; a relative dir is resolved against the working directory', async () => {
    const cwd = process.cwd();
    const base = mkdtempSync(path.join(tmpdir(), 'local-store-cwd-'));
    process.chdir(base);
    try {
      const h = await start('{ type: local-store, dir: var/events }');
      const e = makeEvent({ stream_id: 'porch' });
      await h.instance.process!(packet({ event: e, snapshot: { jpeg: fakeJpeg(1000), width: 8, height: 8 } }), 'events');
      await stop(h);
      expect(existsSync(path.join(base, 'var', 'events', 'events.db'))).toBe(true);
      expect(existsSync(path.join(base, 'var', 'events', 'porch', e.timestamp_utc.slice(0, 10), `${e.event_id}.jpg`))).toBe(true);

      const h2 = await start('{ type: local-store, dir: var/events }');
      expect(eventStoreOf(h2.instance)!.recent({ limit: 5 }).map((x) => x.event.event_id)).toEqual([e.event_id]);
      await h2.instance.process!(packet({ event: e }), 'events');
      expect(lastText(h2)).toMatch(/^1 events, .*0 stored, 1 duplicates/);
    } finally {
      process.chdir(cwd);
    }
  });

  it('bad options and an unusable folder fail with clear messages', async () => {
    expect(() => buildNode('{ type: local-store, max_bytes: 0 }')).toThrow(/max_bytes/);
    expect(() => buildNode('{ type: local-store, housekeeping_ms: "often" }')).toThrow(/housekeeping_ms/);
    const h = buildNode(`{ type: local-store, dir: ${JSON.stringify(path.join('/proc', 'version', 'events'))} }`);
    await expect(h.instance.start!()).rejects.toThrow(/cannot create event store folder \/proc\/version\/events/);
  });
});
