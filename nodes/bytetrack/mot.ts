/**
 * MOT Challenge text formats for `graphrun track`: detections in
 * (`frame,id,x,y,w,h,score,...`), tracks out (`frame,id,x,y,w,h,score,-1,-1,-1`), the offline
 * tracking loop, and a comparison of two track files up to a renaming of ids.
 */
import { performance } from 'node:perf_hooks';
import { ByteTracker, type ByteTrackerOptions } from './byte-tracker.js';

/** Detections grouped by frame: frame f (1-based) has `count[f]` boxes from index `start[f]`. */
export interface MotDetections {
  /** Last frame number present (frames run 1..frames). */
  frames: number;
  start: Int32Array;
  count: Int32Array;
  /** x1, y1, x2, y2 per box (x2 = x + w, as a tlwh -> tlbr conversion computes it). */
  tlbr: Float64Array;
  scores: Float64Array;
}

/** Parse MOT detections. Lines may come in any frame order; within a frame, file order is kept. */
export function parseMotDetections(text: string): MotDetections {
  // One pass into flat typed arrays (no per-line objects kept: they would be garbage collected
  // later, in the middle of the timed tracking loop).
  let frameOf = new Int32Array(4096);
  let vals = new Float64Array(4096 * 5);
  let n = 0, frames = 0, li = 0, pos = 0;
  while (pos < text.length) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    const line = text.slice(pos, eol).trim();
    pos = eol + 1;
    li++;
    if (!line || line.startsWith('#')) continue;
    const f = line.split(/[,\s]+/);
    if (f.length < 7) throw new Error(`line ${li}: expected frame,id,x,y,w,h,score,... (got ${f.length} fields)`);
    const frame = Number(f[0]), x = Number(f[2]), y = Number(f[3]), w = Number(f[4]), h = Number(f[5]), score = Number(f[6]);
    if (!Number.isInteger(frame) || frame < 1 || !Number.isFinite(x + y + w + h + score) || !Number.isFinite(Number(f[1]))) {
      throw new Error(`line ${li}: not a MOT detection: ${line.slice(0, 80)}`);
    }
    if (n === frameOf.length) {
      const fo = new Int32Array(n * 2); fo.set(frameOf); frameOf = fo;
      const v = new Float64Array(n * 10); v.set(vals); vals = v;
    }
    frameOf[n] = frame;
    const o = 5 * n;
    vals[o] = x; vals[o + 1] = y; vals[o + 2] = w; vals[o + 3] = h; vals[o + 4] = score;
    n++;
    if (frame > frames) frames = frame;
  }
  const count = new Int32Array(frames + 2);
  for (let i = 0; i < n; i++) count[frameOf[i]]++;
  const start = new Int32Array(frames + 2);
  for (let f = 1; f <= frames + 1; f++) start[f] = start[f - 1] + count[f - 1];
  const fill = start.slice();
  const tlbr = new Float64Array(n * 4);
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const k = fill[frameOf[i]]++;
    const x = vals[5 * i], y = vals[5 * i + 1];
    tlbr[4 * k] = x; tlbr[4 * k + 1] = y; tlbr[4 * k + 2] = x + vals[5 * i + 2]; tlbr[4 * k + 3] = y + vals[5 * i + 3];
    scores[k] = vals[5 * i + 4];
  }
  return { frames, start, count, tlbr, scores };
}

export interface MotTracks {
  /** Rows of 7 numbers: frame, id, x, y, w, h, score. */
  rows: Float64Array;
  n: number;
}

export interface TrackRunResult extends MotTracks {
  /** Seconds spent in the per-frame update loop. */
  trackTimeS: number;
  frames: number;
}

/**
 * Run the tracker over every frame 1..frames (one update per frame, also for frames without
 * detections), collecting the confirmed tracks of each frame.
 */
export function trackMot(dets: MotDetections, options: ByteTrackerOptions): TrackRunResult {
  const tracker = new ByteTracker(options);
  // Every reported track was matched to a detection of its frame: at most one row per detection.
  const rows = new Float64Array(7 * dets.scores.length);
  let n = 0;
  const box = new Float64Array(4);
  const t0 = performance.now();
  for (let f = 1; f <= dets.frames; f++) {
    const out = tracker.update(dets.tlbr, dets.scores, dets.count[f], dets.start[f]);
    for (let i = 0; i < out.length; i++) {
      const t = out[i];
      t.tlwh(box);
      const o = 7 * n++;
      rows[o] = f; rows[o + 1] = t.id; rows[o + 2] = box[0]; rows[o + 3] = box[1]; rows[o + 4] = box[2]; rows[o + 5] = box[3]; rows[o + 6] = t.score;
    }
  }
  const trackTimeS = (performance.now() - t0) / 1000;
  return { rows, n, trackTimeS, frames: dets.frames };
}

/** MOT results text: `frame,id,x,y,w,h,score,-1,-1,-1` per line. */
export function formatMotTracks(t: MotTracks): string {
  const out: string[] = new Array(t.n);
  for (let i = 0; i < t.n; i++) {
    const o = 7 * i, r = t.rows;
    out[i] = `${r[o]},${r[o + 1]},${r[o + 2].toFixed(2)},${r[o + 3].toFixed(2)},${r[o + 4].toFixed(2)},${r[o + 5].toFixed(2)},${r[o + 6].toFixed(2)},-1,-1,-1\n`;
  }
  return out.join('');
}

/** Parse MOT tracks (results or ground truth): frame, id, x, y, w, h, score. */
export function parseMotTracks(text: string): MotTracks {
  const vals: number[] = [];
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#')) continue;
    const f = l.split(/[,\s]+/).slice(0, 7).map(Number);
    while (f.length < 7) f.push(1);
    vals.push(...f);
  }
  return { rows: Float64Array.from(vals), n: vals.length / 7 };
}

export interface MotComparison {
  refBoxes: number;
  matched: number;
  /** matched / refBoxes. */
  fraction: number;
  /** The frame with the lowest matched fraction (ties: the first), and that fraction. */
  worstFrame: number;
  worstFraction: number;
  /** Frames in which every reference box was matched / frames with reference boxes. */
  perfectFrames: number;
  framesWithRef: number;
  refIds: number;
  /** Reference ids given one of ours. */
  mappedIds: number;
  /** Reference ids mapped to the same number of ours (the reference's id order reproduced). */
  sameIds: number;
  /** Largest coordinate difference (x, y, w or h, pixels) between a reference box and ours with the mapped id in the same frame. */
  maxAbsDiff: number;
}

/** Plain IoU of two (x, y, w, h) boxes. */
function iouTlwh(r: Float64Array, a: number, b: number): number {
  const ax2 = r[a + 2] + r[a + 4], ay2 = r[a + 3] + r[a + 5];
  const bx2 = r[b + 2] + r[b + 4], by2 = r[b + 3] + r[b + 5];
  const iw = Math.min(ax2, bx2) - Math.max(r[a + 2], r[b + 2]);
  const ih = Math.min(ay2, by2) - Math.max(r[a + 3], r[b + 3]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / (r[a + 4] * r[a + 5] + r[b + 4] * r[b + 5] - inter);
}

/**
 * How well `ours` reproduces `ref` up to a renaming of ids: each reference id is mapped to the
 * id of ours it most often coincides with (IoU >= minIou in the same frame), one-to-one, the
 * most frequent pairs first; a reference box counts as matched when ours has a box with the
 * mapped id in that frame at IoU >= minIou.
 */
export function compareMotTracks(ref: MotTracks, ours: MotTracks, minIou = 0.99): MotComparison {
  // Concatenate so one IoU helper serves both: ours after ref.
  const all = new Float64Array((ref.n + ours.n) * 7);
  all.set(ref.rows.subarray(0, ref.n * 7));
  all.set(ours.rows.subarray(0, ours.n * 7), ref.n * 7);
  const byFrame = (base: number, n: number) => {
    const m = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const o = (base + i) * 7;
      const f = all[o];
      let l = m.get(f);
      if (!l) m.set(f, (l = []));
      l.push(o);
    }
    return m;
  };
  const refF = byFrame(0, ref.n), ourF = byFrame(ref.n, ours.n);
  const pairCount = new Map<string, number>();
  for (const [f, rs] of refF) {
    const os = ourF.get(f) ?? [];
    for (const a of rs) for (const b of os) {
      if (iouTlwh(all, a, b) >= minIou) {
        const key = `${all[a + 1]}:${all[b + 1]}`;
        pairCount.set(key, (pairCount.get(key) ?? 0) + 1);
      }
    }
  }
  const pairs = [...pairCount].map(([k, c]) => { const [r, o] = k.split(':').map(Number); return { r, o, c }; });
  pairs.sort((x, y) => y.c - x.c || x.r - y.r || x.o - y.o);
  const map = new Map<number, number>();
  const taken = new Set<number>();
  for (const p of pairs) {
    if (map.has(p.r) || taken.has(p.o)) continue;
    map.set(p.r, p.o);
    taken.add(p.o);
  }
  const frames = [...refF.keys()].sort((a, b) => a - b);
  let matched = 0, perfect = 0, worstFrame = frames[0] ?? 0, worstFraction = 1, maxAbsDiff = 0;
  const refIds = new Set<number>();
  for (const f of frames) {
    const rs = refF.get(f)!;
    const os = ourF.get(f) ?? [];
    let m = 0;
    for (const a of rs) {
      refIds.add(all[a + 1]);
      const id = map.get(all[a + 1]);
      const b = id === undefined ? undefined : os.find((x) => all[x + 1] === id);
      if (b === undefined) continue;
      for (let k = 2; k < 6; k++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(all[a + k] - all[b + k]));
      if (iouTlwh(all, a, b) >= minIou) m++;
    }
    matched += m;
    const fr = m / rs.length;
    if (m === rs.length) perfect++;
    if (fr < worstFraction) { worstFraction = fr; worstFrame = f; }
  }
  return {
    refBoxes: ref.n, matched, fraction: ref.n ? matched / ref.n : 1, worstFrame, worstFraction,
    perfectFrames: perfect, framesWithRef: frames.length, refIds: refIds.size, mappedIds: map.size,
    sameIds: [...map].filter(([r, o]) => r === o).length, maxAbsDiff,
  };
}
