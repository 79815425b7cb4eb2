/**
 * resize — scales frames to W×H, by letterbox (keep the aspect, pad) or stretch, and records the
 * transform in the frame so later nodes report boxes in source pixels.
 *
 * Ports: in `frames` (frame, default queue `latest`), out `frames` (frame, a new buffer).
 * Drops: never itself; its input edge keeps only the newest frame by default.
 * When one size serves the whole graph, scaling inside the source's ffmpeg (`size:`) is
 * cheaper: use this node where branches need different sizes. Bilinear, integer arithmetic,
 * with the per-column and per-row tables computed once per input size.
 *
 * ```yaml
 * small:
 *   type: resize
 *   width: 416
 *   height: 416
 *   mode: letterbox
 *   inputs: { frames: cam.frames }
 * ```
 */
import { defineNode, FramePool, Type, type Frame, type Packet, type SourceTransform } from '../../src/contract.js';
import { bytesPerPixel } from '../../src/frames.js';

export interface ResizePlan {
  outW: number; outH: number; ch: number;
  /** Content rectangle inside the output (the rest is padding). */
  dx: number; dy: number; nw: number; nh: number;
  xOff0: Int32Array; xOff1: Int32Array; xW: Int32Array;
  yRow0: Int32Array; yRow1: Int32Array; yW: Int32Array;
  scaleX: number; scaleY: number;
}

/** Tables for bilinear sampling (8-bit fixed-point weights), pixel-centre aligned. */
export function planResize(inW: number, inH: number, inStride: number, ch: number, outW: number, outH: number, mode: 'letterbox' | 'stretch', align: 'center' | 'top-left'): ResizePlan {
  let nw = outW, nh = outH, dx = 0, dy = 0;
  if (mode === 'letterbox') {
    const s = Math.min(outW / inW, outH / inH);
    nw = Math.max(1, Math.round(inW * s));
    nh = Math.max(1, Math.round(inH * s));
    if (align === 'center') { dx = Math.floor((outW - nw) / 2); dy = Math.floor((outH - nh) / 2); }
  }
  const sx = inW / nw, sy = inH / nh;
  const xOff0 = new Int32Array(nw), xOff1 = new Int32Array(nw), xW = new Int32Array(nw);
  for (let x = 0; x < nw; x++) {
    const f = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), inW - 1);
    const x0 = Math.floor(f);
    xOff0[x] = x0 * ch;
    xOff1[x] = Math.min(x0 + 1, inW - 1) * ch;
    xW[x] = Math.round((f - x0) * 256);
  }
  const yRow0 = new Int32Array(nh), yRow1 = new Int32Array(nh), yW = new Int32Array(nh);
  for (let y = 0; y < nh; y++) {
    const f = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), inH - 1);
    const y0 = Math.floor(f);
    yRow0[y] = y0 * inStride;
    yRow1[y] = Math.min(y0 + 1, inH - 1) * inStride;
    yW[y] = Math.round((f - y0) * 256);
  }
  return { outW, outH, ch, dx, dy, nw, nh, xOff0, xOff1, xW, yRow0, yRow1, yW, scaleX: sx, scaleY: sy };
}

export function applyResize(p: ResizePlan, src: Uint8Array, dst: Uint8Array, pad: number): void {
  const { outW, outH, ch, dx, dy, nw, nh, xOff0, xOff1, xW, yRow0, yRow1, yW } = p;
  const outStride = outW * ch;
  if (nw !== outW || nh !== outH) dst.fill(pad);
  for (let y = 0; y < nh; y++) {
    const r0 = yRow0[y], r1 = yRow1[y], wy = yW[y], iwy = 256 - wy;
    let o = (y + dy) * outStride + dx * ch;
    for (let x = 0; x < nw; x++) {
      const a = r0 + xOff0[x], b = r0 + xOff1[x], c = r1 + xOff0[x], d = r1 + xOff1[x];
      const wx = xW[x], iwx = 256 - wx;
      for (let k = 0; k < ch; k++) {
        const top = src[a + k] * iwx + src[b + k] * wx;
        const bot = src[c + k] * iwx + src[d + k] * wx;
        dst[o++] = (top * iwy + bot * wy + 32768) >> 16;
      }
    }
  }
}

/** The transform of the output frame back to source pixels, composed with the input's. */
export function composeTransform(inFrame: Frame, p: ResizePlan): SourceTransform {
  const t = inFrame.source ?? { width: inFrame.width, height: inFrame.height, scaleX: 1, scaleY: 1, offsetX: 0, offsetY: 0 };
  return {
    width: t.width, height: t.height,
    scaleX: t.scaleX * p.scaleX, scaleY: t.scaleY * p.scaleY,
    offsetX: t.offsetX - p.dx * p.scaleX * t.scaleX, offsetY: t.offsetY - p.dy * p.scaleY * t.scaleY,
  };
}

export const resize = defineNode({
  type: 'resize',
  summary: 'Scale frames to W×H (letterbox or stretch), recording the transform back to source pixels.',
  options: Type.Object({
    width: Type.Integer({ minimum: 8, maximum: 7680, description: 'Output width.' }),
    height: Type.Integer({ minimum: 8, maximum: 4320, description: 'Output height.' }),
    mode: Type.Union([Type.Literal('letterbox'), Type.Literal('stretch')], { default: 'letterbox', description: 'letterbox keeps the aspect and pads; stretch fills W×H.' }),
    align: Type.Union([Type.Literal('center'), Type.Literal('top-left')], { default: 'center', description: 'Where a letterboxed picture sits (YOLOX: top-left; YOLOv5/8: center).' }),
    pad: Type.Integer({ minimum: 0, maximum: 255, default: 114, description: 'Grey level of the padding.' }),
  }),
  inputs: { frames: { kind: 'frame', description: 'Frames to scale.', defaultQueue: { mode: 'latest' } } },
  outputs: { frames: { kind: 'frame', description: 'Scaled frames (new buffers).' } },
  canPause: true,
  create(cfg, ctx) {
    let plan: ResizePlan | undefined;
    let key = '';
    let pool: FramePool | undefined;
    return {
      process(packet: Packet) {
        const f = packet.data as Frame;
        const ch = bytesPerPixel(f.format);
        const k = `${f.width}x${f.height}/${f.stride}/${ch}`;
        if (k !== key) {
          plan = planResize(f.width, f.height, f.stride, ch, cfg.width, cfg.height, cfg.mode, cfg.align);
          pool = new FramePool(cfg.width * cfg.height * ch);
          key = k;
          ctx.status({ text: `${f.width}x${f.height} → ${cfg.width}x${cfg.height} ${cfg.mode}` });
        }
        const pixels = pool!.take();
        applyResize(plan!, f.pixels, pixels, cfg.pad);
        const out: Frame = { width: cfg.width, height: cfg.height, format: f.format, stride: cfg.width * ch, pixels, source: composeTransform(f, plan!) };
        return ctx.emit('frames', { ...packet, data: out });
      },
    };
  },
});
