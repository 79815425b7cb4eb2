/**
 * Class-aware greedy non-maximum suppression, pure. Boxes are corners (x1, y1, x2, y2) in any
 * one coordinate system; IoU uses continuous coordinates (area = w × h, no "+1"). A box is
 * suppressed by a higher-scoring kept box of the same class whose IoU with it is greater than
 * `iou` (torchvision's rule, which YOLOX and Ultralytics use). Ties in score keep input order.
 */

/** Candidates as parallel arrays: box i is boxes[4i .. 4i+3]. */
export interface Candidates {
  n: number;
  boxes: Float32Array;
  scores: Float32Array;
  classes: Int32Array;
  /** Optional per-candidate keypoints, k × 3 floats each (x, y, score). */
  keypoints?: Float32Array;
  /** Keypoints per candidate (0 when none). */
  k: number;
}

export function iou(b: ArrayLike<number>, i: number, j: number): number {
  const ax1 = b[4 * i], ay1 = b[4 * i + 1], ax2 = b[4 * i + 2], ay2 = b[4 * i + 3];
  const bx1 = b[4 * j], by1 = b[4 * j + 1], bx2 = b[4 * j + 2], by2 = b[4 * j + 3];
  const iw = Math.min(ax2, bx2) - Math.max(ax1, bx1);
  const ih = Math.min(ay2, by2) - Math.max(ay1, by1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Indices of the kept candidates, best score first, at most `maxDet`.
 * `classAware` false suppresses across classes too (not the default of the node).
 */
export function nms(c: Candidates, iouThreshold: number, maxDet: number, classAware = true): number[] {
  const order = Array.from({ length: c.n }, (_, i) => i);
  const s = c.scores;
  order.sort((a, b) => s[b] - s[a] || a - b);
  const keep: number[] = [];
  const removed = new Uint8Array(c.n);
  for (let oi = 0; oi < order.length && keep.length < maxDet; oi++) {
    const i = order[oi];
    if (removed[i]) continue;
    keep.push(i);
    for (let oj = oi + 1; oj < order.length; oj++) {
      const j = order[oj];
      if (removed[j]) continue;
      if (classAware && c.classes[j] !== c.classes[i]) continue;
      if (iou(c.boxes, i, j) > iouThreshold) removed[j] = 1;
    }
  }
  return keep;
}
