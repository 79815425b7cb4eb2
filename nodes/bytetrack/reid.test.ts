/**
 * The appearance cue with the real re-identification model (../shared/models) on real frames
 * (vtest, 10 frames/s): embeddings tell people apart, and the bytetrack node with
 * `appearance.enabled` runs the model in worker threads inside a whole graph.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defineNode, Type, type Detection, type Detections, type Frame, type Packet } from '../../src/contract.js';
import { startGraph, type TestApp } from '../../test/support/app.js';
import { mediaPath, modelPath } from '../../test/support/media.js';
import { clipDetectNodes } from '../../test/support/clip-pipeline.js';
import { buildNode, type Harness } from '../../test/support/node-harness.js';
import { testRegistry } from '../../test/support/test-nodes.js';
import { imageFrame } from '../../test/support/yolo-models.js';
import { compose, invert, frameToSource, warpToTensor } from '../rtmpose/crop.js';
import { ReidEngine, stretchToSource } from './reid.js';

type BoxT = Detection['box'];
const VTEST = () => mediaPath('vtest_first20s_h264.mp4');
const REID = () => modelPath('person-reidentification-retail-0288.onnx');

const harnesses: Harness[] = [];
let app: TestApp | undefined;
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.instance.stop?.();
  await app?.app.stop();
  app = undefined;
});

async function started(yaml: string): Promise<Harness> {
  const h = buildNode(yaml);
  harnesses.push(h);
  await h.instance.start!();
  return h;
}

/** Persons (score > 0.5, at least 60 px tall) found by the yolo node in each frame. */
async function persons(frames: Frame[]): Promise<Detection[][]> {
  const h = await started(`{ type: yolo, model: ${modelPath('yolox_nano.onnx')}, threads: 1 }`);
  const out: Detection[][] = [];
  for (const [seq, f] of frames.entries()) {
    await h.instance.process!({ streamId: 'cam', seq, captureTimeMs: 1000 + 100 * seq, data: f }, 'frames');
    const d = h.emitted.at(-1)!.packet.data as Detections;
    out.push(d.detections.filter((x) => x.label === 'person' && x.score > 0.5 && x.box.h >= 60));
  }
  return out;
}

function iouOf(a: BoxT, b: BoxT): number {
  const iw = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x), ih = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return iw <= 0 || ih <= 0 ? 0 : (iw * ih) / (a.w * a.h + b.w * b.h - iw * ih);
}

describe('appearance cue: crops and the re-identification model', () => {
  it('crops interleaved (HWC) exactly as planar (CHW), stretched with pixel centres aligned', () => {
    const f = imageFrame(VTEST(), { atSeconds: 3 });
    const box = { x: 200.3, y: 150.7, w: 31.2, h: 87.9 };
    const m = compose(invert(frameToSource(f.source)), stretchToSource(box, 128, 256));
    const base = { outW: 128, outH: 256, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number], order: 'bgr' as const };
    const chw = new Float32Array(3 * 128 * 256), hwc = new Float32Array(3 * 128 * 256);
    warpToTensor(f, m, base, chw);
    warpToTensor(f, m, { ...base, layout: 'hwc' }, hwc);
    const plane = 128 * 256;
    for (let o = 0; o < plane; o++) for (let c = 0; c < 3; c++) expect(hwc[3 * o + c]).toBe(chw[c * plane + o]);
    // Output pixel centre u samples x + (u + ½)·w/128 − ½ (cv2.resize of the box).
    expect(m.a * 0 + m.c).toBeCloseTo(box.x + 0.5 * box.w / 128 - 0.5, 12);
    expect(m.a * 127 + m.c).toBeCloseTo(box.x + box.w - 0.5 * box.w / 128 - 0.5, 12);
    // BGR order: channel 0 is the frame's blue byte (frames are rgb24).
    const u = 64, v = 128, fx = Math.round(m.a * u + m.c), fy = Math.round(m.e * v + m.f);
    expect(Math.abs(hwc[3 * (v * 128 + u)] - f.pixels[fy * f.stride + 3 * fx + 2])).toBeLessThan(40);
  });

  it('person-reid-0288: the same person 0.2 s later is closer than anyone else (vtest, rank-1 for every person)', async () => {
    const frames = [imageFrame(VTEST(), { atSeconds: 10 }), imageFrame(VTEST(), { atSeconds: 10.2 })];
    const [a, b] = await persons(frames);
    const engine = await ReidEngine.create({ model: REID(), providers: ['cpu'], threads: 1, order: 'bgr', mean: [0, 0, 0], std: [1, 1, 1] });
    try {
      expect([engine.inW, engine.inH, engine.layout]).toEqual([128, 256, 'hwc']);
      const ea = await engine.embed(frames[0], a.map((d) => d.box));
      const eb = await engine.embed(frames[1], b.map((d) => d.box));
      expect(ea.dim).toBe(256);
      expect([...ea.ok, ...eb.ok].every((x) => x === 1)).toBe(true);
      const row = (e: typeof ea, i: number) => e.data.subarray(i * e.dim, (i + 1) * e.dim);
      const cos = (x: Float32Array, y: Float32Array) => x.reduce((s, v, k) => s + v * y[k], 0);
      for (let i = 0; i < a.length; i++) expect(Math.hypot(...row(ea, i))).toBeCloseTo(1, 5);
      // The same person in the next frame: the box that overlaps most (0.2 s: people move a few pixels).
      const same: number[] = [], best: number[] = [];
      for (let i = 0; i < a.length; i++) {
        let j = -1, top = 0.5;
        b.forEach((d, k) => { const v = iouOf(a[i].box, d.box); if (v > top) { top = v; j = k; } });
        if (j < 0) continue;
        const s = cos(row(ea, i), row(eb, j));
        const others = b.map((_, k) => k).filter((k) => k !== j).map((k) => cos(row(ea, i), row(eb, k)));
        // Persons in the same frame too: nobody else looks like person i as much as person i 0.2 s later.
        others.push(...a.map((_, k) => k).filter((k) => k !== i).map((k) => cos(row(ea, i), row(ea, k))));
        same.push(s);
        best.push(Math.max(...others));
        expect(s, `person ${i}: same ${s.toFixed(3)} vs closest other ${Math.max(...others).toFixed(3)}`).toBeGreaterThan(Math.max(...others));
      }
      console.log(`vtest 10.0 s → 10.2 s: ${same.length} persons, cosine similarity same person ${same.map((x) => x.toFixed(3)).join(' ')}; closest other ${best.map((x) => x.toFixed(3)).join(' ')}; ${(ea.ms.reduce((s, x) => s + x, 0) / ea.ms.length).toFixed(1)} ms per embedding`);
      expect(same.length).toBeGreaterThanOrEqual(3);
    } finally {
      await engine.release();
    }
  }, 120_000);
});

describe('bytetrack node with appearance.enabled', () => {
  it('embeds in worker threads: the event loop stays free while a frame\'s crops run', async () => {
    const frame = imageFrame(VTEST(), { atSeconds: 10 });
    const [found] = await persons([frame]);
    expect(found.length).toBeGreaterThanOrEqual(4);
    const h = await started(`{ type: bytetrack, appearance: { enabled: true, model: ${REID()} } }`);
    // Each person three times (all high score): enough model runs to block the loop for a while if they ran on it.
    const dets = [...found, ...found, ...found].map((d, i) => ({ ...d, box: { ...d.box, x: d.box.x + (i % 3) } }));
    let ticks = 0, maxGap = 0, last = performance.now();
    const timer = setInterval(() => { const now = performance.now(); maxGap = Math.max(maxGap, now - last); last = now; ticks++; }, 1);
    const t0 = performance.now();
    let elapsed: number;
    try {
      for (let seq = 0; seq < 3; seq++) {
        last = performance.now();
        const p: Packet<Detections> = { streamId: 'cam', seq, captureTimeMs: 1000 + 100 * seq, data: { frame, detections: dets, inferenceLatencyMs: 1, gpu: false, model: 't' } };
        const r = h.instance.process!(p, 'detections');
        expect(r).toBeInstanceOf(Promise); // enabled: the node awaits its workers
        await r;
      }
      elapsed = performance.now() - t0;
    } finally {
      clearInterval(timer);
    }
    const out = h.emitted.filter((e) => e.port === 'detections').map((e) => (e.packet.data as Detections).detections);
    expect(out).toHaveLength(3);
    expect(out[0].every((d) => d.trackId !== undefined)).toBe(true); // the stream's first frame confirms at once
    console.log(`${dets.length} crops per frame, 3 frames in ${elapsed.toFixed(0)} ms (${(elapsed / 3 / dets.length).toFixed(1)} ms per crop, 1 worker); event loop: ${ticks} ticks, longest gap ${maxGap.toFixed(1)} ms`);
    expect(elapsed).toBeGreaterThan(30);
    expect(maxGap).toBeLessThan(elapsed / 6);
    expect(h.statuses.some((s) => /appearance person-reid-0288 ready/.test(s.text ?? ''))).toBe(true);
  }, 120_000);

  it('disabled (the default): synchronous, no model loaded', () => {
    const h = buildNode('type: bytetrack');
    const frame: Frame = { width: 640, height: 480, format: 'rgb24', pixels: Buffer.alloc(0), stride: 640 * 3 };
    const d: Detection = { box: { x: 10, y: 10, w: 40, h: 100 }, score: 0.9, classId: 0, label: 'person', category: 'human' };
    expect(h.instance.process!({ streamId: 'cam', seq: 0, captureTimeMs: 1000, data: { frame, detections: [d], inferenceLatencyMs: 1, gpu: false, model: 't' } }, 'detections')).toBeUndefined();
    expect((h.emitted[0].packet.data as Detections).detections[0].trackId).toBe(1);
  });

  it('refuses a model that is no re-identification model, or none at all, naming appearance.model', async () => {
    const det = buildNode('{ type: bytetrack, appearance: { enabled: true, model: yolox-nano } }');
    await expect(det.instance.start!()).rejects.toThrow(/appearance\.model: "yolox-nano" is a detect model; .*task reid/);
    const none = buildNode('{ type: bytetrack, appearance: { enabled: true, model: ./no-such-reid.onnx } }');
    await expect(none.instance.start!()).rejects.toThrow(/appearance\.model: cannot load \.\/no-such-reid\.onnx/);
  });

  let plainRun: Run | undefined, appRun: Run | undefined;
  let metrics = '';
  interface Run { frames: number; tracked: number; ids: Set<number>; perFrame: string[] }
  const runs = new Map<string, Run>();
  const collect = defineNode({
    type: 'test-track-collect',
    summary: 'Counts tracked detections and track ids (tests only).',
    options: Type.Object({}),
    inputs: { detections: { kind: 'detections', description: 'Tracked detections.', defaultQueue: { mode: 'block', size: 4 } } },
    outputs: {},
    canPause: true,
    create(_cfg, ctx) {
      const r: Run = { frames: 0, tracked: 0, ids: new Set(), perFrame: [] };
      runs.set(ctx.id, r);
      return {
        process(p: Packet) {
          r.frames++;
          const dets = (p.data as Detections).detections;
          for (const d of dets) if (d.trackId !== undefined) { r.tracked++; r.ids.add(d.trackId); }
          r.perFrame.push(dets.map((d) => d.trackId ?? '-').join(','));
        },
      };
    },
  });

  beforeAll(async () => {
    // One detector feeding two trackers: appearance off and on see the very same detections.
    const a = await startGraph(`
version: 1
name: appearance
status: { enabled: false }
nodes:
${clipDetectNodes(VTEST())}  plain:
    type: bytetrack
    inputs: { detections: { from: detect.detections, queue: { block: 2 } } }
  app:
    type: bytetrack
    appearance: { enabled: true, model: person-reid-0288 }
    inputs: { detections: { from: detect.detections, queue: { block: 2 } } }
  plain_out: { type: test-track-collect, inputs: { detections: plain.detections } }
  app_out: { type: test-track-collect, inputs: { detections: app.detections } }
`, { registry: testRegistry.with([collect]) });
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    await a.app.runtime.finished;
    h.disable();
    metrics = await a.app.runtime.metrics.text();
    await a.app.stop();
    plainRun = runs.get('plain_out');
    appRun = runs.get('app_out');
    const differ = plainRun && appRun ? plainRun.perFrame.filter((f, i) => f !== appRun!.perFrame[i]).length : NaN;
    plainRun?.perFrame.forEach((f, i) => { if (f !== appRun!.perFrame[i]) console.log(`frame ${i}: IoU only [${f}], with appearance [${appRun!.perFrame[i]}]`); });
    console.log(`vtest 20 s: IoU only ${plainRun?.tracked} tracked detections, ${plainRun?.ids.size} ids; with appearance ${appRun?.tracked}, ${appRun?.ids.size} ids; ${differ} frames with other ids; event loop delay p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms; ${/graphrun_reid_crops_total\{[^}]*\} (\d+)/.exec(metrics)?.[1]} embeddings`);
  }, 300_000);

  it('in a whole graph (vtest, model by id from the mirror): every frame through, tracks as many detections with no more ids', () => {
    expect(plainRun!.frames).toBe(200);
    expect(appRun!.frames).toBe(200);
    expect(plainRun!.tracked).toBeGreaterThan(500);
    expect(appRun!.tracked).toBeGreaterThanOrEqual(Math.floor(plainRun!.tracked * 0.98));
    expect(appRun!.ids.size).toBeLessThanOrEqual(plainRun!.ids.size);
    // The appearance tracker did embed (every high person of every frame) and nothing failed.
    const crops = Number(/graphrun_reid_crops_total\{[^}]*node_id="app"[^}]*\} (\d+)/.exec(metrics)?.[1]);
    expect(crops).toBeGreaterThan(1000);
    expect(metrics).not.toMatch(/graphrun_reid_crops_total\{[^}]*node_id="plain"/);
    expect(metrics).not.toMatch(/graphrun_reid_failures_total\{[^}]*node_id="app"[^}]*\} [1-9]/);
  });
});
