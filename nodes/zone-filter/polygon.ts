/**
 * Plane geometry for zone-filter, with no runtime types: checking a polygon a user drew
 * (enough points, no zero-length edge, no area-less shape, no edge crossing another) and
 * point-in-polygon for concave polygons, where a point on an edge or a vertex counts as inside.
 */

export type Point = readonly [number, number];

/** A polygon ready for many point tests: coordinates unpacked, bounding box precomputed. */
export interface PreparedPolygon {
  xs: Float64Array;
  ys: Float64Array;
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

/**
 * Distance (in the polygon's units) within which a point counts as on an edge. Fractions
 * scaled to pixels pick up rounding (0.3 × 1920 = 576.0000000000001): a box whose bottom
 * centre lies on a drawn line must still count as on it.
 */
export const EDGE_TOLERANCE = 1e-6;

/** A polygon a user wrote may repeat its first point at the end (GeoJSON rings do): drop it. */
export function openRing(points: readonly Point[]): Point[] {
  const p = points.slice();
  if (p.length > 1 && p[0][0] === p[p.length - 1][0] && p[0][1] === p[p.length - 1][1]) p.pop();
  return p;
}

/** Twice the signed area (positive counter-clockwise in a y-up frame). */
export function signedArea2(points: readonly Point[]): number {
  let a = 0;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) a += points[j][0] * points[i][1] - points[i][0] * points[j][1];
  return a;
}

/** Orientation of c relative to the line a→b: >0 left, <0 right, 0 on it. */
function orient(a: Point, b: Point, c: Point): number {
  return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
}

/** c is collinear with a–b: is it within the segment's bounding box? */
function within(a: Point, b: Point, c: Point): boolean {
  return Math.min(a[0], b[0]) <= c[0] && c[0] <= Math.max(a[0], b[0]) && Math.min(a[1], b[1]) <= c[1] && c[1] <= Math.max(a[1], b[1]);
}

/** Do segments a–b and c–d share any point (touching counts)? */
export function segmentsIntersect(a: Point, b: Point, c: Point, d: Point): boolean {
  const o1 = orient(a, b, c), o2 = orient(a, b, d), o3 = orient(c, d, a), o4 = orient(c, d, b);
  if (((o1 > 0 && o2 < 0) || (o1 < 0 && o2 > 0)) && ((o3 > 0 && o4 < 0) || (o3 < 0 && o4 > 0))) return true;
  return (o1 === 0 && within(a, b, c)) || (o2 === 0 && within(a, b, d)) || (o3 === 0 && within(c, d, a)) || (o4 === 0 && within(c, d, b));
}

/**
 * What is wrong with a polygon, or undefined when it is a simple polygon (concave is fine).
 * Expects the open ring (see openRing). Quadratic in the number of points: zones are drawn by
 * hand and checked once, at start.
 */
export function polygonProblem(points: readonly Point[]): string | undefined {
  const n = points.length;
  if (n < 3) return `needs at least 3 points (got ${n})`;
  for (let i = 0; i < n; i++) {
    const [x, y] = points[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) return `point ${i + 1} is not a pair of finite numbers`;
  }
  for (let i = 0; i < n; i++) {
    const a = points[i], b = points[(i + 1) % n];
    if (a[0] === b[0] && a[1] === b[1]) return `points ${i + 1} and ${((i + 1) % n) + 1} are the same [${a[0]}, ${a[1]}]`;
  }
  // Before the crossing checks: points on one line would read as edges folding back.
  if (points.every((c) => orient(points[0], points[1], c) === 0)) return 'has no area (all points on one line)';
  for (let i = 0; i < n; i++) {
    const a = points[i], b = points[(i + 1) % n];
    // Neighbouring edge: they share b; they overlap only if the path turns straight back.
    const c = points[(i + 2) % n];
    if (orient(a, b, c) === 0 && (a[0] - b[0]) * (c[0] - b[0]) + (a[1] - b[1]) * (c[1] - b[1]) > 0) {
      return `is self-intersecting: edge ${i + 1} and edge ${((i + 1) % n) + 1} fold back over each other at point ${((i + 1) % n) + 1}`;
    }
    // Every edge not next to this one must not touch it at all.
    for (let j = i + 2; j < n; j++) {
      if (i === 0 && j === n - 1) continue; // the closing edge is next to the first
      if (segmentsIntersect(a, b, points[j], points[(j + 1) % n])) {
        return `is self-intersecting: edge ${i + 1} (points ${i + 1}–${((i + 1) % n) + 1}) crosses or touches edge ${j + 1} (points ${j + 1}–${((j + 1) % n) + 1})`;
      }
    }
  }
  return undefined;
}

export function preparePolygon(points: readonly Point[]): PreparedPolygon {
  const n = points.length;
  const xs = new Float64Array(n), ys = new Float64Array(n);
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    const [x, y] = points[i];
    xs[i] = x; ys[i] = y;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  return { xs, ys, minX, minY, maxX, maxY };
}

/**
 * Is (x, y) inside the polygon or on its boundary (within EDGE_TOLERANCE of an edge or a
 * vertex)? Crossing number for the interior, which is right for concave polygons; the
 * boundary is tested explicitly, because a ray test decides points on edges arbitrarily.
 */
export function containsPoint(p: PreparedPolygon, x: number, y: number): boolean {
  const t = EDGE_TOLERANCE;
  if (x < p.minX - t || x > p.maxX + t || y < p.minY - t || y > p.maxY + t) return false;
  const { xs, ys } = p;
  const n = xs.length;
  let inside = false;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = xs[i], yi = ys[i], xj = xs[j], yj = ys[j];
    const dx = xi - xj, dy = yi - yj;
    // On the edge j→i: distance to the line within tolerance, and between the end points.
    const cross = dx * (y - yj) - dy * (x - xj);
    const len2 = dx * dx + dy * dy;
    if (cross * cross <= t * t * len2) {
      const dot = (x - xj) * dx + (y - yj) * dy;
      if (dot >= -t * Math.sqrt(len2) && dot <= len2 + t * Math.sqrt(len2)) return true;
    }
    // Half-open rule (yi > y) !== (yj > y): a vertex on the ray is counted once.
    if ((yi > y) !== (yj > y) && x < xj + ((y - yj) * dx) / dy) inside = !inside;
  }
  return inside;
}
