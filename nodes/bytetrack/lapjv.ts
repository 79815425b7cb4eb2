/**
 * Linear assignment with a cost limit, as ByteTrack's `matching.linear_assignment` solves it
 * (`lap.lapjv(cost, extend_cost=True, cost_limit=thresh)`).
 *
 * The reference extends the R x C matrix to (R+C) x (R+C): real pairs at their cost, a row or
 * column left unmatched at thresh/2 each, dummy-dummy pairs at 0, and solves that exactly. A
 * matching M then costs sum over M of (c_ij - thresh) plus a constant, so the solution is a
 * matching that minimises sum(c_ij - thresh) over its pairs: a pair above thresh is never worth
 * taking, one below always counts, one exactly at thresh gains nothing (we leave it out). We
 * solve that same problem exactly, cheaper:
 *
 * 1. Only pairs with c_ij < thresh can be in an optimal matching ("assignable"). The bipartite
 *    graph of assignable pairs splits into connected components, which are independent
 *    subproblems. In tracking nearly all of them are one track against one detection.
 * 2. A component with one row (or one column) takes its cheapest pair. A larger one is solved by
 *    the shortest-augmenting-path Hungarian method (Jonker-Volgenant style, with dual
 *    potentials) on the rectangular matrix w_ij = c_ij - thresh for assignable pairs and 0 for
 *    the others (0 = "as good as leaving both unmatched"); pairs at 0 are dropped afterwards.
 *    That gives the optimum of the partial problem: any partial matching extends to a full one
 *    of no greater cost, and dropping the 0 pairs of a full one loses nothing.
 *
 * The optimum is unique unless two matchings cost exactly the same, which real-valued IoU
 * costs essentially never do; on such ties any optimal matching may be returned (as with lap).
 *
 * Input is either a dense matrix (`solve`) or a list of candidate pairs (`solveSparse`: the
 * tracker lists only the pairs whose boxes overlap; every other pair costs 1 >= thresh). All
 * scratch memory lives in the instance and grows as needed: no allocation per call in the
 * steady state.
 */

export class LinearAssignment {
  // Candidate pairs of a dense solve.
  private eRow = new Int32Array(1024);
  private eCol = new Int32Array(1024);
  private eCost = new Float64Array(1024);
  // Components (union-find over rows 0..R-1 and columns R..R+C-1).
  private parent = new Int32Array(1024);
  private rowCount = new Int32Array(1024);
  private colCount = new Int32Array(1024);
  private local = new Int32Array(1024);
  private compStart = new Int32Array(1024);
  private members = new Int32Array(1024);
  private bestCost = new Float64Array(1024);
  private bestEdge = new Int32Array(1024);
  // Hungarian scratch (1-based, n <= m).
  private a = new Float64Array(1024);
  private u = new Float64Array(64);
  private v = new Float64Array(64);
  private minv = new Float64Array(64);
  private p = new Int32Array(64);
  private way = new Int32Array(64);
  private used = new Uint8Array(64);

  /**
   * Solve for a dense `cost` (row-major, rows x cols). Writes rowMatch[i] = matched column or
   * -1 and colMatch[j] = matched row or -1; returns the number of pairs.
   */
  solve(cost: Float64Array, rows: number, cols: number, thresh: number, rowMatch: Int32Array, colMatch: Int32Array): number {
    let n = 0;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const c = cost[i * cols + j];
        if (!(c < thresh)) continue;
        if (n === this.eRow.length) this.growEdges(n * 2);
        this.eRow[n] = i; this.eCol[n] = j; this.eCost[n] = c;
        n++;
      }
    }
    return this.solveSparse(rows, cols, this.eRow, this.eCol, this.eCost, n, thresh, rowMatch, colMatch);
  }

  /**
   * Solve given the candidate pairs (row eRow[e], column eCol[e], cost eCost[e] for e < nEdges;
   * each pair at most once): every pair not listed is taken to cost at least `thresh`.
   */
  solveSparse(rows: number, cols: number, eRow: Int32Array, eCol: Int32Array, eCost: Float64Array, nEdges: number, thresh: number, rowMatch: Int32Array, colMatch: Int32Array): number {
    rowMatch.fill(-1, 0, rows);
    colMatch.fill(-1, 0, cols);
    if (rows === 0 || cols === 0 || nEdges === 0) return 0;
    const nodes = rows + cols;
    if (this.parent.length < nodes) this.growNodes(nodes * 2);
    const parent = this.parent;
    for (let k = 0; k < nodes; k++) parent[k] = k;
    let assignable = 0;
    for (let e = 0; e < nEdges; e++) {
      if (!(eCost[e] < thresh)) continue;
      assignable++;
      let x = eRow[e]; while (parent[x] !== x) x = parent[x] = parent[parent[x]];
      let y = rows + eCol[e]; while (parent[y] !== y) y = parent[y] = parent[parent[y]];
      // The root of a component is its smallest index (so its first row).
      if (x !== y) { if (x < y) parent[y] = x; else parent[x] = y; }
    }
    if (assignable === 0) return 0;
    const rowCount = this.rowCount, colCount = this.colCount, bestCost = this.bestCost, bestEdge = this.bestEdge;
    for (let k = 0; k < nodes; k++) {
      let x = k; while (parent[x] !== x) x = parent[x];
      parent[k] = x;
      rowCount[k] = 0; colCount[k] = 0;
    }
    let big = false;
    for (let k = 0; k < rows; k++) rowCount[parent[k]]++;
    for (let k = rows; k < nodes; k++) colCount[parent[k]]++;
    // Components with a single row or a single column: their cheapest pair (ties: the first
    // listed). Others are left to the Hungarian method.
    for (let k = 0; k < nodes; k++) { bestCost[k] = Infinity; bestEdge[k] = -1; }
    for (let e = 0; e < nEdges; e++) {
      const c = eCost[e];
      if (!(c < thresh)) continue;
      const r = parent[eRow[e]];
      if (rowCount[r] > 1 && colCount[r] > 1) { big = true; continue; }
      if (c < bestCost[r]) { bestCost[r] = c; bestEdge[r] = e; }
    }
    let matched = 0;
    for (let k = 0; k < rows; k++) {
      const e = bestEdge[k];
      if (parent[k] !== k || e < 0) continue;
      rowMatch[eRow[e]] = eCol[e]; colMatch[eCol[e]] = eRow[e];
      matched++;
    }
    if (big) matched += this.solveComponents(rows, cols, eRow, eCol, eCost, nEdges, thresh, rowMatch, colMatch);
    return matched;
  }

  /** Components with several rows and columns (rare in tracking: kept out of the hot path). */
  private solveComponents(rows: number, cols: number, eRow: Int32Array, eCol: Int32Array, eCost: Float64Array, nEdges: number, thresh: number, rowMatch: Int32Array, colMatch: Int32Array): number {
    const nodes = rows + cols;
    const parent = this.parent, rowCount = this.rowCount, colCount = this.colCount, local = this.local, compStart = this.compStart;
    const isBig = (r: number) => rowCount[r] > 1 && colCount[r] > 1;
    // Members of each large component, rows then columns, each in index order.
    let off = 0;
    for (let k = 0; k < rows; k++) {
      if (parent[k] !== k || !isBig(k)) continue;
      compStart[k] = off;
      off += rowCount[k] + colCount[k];
    }
    if (this.members.length < off) this.members = new Int32Array(off * 2);
    const mem = this.members;
    const fill = local; // used as per-root cursors first, then as local indices
    for (let k = 0; k < rows; k++) if (parent[k] === k) fill[k] = 0;
    for (let k = 0; k < nodes; k++) { // rows come before columns: k ascending does it
      const r = parent[k];
      if (isBig(r)) mem[compStart[r] + fill[r]++] = k;
    }
    for (let k = 0; k < rows; k++) {
      if (parent[k] !== k || !isBig(k)) continue;
      const nr = rowCount[k], nc = colCount[k], s = compStart[k];
      for (let q = 0; q < nr; q++) local[mem[s + q]] = q;
      for (let q = 0; q < nc; q++) local[mem[s + nr + q]] = q;
    }
    let matched = 0;
    for (let k = 0; k < rows; k++) {
      if (parent[k] !== k || !isBig(k)) continue;
      matched += this.hungarian(k, rowCount[k], colCount[k], rows, eRow, eCol, eCost, nEdges, thresh, rowMatch, colMatch);
    }
    return matched;
  }

  /**
   * Exact minimum-cost assignment of one component (root `root`, nr rows, nc columns) with
   * w = cost - thresh where assignable, 0 elsewhere: shortest augmenting paths with dual
   * potentials, O(n^2 m), on the transposed matrix when there are more rows than columns.
   */
  private hungarian(root: number, nr: number, nc: number, rows: number, eRow: Int32Array, eCol: Int32Array, eCost: Float64Array, nEdges: number, thresh: number, rowMatch: Int32Array, colMatch: Int32Array): number {
    const t = nr > nc; // work with n <= m
    const n = t ? nc : nr, m = t ? nr : nc;
    const W = m + 1;
    const size = (n + 1) * W;
    if (this.a.length < size) this.a = new Float64Array(size * 2);
    if (this.v.length < m + 1) {
      const k = (m + 1) * 2;
      this.u = new Float64Array(k); this.v = new Float64Array(k); this.minv = new Float64Array(k);
      this.p = new Int32Array(k); this.way = new Int32Array(k); this.used = new Uint8Array(k);
    }
    const a = this.a, u = this.u, v = this.v, minv = this.minv, p = this.p, way = this.way, used = this.used;
    const parent = this.parent, local = this.local;
    a.fill(0, 0, size);
    for (let e = 0; e < nEdges; e++) {
      const c = eCost[e];
      if (!(c < thresh) || parent[eRow[e]] !== root) continue;
      const li = local[eRow[e]] + 1, lj = local[rows + eCol[e]] + 1;
      if (t) a[lj * W + li] = c - thresh; else a[li * W + lj] = c - thresh;
    }
    u.fill(0, 0, n + 1);
    v.fill(0, 0, m + 1);
    p.fill(0, 0, m + 1);
    for (let i = 1; i <= n; i++) {
      p[0] = i;
      let j0 = 0;
      minv.fill(Infinity, 0, m + 1);
      used.fill(0, 0, m + 1);
      do {
        used[j0] = 1;
        const i0 = p[j0];
        let delta = Infinity, j1 = 0;
        const ui0 = u[i0], row = i0 * W;
        for (let j = 1; j <= m; j++) {
          if (used[j]) continue;
          const cur = a[row + j] - ui0 - v[j];
          if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
          if (minv[j] < delta) { delta = minv[j]; j1 = j; }
        }
        for (let j = 0; j <= m; j++) {
          if (used[j]) { u[p[j]] += delta; v[j] -= delta; } else minv[j] -= delta;
        }
        j0 = j1;
      } while (p[j0] !== 0);
      do { const j1 = way[j0]; p[j0] = p[j1]; j0 = j1; } while (j0 !== 0);
    }
    // Back to global indices: a pair is kept only if it is an assignable edge (w < 0).
    let matched = 0;
    const s = this.compStart[root], mem = this.members;
    for (let j = 1; j <= m; j++) {
      const i = p[j];
      if (i === 0) continue;
      if (!(a[i * W + j] < 0)) continue; // a placeholder pair: both stay unmatched
      const li = t ? j - 1 : i - 1, lj = t ? i - 1 : j - 1;
      const r = mem[s + li], c = mem[s + nr + lj] - rows;
      rowMatch[r] = c; colMatch[c] = r;
      matched++;
    }
    return matched;
  }

  private growEdges(k: number): void {
    const r = new Int32Array(k), c = new Int32Array(k), x = new Float64Array(k);
    r.set(this.eRow); c.set(this.eCol); x.set(this.eCost);
    this.eRow = r; this.eCol = c; this.eCost = x;
  }

  private growNodes(k: number): void {
    this.parent = new Int32Array(k);
    this.rowCount = new Int32Array(k);
    this.colCount = new Int32Array(k);
    this.local = new Int32Array(k);
    this.compStart = new Int32Array(k);
    this.bestCost = new Float64Array(k);
    this.bestEdge = new Int32Array(k);
  }
}
