/**
 * Top-down crops for pose models: the region around a person box, at the model's aspect, and
 * the affine warp that fills the model's input tensor from the frame.
 *
 * Conventions (those of mmpose and cv2.warpAffine, so RTMPose and SimplePose models see what
 * they were trained on): the crop is the box centre and size, times `padding`, widened or
 * heightened to the model's aspect (W/H); crop pixel (u, v) — integer coordinates at pixel
 * centres — samples the frame at `cropToSource(u, v)`. Keypoints found at crop coordinates map
 * back to source pixels through the same transform. Outside the frame the picture is black
 * (cv2's constant border 0) before normalisation.
 */
import type { SourceTransform } from '../../src/contract.js';

export interface Box { x: number; y: number; w: number; h: number }

/** The crop region in source pixels: centre and size (size has the model's aspect). */
export interface CropRegion { cx: number; cy: number; w: number; h: number }

/** x' = a·x + b·y + c, y' = d·x + e·y + f */
export interface Affine { a: number; b: number; c: number; d: number; e: number; f: number }

/** The crop around `box`: scaled by `padding`, then grown on one axis to the aspect inW/inH. */
export function cropRegion(box: Box, padding: number, inW: number, inH: number): CropRegion {
  let w = box.w * padding;
  let h = box.h * padding;
  const aspect = inW / inH;
  if (w > h * aspect) h = w / aspect;
  else w = h * aspect;
  return { cx: box.x + box.w / 2, cy: box.y + box.h / 2, w, h };
}

/** Crop pixel coordinates → source pixel coordinates, for a model input of inW×inH. */
export function cropToSource(r: CropRegion, inW: number, inH: number): Affine {
  const sx = r.w / inW;
  const sy = r.h / inH;
  return { a: sx, b: 0, c: r.cx - (inW / 2) * sx, d: 0, e: sy, f: r.cy - (inH / 2) * sy };
}

/** a ∘ b: apply b first, then a. */
export function compose(a: Affine, b: Affine): Affine {
  return {
    a: a.a * b.a + a.b * b.d, b: a.a * b.b + a.b * b.e, c: a.a * b.c + a.b * b.f + a.c,
    d: a.d * b.a + a.e * b.d, e: a.d * b.b + a.e * b.e, f: a.d * b.c + a.e * b.f + a.f,
  };
}

export function invert(m: Affine): Affine {
  const det = m.a * m.e - m.b * m.d;
  if (det === 0) throw new Error('affine transform is not invertible');
  const a = m.e / det, b = -m.b / det, d = -m.d / det, e = m.a / det;
  return { a, b, c: -(a * m.c + b * m.f), d, e, f: -(d * m.c + e * m.f) };
}

export function apply(m: Affine, x: number, y: number): [number, number] {
  return [m.a * x + m.b * y + m.c, m.d * x + m.e * y + m.f];
}

/** Frame pixels → source pixels (the frame's `source` transform; identity when absent). */
export function frameToSource(t: SourceTransform | undefined): Affine {
  if (!t) return { a: 1, b: 0, c: 0, d: 0, e: 1, f: 0 };
  return { a: t.scaleX, b: 0, c: t.offsetX, d: 0, e: t.scaleY, f: t.offsetY };
}

export interface WarpInput {
  pixels: Uint8Array;
  width: number;
  height: number;
  stride: number;
  /** 'rgb24' | 'bgr24' | 'gray8' */
  format: string;
}

export interface WarpOptions {
  outW: number;
  outH: number;
  /** Per model channel, on 0–255 values: (v − mean) / std. */
  mean: [number, number, number];
  std: [number, number, number];
  /** Channel order the model expects. */
  order: 'rgb' | 'bgr';
  /** Tensor layout: planar 'chw' (default; NCHW models) or interleaved 'hwc' (NHWC models). */
  layout?: 'chw' | 'hwc';
}

/**
 * Fill `out` (float32, 3×outH×outW: planar CHW, or interleaved HWC with `layout: 'hwc'`) by bilinear sampling of the frame at
 * `cropToFrame(u, v)` for every output pixel (u, v), then normalising.
 * Samples outside the frame read 0, each of the four neighbours separately (cv2's behaviour
 * with BORDER_CONSTANT), so edges blend into black.
 */
export function warpToTensor(src: WarpInput, cropToFrame: Affine, opt: WarpOptions, out: Float32Array): void {
  const { outW, outH } = opt;
  const plane = outW * outH;
  if (out.length < 3 * plane) throw new Error(`tensor too small: ${out.length} < ${3 * plane}`);
  // Output pixel o, channel c goes to out[o·ps + c·cs].
  const hwc = opt.layout === 'hwc';
  const ps = hwc ? 3 : 1, cs = hwc ? 1 : plane;
  const ch = src.format === 'gray8' ? 1 : 3;
  // Which source byte feeds model channel 0, 1, 2.
  const srcIsBgr = src.format === 'bgr24';
  const map = ch === 1 ? [0, 0, 0] : (opt.order === 'rgb') === !srcIsBgr ? [0, 1, 2] : [2, 1, 0];
  const sc = [1 / opt.std[0], 1 / opt.std[1], 1 / opt.std[2]];
  const off = [-opt.mean[0] * sc[0], -opt.mean[1] * sc[1], -opt.mean[2] * sc[2]];
  const { pixels, width: W, height: H, stride } = src;
  const m = cropToFrame;
  if (m.b === 0 && m.d === 0) {
    warpAxisAligned(src, m, outW, outH, ch, map, sc, off, ps, cs, out);
    return;
  }
  const px = [0, 0, 0];
  for (let v = 0; v < outH; v++) {
    let fx = m.b * v + m.c;
    let fy = m.e * v + m.f;
    let o = v * outW;
    for (let u = 0; u < outW; u++, o++, fx += m.a, fy += m.d) {
      const x0 = Math.floor(fx), y0 = Math.floor(fy);
      const ax = fx - x0, ay = fy - y0;
      px[0] = 0; px[1] = 0; px[2] = 0;
      if (x0 >= -1 && y0 >= -1 && x0 < W && y0 < H) {
        for (let j = 0; j < 2; j++) {
          const yy = y0 + j;
          if (yy < 0 || yy >= H) continue;
          const wy = j === 0 ? 1 - ay : ay;
          if (wy === 0) continue;
          const row = yy * stride;
          for (let i = 0; i < 2; i++) {
            const xx = x0 + i;
            if (xx < 0 || xx >= W) continue;
            const w = wy * (i === 0 ? 1 - ax : ax);
            if (w === 0) continue;
            const p = row + xx * ch;
            px[0] += w * pixels[p + map[0]];
            px[1] += w * pixels[p + map[1]];
            px[2] += w * pixels[p + map[2]];
          }
        }
      }
      const q = o * ps;
      out[q] = px[0] * sc[0] + off[0];
      out[q + cs] = px[1] * sc[1] + off[1];
      out[q + 2 * cs] = px[2] * sc[2] + off[2];
    }
  }
}

/**
 * The same sampling for a transform without rotation (every top-down crop): per-column and
 * per-row neighbours and weights computed once, neighbours outside the frame weighted 0.
 */
function warpAxisAligned(src: WarpInput, m: Affine, outW: number, outH: number, ch: number, map: number[], sc: number[], off: number[], ps: number, cs: number, out: Float32Array): void {
  const { pixels, width: W, height: H, stride } = src;
  const cx0 = new Int32Array(outW), cx1 = new Int32Array(outW), wx0 = new Float64Array(outW), wx1 = new Float64Array(outW);
  for (let u = 0; u < outW; u++) {
    const fx = m.a * u + m.c;
    const x0 = Math.floor(fx), ax = fx - x0;
    const in0 = x0 >= 0 && x0 < W, in1 = x0 + 1 >= 0 && x0 + 1 < W;
    cx0[u] = (in0 ? x0 : 0) * ch; wx0[u] = in0 ? 1 - ax : 0;
    cx1[u] = (in1 ? x0 + 1 : 0) * ch; wx1[u] = in1 ? ax : 0;
  }
  const m0 = map[0], m1 = map[1], m2 = map[2];
  const s0 = sc[0], s1 = sc[1], s2 = sc[2], o0 = off[0], o1 = off[1], o2 = off[2];
  for (let v = 0; v < outH; v++) {
    const fy = m.e * v + m.f;
    const y0 = Math.floor(fy), ay = fy - y0;
    const in0 = y0 >= 0 && y0 < H, in1 = y0 + 1 >= 0 && y0 + 1 < H;
    const r0 = (in0 ? y0 : 0) * stride, r1 = (in1 ? y0 + 1 : 0) * stride;
    const wy0 = in0 ? 1 - ay : 0, wy1 = in1 ? ay : 0;
    let o = v * outW * ps;
    for (let u = 0; u < outW; u++, o += ps) {
      const a0 = wy0 * wx0[u], a1 = wy0 * wx1[u], b0 = wy1 * wx0[u], b1 = wy1 * wx1[u];
      const p00 = r0 + cx0[u], p01 = r0 + cx1[u], p10 = r1 + cx0[u], p11 = r1 + cx1[u];
      out[o] = (a0 * pixels[p00 + m0] + a1 * pixels[p01 + m0] + b0 * pixels[p10 + m0] + b1 * pixels[p11 + m0]) * s0 + o0;
      out[o + cs] = (a0 * pixels[p00 + m1] + a1 * pixels[p01 + m1] + b0 * pixels[p10 + m1] + b1 * pixels[p11 + m1]) * s1 + o1;
      out[o + 2 * cs] = (a0 * pixels[p00 + m2] + a1 * pixels[p01 + m2] + b0 * pixels[p10 + m2] + b1 * pixels[p11 + m2]) * s2 + o2;
    }
  }
}
