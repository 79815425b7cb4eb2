/**
 * Decoders for top-down pose model outputs, chosen from the output shapes:
 * - SimCC (RTMPose): two outputs [1, K, W·r] and [1, K, H·r] — one 1-D classification per axis
 *   with r bins per input pixel (split ratio, 2 for RTMPose). Location = argmax / r; score =
 *   min(max_x, max_y), as mmpose's `get_simcc_maximum`.
 * - Heatmaps (SimpleBaseline, HRNet, SimplePose): one output [1, K, h, w] at a stride of the
 *   input. Location = argmax, moved a quarter pixel towards the higher neighbour on each axis,
 *   times the stride (input size / heatmap size); score = the peak value.
 * Both return keypoints in crop (model input) pixel coordinates.
 */

export interface CropKeypoint { x: number; y: number; score: number }

export type PoseHead =
  | { kind: 'simcc'; x: string; y: string; keypoints: number; binsX: number; binsY: number; splitRatio: number }
  | { kind: 'heatmap'; name: string; keypoints: number; h: number; w: number };

export interface OutputInfo { name: string; dims: readonly number[] }

/**
 * Which decoder fits these outputs of a model whose input is inW×inH. Throws a message naming
 * the shapes when neither does.
 */
export function chooseHead(outputs: OutputInfo[], inW: number, inH: number): PoseHead {
  const squeeze = (d: readonly number[]) => (d.length > 0 && d[0] === 1 ? d.slice(1) : d);
  const rank2 = outputs.filter((o) => squeeze(o.dims).length === 2);
  const rank3 = outputs.filter((o) => squeeze(o.dims).length === 3);
  if (rank2.length >= 2) {
    // Name first (simcc_x / simcc_y), else by which bin count fits which axis.
    let x = rank2.find((o) => /(^|_)x$/i.test(o.name));
    let y = rank2.find((o) => /(^|_)y$/i.test(o.name));
    if (!x || !y || x === y) {
      const [p, q] = rank2;
      const [, bp] = squeeze(p.dims), [, bq] = squeeze(q.dims);
      const fit = (bx: number, by: number) => Math.abs(bx / inW - by / inH);
      [x, y] = fit(bp, bq) <= fit(bq, bp) ? [p, q] : [q, p];
    }
    const [kx, bx] = squeeze(x.dims), [ky, by] = squeeze(y.dims);
    if (kx !== ky) throw new Error(`SimCC outputs disagree on the keypoint count: ${x.name} [${x.dims}] and ${y.name} [${y.dims}]`);
    const splitRatio = bx / inW;
    if (Math.abs(by / inH - splitRatio) > 1e-6) throw new Error(`SimCC outputs ${x.name} [${x.dims}] and ${y.name} [${y.dims}] do not share one split ratio for a ${inW}x${inH} input`);
    return { kind: 'simcc', x: x.name, y: y.name, keypoints: kx, binsX: bx, binsY: by, splitRatio };
  }
  if (rank3.length >= 1) {
    const o = rank3[0];
    const [k, h, w] = squeeze(o.dims);
    return { kind: 'heatmap', name: o.name, keypoints: k, h, w };
  }
  throw new Error(`pose model outputs not recognised (want SimCC [1,K,W*r] + [1,K,H*r], or heatmaps [1,K,h,w]): ${outputs.map((o) => `${o.name} [${o.dims}]`).join(', ')}`);
}

/** SimCC: per keypoint, argmax over each axis's bins; first maximum wins on ties. */
export function decodeSimcc(sx: ArrayLike<number>, sy: ArrayLike<number>, keypoints: number, binsX: number, binsY: number, splitRatio: number): CropKeypoint[] {
  const out: CropKeypoint[] = [];
  for (let k = 0; k < keypoints; k++) {
    const [ix, vx] = argmax(sx, k * binsX, binsX);
    const [iy, vy] = argmax(sy, k * binsY, binsY);
    out.push({ x: ix / splitRatio, y: iy / splitRatio, score: Math.min(vx, vy) });
  }
  return out;
}

/**
 * Heatmaps [K, h, w] for an input of inW×inH: argmax, then a quarter pixel towards the larger
 * neighbour on each axis (none at the border or on a tie), times the stride.
 */
export function decodeHeatmaps(hm: ArrayLike<number>, keypoints: number, h: number, w: number, inW: number, inH: number): CropKeypoint[] {
  const out: CropKeypoint[] = [];
  const plane = h * w;
  const strideX = inW / w, strideY = inH / h;
  for (let k = 0; k < keypoints; k++) {
    const base = k * plane;
    const [i, v] = argmax(hm, base, plane);
    const px = i % w, py = (i - px) / w;
    let x = px, y = py;
    if (px > 0 && px < w - 1) x += 0.25 * Math.sign(hm[base + i + 1] - hm[base + i - 1]);
    if (py > 0 && py < h - 1) y += 0.25 * Math.sign(hm[base + i + w] - hm[base + i - w]);
    out.push({ x: x * strideX, y: y * strideY, score: v });
  }
  return out;
}

function argmax(a: ArrayLike<number>, start: number, n: number): [number, number] {
  let best = 0, val = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = a[start + i];
    if (v > val) { val = v; best = i; }
  }
  return [best, val];
}
