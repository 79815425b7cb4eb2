import { describe, expect, it } from 'vitest';
import { poses, skeleton } from '../../test/support/skeleton.js';
import { classifyPosture, postureFeatures, ramp } from './classify.js';

const P = poses();

describe('posture classifier', () => {
  it('computes the geometry: torso angle, leg drop, thigh angle, hip height in the box', () => {
    const st = skeleton(P.standing);
    const f = postureFeatures(st.box, st.keypoints, 0.3);
    expect(f.torsoDeg).toBeCloseTo(0, 9);
    expect(f.legDrop).toBeCloseTo(1.75, 9);
    expect(f.thighDeg).toBeCloseTo(0, 9);
    expect(f.thighLen).toBeCloseTo(0.9, 9);
    expect(f.quality).toBeCloseTo(0.9, 9);
    const ly = skeleton(P.lying);
    const g = postureFeatures(ly.box, ly.keypoints, 0.3);
    expect(g.torsoDeg).toBeCloseTo(85, 9);
    expect(g.aspect).toBeLessThan(0.6);
    expect(ramp(5, 0, 10)).toBe(0.5);
  });

  it.each([
    ['standing', 'standing'], ['sitting', 'sitting'], ['crouching', 'crouching'], ['lying', 'lying'],
    ['bentOver', 'standing'], ['floorSit', 'sitting'],
  ] as const)('%s skeleton → %s', (pose, label) => {
    for (const facing of [1, -1] as const) {
      const s = skeleton({ ...P[pose], facing });
      const c = classifyPosture(s.box, s.keypoints);
      expect({ pose, facing, label: c.label }).toEqual({ pose, facing, label });
      expect(c.confidence).toBeGreaterThan(pose === 'bentOver' ? 0.15 : 0.5); // bent over: standing, but unsure
    }
  });

  it('lower keypoint scores lower the confidence; keypoints under the threshold are ignored (box decides)', () => {
    const hi = skeleton({ ...P.standing, score: 0.9 }), lo = skeleton({ ...P.standing, score: 0.5 });
    const a = classifyPosture(hi.box, hi.keypoints), b = classifyPosture(lo.box, lo.keypoints);
    expect(b.label).toBe('standing');
    expect(b.confidence).toBeLessThan(a.confidence);
    const none = skeleton({ ...P.lying, score: 0.1 });
    const c = classifyPosture(none.box, none.keypoints);
    expect(c.features.torsoDeg).toBeUndefined();
    expect(c.label).toBe('lying');
    expect(c.confidence).toBeLessThanOrEqual(0.5);
    expect(c.hipY).toBe(none.box.y + none.box.h / 2);
  });

  it('without keypoints: the box shape decides', () => {
    expect(classifyPosture({ x: 0, y: 0, w: 50, h: 150 }, undefined).label).toBe('standing');
    expect(classifyPosture({ x: 0, y: 0, w: 150, h: 60 }, undefined).label).toBe('lying');
    expect(classifyPosture({ x: 0, y: 0, w: 80, h: 110 }, undefined).label).toBe('sitting');
  });
});
