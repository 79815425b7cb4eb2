import { describe, expect, it } from 'vitest';
import type { PoseLabel } from '../../src/contract.js';
import { DEFAULT_FALL, FallTracker, moved, type Escalation } from './fall.js';

// A person 300 px tall standing with feet at y = 500: hips at 350. Lying: hips at 480.
const STAND = { box: { x: 100, y: 200, w: 100, h: 300 }, hipY: 350 };
const LIE = { box: { x: 0, y: 440, w: 300, h: 60 }, hipY: 480 };
const SIT = { box: { x: 100, y: 310, w: 120, h: 190 }, hipY: 420 };

type Step = { label: PoseLabel; box: { x: number; y: number; w: number; h: number }; hipY: number };

/** Feed `step(t)` at `fps` from t0 to t1 (exclusive); collect escalations. */
function feed(tr: FallTracker, t0: number, t1: number, step: (t: number) => Step, fps = 10, out: Escalation[] = []): Escalation[] {
  for (let t = t0; t < t1; t += 1000 / fps) out.push(...tr.update({ t, confidence: 0.8, ...step(t) }));
  return out;
}
const at = (s: typeof STAND, label: PoseLabel): Step => ({ label, ...s });

describe('fall and immobility logic (packet time)', () => {
  it('standing → lying fast: exactly one fall (warn), once lying is confirmed; lying still past immobile_ms: collapsed (critical), once', () => {
    const tr = new FallTracker(DEFAULT_FALL);
    const ev: Escalation[] = [];
    feed(tr, 0, 2000, () => at(STAND, 'standing'), 10, ev);
    expect(tr.risk).toBe('info');
    // 0.5 s of falling: labels go crouching, then lying; hips go down
    feed(tr, 2000, 2500, (t) => ({ label: 'crouching', box: STAND.box, hipY: 350 + (t - 2000) / 4 }), 10, ev);
    feed(tr, 2500, 40000, () => at(LIE, 'lying'), 10, ev);
    expect(ev.map((e) => [e.type, e.risk])).toEqual([['fall', 'warn'], ['collapsed', 'critical']]);
    const [fall, collapsed] = ev;
    expect(fall.t).toBe(2700); // lying at 2500, 2600, 2700: 3 of the 4 frames of the last 300 ms (≥ 70%)
    expect(fall.sinceMs).toBe(1900); // last standing frame
    expect(collapsed.sinceMs).toBe(2500); // not moved since the first lying frame
    expect(collapsed.t).toBe(32500);
    expect(tr.risk).toBe('critical');
  });

  it('sitting down slowly, then lying down: no fall (slower than the window), but lying still still collapses', () => {
    const tr = new FallTracker(DEFAULT_FALL);
    const ev = feed(tr, 0, 2000, () => at(STAND, 'standing'));
    feed(tr, 2000, 6000, () => at(SIT, 'sitting'), 10, ev);
    feed(tr, 6000, 40000, () => at(LIE, 'lying'), 10, ev);
    expect(ev.map((e) => e.type)).toEqual(['collapsed']);
    expect(ev[0].t).toBe(36000);
  });

  it('standing to lying slower than fall_window_ms is no fall; a little faster is', () => {
    const run = (transitionMs: number) => {
      const tr = new FallTracker(DEFAULT_FALL);
      const ev = feed(tr, 0, 2000, () => at(STAND, 'standing'));
      feed(tr, 2000, 2000 + transitionMs, () => at(SIT, 'crouching'), 10, ev);
      feed(tr, 2000 + transitionMs, 5000 + transitionMs, () => at(LIE, 'lying'), 10, ev);
      return ev.filter((e) => e.type === 'fall').length;
    };
    expect(run(1300)).toBe(1); // last standing 1900, first lying 3300: 1400 ms
    expect(run(1500)).toBe(0); // 1600 ms
    expect(run(3000)).toBe(0);
  });

  it('moving while lying restarts the immobility clock', () => {
    const tr = new FallTracker({ ...DEFAULT_FALL, immobileMs: 10000 });
    const ev = feed(tr, 0, 1000, () => at(LIE, 'lying'));
    // still for 8 s, then rolls over (box centre moves by 40% of its length), then still
    feed(tr, 1000, 8000, () => at(LIE, 'lying'), 10, ev);
    const rolled = { ...LIE, box: { ...LIE.box, x: LIE.box.x + 120 } };
    feed(tr, 8000, 15000, () => at(rolled, 'lying'), 10, ev);
    expect(ev).toEqual([]);
    // small shifts (box jitter under the 15% tolerance) do not reset it
    feed(tr, 15000, 19000, (t) => at({ ...rolled, box: { ...rolled.box, x: rolled.box.x + (t % 200 === 0 ? 20 : -20) } }, 'lying'), 10, ev);
    expect(ev.map((e) => [e.type, e.t, e.sinceMs])).toEqual([['collapsed', 18000, 8000]]);
    expect(moved(LIE.box, rolled.box)).toBeCloseTo(0.4, 9);
  });

  it('a one-frame lying flicker, or lying without the hips going down, is no fall', () => {
    const tr = new FallTracker(DEFAULT_FALL);
    const ev = feed(tr, 0, 2000, (t) => at(STAND, t === 1000 ? 'lying' : 'standing'));
    expect(tr.stable).toBe('standing');
    // classified lying at standing height (arms stretched out, box wide): hips stay at 350
    feed(tr, 2000, 3000, () => ({ label: 'lying', box: { x: 0, y: 300, w: 300, h: 120 }, hipY: 352 }), 10, ev);
    expect(tr.stable).toBe('lying');
    expect(ev).toEqual([]);
  });

  it('escalates once per lying spell; getting up ends it, and a second fall raises a second event', () => {
    const tr = new FallTracker({ ...DEFAULT_FALL, immobileMs: 5000 });
    const ev = feed(tr, 0, 1000, () => at(STAND, 'standing'));
    feed(tr, 1000, 9000, () => at(LIE, 'lying'), 10, ev);
    expect(ev.map((e) => e.type)).toEqual(['fall', 'collapsed']);
    feed(tr, 9000, 12000, () => at(STAND, 'standing'), 10, ev);
    expect(tr.risk).toBe('info');
    feed(tr, 12000, 14000, () => at(LIE, 'lying'), 10, ev);
    expect(ev.map((e) => [e.type, e.risk])).toEqual([['fall', 'warn'], ['collapsed', 'critical'], ['fall', 'warn']]);
    expect(tr.risk).toBe('warn');
  });

  it('works at a low frame rate (2 fps): two samples confirm', () => {
    const tr = new FallTracker(DEFAULT_FALL);
    const ev = feed(tr, 0, 2000, () => at(STAND, 'standing'), 2);
    feed(tr, 2000, 4000, () => at(LIE, 'lying'), 2, ev);
    expect(ev.map((e) => [e.type, e.t])).toEqual([['fall', 2500]]);
  });
});
