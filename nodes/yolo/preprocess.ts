/**
 * Pre-processing for the yolo node, pure: one pass from a frame's pixels (rgb24, bgr24 or gray8,
 * any stride) into a planar float tensor [3, H, W] — letterbox (keep the aspect, pad), bilinear
 * sampling with pixel-centre alignment (OpenCV's INTER_LINEAR, as YOLOX and Ultralytics
 * resize), channel order, scale and mean/std all applied in the same loop. Nothing is
 * allocated per frame: the sampling tables are planned once per frame geometry, and the value
 * of each 8-bit level per channel comes from a 256-entry table.
 *
 * Tensor value = (pixel × scale − mean[c]) / std[c], channels in the model's order.
 * YOLOX: BGR, scale 1, mean 0, std 1, top-left, pad 114. YOLOv5/v8/11: RGB, scale 1/255,
 * centred, pad 114.
 */
import type { PixelFormat, SourceTransform } from '../../src/contract.js';

export type ColorOrder = 'rgb' | 'bgr';
export type Align = 'center' | 'top-left';

export interface Normalization {
  /** Channel order the model wants. */
  color: ColorOrder;
  /** Multiplies the 0–255 pixel value before mean/std (1 or 1/255). */
  scale: number;
  /** Per model channel, in the model's order. */
  mean: readonly [number, number, number] | readonly number[];
  std: readonly [number, number, number] | readonly number[];
  /** Grey level (0–255) of the padding, normalised like a pixel. */
  pad: number;
}

/** Where a W×H frame lands in the model's input and how to get back. */
export interface LetterboxPlan {
  inW: number; inH: number; stride: number; ch: number;
  outW: number; outH: number;
  /** Content rectangle in the tensor; the rest is padding. */
  dx: number; dy: number; nw: number; nh: number;
  /** Frame pixels per tensor pixel (inW / nw, inH / nh). */
  scaleX: number; scaleY: number;
  /** Byte offset of the left/right tap per output column (x × ch); weight of the right tap in 1/256. */
  x0: Int32Array; x1: Int32Array; xw: Int32Array;
  /** Byte offset of the upper/lower row per output row; weight of the lower row in 1/256. */
  y0: Int32Array; y1: Int32Array; yw: Int32Array;
}

export function channelsOf(format: PixelFormat): number {
  return format === 'gray8' ? 1 : 3;
}

/** Plan a letterbox of an inW×inH frame (rows `stride` bytes apart) into outW×outH. */
export function planLetterbox(inW: number, inH: number, stride: number, ch: number, outW: number, outH: number, align: Align): LetterboxPlan {
  const s = Math.min(outW / inW, outH / inH);
  const nw = Math.min(outW, Math.max(1, Math.round(inW * s)));
  const nh = Math.min(outH, Math.max(1, Math.round(inH * s)));
  const dx = align === 'center' ? Math.floor((outW - nw) / 2) : 0;
  const dy = align === 'center' ? Math.floor((outH - nh) / 2) : 0;
  const sx = inW / nw, sy = inH / nh;
  const x0 = new Int32Array(nw), x1 = new Int32Array(nw), xw = new Int32Array(nw);
  for (let x = 0; x < nw; x++) {
    const f = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), inW - 1);
    const i = Math.floor(f);
    x0[x] = i * ch;
    x1[x] = Math.min(i + 1, inW - 1) * ch;
    xw[x] = Math.round((f - i) * 256);
  }
  const y0 = new Int32Array(nh), y1 = new Int32Array(nh), yw = new Int32Array(nh);
  for (let y = 0; y < nh; y++) {
    const f = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), inH - 1);
    const i = Math.floor(f);
    y0[y] = i * stride;
    y1[y] = Math.min(i + 1, inH - 1) * stride;
    yw[y] = Math.round((f - i) * 256);
  }
  return { inW, inH, stride, ch, outW, outH, dx, dy, nw, nh, scaleX: sx, scaleY: sy, x0, x1, xw, y0, y1, yw };
}

/** Per model channel, the tensor value of each 8-bit level: 3 × 256 floats. */
export function levelTables(n: Normalization): Float32Array {
  const lut = new Float32Array(768);
  for (let c = 0; c < 3; c++) {
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v * n.scale - n.mean[c]) / n.std[c];
  }
  return lut;
}

/**
 * Which byte of a source pixel feeds each model channel: rgb24 → BGR model reads bytes 2,1,0;
 * gray8 reads byte 0 three times.
 */
export function channelSources(format: PixelFormat, color: ColorOrder): [number, number, number] {
  if (format === 'gray8') return [0, 0, 0];
  return format.startsWith(color) ? [0, 1, 2] : [2, 1, 0];
}

/**
 * Fill one image of the input tensor: `out[offset .. offset + 3·outW·outH)`, planar CHW.
 * `lut` from levelTables, `src` from channelSources. One pass over the output.
 */
export function letterboxInto(p: LetterboxPlan, pixels: Uint8Array, out: Float32Array, offset: number, lut: Float32Array, src: readonly number[], pad: number): void {
  const { outW, outH, dx, dy, nw, nh, x0, x1, xw, y0, y1, yw } = p;
  const plane = outW * outH;
  const o0 = offset, o1 = offset + plane, o2 = offset + 2 * plane;
  const s0 = src[0], s1 = src[1], s2 = src[2];
  const p0 = lut[pad], p1 = lut[256 + pad], p2 = lut[512 + pad];
  // Padding: rows above and below the content, then the side bands of content rows.
  const fillRows = (from: number, to: number) => {
    if (to <= from) return;
    out.fill(p0, o0 + from * outW, o0 + to * outW);
    out.fill(p1, o1 + from * outW, o1 + to * outW);
    out.fill(p2, o2 + from * outW, o2 + to * outW);
  };
  fillRows(0, dy);
  fillRows(dy + nh, outH);
  const right = outW - dx - nw;
  const exact = nw === p.inW && nh === p.inH; // no scaling: straight copy with conversion
  for (let y = 0; y < nh; y++) {
    const row = (dy + y) * outW;
    if (dx > 0) { out.fill(p0, o0 + row, o0 + row + dx); out.fill(p1, o1 + row, o1 + row + dx); out.fill(p2, o2 + row, o2 + row + dx); }
    if (right > 0) {
      const r = row + dx + nw;
      out.fill(p0, o0 + r, o0 + r + right); out.fill(p1, o1 + r, o1 + r + right); out.fill(p2, o2 + r, o2 + r + right);
    }
    let o = row + dx;
    if (exact) {
      const ch = p.ch;
      let a = y0[y];
      const end = o + nw;
      for (; o < end; o++, a += ch) {
        out[o0 + o] = lut[pixels[a + s0]];
        out[o1 + o] = lut[256 + pixels[a + s1]];
        out[o2 + o] = lut[512 + pixels[a + s2]];
      }
      continue;
    }
    const r0 = y0[y], r1 = y1[y], wy = yw[y], iwy = 256 - wy;
    for (let x = 0; x < nw; x++, o++) {
      const ax = x0[x], bx = x1[x], wx = xw[x], iwx = 256 - wx;
      const a = r0 + ax, b = r0 + bx, c = r1 + ax, d = r1 + bx;
      let top = pixels[a + s0] * iwx + pixels[b + s0] * wx;
      let bot = pixels[c + s0] * iwx + pixels[d + s0] * wx;
      out[o0 + o] = lut[(top * iwy + bot * wy + 32768) >> 16];
      top = pixels[a + s1] * iwx + pixels[b + s1] * wx;
      bot = pixels[c + s1] * iwx + pixels[d + s1] * wx;
      out[o1 + o] = lut[256 + ((top * iwy + bot * wy + 32768) >> 16)];
      top = pixels[a + s2] * iwx + pixels[b + s2] * wx;
      bot = pixels[c + s2] * iwx + pixels[d + s2] * wx;
      out[o2 + o] = lut[512 + ((top * iwy + bot * wy + 32768) >> 16)];
    }
  }
}

/** Fill one image slot with padding only (batch slots of a fixed-batch model left unused). */
export function padInto(outW: number, outH: number, out: Float32Array, offset: number, lut: Float32Array, pad: number): void {
  const plane = outW * outH;
  for (let c = 0; c < 3; c++) out.fill(lut[c * 256 + pad], offset + c * plane, offset + (c + 1) * plane);
}

/**
 * Tensor pixels → source (camera) pixels: the letterbox undone, then the frame's own transform
 * (set by whatever scaled it before) applied. source = tensor × scale + offset.
 */
export function tensorToSource(p: LetterboxPlan, frameSource: SourceTransform | undefined): { scaleX: number; scaleY: number; offsetX: number; offsetY: number; width: number; height: number } {
  const t = frameSource ?? { width: p.inW, height: p.inH, scaleX: 1, scaleY: 1, offsetX: 0, offsetY: 0 };
  return {
    width: t.width, height: t.height,
    scaleX: t.scaleX * p.scaleX, scaleY: t.scaleY * p.scaleY,
    offsetX: t.offsetX - p.dx * p.scaleX * t.scaleX, offsetY: t.offsetY - p.dy * p.scaleY * t.scaleY,
  };
}

/** What the graph may set; `auto`, 0 and absent mean "the manifest's hint, else the layout's default". */
export interface PreprocessOptions {
  color: ColorOrder | 'auto';
  scale: number;
  mean?: readonly number[];
  std?: readonly number[];
  align: Align | 'auto';
  pad?: number;
}

export interface PreprocessHints { color?: ColorOrder; scale?: number; mean?: readonly number[]; std?: readonly number[]; align?: Align; pad?: number }

/**
 * The pre-processing a model gets: the graph's options, else the model manifest's hints, else
 * what the layout's models were trained with — YOLOX BGR 0–255 top-left; YOLOv5/v8/11 (and
 * most end-to-end exports) RGB 0–1 centred; pad 114, no mean/std.
 */
export function resolvePreprocess(layout: string, o: PreprocessOptions, hint: PreprocessHints = {}): Normalization & { align: Align } {
  const yolox = layout === 'yolox';
  return {
    color: o.color !== 'auto' ? o.color : hint.color ?? (yolox ? 'bgr' : 'rgb'),
    scale: o.scale > 0 ? o.scale : hint.scale ?? (yolox ? 1 : 1 / 255),
    mean: o.mean ?? hint.mean ?? [0, 0, 0],
    std: o.std ?? hint.std ?? [1, 1, 1],
    align: o.align !== 'auto' ? o.align : hint.align ?? (yolox ? 'top-left' : 'center'),
    pad: o.pad ?? hint.pad ?? 114,
  };
}
