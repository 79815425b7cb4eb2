import { describe, expect, it } from 'vitest';
import type { Frame } from '../../src/contract.js';
import { allocFrameBuffer } from '../../src/frames.js';
import { checkFrame, fillImageData, planView, strokeSizes } from './draw.js';

const view = { maxWidth: 1280, maxHeight: 720, crop: 'none' as const, cropPadding: 0.5 };

describe('planView: region, picture size and coordinate mapping', () => {
  it('whole frame at its size when it fits; scaled down keeping the aspect, never up', () => {
    expect(planView({ width: 1280, height: 720 }, undefined, view)).toMatchObject({ region: { x: 0, y: 0, w: 1280, h: 720 }, width: 1280, height: 720, crop: undefined });
    expect(planView({ width: 1920, height: 1080 }, undefined, view)).toMatchObject({ width: 1280, height: 720 });
    expect(planView({ width: 640, height: 360 }, undefined, view)).toMatchObject({ width: 640, height: 360 });
    expect(planView({ width: 1280, height: 720 }, undefined, { ...view, maxWidth: 320, maxHeight: 240 })).toMatchObject({ width: 320, height: 180 });
    expect(planView({ width: 768, height: 576 }, undefined, { ...view, maxWidth: 1000, maxHeight: 288 })).toMatchObject({ width: 384, height: 288 });
  });

  it('maps source pixels through the frame transform and the scale-down', () => {
    const half = { width: 640, height: 360, source: { width: 1280, height: 720, scaleX: 2, scaleY: 2, offsetX: 0, offsetY: 0 } };
    expect(planView(half, undefined, view).toPicture(400, 200)).toEqual([200, 100]);
    const offset = { ...half, source: { ...half.source, offsetX: 100, offsetY: 40 } };
    expect(planView(offset, undefined, view).toPicture(400, 200)).toEqual([150, 80]);
    const big = planView({ width: 1920, height: 1080 }, undefined, view);
    expect(big.toPicture(600, 300)).toEqual([400, 200]);
  });

  it('crop: object — the box padded by crop_padding each side, in whole frame pixels, clipped; the crop in source pixels', () => {
    const box = { x: 400, y: 200, w: 300, h: 250 };
    const v = planView({ width: 1280, height: 720 }, box, { ...view, crop: 'object' });
    expect(v.region).toEqual({ x: 250, y: 75, w: 600, h: 500 });
    expect(v.crop).toEqual({ x: 250, y: 75, w: 600, h: 500 });
    expect([v.width, v.height]).toEqual([600, 500]);
    expect(v.toPicture(400, 200)).toEqual([150, 125]);
    // Clipped at the frame's corner.
    const corner = planView({ width: 1280, height: 720 }, { x: 1100, y: 600, w: 150, h: 100 }, { ...view, crop: 'object' });
    expect(corner.region).toEqual({ x: 1025, y: 550, w: 255, h: 170 });
    // Half-size frame: region in frame pixels, crop in source pixels.
    const half = planView({ width: 640, height: 360, source: { width: 1280, height: 720, scaleX: 2, scaleY: 2, offsetX: 0, offsetY: 0 } }, box, { ...view, crop: 'object' });
    expect(half.region).toEqual({ x: 125, y: 37, w: 300, h: 251 }); // 37.5 and 287.5 widened to whole pixels
    expect(half.crop).toEqual({ x: 250, y: 74, w: 600, h: 502 });
    expect([half.width, half.height]).toEqual([300, 251]);
    // Larger than the maximum: scaled down.
    const small = planView({ width: 1280, height: 720 }, box, { ...view, crop: 'object', maxWidth: 320, maxHeight: 240 });
    expect([small.width, small.height]).toEqual([288, 240]);
    // No padding; a box wholly outside the frame shows the whole frame, uncropped.
    expect(planView({ width: 1280, height: 720 }, box, { ...view, crop: 'object', cropPadding: 0 }).region).toEqual({ x: 400, y: 200, w: 300, h: 250 });
    const outside = planView({ width: 1280, height: 720 }, { x: 2000, y: 100, w: 50, h: 50 }, { ...view, crop: 'object' });
    expect(outside).toMatchObject({ region: { x: 0, y: 0, w: 1280, h: 720 }, crop: undefined });
  });

  it('line and text sizes grow with the picture and stay readable when small', () => {
    expect(strokeSizes(1280, 720)).toEqual({ thick: 5, thin: 2, font: 24 });
    expect(strokeSizes(200, 150)).toEqual({ thick: 3, thin: 1, font: 12 });
  });
});

describe('fillImageData: one pass from rgb24, bgr24 and gray8 with any stride', () => {
  const frame = (format: Frame['format'], w: number, h: number, stride: number, px: (x: number, y: number) => number[]): Frame => {
    const pixels = allocFrameBuffer(stride * h).fill(99); // padding bytes hold junk
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px(x, y).forEach((v, c) => { pixels[y * stride + x * px(0, 0).length + c] = v; });
    return { width: w, height: h, format, stride, pixels };
  };
  const rgbaOf = (f: Frame, region = { x: 0, y: 0, w: f.width, h: f.height }) => {
    const img = { data: new Uint8ClampedArray(region.w * region.h * 4), width: region.w, height: region.h };
    fillImageData(f, region, img);
    return (x: number, y: number) => Array.from(img.data.subarray((y * region.w + x) * 4, (y * region.w + x) * 4 + 4));
  };

  it('rgb24 and bgr24 come out as RGBA, opaque, with the stride padding skipped', () => {
    const rgb = frame('rgb24', 5, 3, 5 * 3 + 7, (x, y) => [x * 10, y * 20, 200]);
    expect(rgbaOf(rgb)(4, 2)).toEqual([40, 40, 200, 255]);
    expect(rgbaOf(rgb)(0, 1)).toEqual([0, 20, 200, 255]);
    const bgr = frame('bgr24', 5, 3, 16, (x, y) => [200, y * 20, x * 10]);
    expect(rgbaOf(bgr)(4, 2)).toEqual([40, 40, 200, 255]);
    // A region: offsets in both directions.
    expect(rgbaOf(rgb, { x: 2, y: 1, w: 3, h: 2 })(1, 1)).toEqual([30, 40, 200, 255]);
  });

  it('gray8 becomes grey RGB', () => {
    const g = frame('gray8', 4, 2, 8, (x, y) => [x * 50 + y]);
    expect(rgbaOf(g)(3, 1)).toEqual([151, 151, 151, 255]);
    expect(rgbaOf(g, { x: 1, y: 0, w: 2, h: 2 })(0, 1)).toEqual([51, 51, 51, 255]);
  });

  it('a frame whose buffer does not match its geometry is refused with what is wrong', () => {
    const ok: Frame = { width: 4, height: 2, format: 'rgb24', stride: 12, pixels: allocFrameBuffer(24) };
    expect(() => checkFrame(ok)).not.toThrow();
    expect(() => checkFrame({ ...ok, pixels: allocFrameBuffer(20) })).toThrow(/hold 20 bytes.*needs 24/);
    expect(() => checkFrame({ ...ok, stride: 8 })).toThrow(/stride 8 is less than width × 3/);
    expect(() => checkFrame({ ...ok, format: 'yuv420p' as Frame['format'] })).toThrow(/format "yuv420p"/);
    expect(() => checkFrame({ ...ok, width: 0 })).toThrow(/frame size 0x2/);
  });
});
