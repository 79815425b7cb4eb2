import { describe, expect, it } from 'vitest';
import { DEFAULT_GATE, StreamGate, type Sighting } from './gate.js';

const box = (x: number, y = 100, w = 50, h = 120) => ({ x, y, w, h });
const person = (trackId: number, x = 100, o: Partial<Sighting> = {}): Sighting => ({ trackId, category: 'human', score: 0.8, level: 0, box: box(x), ...o });
const reasons = (g: StreamGate, t: number, s: Sighting[]) => g.frame(t, s).map((d) => (d.emit ? d.reason : '-'));

describe('cooldown gate (fake time: packet times are plain numbers)', () => {
  it('first sighting raises; the same track inside the window is suppressed and counted; after the window it raises again', () => {
    const g = new StreamGate({ ...DEFAULT_GATE, cooldownMs: 10_000, extendOnSighting: false });
    expect(reasons(g, 0, [person(1)])).toEqual(['first_sighting']);
    for (let t = 100; t <= 10_000; t += 100) expect(reasons(g, t, [person(1)])).toEqual(['-']);
    expect(g.suppressed).toBe(100);
    expect(reasons(g, 10_100, [person(1)])).toEqual(['after_cooldown']);
    expect(reasons(g, 10_200, [person(1)])).toEqual(['-']);
  });

  it('extend_on_sighting (default): one event per continuous presence; after an absence longer than the window, a new one', () => {
    const g = new StreamGate({ ...DEFAULT_GATE, cooldownMs: 10_000 });
    let n = 0;
    for (let t = 0; t <= 60_000; t += 100) n += g.frame(t, [person(1)]).filter((d) => d.emit).length;
    expect(n).toBe(1);
    expect(reasons(g, 69_000, [person(1)])).toEqual(['-']); // gone 9 s: same incident
    expect(reasons(g, 80_000, [person(1)])).toEqual(['first_sighting']); // gone 11 s: forgotten, a new incident
  });

  it('escalation bypasses the window at once: info → warn (fall) → critical (collapsed); a drop follows silently; a second fall escalates again', () => {
    const g = new StreamGate({ ...DEFAULT_GATE, cooldownMs: 10_000 });
    expect(reasons(g, 0, [person(7)])).toEqual(['first_sighting']);
    expect(reasons(g, 500, [person(7, 100, { level: 1, score: 0.15 })])).toEqual(['escalation']);
    expect(reasons(g, 600, [person(7, 100, { level: 1, score: 0.15 })])).toEqual(['-']);
    expect(reasons(g, 700, [person(7, 100, { level: 2, score: 0.12 })])).toEqual(['escalation']);
    expect(reasons(g, 800, [person(7, 100, { level: 2 })])).toEqual(['-']);
    expect(reasons(g, 2_000, [person(7, 100, { level: 0 })])).toEqual(['-']); // stood up
    expect(reasons(g, 3_000, [person(7, 100, { level: 1 })])).toEqual(['escalation']); // fell again
    const st = g.keys.get('human#7')!;
    expect(st.events).toBe(4);
    expect(st.maxLevel).toBe(2);
  });

  it('a low score does not raise info events, but a risk raises at any score', () => {
    const g = new StreamGate({ ...DEFAULT_GATE });
    expect(reasons(g, 0, [person(1, 100, { score: 0.2 })])).toEqual(['-']);
    expect(reasons(g, 100, [person(1, 100, { score: 0.35 })])).toEqual(['first_sighting']);
    expect(reasons(g, 0, [person(2, 500, { score: 0.12, level: 2 })])).toEqual(['first_sighting']);
  });

  it('returning track: a new id where a recently lost one of the same category was is the same incident; elsewhere, another category or too late is new', () => {
    const g = new StreamGate({ ...DEFAULT_GATE, cooldownMs: 10_000, returningIou: 0.3 });
    expect(reasons(g, 0, [person(1, 100)])).toEqual(['first_sighting']);
    expect(reasons(g, 3_000, [person(2, 110)])).toEqual(['-']); // id churn, same place
    expect(g.merges).toBe(1);
    expect(g.keys.get('human#2')!.formerIds).toEqual([1]);
    expect(reasons(g, 3_100, [person(3, 600)])).toEqual(['first_sighting']); // elsewhere
    expect(reasons(g, 3_200, [{ ...person(4, 110), category: 'wildlife' }])).toEqual(['first_sighting']); // a dog where the person was
    // Not while the old track is still in the frame: two people side by side are two incidents.
    expect(reasons(g, 3_300, [person(2, 110), person(5, 115)])).toEqual(['-', 'first_sighting']);
    // Too late: 11 s after the last sighting.
    const h = new StreamGate({ ...DEFAULT_GATE, cooldownMs: 10_000 });
    h.frame(0, [person(1, 100)]);
    expect(reasons(h, 11_000, [person(2, 100)])).toEqual(['first_sighting']);
  });

  it('memory stays bounded: 100,000 distinct tracks passing through keep only those inside the window', () => {
    const g = new StreamGate({ ...DEFAULT_GATE, cooldownMs: 10_000, returningIou: 2 }); // no merging: every track distinct
    let emitted = 0;
    // A new track every 10 ms of packet time, each seen once, in 350 places.
    for (let i = 0; i < 100_000; i++) {
      const t = i * 10;
      const ds = g.frame(t, [person(i + 1, (i % 50) * 100, { box: box((i % 50) * 100, (i % 7) * 150) })]);
      emitted += ds.filter((d) => d.emit).length;
    }
    // Window 10 s at one new track per 10 ms: about 1000 keys (+ the sweep's 250 ms slack).
    expect(g.keys.size).toBeLessThanOrEqual(1100);
    expect(g.forgotten).toBeGreaterThanOrEqual(100_000 - 1100);
    expect(emitted).toBe(100_000);
    // The hard cap holds too.
    const capped = new StreamGate({ ...DEFAULT_GATE, cooldownMs: 1e9, maxKeys: 500, returningIou: 2 });
    for (let i = 0; i < 100_000; i++) capped.frame(i, [person(i + 1)]);
    expect(capped.keys.size).toBe(500);
  });
});
