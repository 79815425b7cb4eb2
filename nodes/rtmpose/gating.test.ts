import { describe, expect, it } from 'vitest';
import type { Keypoint } from '../../src/contract.js';
import { carryKeypoints, PoseGate, type Decision } from './gating.js';

const box = (x: number, y: number, w: number, h: number) => ({ x, y, w, h });
const kps: Keypoint[] = [{ x: 110, y: 220, score: 0.9 }, { x: 150, y: 400, score: 0.5 }];
const runs = (ds: Decision[]) => ds.map((d) => (d.run ? d.reason : d.keypoints ? 'reuse' : 'none'));

describe('pose gating', () => {
  it('poses a new track, then every Nth frame; frames between reuse the last keypoints moved with the box', () => {
    const g = new PoseGate({ everyNFrames: 3, onNewTrack: true, onBoxChange: 0.2, maxPersons: 4, ttlMs: 1000 });
    const b = box(100, 200, 100, 200);
    expect(runs(g.plan([{ key: 'a', box: b }], 0))).toEqual(['new']);
    g.done('a', b, kps);
    expect(runs(g.plan([{ key: 'a', box: b }], 100))).toEqual(['reuse']);
    const moved = box(110, 205, 110, 220); // +10% both ways: below the 20% trigger
    const d = g.plan([{ key: 'a', box: moved }], 200)[0];
    expect(d).toEqual({ run: false, keypoints: [{ x: 121, y: 227, score: 0.9 }, { x: 165, y: 425, score: 0.5 }] });
    expect(runs(g.plan([{ key: 'a', box: b }], 300))).toEqual(['due']);
  });

  it('poses when the long side changes by more than the ratio, or the box turns upright ↔ wide (a fall); a stride is no change', () => {
    const g = new PoseGate({ everyNFrames: 0, onNewTrack: true, onBoxChange: 0.2, maxPersons: 4, ttlMs: 1000 });
    const b = box(0, 0, 100, 200);
    g.plan([{ key: 'a', box: b }], 0);
    g.done('a', b, kps);
    expect(runs(g.plan([{ key: 'a', box: box(0, 0, 119, 200) }], 100))).toEqual(['reuse']);
    // a stride: the short side swings by 50%, the height stays
    expect(runs(g.plan([{ key: 'a', box: box(0, 0, 150, 205) }], 150))).toEqual(['reuse']);
    expect(runs(g.plan([{ key: 'a', box: box(0, 0, 60, 190) }], 160))).toEqual(['reuse']);
    // sitting down: the height drops by more than 20%
    expect(runs(g.plan([{ key: 'a', box: box(0, 40, 100, 159) }], 200))).toEqual(['changed']);
    g.done('a', box(0, 40, 100, 159), kps);
    // falling: the box turns wide (its long side is now about as long: still a change)
    expect(runs(g.plan([{ key: 'a', box: box(0, 100, 170, 90) }], 250))).toEqual(['changed']);
    g.done('a', box(0, 100, 170, 90), kps);
    // lying: the long side is now the width; it stays, the height swings: no change
    expect(runs(g.plan([{ key: 'a', box: box(0, 100, 175, 60) }], 260))).toEqual(['reuse']);
    // getting up: upright again
    expect(runs(g.plan([{ key: 'a', box: box(0, 0, 100, 180) }], 270))).toEqual(['changed']);
    g.done('a', b, kps);
    // every_n_frames 0: never by count
    for (let t = 300; t < 2000; t += 100) expect(runs(g.plan([{ key: 'a', box: b }], t))).toEqual(['reuse']);
  });

  it('caps runs per frame: new tracks first (larger first), then the largest box change, then the most overdue', () => {
    const g = new PoseGate({ everyNFrames: 2, onNewTrack: true, onBoxChange: 0.2, maxPersons: 2, ttlMs: 10000 });
    const small = box(0, 0, 10, 20), big = box(100, 0, 50, 100), mid = box(300, 0, 30, 60);
    expect(runs(g.plan([{ key: 's', box: small }, { key: 'b', box: big }, { key: 'm', box: mid }], 0))).toEqual(['none', 'new', 'new']);
    g.done('b', big, kps); g.done('m', mid, kps);
    // s is still new; b changed a lot, m changed a little (both over 20%)
    const ds = g.plan([{ key: 's', box: small }, { key: 'b', box: box(100, 0, 50, 150) }, { key: 'm', box: box(300, 0, 30, 75) }], 100);
    expect(runs(ds)).toEqual(['new', 'changed', 'reuse']);
  });

  it('without on_new_track a track waits N frames for its first pose; tracks unseen past the ttl are forgotten', () => {
    const g = new PoseGate({ everyNFrames: 3, onNewTrack: false, onBoxChange: 0, maxPersons: 4, ttlMs: 500 });
    const b = box(0, 0, 10, 20);
    expect(runs(g.plan([{ key: 'a', box: b }], 0))).toEqual(['none']);
    expect(runs(g.plan([{ key: 'a', box: b }], 100))).toEqual(['none']);
    expect(runs(g.plan([{ key: 'a', box: b }], 200))).toEqual(['new']);
    g.done('a', b, kps);
    expect(g.tracks).toBe(1);
    g.plan([], 800);
    expect(g.tracks).toBe(0);
  });

  it('carries keypoints by the box transform', () => {
    expect(carryKeypoints([{ x: 10, y: 10, score: 1 }], box(0, 0, 20, 40), box(100, 100, 40, 20))).toEqual([{ x: 120, y: 105, score: 1 }]);
  });
});
