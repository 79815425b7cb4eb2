import { describe, expect, it } from 'vitest';
import { LinearAssignment } from './lapjv.js';

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Best partial matching by enumeration: minimise sum(c - thresh) over pairs with c < thresh. */
function bruteForce(c: Float64Array, rows: number, cols: number, thresh: number): { value: number; rowMatch: number[] } {
  let best = 0;
  let bestMatch: number[] = new Array(rows).fill(-1);
  const cur: number[] = new Array(rows).fill(-1);
  const usedCol = new Array(cols).fill(false);
  const rec = (i: number, acc: number) => {
    if (i === rows) {
      if (acc < best - 1e-12) { best = acc; bestMatch = cur.slice(); }
      return;
    }
    cur[i] = -1;
    rec(i + 1, acc);
    for (let j = 0; j < cols; j++) {
      const x = c[i * cols + j];
      if (usedCol[j] || x >= thresh) continue;
      usedCol[j] = true; cur[i] = j;
      rec(i + 1, acc + (x - thresh));
      usedCol[j] = false; cur[i] = -1;
    }
  };
  rec(0, 0);
  return { value: best, rowMatch: bestMatch };
}

/**
 * The reference's own formulation, solved by enumeration: lap.lapjv(extend_cost=True,
 * cost_limit=thresh) pads to (R+C)x(R+C) with thresh/2 everywhere, 0 in the dummy-dummy block,
 * the real costs in the corner, and keeps the pairs that land in the corner.
 */
function extendedBruteForce(c: Float64Array, rows: number, cols: number, thresh: number): number[] {
  const n = rows + cols;
  const e = new Float64Array(n * n).fill(thresh / 2);
  for (let i = rows; i < n; i++) for (let j = cols; j < n; j++) e[i * n + j] = 0;
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) e[i * n + j] = c[i * cols + j];
  let best = Infinity;
  let bestPerm: number[] = [];
  const perm: number[] = [];
  const used = new Array(n).fill(false);
  const rec = (i: number, acc: number) => {
    if (acc >= best) return;
    if (i === n) { best = acc; bestPerm = perm.slice(); return; }
    for (let j = 0; j < n; j++) {
      if (used[j]) continue;
      used[j] = true; perm[i] = j;
      rec(i + 1, acc + e[i * n + j]);
      used[j] = false;
    }
  };
  rec(0, 0);
  return bestPerm.slice(0, rows).map((j) => (j < cols ? j : -1));
}

function solve(c: Float64Array, rows: number, cols: number, thresh: number) {
  const rowMatch = new Int32Array(rows), colMatch = new Int32Array(cols);
  const n = new LinearAssignment().solve(c, rows, cols, thresh, rowMatch, colMatch);
  return { n, rowMatch: [...rowMatch], colMatch: [...colMatch] };
}

function value(c: Float64Array, cols: number, thresh: number, rowMatch: number[]): number {
  let v = 0;
  rowMatch.forEach((j, i) => { if (j >= 0) v += c[i * cols + j] - thresh; });
  return v;
}

/** A random cost matrix: `density` of the entries below 1 (like IoU distances), the rest 1. */
function randomCost(r: () => number, rows: number, cols: number, density: number): Float64Array {
  const c = new Float64Array(rows * cols);
  for (let k = 0; k < c.length; k++) c[k] = r() < density ? r() : 1;
  return c;
}

describe('linear assignment with a cost limit', () => {
  it('finds the optimum of every random small matrix, as brute force does (sizes 1..7, sparse to dense)', () => {
    const r = rng(12345);
    let checked = 0, withMatches = 0, big = 0;
    for (let trial = 0; trial < 3000; trial++) {
      const rows = 1 + Math.floor(r() * 7), cols = 1 + Math.floor(r() * 7);
      const density = [0.15, 0.4, 0.8, 1][trial % 4];
      const thresh = [0.8, 0.5, 0.7, 0.95][Math.floor(trial / 4) % 4];
      const c = randomCost(r, rows, cols, density);
      const got = solve(c, rows, cols, thresh);
      const want = bruteForce(c, rows, cols, thresh);
      expect(value(c, cols, thresh, got.rowMatch)).toBeCloseTo(want.value, 12);
      // Random real costs: the optimum is unique, so the matching itself must agree.
      expect(got.rowMatch).toEqual(want.rowMatch);
      // Consistency of the two directions and of the count.
      got.rowMatch.forEach((j, i) => { if (j >= 0) expect(got.colMatch[j]).toBe(i); });
      expect(got.n).toBe(got.rowMatch.filter((j) => j >= 0).length);
      checked++;
      if (got.n) withMatches++;
      if (got.n >= 3) big++;
    }
    expect(checked).toBe(3000);
    expect(withMatches).toBeGreaterThan(2000);
    expect(big).toBeGreaterThan(500);
  });

  it("agrees with the reference's extended-matrix formulation (lap.lapjv with extend_cost and cost_limit)", () => {
    const r = rng(777);
    for (let trial = 0; trial < 400; trial++) {
      const rows = 1 + Math.floor(r() * 4), cols = 1 + Math.floor(r() * (8 - rows - 1)) ;
      const thresh = [0.8, 0.5, 0.7][trial % 3];
      const c = randomCost(r, rows, cols, [0.3, 0.7, 1][trial % 3]);
      expect(solve(c, rows, cols, thresh).rowMatch).toEqual(extendedBruteForce(c, rows, cols, thresh));
    }
  });

  it('prefers two good pairs over one excellent pair (global, not greedy)', () => {
    // Greedy would take (0,0) at 0.1 and leave row 1 unmatched; the optimum takes (0,1) and (1,0).
    const c = Float64Array.from([0.1, 0.3, 0.35, 1]);
    expect(solve(c, 2, 2, 0.8).rowMatch).toEqual([1, 0]);
  });

  it('never assigns a pair at or above the limit (it gains nothing), and handles empty matrices', () => {
    expect(solve(Float64Array.from([0.81, 0.9, 1, 0.95]), 2, 2, 0.8)).toEqual({ n: 0, rowMatch: [-1, -1], colMatch: [-1, -1] });
    expect(solve(Float64Array.from([0.8, 1, 1, 0.8]), 2, 2, 0.8).n).toBe(0);
    expect(solve(new Float64Array(0), 0, 3, 0.8)).toEqual({ n: 0, rowMatch: [], colMatch: [-1, -1, -1] });
    expect(solve(new Float64Array(0), 2, 0, 0.8)).toEqual({ n: 0, rowMatch: [-1, -1], colMatch: [] });
    expect(solve(Float64Array.from([0.79]), 1, 1, 0.8).rowMatch).toEqual([0]);
  });

  it('solves from a list of candidate pairs as from the dense matrix (unlisted pairs cost 1)', () => {
    const r = rng(4242);
    const la = new LinearAssignment();
    for (let trial = 0; trial < 500; trial++) {
      const rows = 1 + Math.floor(r() * 12), cols = 1 + Math.floor(r() * 12);
      const c = randomCost(r, rows, cols, [0.1, 0.3, 0.6][trial % 3]);
      // List the pairs below 1 in a shuffled order, plus a few at 1.
      const pairs: number[] = [];
      for (let k = 0; k < c.length; k++) if (c[k] < 1 || r() < 0.1) pairs.push(k);
      for (let k = pairs.length - 1; k > 0; k--) { const q = Math.floor(r() * (k + 1)); [pairs[k], pairs[q]] = [pairs[q], pairs[k]]; }
      const eRow = Int32Array.from(pairs, (k) => Math.floor(k / cols));
      const eCol = Int32Array.from(pairs, (k) => k % cols);
      const eCost = Float64Array.from(pairs, (k) => c[k]);
      const rm = new Int32Array(rows), cm = new Int32Array(cols);
      la.solveSparse(rows, cols, eRow, eCol, eCost, pairs.length, 0.8, rm, cm);
      expect([...rm]).toEqual(solve(c, rows, cols, 0.8).rowMatch);
      if (rows <= 6 && cols <= 6) expect([...rm]).toEqual(bruteForce(c, rows, cols, 0.8).rowMatch);
    }
  });

  it('reuses one instance across calls of different shapes', () => {
    const la = new LinearAssignment();
    const r = rng(9);
    for (let trial = 0; trial < 200; trial++) {
      const rows = 1 + Math.floor(r() * 40), cols = 1 + Math.floor(r() * 40);
      const c = randomCost(r, rows, cols, 0.08);
      const rm = new Int32Array(rows), cm = new Int32Array(cols);
      la.solve(c, rows, cols, 0.8, rm, cm);
      const fresh = solve(c, rows, cols, 0.8);
      expect([...rm]).toEqual(fresh.rowMatch);
    }
  });
});
