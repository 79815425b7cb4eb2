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
    expect(collapsed.sinceMs).toBe(2700); // not moved since lying was confirmed
    expect(collapsed.t).toBe(32700);
    expect(tr.risk).toBe('critical');
  });

  it('sitting down slowly, then lying down: no fall (slower than the window), but lying still still collapses', () => {
    const tr = new FallTracker(DEFAULT_FALL);
    const ev = feed(tr, 0, 2000, () => at(STAND, 'standing'));
    feed(tr, 2000, 6000, () => at(SIT, 'sitting'), 10, ev);
    feed(tr, 6000, 40000, () => at(LIE, 'lying'), 10, ev);
    expect(ev.map((e) => e.type)).toEqual(['collapsed']);
    expect(ev[0].t).toBe(36200); // lying confirmed at 6200 (3 of 4 frames), + 30 s
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
    // the roll lasted 300 ms (confirm_ms) by 8300: the clock restarted there
    expect(ev.map((e) => [e.type, e.t, e.sinceMs])).toEqual([['collapsed', 18300, 8300]]);
    expect(moved(LIE.box, rolled.box)).toBeCloseTo(0.4, 9);
  });

  it('one odd box (a detection merged with a neighbour) is no movement: it does not restart the clock', () => {
    const tr = new FallTracker({ ...DEFAULT_FALL, immobileMs: 3000 });
    const odd = { ...LIE, box: { x: 0, y: 300, w: 600, h: 200 } };
    const ev = feed(tr, 0, 4000, (t) => at(t === 1500 || t === 1600 ? odd : LIE, 'lying'));
    expect(ev.map((e) => [e.type, e.t, e.sinceMs])).toEqual([['collapsed', 3100, 100]]);
  });

  it('with requireSkeleton, a track never seen with a skeleton raises nothing', () => {
    const opts = { ...DEFAULT_FALL, immobileMs: 2000, requireSkeleton: true };
    const boxOnly = new FallTracker(opts);
    expect(feed(boxOnly, 0, 5000, () => at(LIE, 'lying'))).toEqual([]);
    const seen = new FallTracker(opts);
    const ev = feed(seen, 0, 1000, () => ({ ...at(STAND, 'standing'), skeleton: true }));
    feed(seen, 1000, 5000, () => at(LIE, 'lying'), 10, ev); // lying person's keypoints are too faint: box only
    expect(ev.map((e) => e.type)).toEqual(['fall', 'collapsed']);
  });

  it('a one-frame lying flicker, or lying without the hips going down, is no fall', () => {
    const tr = new FallTracker(DEFAULT_FALL);
    const ev = feed(tr, 0, 2000, (t) => at(STAND, t === 1000 ? 'lying' : 'standing'));
    expect(tr.stable).toBe('standing');
    // classified lying at standing height (arms stretched out, box wide): hips stay at 350, box as tall
    feed(tr, 2000, 3000, () => ({ label: 'lying', box: { x: 0, y: 200, w: 400, h: 290 }, hipY: 352 }), 10, ev);
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

  it('down without lying flat: on the floor fast (curled up, box under 45% of standing height) is a fall; a quick sit on a chair is not', () => {
    const floor = { box: { x: 80, y: 380, w: 150, h: 120 }, hipY: 450 }; // 0.4 of the standing height, hips 100 px lower
    const chair = { box: { x: 100, y: 300, w: 120, h: 200 }, hipY: 420 }; // 0.67 of it
    const run = (down: typeof floor, label: PoseLabel) => {
      const tr = new FallTracker(DEFAULT_FALL);
      const ev = feed(tr, 0, 2000, () => at(STAND, 'standing'));
      feed(tr, 2000, 5000, () => at(down, label), 10, ev);
      return ev.map((e) => e.type);
    };
    expect(run(floor, 'sitting')).toEqual(['fall']);
    expect(run(floor, 'crouching')).toEqual(['fall']);
    expect(run(chair, 'sitting')).toEqual([]);
  });

  it('legs hidden behind something (box shrinks, hips do not go down) is no fall; a camera tilting to follow a person lying down is', () => {
    const tr = new FallTracker(DEFAULT_FALL);
    const upperHalf = { box: { x: 100, y: 200, w: 100, h: 130 }, hipY: 340 };
    const ev = feed(tr, 0, 2000, () => at(STAND, 'standing'));
    feed(tr, 2000, 4000, () => at(upperHalf, 'sitting'), 10, ev);
    expect(ev).toEqual([]);
    // the picture follows the person down: lying, hips at the same image height, box flat
    const followed = new FallTracker(DEFAULT_FALL);
    const ev2 = feed(followed, 0, 2000, () => at(STAND, 'standing'));
    feed(followed, 2000, 4000, () => at({ box: { x: 0, y: 300, w: 300, h: 100 }, hipY: 350 }, 'lying'), 10, ev2);
    expect(ev2.map((e) => e.type)).toEqual(['fall']);
  });

  it('works at a low frame rate (2 fps): two samples confirm', () => {
    const tr = new FallTracker(DEFAULT_FALL);
    const ev = feed(tr, 0, 2000, () => at(STAND, 'standing'), 2);
    feed(tr, 2000, 4000, () => at(LIE, 'lying'), 2, ev);
    expect(ev.map((e) => [e.type, e.t])).toEqual([['fall', 2500]]);
  });
});
