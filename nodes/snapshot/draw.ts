/**
 * Snapshot drawing: which part of a frame to show and at what size (`planView`), the frame's
 * pixels into a canvas in one pass (`fillCanvas`), and the overlay — the event's object box in
 * its risk colour with a label, its COCO-17 skeleton, other detections thin and grey — then the
 * JPEG (`SnapshotRenderer`).
 *
 * Coordinates: boxes and keypoints come in source (camera) pixels; the frame may be scaled and
 * offset from that (source = frame × scale + offset), and the picture is a region of the frame
 * scaled down again. Everything is mapped source → frame → picture before drawing.
 */
import { endianness } from 'node:os';
import { createCanvas, GlobalFonts, type Canvas, type ImageData, type SKRSContext2D } from '@napi-rs/canvas';
import type { Frame, Keypoint, RiskLevel } from '../../src/contract.js';

export interface Box { x: number; y: number; w: number; h: number }

export interface ViewOptions {
  maxWidth: number;
  maxHeight: number;
  crop: 'none' | 'object';
  /** Share of the box width/height added on each side of a crop. */
  cropPadding: number;
}

export interface View {
  /** Region of the frame shown, in frame pixels (integers, inside the frame). */
  region: Box;
  /** Picture size. */
  width: number;
  height: number;
  /** The region in source pixels when cropped. */
  crop?: Box;
  /** Source pixels → picture pixels. */
  toPicture(x: number, y: number): [number, number];
}

/** Source (camera) pixels → frame pixels: frame = (source − offset) / scale. */
export function sourceToFrame(frame: Pick<Frame, 'source'>, x: number, y: number): [number, number] {
  const s = frame.source;
  return s ? [(x - s.offsetX) / s.scaleX, (y - s.offsetY) / s.scaleY] : [x, y];
}

/** Frame pixels → source pixels. */
export function frameToSource(frame: Pick<Frame, 'source'>, x: number, y: number): [number, number] {
  const s = frame.source;
  return s ? [x * s.scaleX + s.offsetX, y * s.scaleY + s.offsetY] : [x, y];
}

/**
 * The region of the frame to show and the picture size: the whole frame, or (crop: object) the
 * box padded by `cropPadding` of its size on each side, clipped to the camera picture and the
 * frame; scaled down to fit `maxWidth` × `maxHeight` keeping the aspect, never up. A crop that
 * leaves nothing of the frame (a box outside it) shows the whole frame.
 */
export function planView(frame: Pick<Frame, 'width' | 'height' | 'source'>, box: Box | undefined, o: ViewOptions): View {
  let region: Box = { x: 0, y: 0, w: frame.width, h: frame.height };
  let crop: Box | undefined;
  if (o.crop === 'object' && box) {
    const srcW = frame.source?.width ?? frame.width, srcH = frame.source?.height ?? frame.height;
    const px = box.w * o.cropPadding, py = box.h * o.cropPadding;
    const sx0 = Math.max(0, box.x - px), sy0 = Math.max(0, box.y - py);
    const sx1 = Math.min(srcW, box.x + box.w + px), sy1 = Math.min(srcH, box.y + box.h + py);
    const [fx0, fy0] = sourceToFrame(frame, sx0, sy0);
    const [fx1, fy1] = sourceToFrame(frame, sx1, sy1);
    // Whole frame pixels that cover the padded box.
    const x0 = Math.max(0, Math.floor(fx0)), y0 = Math.max(0, Math.floor(fy0));
    const x1 = Math.min(frame.width, Math.ceil(fx1)), y1 = Math.min(frame.height, Math.ceil(fy1));
    if (x1 - x0 >= 1 && y1 - y0 >= 1) {
      region = { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
      const [cx0, cy0] = frameToSource(frame, x0, y0);
      const [cx1, cy1] = frameToSource(frame, x1, y1);
      crop = { x: cx0, y: cy0, w: cx1 - cx0, h: cy1 - cy0 };
    }
  }
  const s = Math.min(1, o.maxWidth / region.w, o.maxHeight / region.h);
  const width = Math.max(1, Math.round(region.w * s)), height = Math.max(1, Math.round(region.h * s));
  const kx = width / region.w, ky = height / region.h;
  return {
    region, width, height, crop,
    toPicture(x, y) {
      const [fx, fy] = sourceToFrame(frame, x, y);
      return [(fx - region.x) * kx, (fy - region.y) * ky];
    },
  };
}

/** A frame's geometry against its buffer; throws naming what is wrong. */
export function checkFrame(f: Frame): void {
  const bpp = f.format === 'gray8' ? 1 : f.format === 'rgb24' || f.format === 'bgr24' ? 3 : 0;
  if (!bpp) throw new Error(`frame format "${String(f.format)}" is not rgb24, bgr24 or gray8`);
  if (!Number.isInteger(f.width) || !Number.isInteger(f.height) || f.width < 1 || f.height < 1) throw new Error(`frame size ${f.width}x${f.height} is not a positive integer size`);
  if (!Number.isInteger(f.stride) || f.stride < f.width * bpp) throw new Error(`frame stride ${f.stride} is less than width × ${bpp} (${f.width * bpp})`);
  const need = f.stride * (f.height - 1) + f.width * bpp;
  if (!f.pixels || f.pixels.length < need) throw new Error(`frame pixels hold ${f.pixels?.length ?? 0} bytes, ${f.width}x${f.height} ${f.format} with stride ${f.stride} needs ${need}`);
}

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * Copy a region of the frame into RGBA image data (same size as the region), one pass, honouring
 * format and stride. Pixels are written as whole 32-bit words where the platform allows.
 */
export function fillImageData(f: Frame, region: Box, image: { data: Uint8ClampedArray; width: number; height: number }): void {
  const { x: rx, y: ry, w, h } = region;
  if (image.width !== w || image.height !== h) throw new Error(`image data is ${image.width}x${image.height}, region ${w}x${h}`);
  const src = f.pixels, stride = f.stride, d = image.data;
  const words = LITTLE_ENDIAN && d.byteOffset % 4 === 0 ? new Uint32Array(d.buffer, d.byteOffset, w * h) : undefined;
  let o = 0;
  if (f.format === 'gray8') {
    for (let y = 0; y < h; y++) {
      let s = (ry + y) * stride + rx;
      if (words) for (let x = 0; x < w; x++) { const v = src[s++]; words[o++] = (v | (v << 8) | (v << 16) | 0xff000000) >>> 0; }
      else for (let x = 0; x < w; x++) { const v = src[s++]; d[o++] = v; d[o++] = v; d[o++] = v; d[o++] = 255; }
    }
    return;
  }
  // Offsets of red and blue within a pixel.
  const r = f.format === 'rgb24' ? 0 : 2, b = 2 - r;
  for (let y = 0; y < h; y++) {
    let s = (ry + y) * stride + rx * 3;
    if (words) for (let x = 0; x < w; x++, s += 3) words[o++] = (src[s + r] | (src[s + 1] << 8) | (src[s + b] << 16) | 0xff000000) >>> 0;
    else for (let x = 0; x < w; x++, s += 3) { d[o++] = src[s + r]; d[o++] = src[s + 1]; d[o++] = src[s + b]; d[o++] = 255; }
  }
}

export interface DrawOptions { boxes: boolean; labels: boolean; keypoints: boolean }

/** What to draw, all in source pixels. */
export interface Overlay {
  box: Box;
  risk: RiskLevel;
  label: string;
  keypoints?: Keypoint[];
  others: { box: Box; label: string }[];
}

/** Risk colours: fill/stroke and the text colour readable on it. */
export const RISK_COLOURS: Record<RiskLevel, { rgb: [number, number, number]; text: string }> = {
  info: { rgb: [0, 200, 83], text: '#000' },
  warn: { rgb: [255, 145, 0], text: '#000' },
  critical: { rgb: [230, 20, 40], text: '#fff' },
};
export const OTHER_RGB: [number, number, number] = [190, 190, 190];
export const SKELETON_RGB: [number, number, number] = [0, 220, 255];
export const MIN_KEYPOINT_SCORE = 0.3;

/** COCO-17 limbs (keypoint index pairs). */
export const COCO_SKELETON: readonly [number, number][] = [
  [15, 13], [13, 11], [16, 14], [14, 12], [11, 12], [5, 11], [6, 12], [5, 6], [5, 7], [6, 8], [7, 9], [8, 10],
  [1, 2], [0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6],
];

const css = ([r, g, b]: [number, number, number]) => `rgb(${r},${g},${b})`;

/** Line widths and font size for a picture size: readable at 1280x720 and in small crops. */
export function strokeSizes(width: number, height: number): { thick: number; thin: number; font: number } {
  const m = Math.min(width, height);
  const thick = Math.max(3, Math.round(m / 160));
  return { thick, thin: Math.max(1, Math.round(thick / 2.5)), font: Math.max(12, Math.round(m / 30)) };
}

/** Text on a filled background at (x, y) = top-left of the label, kept inside the picture. */
function label(ctx: SKRSContext2D, text: string, x: number, y: number, font: number, bg: string, fg: string, pw: number, ph: number): void {
  const pad = Math.max(3, Math.round(font / 4));
  const w = Math.ceil(ctx.measureText(text).width) + 2 * pad, h = font + 2 * pad;
  const lx = Math.min(Math.max(0, x), Math.max(0, pw - w));
  // Above the box when there is room, else just inside its top.
  const ly = y - h >= 0 ? y - h : Math.min(Math.max(0, y), Math.max(0, ph - h));
  ctx.fillStyle = bg;
  ctx.fillRect(lx, ly, w, h);
  ctx.fillStyle = fg;
  ctx.textBaseline = 'middle';
  ctx.fillText(text, lx + pad, ly + h / 2);
}

export function drawOverlay(ctx: SKRSContext2D, view: View, ov: Overlay, d: DrawOptions): void {
  const { thick, thin, font } = strokeSizes(view.width, view.height);
  const rect = (b: Box): Box => {
    const [x0, y0] = view.toPicture(b.x, b.y);
    const [x1, y1] = view.toPicture(b.x + b.w, b.y + b.h);
    return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  };
  ctx.save();
  ctx.lineJoin = 'miter';
  // Others wholly outside the picture (a crop) are left out, labels and all.
  const others = ov.others.map((o) => ({ r: rect(o.box), label: o.label })).filter(({ r }) => r.x < view.width && r.y < view.height && r.x + r.w > 0 && r.y + r.h > 0);
  if (d.boxes) {
    ctx.strokeStyle = css(OTHER_RGB);
    ctx.lineWidth = thin;
    for (const o of others) ctx.strokeRect(o.r.x, o.r.y, o.r.w, o.r.h);
  }
  const main = rect(ov.box);
  const colour = RISK_COLOURS[ov.risk];
  if (d.boxes) {
    ctx.strokeStyle = css(colour.rgb);
    ctx.lineWidth = thick;
    ctx.strokeRect(main.x, main.y, main.w, main.h);
  }
  const kps = ov.keypoints?.slice(0, 17);
  if (d.keypoints && kps && kps.length === 17) {
    const pts = kps.map((k) => (k.score >= MIN_KEYPOINT_SCORE && Number.isFinite(k.x) && Number.isFinite(k.y) ? view.toPicture(k.x, k.y) : undefined));
    ctx.strokeStyle = css(SKELETON_RGB);
    ctx.lineWidth = Math.max(2, Math.round(thick * 0.6));
    ctx.lineCap = 'round';
    ctx.beginPath();
    for (const [a, b] of COCO_SKELETON) {
      const pa = pts[a], pb = pts[b];
      if (pa && pb) { ctx.moveTo(pa[0], pa[1]); ctx.lineTo(pb[0], pb[1]); }
    }
    ctx.stroke();
    const r = Math.max(2, thick * 0.8);
    ctx.fillStyle = '#fff';
    ctx.strokeStyle = '#000';
    ctx.lineWidth = 1;
    for (const p of pts) {
      if (!p) continue;
      ctx.beginPath();
      ctx.arc(p[0], p[1], r, 0, Math.PI * 2);
      ctx.fill();
      ctx.stroke();
    }
  }
  if (d.labels && GlobalFonts.families.length > 0) {
    ctx.font = `${Math.max(10, Math.round(font * 0.75))}px sans-serif`;
    for (const o of others) if (o.label) label(ctx, o.label, o.r.x, o.r.y, Math.max(10, Math.round(font * 0.75)), 'rgba(30,30,30,0.8)', '#eee', view.width, view.height);
    ctx.font = `bold ${font}px sans-serif`;
    label(ctx, ov.label, main.x - thick / 2, main.y - thick / 2, font, css(colour.rgb), colour.text, view.width, view.height);
  }
  ctx.restore();
}

interface Surface { canvas: Canvas; ctx: SKRSContext2D; image?: ImageData }

export interface Rendered { jpeg: Buffer; width: number; height: number; crop?: Box }

/**
 * Frame + overlay → JPEG. Canvases are kept per size (a few) and reused: fresh canvas memory
 * costs page faults on every first touch (tens of ms for 1280x720 here), reused memory does not.
 * Not re-entrant: one render at a time per renderer (the node runs with concurrency 1).
 */
export class SnapshotRenderer {
  private readonly surfaces = new Map<string, Surface>();

  constructor(private readonly maxSurfaces = 4) {}

  private surface(w: number, h: number, role: string): Surface {
    const key = `${role}:${w}x${h}`;
    let s = this.surfaces.get(key);
    if (s) this.surfaces.delete(key); // re-insert: the map's order is the use order
    else {
      const canvas = createCanvas(w, h);
      s = { canvas, ctx: canvas.getContext('2d') };
    }
    this.surfaces.set(key, s);
    while (this.surfaces.size > this.maxSurfaces) this.surfaces.delete(this.surfaces.keys().next().value!);
    return s;
  }

  /** Draws synchronously; only the JPEG encoding is asynchronous (libuv's thread pool). */
  async render(frame: Frame, overlay: Overlay, view: ViewOptions, draw: DrawOptions, quality: number): Promise<Rendered> {
    checkFrame(frame);
    const v = planView(frame, overlay.box, view);
    const { region } = v;
    const src = this.surface(region.w, region.h, 'frame');
    src.image ??= src.ctx.createImageData(region.w, region.h);
    fillImageData(frame, region, src.image);
    src.ctx.putImageData(src.image, 0, 0);
    let out = src;
    if (v.width !== region.w || v.height !== region.h) {
      out = this.surface(v.width, v.height, 'picture');
      out.ctx.imageSmoothingEnabled = true;
      out.ctx.imageSmoothingQuality = 'high';
      out.ctx.drawImage(src.canvas, 0, 0, v.width, v.height);
    }
    drawOverlay(out.ctx, v, overlay, draw);
    const jpeg = await out.canvas.encode('jpeg', quality);
    return { jpeg, width: v.width, height: v.height, crop: v.crop };
  }

  clear(): void {
    this.surfaces.clear();
  }
}

export const hasFonts = (): boolean => GlobalFonts.families.length > 0;
