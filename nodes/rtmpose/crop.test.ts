import { describe, expect, it } from 'vitest';
import { apply, compose, cropRegion, cropToSource, frameToSource, invert, warpToTensor } from './crop.js';

const IMAGENET = { mean: [123.675, 116.28, 103.53] as [number, number, number], std: [58.395, 57.12, 57.375] as [number, number, number] };

describe('pose crop', () => {
  it('pads the box by 1.25 and widens or heightens it to the model aspect (192x256)', () => {
    // tall box: 100x300 → 125x375, width grows to 375·0.75
    expect(cropRegion({ x: 10, y: 20, w: 100, h: 300 }, 1.25, 192, 256)).toEqual({ cx: 60, cy: 170, w: 281.25, h: 375 });
    // wide box (a person lying): 300x100 → 375x125, height grows to 375/0.75
    expect(cropRegion({ x: 0, y: 0, w: 300, h: 100 }, 1.25, 192, 256)).toEqual({ cx: 150, cy: 50, w: 375, h: 500 });
  });

  it('maps crop pixels to source pixels: the centre to the box centre, scale = crop size / input size', () => {
    const r = cropRegion({ x: 100, y: 50, w: 153.6, h: 204.8 }, 1.25, 192, 256); // exactly 192x256
    const m = cropToSource(r, 192, 256);
    expect(m).toMatchObject({ a: 1, e: 1, b: 0, d: 0 });
    expect(apply(m, 96, 128)).toEqual([176.8, 152.4]);
    expect(apply(m, 0, 0)).toEqual([176.8 - 96, 152.4 - 128]);
    const m2 = cropToSource({ cx: 200, cy: 300, w: 384, h: 512 }, 192, 256);
    expect(apply(m2, 10, 20)).toEqual([200 - 192 + 20, 300 - 256 + 40]);
  });

  it('composes and inverts transforms exactly for frame→source scaling', () => {
    const f2s = frameToSource({ width: 1280, height: 720, scaleX: 2, scaleY: 2, offsetX: 4, offsetY: -6 });
    const s2f = invert(f2s);
    expect(apply(s2f, 104, 94)).toEqual([50, 50]);
    const m = compose(s2f, cropToSource({ cx: 100, cy: 100, w: 192, h: 256 }, 192, 256));
    expect(apply(m, 96, 128)).toEqual([48, 53]);
  });

  it('warps with integer offsets to the exact normalised pixels, reorders channels, and fills outside with black', () => {
    // 4x3 rgb frame; pixel (x, y) = [10x+y, 100+x, 200+y]
    const W = 4, H = 3;
    const px = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) px.set([10 * x + y, 100 + x, 200 + y], (y * W + x) * 3);
    const out = new Float32Array(3 * 2 * 2);
    const shift = { a: 1, b: 0, c: 1, d: 0, e: 1, f: 1 }; // crop (u, v) ← frame (u+1, v+1)
    warpToTensor({ pixels: px, width: W, height: H, stride: W * 3, format: 'rgb24' }, shift, { outW: 2, outH: 2, mean: [0, 0, 0], std: [1, 1, 1], order: 'rgb' }, out);
    expect(Array.from(out)).toEqual([11, 21, 12, 22, 101, 102, 101, 102, 201, 201, 202, 202]);
    // bgr order from an rgb frame: channel 0 is blue
    warpToTensor({ pixels: px, width: W, height: H, stride: W * 3, format: 'rgb24' }, shift, { outW: 2, outH: 2, mean: [0, 0, 0], std: [1, 1, 1], order: 'bgr' }, out);
    expect(Array.from(out.slice(0, 4))).toEqual([201, 201, 202, 202]);
    // half a pixel to the right: the average of two neighbours; beyond the right edge: blended with black
    const half = { a: 1, b: 0, c: 2.5, d: 0, e: 1, f: 0 };
    warpToTensor({ pixels: px, width: W, height: H, stride: W * 3, format: 'rgb24' }, half, { outW: 2, outH: 1, mean: [0, 0, 0], std: [1, 1, 1], order: 'rgb' }, out);
    expect(out[0]).toBe(25); // (20 + 30) / 2
    expect(out[1]).toBe(15); // (30 + 0) / 2: x = 3.5, its right neighbour is outside
    // ImageNet normalisation; far outside → (0 − mean) / std
    const far = { a: 1, b: 0, c: 100, d: 0, e: 1, f: 100 };
    warpToTensor({ pixels: px, width: W, height: H, stride: W * 3, format: 'rgb24' }, far, { outW: 1, outH: 1, ...IMAGENET, order: 'rgb' }, out);
    expect(out[0]).toBeCloseTo(-123.675 / 58.395, 6);
    expect(out[1]).toBeCloseTo(-116.28 / 57.12, 6);
  });

  it('the general (rotating) sampler and the axis-aligned fast path agree, edges included', () => {
    const W = 37, H = 23;
    const px = new Uint8Array(W * H * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 97 + 13) % 256;
    const frame = { pixels: px, width: W, height: H, stride: W * 3, format: 'bgr24' };
    const opt = { outW: 19, outH: 29, ...IMAGENET, order: 'rgb' as const };
    const m = { a: 2.3, b: 0, c: -5.4, d: 0, e: 0.9, f: -3.2 }; // runs past every edge
    const fast = new Float32Array(3 * 19 * 29), general = new Float32Array(3 * 19 * 29);
    warpToTensor(frame, m, opt, fast);
    warpToTensor(frame, { ...m, b: 1e-13 }, opt, general); // not axis-aligned: the general path
    for (let i = 0; i < fast.length; i++) expect(general[i]).toBeCloseTo(fast[i], 4);
  });

  it('scales with the transform: a 2x downscale samples between pixel pairs', () => {
    const W = 8, H = 1;
    const px = new Uint8Array(W * 3);
    for (let x = 0; x < W; x++) px.fill(x * 10, x * 3, x * 3 + 3);
    const out = new Float32Array(3 * 4);
    warpToTensor({ pixels: px, width: W, height: H, stride: W * 3, format: 'rgb24' }, { a: 2, b: 0, c: 0.5, d: 0, e: 1, f: 0 }, { outW: 4, outH: 1, mean: [0, 0, 0], std: [1, 1, 1], order: 'rgb' }, out);
    expect(Array.from(out.slice(0, 4))).toEqual([5, 25, 45, 65]);
  });
});
