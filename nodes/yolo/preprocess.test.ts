import { describe, expect, it } from 'vitest';
import { channelSources, letterboxInto, levelTables, padInto, planLetterbox, resolvePreprocess, tensorToSource } from './preprocess.js';

const YOLOX = { color: 'bgr' as const, scale: 1, mean: [0, 0, 0], std: [1, 1, 1], pad: 114 };
const V8 = { color: 'rgb' as const, scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], pad: 114 };

/** Planar tensor → rows of [c0, c1, c2] per pixel, for reading. */
function pixelsOf(t: Float32Array, w: number, h: number, off = 0): number[][][] {
  const rows: number[][][] = [];
  for (let y = 0; y < h; y++) {
    const row: number[][] = [];
    for (let x = 0; x < w; x++) row.push([0, 1, 2].map((c) => t[off + c * w * h + y * w + x]));
    rows.push(row);
  }
  return rows;
}

describe('letterbox plan', () => {
  it('fits 768x576 into 416x416: 416x312, top-left for YOLOX, centred with 52 px bands otherwise', () => {
    const tl = planLetterbox(768, 576, 768 * 3, 3, 416, 416, 'top-left');
    expect([tl.nw, tl.nh, tl.dx, tl.dy]).toEqual([416, 312, 0, 0]);
    expect(tl.scaleX).toBeCloseTo(768 / 416, 12);
    const c = planLetterbox(768, 576, 768 * 3, 3, 416, 416, 'center');
    expect([c.nw, c.nh, c.dx, c.dy]).toEqual([416, 312, 0, 52]);
    const tall = planLetterbox(480, 640, 480 * 3, 3, 640, 640, 'center');
    expect([tall.nw, tall.nh, tall.dx, tall.dy]).toEqual([480, 640, 80, 0]);
  });

  it('maps tensor pixels back to source pixels through the frame\'s own transform', () => {
    const p = planLetterbox(400, 200, 1200, 3, 32, 32, 'center'); // scale 0.08: 32x16 at dy 8
    expect([p.nw, p.nh, p.dx, p.dy]).toEqual([32, 16, 0, 8]);
    const noSource = tensorToSource(p, undefined);
    expect(noSource).toMatchObject({ scaleX: 12.5, scaleY: 12.5, offsetX: 0, offsetY: -100 });
    // The frame itself was scaled by 2 and cropped at (10, 20) from a 800x400 camera picture.
    const t = tensorToSource(p, { width: 800, height: 400, scaleX: 2, scaleY: 2, offsetX: 10, offsetY: 20 });
    expect(t).toMatchObject({ width: 800, height: 400, scaleX: 25, scaleY: 25, offsetX: 10, offsetY: 20 - 8 * 12.5 * 2 });
  });
});

describe('letterbox into the tensor', () => {
  it('copies an unscaled rgb24 frame as BGR 0–255 with 114 padding below (YOLOX), skipping row padding bytes', () => {
    // 2x1 frame, stride 8 (2 junk bytes), into a 2x2 tensor: row 0 = picture, row 1 = pad.
    const px = Uint8Array.from([10, 20, 30, 40, 50, 60, 255, 255]);
    const p = planLetterbox(2, 1, 8, 3, 2, 2, 'top-left');
    const out = new Float32Array(12).fill(-1);
    letterboxInto(p, px, out, 0, levelTables(YOLOX), channelSources('rgb24', 'bgr'), 114);
    expect(pixelsOf(out, 2, 2)).toEqual([[[30, 20, 10], [60, 50, 40]], [[114, 114, 114], [114, 114, 114]]]);
  });

  it('scales to 0–1 RGB and centres (YOLOv8); bgr24 frames are swapped, rgb24 are not', () => {
    const px = Uint8Array.from([0, 51, 255]); // one pixel
    const p = planLetterbox(1, 1, 3, 3, 1, 1, 'center');
    const out = new Float32Array(3);
    letterboxInto(p, px, out, 0, levelTables(V8), channelSources('rgb24', 'rgb'), 114);
    expect([...out]).toEqual([0, Math.fround(51 / 255), 1]);
    letterboxInto(p, px, out, 0, levelTables(V8), channelSources('bgr24', 'rgb'), 114);
    expect([...out]).toEqual([1, Math.fround(51 / 255), 0]);
  });

  it('applies mean and std per model channel, and reads gray8 into all three', () => {
    const n = { color: 'rgb' as const, scale: 1, mean: [100, 50, 0], std: [2, 5, 10], pad: 0 };
    const p = planLetterbox(1, 1, 1, 1, 1, 1, 'center');
    const out = new Float32Array(3);
    letterboxInto(p, Uint8Array.from([200]), out, 0, levelTables(n), channelSources('gray8', 'rgb'), 0);
    expect([...out]).toEqual([50, 30, 20]);
  });

  it('downscales bilinearly at pixel centres: 2:1 averages pixel pairs exactly, a flat colour stays exact', () => {
    // 4x2 gray columns 0, 100, 200, 50 → 2x1: (0+100)/2, (200+50)/2; rows identical.
    const px = Uint8Array.from([0, 100, 200, 50, 0, 100, 200, 50]);
    const p = planLetterbox(4, 2, 4, 1, 2, 2, 'center'); // 2x1 content at dy 0 (floor(1/2)=0)
    expect([p.nw, p.nh, p.dx, p.dy]).toEqual([2, 1, 0, 0]);
    const out = new Float32Array(12);
    letterboxInto(p, px, out, 0, levelTables(YOLOX), channelSources('gray8', 'bgr'), 114);
    expect(pixelsOf(out, 2, 2)).toEqual([[[50, 50, 50], [125, 125, 125]], [[114, 114, 114], [114, 114, 114]]]);
    const flat = new Uint8Array(30 * 20 * 3).fill(77);
    const q = planLetterbox(30, 20, 90, 3, 32, 32, 'center');
    const o2 = new Float32Array(3 * 32 * 32);
    letterboxInto(q, flat, o2, 0, levelTables(YOLOX), channelSources('rgb24', 'bgr'), 114);
    const grid = pixelsOf(o2, 32, 32);
    expect([q.nw, q.nh, q.dx, q.dy]).toEqual([32, 21, 0, 5]);
    for (let y = 0; y < 32; y++) {
      const want = y >= 5 && y < 26 ? 77 : 114;
      for (let x = 0; x < 32; x++) expect(grid[y][x]).toEqual([want, want, want]);
    }
  });

  it('upscales and fills side bands for tall pictures; a batch slot is written at its offset only', () => {
    const px = Uint8Array.from([0, 200]); // 1x2 gray, upscaled into a 4x4 (2x4 picture at dx 1)
    const p = planLetterbox(1, 2, 1, 1, 4, 4, 'center');
    expect([p.nw, p.nh, p.dx, p.dy]).toEqual([2, 4, 1, 0]);
    const out = new Float32Array(2 * 48).fill(-1);
    letterboxInto(p, px, out, 48, levelTables(YOLOX), channelSources('gray8', 'bgr'), 114);
    expect(out.slice(0, 48).every((v) => v === -1)).toBe(true);
    // Rows sample source y = (y + 0.5) / 2 - 0.5 → clamped 0, 0.25, 0.75, 1 → 0, 50, 150, 200.
    expect(pixelsOf(out, 4, 4, 48).map((r) => r.map((v) => v[0]))).toEqual([[114, 0, 0, 114], [114, 50, 50, 114], [114, 150, 150, 114], [114, 200, 200, 114]]);
    padInto(4, 4, out, 0, levelTables(V8), 114);
    expect(out[0]).toBe(Math.fround(114 / 255));
  });
});

describe('pre-processing options', () => {
  const auto = { color: 'auto' as const, scale: 0, align: 'auto' as const };
  it('defaults by layout: YOLOX BGR 0–255 top-left, the others RGB 0–1 centred, pad 114', () => {
    expect(resolvePreprocess('yolox', auto)).toEqual({ color: 'bgr', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], align: 'top-left', pad: 114 });
    expect(resolvePreprocess('yolov8', auto)).toEqual({ color: 'rgb', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], align: 'center', pad: 114 });
  });
  it('the manifest\'s hints override the layout\'s defaults, the graph\'s options override both', () => {
    const hints = { color: 'bgr' as const, scale: 1, mean: [1, 2, 3], std: [4, 5, 6], align: 'center' as const, pad: 0 };
    expect(resolvePreprocess('yolov8', auto, hints)).toEqual({ ...hints });
    expect(resolvePreprocess('yolov8', { color: 'rgb', scale: 0.5, align: 'top-left', mean: [0, 0, 0], pad: 7 }, hints)).toEqual({ color: 'rgb', scale: 0.5, mean: [0, 0, 0], std: [4, 5, 6], align: 'top-left', pad: 7 });
  });
});
