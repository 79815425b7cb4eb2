import { describe, expect, it } from 'vitest';
import { containsPoint, openRing, polygonProblem, preparePolygon, segmentsIntersect, type Point } from './polygon.js';

const square = preparePolygon([[10, 10], [20, 10], [20, 20], [10, 20]]);
// A U shape opening upwards (y down, as in pictures): the notch x 13–17, y 10–16 is outside.
const U: Point[] = [[10, 10], [13, 10], [13, 16], [17, 16], [17, 10], [20, 10], [20, 20], [10, 20]];
const u = preparePolygon(U);

describe('containsPoint', () => {
  it('inside and outside a square', () => {
    expect(containsPoint(square, 15, 15)).toBe(true);
    expect(containsPoint(square, 10.5, 19.5)).toBe(true);
    expect(containsPoint(square, 5, 15)).toBe(false);
    expect(containsPoint(square, 25, 15)).toBe(false);
    expect(containsPoint(square, 15, 20.01)).toBe(false);
    expect(containsPoint(square, 15, 9.99)).toBe(false);
  });

  it('a point exactly on an edge is inside, on every side', () => {
    for (const [x, y] of [[15, 10], [20, 15], [15, 20], [10, 15]]) expect(containsPoint(square, x, y), `${x},${y}`).toBe(true);
  });

  it('a point exactly on a vertex is inside', () => {
    for (const [x, y] of [[10, 10], [20, 10], [20, 20], [10, 20]]) expect(containsPoint(square, x, y), `${x},${y}`).toBe(true);
  });

  it('on a slanted edge, including rounding from scaling fractions to pixels', () => {
    const tri = preparePolygon([[0, 0], [0.3 * 1920, 0.7 * 1080], [0, 0.7 * 1080]]);
    // The midpoint of the slanted edge, computed another way than the vertices were.
    expect(containsPoint(tri, (0.3 * 1920) / 2, (0.7 * 1080) / 2)).toBe(true);
    expect(containsPoint(tri, (0.3 * 1920) / 2 + 0.01, (0.7 * 1080) / 2)).toBe(false);
    expect(containsPoint(tri, (0.3 * 1920) / 2 - 0.01, (0.7 * 1080) / 2)).toBe(true);
  });

  it('concave polygon: the notch is outside, the arms and the base inside, the notch edges on the boundary', () => {
    expect(containsPoint(u, 15, 12)).toBe(false); // in the notch
    expect(containsPoint(u, 15, 16)).toBe(true); // on the notch floor
    expect(containsPoint(u, 13, 12)).toBe(true); // on the notch wall
    expect(containsPoint(u, 11, 12)).toBe(true); // left arm
    expect(containsPoint(u, 19, 12)).toBe(true); // right arm
    expect(containsPoint(u, 15, 18)).toBe(true); // base
    expect(containsPoint(u, 15, 21)).toBe(false);
    // A ray from a point level with the notch vertices crosses them without being miscounted.
    expect(containsPoint(u, 11, 16)).toBe(true);
    expect(containsPoint(u, 9, 16)).toBe(false);
    expect(containsPoint(u, 21, 16)).toBe(false);
  });

  it('agrees with a brute-force grid on a concave star (no point classified by chance)', () => {
    const star: Point[] = [];
    for (let i = 0; i < 10; i++) {
      const r = i % 2 ? 4 : 10, a = (Math.PI * 2 * i) / 10;
      star.push([50 + r * Math.cos(a), 50 + r * Math.sin(a)]);
    }
    expect(polygonProblem(star)).toBeUndefined();
    const p = preparePolygon(star);
    // Independent check: a point is inside a star iff it is inside one of the 10 triangles (centre, vertex i, vertex i+1).
    const inTri = (x: number, y: number, a: Point, b: Point, c: Point) => {
      const s = (p1: Point, p2: Point) => (p2[0] - p1[0]) * (y - p1[1]) - (p2[1] - p1[1]) * (x - p1[0]);
      const d1 = s(a, b), d2 = s(b, c), d3 = s(c, a);
      return !((d1 < 0 || d2 < 0 || d3 < 0) && (d1 > 0 || d2 > 0 || d3 > 0));
    };
    let inside = 0;
    for (let x = 38.33; x < 62; x += 0.7) {
      for (let y = 38.17; y < 62; y += 0.7) {
        const want = star.some((v, i) => inTri(x, y, [50, 50], v, star[(i + 1) % 10]));
        expect(containsPoint(p, x, y), `${x},${y}`).toBe(want);
        if (want) inside++;
      }
    }
    expect(inside).toBeGreaterThan(100);
  });
});

describe('polygonProblem', () => {
  it('accepts convex and concave simple polygons', () => {
    expect(polygonProblem([[0, 0], [1, 0], [0, 1]])).toBeUndefined();
    expect(polygonProblem(U)).toBeUndefined();
  });

  it('names what is wrong', () => {
    expect(polygonProblem([[0, 0], [1, 1]])).toBe('needs at least 3 points (got 2)');
    expect(polygonProblem([[0, 0], [1, 0], [1, 0], [0, 1]])).toMatch(/points 2 and 3 are the same/);
    expect(polygonProblem([[0, 0], [1, 1], [2, 2]])).toMatch(/no area/);
    expect(polygonProblem([[0, 0], [1, 0], [0, 1], [1, 1]])).toMatch(/self-intersecting: edge 2 \(points 2–3\) crosses or touches edge 4 \(points 4–1\)/); // a bow tie
    expect(polygonProblem([[0, 0], [2, 0], [1, 0], [1, 1]])).toMatch(/self-intersecting.*fold back/); // a spike back along an edge
    // A vertex touching another edge (two squares meeting at a point) is not simple either.
    expect(polygonProblem([[0, 0], [2, 0], [2, 2], [1, 1], [0, 2]])).toBeUndefined(); // arrow, fine
    expect(polygonProblem([[0, 0], [4, 0], [4, 2], [2, 0], [0, 2]])).toMatch(/self-intersecting/);
    expect(polygonProblem([[0, 0], [1, Number.NaN], [0, 1]])).toMatch(/point 2 is not/);
  });

  it('openRing drops a repeated closing point only', () => {
    expect(openRing([[0, 0], [1, 0], [0, 1], [0, 0]])).toEqual([[0, 0], [1, 0], [0, 1]]);
    expect(openRing([[0, 0], [1, 0], [0, 1]])).toEqual([[0, 0], [1, 0], [0, 1]]);
  });

  it('segmentsIntersect: crossing, touching, collinear overlap, apart', () => {
    expect(segmentsIntersect([0, 0], [2, 2], [0, 2], [2, 0])).toBe(true);
    expect(segmentsIntersect([0, 0], [2, 0], [1, 0], [1, 5])).toBe(true);
    expect(segmentsIntersect([0, 0], [2, 0], [1, 0], [3, 0])).toBe(true);
    expect(segmentsIntersect([0, 0], [2, 0], [3, 0], [4, 0])).toBe(false);
    expect(segmentsIntersect([0, 0], [2, 0], [0, 1], [2, 1])).toBe(false);
  });
});
