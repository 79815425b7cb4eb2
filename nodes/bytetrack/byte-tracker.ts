/**
 * ByteTrack (Zhang et al., 2022), a faithful port of the reference tracker's `update` step:
 *
 * - detections above `trackThresh` are "high", those strictly between `lowThresh` and
 *   `trackThresh` are "low" (a score equal to `trackThresh` is in neither, as in the reference);
 * - the pool of confirmed tracks plus lost tracks is advanced by the Kalman filter (a lost
 *   track's height velocity is zeroed first) and matched to the high detections on
 *   1 - IoU·score ("fuse_score") with cost limit `matchThresh`;
 * - confirmed tracks left over are matched to the low detections on 1 - IoU with limit 0.5;
 *   those still left become lost;
 * - unconfirmed tracks (born on the previous update, not predicted) are matched to the high
 *   detections left over, on 1 - IoU·score with limit 0.7; those left over are removed;
 * - high detections still left with score >= `trackThresh + 0.1` start new tracks, confirmed at
 *   once on the very first update and otherwise unconfirmed until matched on the next one;
 * - lost tracks older than `trackBuffer · frameRate / 30` (truncated) updates are removed;
 * - the lists are merged as the reference merges them (including its order of operations, e.g.
 *   a lost track removed on update t is still in the lost list, and matchable, on update t + 1,
 *   and a track once removed is dropped as soon as it is lost again), and a confirmed track and
 *   a lost track closer than IoU distance 0.15 are deduplicated, keeping the older one.
 *
 * Optional appearance cue (`appearance`, off by default; see `update`'s `emb`): each track keeps
 * an exponentially smoothed, unit-length embedding of the detections it matched, and in the
 * first association a pair whose IoU cost is under the limit and where both sides have an
 * embedding costs λ·IoU cost + (1 − λ)·cosine distance instead, or cannot match at all when the
 * cosine distance exceeds `maxCosine`. Without embeddings every step above is computed exactly
 * as without the option.
 *
 * IoU uses the "+1 pixel" convention of the reference (`cython_bbox`). Assignment is exact (see
 * lapjv.ts). Boxes are (x1, y1, x2, y2) in, (x, y, w, h) out, from the Kalman state.
 *
 * Performance: tracks are objects (they live for many updates) holding one Float64Array of
 * Kalman state; detections are indices into the caller's arrays; only overlapping track /
 * detection pairs are costed (found by a sweep over x), and every list and buffer is scratch
 * reused from update to update.
 */
import { LinearAssignment } from './lapjv.js';
import { STATE_SIZE, kfInitiate, kfPredict, kfUpdate } from './kalman.js';

export const TrackState = { Tracked: 1, Lost: 2, Removed: 3 } as const;
export type TrackState = (typeof TrackState)[keyof typeof TrackState];

export interface ByteTrackerOptions {
  /** High/low split of detection scores. Reference demo 0.5; its MOT17 runs use 0.6. */
  trackThresh?: number;
  /** Detections at or below this score are ignored. Reference: 0.1. */
  lowThresh?: number;
  /** Cost limit of the first association (1 - IoU·score). Reference: 0.8. */
  matchThresh?: number;
  /** Updates a lost track is kept for, at 30 frames/s (scaled by frameRate / 30). */
  trackBuffer?: number;
  frameRate?: number;
  /** Track id source; default a counter from 1 owned by this tracker. */
  nextId?: () => number;
  /** Appearance cue settings, used on the updates that are given embeddings. */
  appearance?: AppearanceOptions;
}

export interface AppearanceOptions {
  /** λ in the first association's cost λ·IoU cost + (1 − λ)·cosine distance (1: IoU only). */
  iouWeight: number;
  /** A pair whose cosine distance (1 − cos) is above this is never matched in the first association. */
  maxCosine: number;
  /** Track embedding smoothing: e ← ema·e + (1 − ema)·new, then renormalised (0: the last one only). */
  ema: number;
}

export const DEFAULT_APPEARANCE: AppearanceOptions = { iouWeight: 0.5, maxCosine: 0.5, ema: 0.9 };

export class Track {
  id = 0;
  /** Kalman mean (8) and covariance blocks (16); see kalman.ts. */
  readonly kf = new Float64Array(STATE_SIZE);
  state: TrackState = TrackState.Tracked;
  isActivated = false;
  /** Score of the last matched detection (a double from the start: no field-representation change later). */
  score = NaN;
  /** Update number of the last match (`frame_id` in the reference). */
  frameId = 0;
  /** Update number of the track's birth. */
  startFrame = 0;
  /** Index (in the last `update`'s input) of the detection matched on that update, else -1. */
  detIndex = -1;
  /** The reference's `removed_stracks` membership (it is consulted by track id). */
  everRemoved = false;
  /** Scratch: list-membership stamp. */
  mark = 0;
  /** Smoothed unit-length appearance embedding (null: no embedding seen yet). */
  emb: Float32Array | null = null;

  /** Box (x, y, w, h) from the Kalman state. */
  tlwh(out: Float64Array | number[], o = 0): void {
    const s = this.kf;
    const w = s[2] * s[3], h = s[3];
    out[o] = s[0] - w / 2;
    out[o + 1] = s[1] - h / 2;
    out[o + 2] = w;
    out[o + 3] = h;
  }
}

const PLACEHOLDER = new Track();

export class ByteTracker {
  readonly trackThresh: number;
  readonly lowThresh: number;
  readonly matchThresh: number;
  readonly trackBuffer: number;
  /** `det_thresh` of the reference: the score a detection needs to start a track. */
  readonly detThresh: number;
  readonly appearance: AppearanceOptions;
  /** Lost tracks older than this many updates are removed. */
  maxTimeLost: number;
  frameId = 0;
  tracked: Track[] = trackList();
  lost: Track[] = trackList();
  /** Tracks that left both lists on the last update (removed or deduplicated). */
  readonly ended: Track[] = trackList();
  /** Confirmed tracks reported by the last update (same array every time). */
  readonly output: Track[] = trackList();

  private readonly idSource: (() => number) | undefined;
  private idCounter = 0;
  private stamp = 0;
  private readonly la = new LinearAssignment();
  // Per-detection scratch, indexed by input detection index.
  // Sized for typical scenes; they grow (once) when a frame has more.
  private dx1 = new Float64Array(512);
  private dy1 = new Float64Array(512);
  private dx2 = new Float64Array(512);
  private dy2 = new Float64Array(512);
  private dw = new Float64Array(512);
  private dh = new Float64Array(512);
  private dScore = new Float64Array(512);
  // Boxes (x1, y1, x2, y2) of the two sides of a pairing, and the overlapping pairs found.
  private rowBoxes = new Float64Array(2048);
  private colBoxes = new Float64Array(2048);
  private ord = new Int32Array(512);
  private sx = new Float64Array(512);
  private eRow = new Int32Array(4096);
  private eCol = new Int32Array(4096);
  private eVal = new Float64Array(4096);
  private rowM = new Int32Array(512);
  private colM = new Int32Array(512);
  private high = new Int32Array(512);
  private low = new Int32Array(512);
  private uDet = new Int32Array(512);
  // List scratch.
  private pool: Track[] = trackList();
  private unconfirmed: Track[] = trackList();
  private confirmed: Track[] = trackList();
  private rTracked: Track[] = trackList();
  private activated: Track[] = trackList();
  private refind: Track[] = trackList();
  private lostNow: Track[] = trackList();
  private removedNow: Track[] = trackList();
  private spare: Track[] = trackList();
  private spare2: Track[] = trackList();

  constructor(o: ByteTrackerOptions = {}) {
    this.trackThresh = o.trackThresh ?? 0.5;
    this.lowThresh = o.lowThresh ?? 0.1;
    this.matchThresh = o.matchThresh ?? 0.8;
    this.trackBuffer = o.trackBuffer ?? 30;
    this.detThresh = this.trackThresh + 0.1;
    this.maxTimeLost = 0;
    this.setFrameRate(o.frameRate ?? 30);
    this.idSource = o.nextId;
    this.appearance = o.appearance ?? DEFAULT_APPEARANCE;
  }

  /** `max_time_lost = int(frame_rate / 30 * track_buffer)`; may change between updates. */
  setFrameRate(fps: number): void {
    this.maxTimeLost = Math.trunc((fps / 30) * this.trackBuffer);
  }

  /**
   * One frame. `tlbr` holds boxes (x1, y1, x2, y2) and `scores` their scores; this frame's
   * are the n from index `start` (detection k is box start + k). Returns the
   * confirmed tracks (the `output` array, valid until the next call), each with `detIndex`
   * set to the detection it was matched with on this update.
   *
   * `emb` (optional, the appearance cue): unit-length embeddings, `emb[start + k]` for detection
   * k or undefined where it has none (only high detections are looked at). The tracker copies
   * what it keeps.
   */
  update(tlbr: ArrayLike<number>, scores: ArrayLike<number>, n: number, start = 0, emb?: ReadonlyArray<Float32Array | undefined>): Track[] {
    const frameId = ++this.frameId;
    this.ensureDets(n);
    const { dx1, dy1, dx2, dy2, dw, dh, dScore } = this;
    let nHigh = 0, nLow = 0;
    const high = this.high, low = this.low;
    for (let k = 0; k < n; k++) {
      const s = scores[start + k];
      // The reference's detection boxes go tlbr -> tlwh -> tlbr: keep that arithmetic.
      const b = 4 * (start + k);
      const x1 = tlbr[b], y1 = tlbr[b + 1];
      const w = tlbr[b + 2] - x1, h = tlbr[b + 3] - y1;
      dx1[k] = x1; dy1[k] = y1; dx2[k] = x1 + w; dy2[k] = y1 + h; dw[k] = w; dh[k] = h;
      dScore[k] = s;
      if (s > this.trackThresh) high[nHigh++] = k;
      else if (s > this.lowThresh && s < this.trackThresh) low[nLow++] = k;
    }
    const activated = this.activated, refind = this.refind, lostNow = this.lostNow, removedNow = this.removedNow;
    activated.length = 0; refind.length = 0; lostNow.length = 0; removedNow.length = 0;
    const ended = this.ended;
    ended.length = 0;

    const unconfirmed = this.unconfirmed, confirmed = this.confirmed;
    unconfirmed.length = 0; confirmed.length = 0;
    const prevTracked = this.tracked, prevLost = this.lost;
    for (let i = 0; i < prevTracked.length; i++) {
      const t = prevTracked[i];
      t.detIndex = -1;
      if (t.isActivated) confirmed.push(t); else unconfirmed.push(t);
    }
    for (let i = 0; i < prevLost.length; i++) prevLost[i].detIndex = -1;

    // Step 2: first association, the pool against the high detections.
    const pool = this.pool;
    pool.length = 0;
    const st = ++this.stamp;
    for (let i = 0; i < confirmed.length; i++) { const t = confirmed[i]; t.mark = st; pool.push(t); }
    for (let i = 0; i < prevLost.length; i++) { const t = prevLost[i]; if (t.mark !== st) { t.mark = st; pool.push(t); } }
    for (let i = 0; i < pool.length; i++) {
      const t = pool[i];
      if (t.state !== TrackState.Tracked) t.kf[7] = 0;
      kfPredict(t.kf);
    }
    this.ensureMatch(Math.max(pool.length, unconfirmed.length, n));
    const rowM = this.rowM, colM = this.colM;
    this.associate(pool, high, nHigh, true, this.matchThresh, emb, start);
    const rTracked = this.rTracked;
    rTracked.length = 0;
    for (let i = 0; i < pool.length; i++) {
      const j = rowM[i];
      const t = pool[i];
      if (j >= 0) {
        const k = high[j];
        if (t.state === TrackState.Tracked) { this.trackUpdate(t, k, frameId); activated.push(t); }
        else { this.reActivate(t, k, frameId); refind.push(t); }
      } else if (t.state === TrackState.Tracked) rTracked.push(t);
    }
    const uDet = this.uDet;
    let nU = 0;
    for (let j = 0; j < nHigh; j++) if (colM[j] < 0) uDet[nU++] = high[j];

    // Step 3: second association, remaining confirmed tracks against the low detections.
    this.associate(rTracked, low, nLow, false, 0.5);
    for (let i = 0; i < rTracked.length; i++) {
      const t = rTracked[i];
      const j = rowM[i];
      if (j >= 0) { this.trackUpdate(t, low[j], frameId); activated.push(t); }
    }
    for (let i = 0; i < rTracked.length; i++) {
      const t = rTracked[i];
      if (rowM[i] < 0 && t.state !== TrackState.Lost) { t.state = TrackState.Lost; lostNow.push(t); }
    }

    // Unconfirmed tracks against the high detections left over.
    this.associate(unconfirmed, uDet, nU, true, 0.7);
    for (let i = 0; i < unconfirmed.length; i++) {
      const t = unconfirmed[i];
      const j = rowM[i];
      if (j >= 0) { this.trackUpdate(t, uDet[j], frameId); activated.push(t); }
    }
    for (let i = 0; i < unconfirmed.length; i++) {
      const t = unconfirmed[i];
      if (rowM[i] < 0) { t.state = TrackState.Removed; removedNow.push(t); }
    }

    // Step 4: new tracks.
    for (let j = 0; j < nU; j++) {
      if (colM[j] >= 0) continue;
      const k = uDet[j];
      if (dScore[k] < this.detThresh) continue;
      activated.push(this.activate(k, frameId));
    }
    if (emb !== undefined) { this.smoothEmbeddings(activated, emb, start); this.smoothEmbeddings(refind, emb, start); }

    // Step 5: lost tracks past the buffer.
    for (let i = 0; i < prevLost.length; i++) {
      const t = prevLost[i];
      if (frameId - t.frameId > this.maxTimeLost) { t.state = TrackState.Removed; removedNow.push(t); }
    }

    // Merge the lists as the reference does.
    const oldTracked = prevTracked, oldLost = prevLost;
    const tracked = this.spare;
    tracked.length = 0;
    const s1 = ++this.stamp;
    for (let i = 0; i < oldTracked.length; i++) { const t = oldTracked[i]; if (t.state === TrackState.Tracked) { t.mark = s1; tracked.push(t); } }
    for (let i = 0; i < activated.length; i++) { const t = activated[i]; if (t.mark !== s1) { t.mark = s1; tracked.push(t); } }
    for (let i = 0; i < refind.length; i++) { const t = refind[i]; if (t.mark !== s1) { t.mark = s1; tracked.push(t); } }
    const lost = this.spare2;
    lost.length = 0;
    for (let i = 0; i < oldLost.length; i++) { const t = oldLost[i]; if (t.mark !== s1) lost.push(t); } // sub_stracks(lost, tracked)
    for (let i = 0; i < lostNow.length; i++) lost.push(lostNow[i]);
    // sub_stracks(lost, removed_stracks): removed_stracks before this update's removals.
    let w = 0;
    for (let i = 0; i < lost.length; i++) if (!lost[i].everRemoved) lost[w++] = lost[i];
    lost.length = w;
    for (let i = 0; i < removedNow.length; i++) removedNow[i].everRemoved = true;
    this.removeDuplicates(tracked, lost);

    // Tracks that were in the lists and are no longer.
    const s2 = ++this.stamp;
    for (let i = 0; i < tracked.length; i++) tracked[i].mark = s2;
    for (let i = 0; i < lost.length; i++) lost[i].mark = s2;
    for (let i = 0; i < oldTracked.length; i++) { const t = oldTracked[i]; if (t.mark !== s2) { t.mark = s2; ended.push(t); } }
    for (let i = 0; i < oldLost.length; i++) { const t = oldLost[i]; if (t.mark !== s2) { t.mark = s2; ended.push(t); } }

    this.spare = oldTracked; this.spare2 = oldLost;
    this.tracked = tracked; this.lost = lost;
    const out = this.output;
    out.length = 0;
    for (let i = 0; i < tracked.length; i++) if (tracked[i].isActivated) out.push(tracked[i]);
    return out;
  }

  /** `remove_duplicate_stracks`, in place: pairs closer than IoU distance 0.15; the younger one goes. */
  private removeDuplicates(a: Track[], b: Track[]): void {
    if (a.length === 0 || b.length === 0) return;
    const da = ++this.stamp; // mark for "drop from a"
    const db = ++this.stamp; // mark for "drop from b"; a track is in a or b, never both
    this.rowBoxes = trackBoxes(a, this.rowBoxes);
    this.colBoxes = trackBoxes(b, this.colBoxes);
    const ne = this.overlapPairs(this.rowBoxes, a.length, this.colBoxes, b.length);
    const eRow = this.eRow, eCol = this.eCol, eVal = this.eVal;
    let any = false;
    for (let e = 0; e < ne; e++) {
      if (!(1 - eVal[e] < 0.15)) continue;
      const p = a[eRow[e]], q = b[eCol[e]];
      if (p.frameId - p.startFrame > q.frameId - q.startFrame) q.mark = db; else p.mark = da;
      any = true;
    }
    if (any) { dropMarked(a, da); dropMarked(b, db); }
  }

  /**
   * One association: tracks x detections idx[0..m) on 1 - IoU (times the detection score with
   * `fuse`), solved with cost limit `thresh` into rowM / colM. Only overlapping pairs are
   * candidates: any other pair costs exactly 1, never below a limit of at most 1.
   */
  private associate(ts: Track[], idx: Int32Array, m: number, fuse: boolean, thresh: number, emb?: ReadonlyArray<Float32Array | undefined>, start = 0): void {
    const nt = ts.length;
    if (nt === 0 || m === 0) { this.rowM.fill(-1, 0, nt); this.colM.fill(-1, 0, m); return; }
    this.rowBoxes = trackBoxes(ts, this.rowBoxes);
    if (this.colBoxes.length < 4 * m) this.colBoxes = new Float64Array(8 * m);
    const cb = this.colBoxes, { dx1, dy1, dx2, dy2, dScore } = this;
    for (let j = 0; j < m; j++) {
      const k = idx[j];
      cb[4 * j] = dx1[k]; cb[4 * j + 1] = dy1[k]; cb[4 * j + 2] = dx2[k]; cb[4 * j + 3] = dy2[k];
    }
    const ne = this.overlapPairs(this.rowBoxes, nt, cb, m);
    const eCol = this.eCol, eVal = this.eVal;
    for (let e = 0; e < ne; e++) {
      const d = 1 - eVal[e]; // iou_distance
      eVal[e] = fuse ? 1 - (1 - d) * dScore[idx[eCol[e]]] : d; // fuse_score: 1 - (1 - d)·score
    }
    if (emb !== undefined) this.blendAppearance(ts, idx, ne, thresh, emb, start);
    this.la.solveSparse(nt, m, this.eRow, eCol, eVal, ne, thresh, this.rowM, this.colM);
  }

  /**
   * Every pair (row box i, column box j) that overlaps under the +1 pixel convention, with its
   * IoU, into eRow / eCol / eVal (row by row; within a row, by column x1); returns the count.
   * A sweep over the columns sorted by x1 visits only those that can reach the row's box.
   */
  private overlapPairs(ra: Float64Array, nr: number, cb: Float64Array, nc: number): number {
    if (this.ord.length < nc) { this.ord = new Int32Array(nc * 2); this.sx = new Float64Array(nc * 2); }
    const ord = this.ord, sx = this.sx;
    let maxW = 0;
    for (let j = 0; j < nc; j++) { // insertion sort by x1 (a few dozen boxes)
      const x = cb[4 * j];
      const w = cb[4 * j + 2] - x;
      if (w > maxW) maxW = w;
      let q = j;
      while (q > 0 && sx[q - 1] > x) { sx[q] = sx[q - 1]; ord[q] = ord[q - 1]; q--; }
      sx[q] = x; ord[q] = j;
    }
    let ne = 0;
    for (let i = 0; i < nr; i++) {
      const ax1 = ra[4 * i], ay1 = ra[4 * i + 1], ax2 = ra[4 * i + 2], ay2 = ra[4 * i + 3];
      // Overlap needs bx2 > ax1 - 1 (so bx1 > ax1 - 1 - maxW) and bx1 < ax2 + 1; a pixel of
      // slack on both sides keeps rounding from losing a pair (each is then checked exactly).
      const from = ax1 - 2 - maxW, to = ax2 + 2;
      let lo = 0, hi = nc;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (sx[mid] > from) hi = mid; else lo = mid + 1; }
      for (let q = lo; q < nc && sx[q] < to; q++) {
        const j = ord[q], o = 4 * j;
        const v = iou(ax1, ay1, ax2, ay2, cb[o], cb[o + 1], cb[o + 2], cb[o + 3]);
        if (!(v > 0)) continue;
        if (ne === this.eRow.length) this.growEdges();
        this.eRow[ne] = i; this.eCol[ne] = j; this.eVal[ne] = v;
        ne++;
      }
    }
    return ne;
  }

  /**
   * The appearance cue on the candidate pairs of an association: a pair under the cost limit
   * whose track and detection both have embeddings costs λ·c + (1 − λ)·(1 − cos) instead of c,
   * or is taken out (cost ∞) when 1 − cos > maxCosine. Pairs at or over the limit stay there:
   * appearance never lets a pair match that IoU alone would not.
   */
  private blendAppearance(ts: Track[], idx: Int32Array, ne: number, thresh: number, emb: ReadonlyArray<Float32Array | undefined>, start: number): void {
    const eRow = this.eRow, eCol = this.eCol, eVal = this.eVal;
    const { iouWeight, maxCosine } = this.appearance;
    for (let e = 0; e < ne; e++) {
      const c = eVal[e];
      if (!(c < thresh)) continue;
      const a = ts[eRow[e]].emb;
      const b = emb[start + idx[eCol[e]]];
      if (!a || !b) continue;
      const n = Math.min(a.length, b.length);
      let dot = 0;
      for (let k = 0; k < n; k++) dot += a[k] * b[k];
      const dist = 1 - dot;
      eVal[e] = dist > maxCosine ? Infinity : iouWeight * c + (1 - iouWeight) * dist;
    }
  }

  /** Tracks matched on this update to a high detection with an embedding: smooth it into theirs. */
  private smoothEmbeddings(ts: Track[], emb: ReadonlyArray<Float32Array | undefined>, start: number): void {
    const a = this.appearance.ema;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i];
      // Low detections (occluded, blurred) never feed a track's appearance.
      if (t.detIndex < 0 || !(this.dScore[t.detIndex] > this.trackThresh)) continue;
      const e = emb[start + t.detIndex];
      if (!e) continue;
      const f = t.emb;
      if (!f || f.length !== e.length) { t.emb = Float32Array.from(e); continue; }
      let ss = 0;
      for (let k = 0; k < f.length; k++) { const v = a * f[k] + (1 - a) * e[k]; f[k] = v; ss += v * v; }
      if (ss > 0) { const s = 1 / Math.sqrt(ss); for (let k = 0; k < f.length; k++) f[k] *= s; }
      else t.emb = Float32Array.from(e); // opposite vectors cancelled out: start again from the new one
    }
  }

  private growEdges(): void {
    const k = this.eRow.length * 2;
    const r = new Int32Array(k), c = new Int32Array(k), v = new Float64Array(k);
    r.set(this.eRow); c.set(this.eCol); v.set(this.eVal);
    this.eRow = r; this.eCol = c; this.eVal = v;
  }

  private xyah(k: number, out: Float64Array): void {
    const x = this.dx1[k], y = this.dy1[k], w = this.dw[k], h = this.dh[k];
    out[0] = x + w / 2; out[1] = y + h / 2; out[2] = w / h; out[3] = h;
  }
  private readonly z = new Float64Array(4);

  private trackUpdate(t: Track, k: number, frameId: number): void {
    t.frameId = frameId;
    const z = this.z;
    this.xyah(k, z);
    kfUpdate(t.kf, z[0], z[1], z[2], z[3]);
    t.state = TrackState.Tracked;
    t.isActivated = true;
    t.score = this.dScore[k];
    t.detIndex = k;
  }

  private reActivate(t: Track, k: number, frameId: number): void {
    const z = this.z;
    this.xyah(k, z);
    kfUpdate(t.kf, z[0], z[1], z[2], z[3]);
    t.state = TrackState.Tracked;
    t.isActivated = true;
    t.frameId = frameId;
    t.score = this.dScore[k];
    t.detIndex = k;
  }

  private activate(k: number, frameId: number): Track {
    const t = new Track();
    t.id = this.idSource ? this.idSource() : ++this.idCounter;
    const z = this.z;
    this.xyah(k, z);
    kfInitiate(t.kf, z[0], z[1], z[2], z[3]);
    t.state = TrackState.Tracked;
    t.isActivated = frameId === 1;
    t.frameId = frameId;
    t.startFrame = frameId;
    t.score = this.dScore[k];
    t.detIndex = k;
    return t;
  }

  private ensureMatch(n: number): void {
    if (this.rowM.length < n) { this.rowM = new Int32Array(n * 2); this.colM = new Int32Array(n * 2); }
  }

  private ensureDets(n: number): void {
    if (this.dx1.length >= n) return;
    const k = n * 2;
    this.dx1 = new Float64Array(k); this.dy1 = new Float64Array(k); this.dx2 = new Float64Array(k); this.dy2 = new Float64Array(k);
    this.dw = new Float64Array(k); this.dh = new Float64Array(k); this.dScore = new Float64Array(k);
    this.high = new Int32Array(k); this.low = new Int32Array(k); this.uDet = new Int32Array(k);
  }
}

/** (x1, y1, x2, y2) of each track from its Kalman state, into `buf` (grown if needed, and returned). */
function trackBoxes(ts: Track[], buf: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  if (buf.length < 4 * ts.length) buf = new Float64Array(8 * ts.length);
  for (let i = 0; i < ts.length; i++) {
    const s = ts[i].kf;
    const w = s[2] * s[3], h = s[3];
    const x1 = s[0] - w / 2, y1 = s[1] - h / 2;
    buf[4 * i] = x1; buf[4 * i + 1] = y1; buf[4 * i + 2] = x1 + w; buf[4 * i + 3] = y1 + h;
  }
  return buf;
}

/**
 * An empty array whose elements kind is already "objects": a plain `[]` starts as small
 * integers and changes kind on its first push, which throws away optimised code that has only
 * seen the other kind (every list here is reused and swapped from update to update).
 */
function trackList(): Track[] {
  const a = [PLACEHOLDER];
  a.length = 0;
  return a;
}

/** Remove, in place and in order, the tracks carrying `mark`. */
function dropMarked(ts: Track[], mark: number): void {
  let w = 0;
  for (let i = 0; i < ts.length; i++) if (ts[i].mark !== mark) ts[w++] = ts[i];
  ts.length = w;
}

/**
 * IoU with the "+1 pixel" convention of the reference (`cython_bbox.bbox_overlaps`), in its
 * order of operations: a is the row box (a track), b the query box; 0 when they do not overlap.
 */
export function iou(ax1: number, ay1: number, ax2: number, ay2: number, bx1: number, by1: number, bx2: number, by2: number): number {
  const iw = (ax2 < bx2 ? ax2 : bx2) - (ax1 > bx1 ? ax1 : bx1) + 1;
  if (iw <= 0) return 0;
  const ih = (ay2 < by2 ? ay2 : by2) - (ay1 > by1 ? ay1 : by1) + 1;
  if (ih <= 0) return 0;
  const boxArea = (bx2 - bx1 + 1) * (by2 - by1 + 1);
  const ua = (ax2 - ax1 + 1) * (ay2 - ay1 + 1) + boxArea - iw * ih;
  return (iw * ih) / ua;
}
