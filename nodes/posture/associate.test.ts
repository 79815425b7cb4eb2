import { describe, expect, it } from 'vitest';
import { Associator, DEFAULT_ASSOCIATE, iou } from './associate.js';

const b = (x: number, y: number, w: number, h: number) => ({ x, y, w, h });

describe('greedy IoU association', () => {
  it('computes IoU', () => {
    expect(iou(b(0, 0, 10, 10), b(5, 0, 10, 10))).toBeCloseTo(50 / 150, 12);
    expect(iou(b(0, 0, 10, 10), b(20, 0, 10, 10))).toBe(0);
  });

  it('keeps ids across frames by best IoU first, starts new ids for the rest', () => {
    const a = new Associator();
    expect(a.assign([b(0, 0, 100, 200), b(300, 0, 100, 200)], 0)).toEqual([1, 2]);
    // listed in the other order, both moved a little
    expect(a.assign([b(310, 5, 100, 200), b(8, 0, 100, 200)], 100)).toEqual([2, 1]);
    // a third appears far away
    expect(a.assign([b(10, 0, 100, 200), b(600, 0, 50, 100), b(315, 5, 100, 200)], 200)).toEqual([1, 3, 2]);
  });

  it('a box turning from tall to wide (a fall) keeps its id by centre distance when IoU drops', () => {
    const a = new Associator();
    a.assign([b(100, 100, 60, 180)], 0);
    const wide = b(60, 200, 180, 70); // IoU with the tall box ≈ 0.13; centres 45 px apart (diagonal 190)
    expect(iou(b(100, 100, 60, 180), wide)).toBeLessThan(0.3);
    expect(a.assign([wide], 100)).toEqual([1]);
  });

  it('does not continue a track with a box of a very different size (a detection merging two people)', () => {
    const a = new Associator();
    a.assign([b(205, 156, 114, 74)], 0);
    const merged = b(16, 159, 303, 78); // IoU 0.34 with the track box, 2.8× its area
    expect(iou(b(205, 156, 114, 74), merged)).toBeGreaterThan(0.3);
    expect(a.assign([merged], 100)).toEqual([2]);
    expect(a.assign([b(201, 150, 118, 86)], 200)).toEqual([1]);
  });

  it('forgets a track unseen for more than the gap', () => {
    const a = new Associator({ ...DEFAULT_ASSOCIATE, maxGapMs: 1000 });
    a.assign([b(0, 0, 10, 20)], 0);
    expect(a.assign([b(0, 0, 10, 20)], 1000)).toEqual([1]);
    expect(a.assign([b(0, 0, 10, 20)], 2001)).toEqual([2]);
    expect(a.size).toBe(1);
  });
});
