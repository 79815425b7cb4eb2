/**
 * Decoders for the YOLO output layouts (see layout.ts), thresholds, NMS and the mapping of
 * boxes back to source pixels — pure functions over the output tensors of one image.
 *
 * Each decoder reads one image's slice of the output and keeps the rows whose best class
 * clears that class's threshold (per-class thresholds; classes filtered out have threshold
 * Infinity). The class of a row is its best-scoring class over all classes (a row that is
 * mostly "truck" is not reported as "car" because only cars are wanted). Then class-aware NMS
 * (not for end2end: the model already ran it), then at most `maxDetections`.
 */
import type { ModelPlan } from './layout.js';
import { STRIDES } from './layout.js';
import { nms, type Candidates } from './nms.js';
import type { LetterboxPlan } from './preprocess.js';
import type { SourceTransform } from '../../src/contract.js';

export interface Thresholds {
  /** Per class id; Infinity for classes not wanted. */
  perClass: Float32Array;
  /** For class ids beyond perClass (end2end models whose class count is unknown). */
  other: number;
  /** The smallest of them all: rows below it are skipped before looking at classes. */
  min: number;
}

export function makeThresholds(numClasses: number, score: number, perClass: ReadonlyMap<number, number>, only: ReadonlySet<number> | undefined): Thresholds {
  const t = new Float32Array(numClasses);
  for (let c = 0; c < numClasses; c++) t[c] = only && !only.has(c) ? Infinity : perClass.get(c) ?? score;
  const other = only ? Infinity : score;
  let min = other;
  for (let c = 0; c < numClasses; c++) if (t[c] < min) min = t[c];
  return { perClass: t, other, min };
}

function thresholdOf(t: Thresholds, cls: number): number {
  return cls >= 0 && cls < t.perClass.length ? t.perClass[cls] : t.other;
}

/** A growable candidate list (reused between frames). */
export class CandidateBuffer implements Candidates {
  n = 0;
  boxes = new Float32Array(4 * 256);
  scores = new Float32Array(256);
  classes = new Int32Array(256);
  keypoints: Float32Array | undefined;
  constructor(public k = 0) {
    if (k) this.keypoints = new Float32Array(256 * k * 3);
  }
  reset(k: number): void {
    this.n = 0;
    if (k !== this.k) { this.k = k; this.keypoints = k ? new Float32Array(this.scores.length * k * 3) : undefined; }
  }
  private grow(): void {
    const cap = this.scores.length * 2;
    const g = <T extends Float32Array | Int32Array>(a: T, len: number): T => { const b = new (a.constructor as new (n: number) => T)(len); b.set(a); return b; };
    this.boxes = g(this.boxes, cap * 4);
    this.scores = g(this.scores, cap);
    this.classes = g(this.classes, cap);
    if (this.keypoints) this.keypoints = g(this.keypoints, cap * this.k * 3);
  }
  push(x1: number, y1: number, x2: number, y2: number, score: number, cls: number): number {
    if (this.n === this.scores.length) this.grow();
    const i = this.n++;
    this.boxes[4 * i] = x1; this.boxes[4 * i + 1] = y1; this.boxes[4 * i + 2] = x2; this.boxes[4 * i + 3] = y2;
    this.scores[i] = score;
    this.classes[i] = cls;
    return i;
  }
}

/** Per row of a YOLOX grid: cell x, cell y, stride (planned once per input size). */
export function yoloxGrid(w: number, h: number): Float32Array {
  const g: number[] = [];
  for (const s of STRIDES) {
    const hs = Math.ceil(h / s), ws = Math.ceil(w / s);
    for (let y = 0; y < hs; y++) for (let x = 0; x < ws; x++) g.push(x, y, s);
  }
  return Float32Array.from(g);
}

/**
 * Rows [x, y, w, h, obj, cls…] with score = obj × best cls: YOLOX (`grid` given: raw grid
 * offsets, ((x, y) + cell) × stride, exp(w, h) × stride) and YOLOv5 (no grid: centre and size
 * already in input pixels). One loop for both, so their scoring cannot drift apart.
 */
function decodeObjectnessRows(out: Float32Array, off: number, rows: number, attrs: number, grid: Float32Array | null, t: Thresholds, c: CandidateBuffer): void {
  const nc = attrs - 5;
  for (let r = 0; r < rows; r++) {
    const o = off + r * attrs;
    const obj = out[o + 4];
    if (obj < t.min) continue;
    let best = 0, bs = out[o + 5];
    for (let k = 1; k < nc; k++) { const v = out[o + 5 + k]; if (v > bs) { bs = v; best = k; } }
    const score = obj * bs;
    if (score < thresholdOf(t, best)) continue;
    let cx = out[o], cy = out[o + 1], w = out[o + 2], h = out[o + 3];
    if (grid) {
      const s = grid[3 * r + 2];
      cx = (cx + grid[3 * r]) * s;
      cy = (cy + grid[3 * r + 1]) * s;
      w = Math.exp(w) * s;
      h = Math.exp(h) * s;
    }
    c.push(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score, best);
  }
}

/** YOLOX raw grid rows [x, y, log w, log h, obj, cls…]. */
export function decodeYolox(out: Float32Array, off: number, rows: number, attrs: number, grid: Float32Array, t: Thresholds, c: CandidateBuffer): void {
  decodeObjectnessRows(out, off, rows, attrs, grid, t, c);
}

/** YOLOv5 rows [cx, cy, w, h, obj, cls…] in input pixels. */
export function decodeYolov5(out: Float32Array, off: number, rows: number, attrs: number, t: Thresholds, c: CandidateBuffer): void {
  decodeObjectnessRows(out, off, rows, attrs, null, t, c);
}

/**
 * Channels-first [4+C, N] (YOLOv8/11 detect) or [5+3K, N] (pose: one class, then K keypoints).
 * Value of attribute a for anchor i: out[off + a·N + i].
 */
export function decodeYolov8(out: Float32Array, off: number, rows: number, attrs: number, keypoints: number, t: Thresholds, c: CandidateBuffer): void {
  const nc = keypoints ? 1 : attrs - 4;
  for (let i = 0; i < rows; i++) {
    let best = 0, bs = out[off + 4 * rows + i];
    for (let k = 1; k < nc; k++) { const v = out[off + (4 + k) * rows + i]; if (v > bs) { bs = v; best = k; } }
    if (bs < t.min || bs < thresholdOf(t, best)) continue;
    const cx = out[off + i], cy = out[off + rows + i], w = out[off + 2 * rows + i], h = out[off + 3 * rows + i];
    const j = c.push(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, bs, best);
    if (keypoints) {
      const kp = c.keypoints!;
      for (let k = 0; k < keypoints * 3; k++) kp[j * keypoints * 3 + k] = out[off + (5 + k) * rows + i];
    }
  }
}

/** End-to-end [N, 6]: x1, y1, x2, y2, score, class (NMS done in the model). */
export function decodeEnd2End(out: Float32Array, off: number, rows: number, t: Thresholds, c: CandidateBuffer): void {
  for (let r = 0; r < rows; r++) {
    const o = off + r * 6;
    const score = out[o + 4];
    if (!(score >= t.min)) continue;
    const cls = Math.round(out[o + 5]);
    if (score < thresholdOf(t, cls)) continue;
    c.push(out[o], out[o + 1], out[o + 2], out[o + 3], score, cls);
  }
}

/** End-to-end split outputs for image b: num_dets, boxes [N,4], scores [N], classes [N]. */
export function decodeEnd2EndSplit(num: ArrayLike<number | bigint>, boxes: Float32Array, scores: ArrayLike<number>, classes: ArrayLike<number | bigint>, b: number, rows: number, t: Thresholds, c: CandidateBuffer): void {
  const n = Math.min(rows, Number(num[b]));
  for (let r = 0; r < n; r++) {
    const i = b * rows + r;
    const score = scores[i];
    if (!(score >= t.min)) continue;
    const cls = Number(classes[i]);
    if (score < thresholdOf(t, cls)) continue;
    c.push(boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3], score, cls);
  }
}

/** One image's result: n × [x, y, w, h, score, class] in source pixels, keypoints n × k × 3. */
export interface ImageResult {
  n: number;
  dets: Float64Array;
  k: number;
  keypoints?: Float64Array;
}

/**
 * NMS (unless the model ran it), then boxes and keypoints from tensor pixels to the frame
 * (letterbox undone, clipped to the frame) and on to source pixels (the frame's transform).
 */
export function finishImage(c: CandidateBuffer, lb: LetterboxPlan, source: SourceTransform | undefined, opts: { nmsIou: number; maxDetections: number; runNms: boolean }): ImageResult {
  let keep: number[];
  if (opts.runNms) keep = nms(c, opts.nmsIou, opts.maxDetections);
  else {
    keep = Array.from({ length: c.n }, (_, i) => i).sort((a, b) => c.scores[b] - c.scores[a] || a - b).slice(0, opts.maxDetections);
  }
  const t = source ?? { width: lb.inW, height: lb.inH, scaleX: 1, scaleY: 1, offsetX: 0, offsetY: 0 };
  const fx = (x: number) => Math.min(Math.max((x - lb.dx) * lb.scaleX, 0), lb.inW);
  const fy = (y: number) => Math.min(Math.max((y - lb.dy) * lb.scaleY, 0), lb.inH);
  const dets = new Float64Array(keep.length * 6);
  const k = c.k;
  const kps = k ? new Float64Array(keep.length * k * 3) : undefined;
  keep.forEach((i, j) => {
    const b = c.boxes;
    const x1 = fx(b[4 * i]) * t.scaleX + t.offsetX, y1 = fy(b[4 * i + 1]) * t.scaleY + t.offsetY;
    const x2 = fx(b[4 * i + 2]) * t.scaleX + t.offsetX, y2 = fy(b[4 * i + 3]) * t.scaleY + t.offsetY;
    dets.set([x1, y1, x2 - x1, y2 - y1, c.scores[i], c.classes[i]], j * 6);
    if (kps) {
      const src = c.keypoints!;
      for (let q = 0; q < k; q++) {
        const s = (i * k + q) * 3, d = (j * k + q) * 3;
        kps[d] = fx(src[s]) * t.scaleX + t.offsetX;
        kps[d + 1] = fy(src[s + 1]) * t.scaleY + t.offsetY;
        kps[d + 2] = src[s + 2];
      }
    }
  });
  return { n: keep.length, dets, k, keypoints: kps };
}

/**
 * Decode one image of a batch: the candidates of image b of the outputs. `rows` is the row
 * (or anchor) count of the output as it came back (the plan's may be 0: a dynamic axis).
 */
export function decodeImage(plan: ModelPlan, outputs: readonly (Float32Array | ArrayLike<number | bigint>)[], b: number, t: Thresholds, c: CandidateBuffer, grid: Float32Array | undefined, rows = plan.rows): void {
  c.reset(plan.keypoints);
  const per = rows * plan.attrs;
  switch (plan.layout) {
    case 'yolox':
      if (!grid || grid.length !== rows * 3) throw new Error(`YOLOX output has ${rows} rows; the grid of ${plan.inputW}x${plan.inputH} has ${(grid?.length ?? 0) / 3}`);
      return decodeYolox(outputs[0] as Float32Array, b * per, rows, plan.attrs, grid, t, c);
    case 'yolov5': return decodeYolov5(outputs[0] as Float32Array, b * per, rows, plan.attrs, t, c);
    case 'yolov8':
    case 'yolov8-pose': return decodeYolov8(outputs[0] as Float32Array, b * per, rows, plan.attrs, plan.keypoints, t, c);
    case 'end2end':
      if (plan.e2e === 'split') {
        return decodeEnd2EndSplit(outputs[0] as ArrayLike<number | bigint>, outputs[1] as Float32Array, outputs[2] as ArrayLike<number>, outputs[3] as ArrayLike<number | bigint>, b, rows, t, c);
      }
      return decodeEnd2End(outputs[0] as Float32Array, b * per, rows, t, c);
  }
}

/** The row count of the output as it came back: axis 2 for channels-first layouts, else axis 1. */
export function rowsOf(plan: ModelPlan, dims: readonly number[]): number {
  return plan.layout === 'yolov8' || plan.layout === 'yolov8-pose' ? dims[2] : dims[1];
}
