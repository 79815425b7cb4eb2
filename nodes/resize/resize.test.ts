import { describe, expect, it } from 'vitest';
import type { Frame, Packet } from '../../src/contract.js';
import { allocFrameBuffer } from '../../src/frames.js';
import { buildNode } from '../../test/support/node-harness.js';

/** A grey frame with a white rectangle at (x, y, w, h). */
function frameWithBox(w: number, h: number, box: [number, number, number, number]): Frame {
  const pixels = allocFrameBuffer(w * h * 3).fill(40);
  for (let y = box[1]; y < box[1] + box[3]; y++) for (let x = box[0]; x < box[0] + box[2]; x++) pixels.fill(255, (y * w + x) * 3, (y * w + x) * 3 + 3);
  return { width: w, height: h, format: 'rgb24', stride: w * 3, pixels };
}

/** Bounding box of bright pixels. */
function brightBox(f: Frame): [number, number, number, number] {
  let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  for (let y = 0; y < f.height; y++) for (let x = 0; x < f.width; x++) {
    if (f.pixels[(y * f.width + x) * 3] > 200) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); }
  }
  return [x0, y0, x1 + 1, y1 + 1];
}

const packet = (data: Frame): Packet<Frame> => ({ streamId: 's', seq: 7, captureTimeMs: 1000, data });

describe('resize', () => {
  it('letterboxes 1280x720 into 416x416 centred, and its transform maps a box back to source pixels within 2 px', async () => {
    const h = buildNode('{ type: resize, width: 416, height: 416 }');
    const src = frameWithBox(1280, 720, [600, 300, 200, 160]);
    await h.instance.process!(packet(src), 'frames');
    const out = h.emitted[0].packet as Packet<Frame>;
    expect(out.seq).toBe(7);
    expect(out.data.width).toBe(416);
    expect(out.data.pixels.buffer).toBeInstanceOf(SharedArrayBuffer);
    // 1280x720 → 416x234, padded by 91 rows above and below
    expect(out.data.pixels[(10 * 416 + 10) * 3]).toBe(114);
    expect(out.data.pixels[(208 * 416 + 10) * 3]).toBe(40);
    const [x0, y0, x1, y1] = brightBox(out.data);
    const t = out.data.source!;
    expect(t).toMatchObject({ width: 1280, height: 720 });
    const back = [x0 * t.scaleX + t.offsetX, y0 * t.scaleY + t.offsetY, x1 * t.scaleX + t.offsetX, y1 * t.scaleY + t.offsetY];
    expect(Math.abs(back[0] - 600)).toBeLessThanOrEqual(4);
    expect(Math.abs(back[1] - 300)).toBeLessThanOrEqual(4);
    expect(Math.abs(back[2] - 800)).toBeLessThanOrEqual(4);
    expect(Math.abs(back[3] - 460)).toBeLessThanOrEqual(4);
  });

  it('top-left letterbox (YOLOX) puts padding only right and below; stretch fills the frame', async () => {
    const tl = buildNode('{ type: resize, width: 416, height: 416, align: top-left, pad: 0 }');
    await tl.instance.process!(packet(frameWithBox(1280, 720, [0, 0, 1280, 720])), 'frames');
    const a = (tl.emitted[0].packet as Packet<Frame>).data;
    expect(a.pixels[(0 * 416 + 0) * 3]).toBe(255);
    expect(a.pixels[(233 * 416 + 415) * 3]).toBe(255);
    expect(a.pixels[(234 * 416 + 0) * 3]).toBe(0);
    expect(a.source).toMatchObject({ offsetX: 0, offsetY: 0 });
    const st = buildNode('{ type: resize, width: 100, height: 50, mode: stretch }');
    await st.instance.process!(packet(frameWithBox(400, 400, [0, 0, 400, 400])), 'frames');
    const b = (st.emitted[0].packet as Packet<Frame>).data;
    expect(b.source).toMatchObject({ scaleX: 4, scaleY: 8, offsetX: 0, offsetY: 0 });
    expect(b.pixels.every((v) => v === 255)).toBe(true);
  });

  it('composes with a transform already on the frame (ffmpeg scaled at the source)', async () => {
    const h = buildNode('{ type: resize, width: 320, height: 180, mode: stretch }');
    const f = frameWithBox(640, 360, [0, 0, 10, 10]);
    f.source = { width: 1280, height: 720, scaleX: 2, scaleY: 2, offsetX: 0, offsetY: 0 };
    await h.instance.process!(packet(f), 'frames');
    expect((h.emitted[0].packet as Packet<Frame>).data.source).toMatchObject({ width: 1280, height: 720, scaleX: 4, scaleY: 4 });
  });

  it('refuses a size it cannot make, with the option named', () => {
    expect(() => buildNode('{ type: resize, width: 4, height: 416 }')).toThrow(/nodes\.n\.width: must be >= 8/);
  });
});
