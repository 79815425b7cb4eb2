/**
 * The yolo node end to end: real models from ../shared on real pictures, small generated models
 * with outputs we know exactly for every layout, and the start-up refusals.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Detection, Detections, Frame, Packet } from '../../src/contract.js';
import { allocFrameBuffer } from '../../src/frames.js';
import { startGraph, waitFor } from '../../test/support/app.js';
import { buildNode, type Harness } from '../../test/support/node-harness.js';
import { recorded } from '../../test/support/test-nodes.js';
import { mediaPath, modelPath } from '../../test/support/media.js';
import { buildModels, imageFrame } from '../../test/support/yolo-models.js';

const packet = (data: Frame, streamId = 'cam', seq = 0): Packet => ({ streamId, seq, captureTimeMs: 1000 + seq, data });

async function detect(h: Harness, f: Frame, streamId = 'cam'): Promise<Detections> {
  const before = h.emitted.length;
  await h.instance.process!(packet(f, streamId), 'frames');
  expect(h.emitted.length).toBe(before + 1);
  const e = h.emitted[before];
  expect(e.port).toBe('detections');
  return e.packet.data as Detections;
}

async function started(yaml: string, graphDir?: string): Promise<Harness> {
  const h = buildNode(yaml, { graphDir });
  await h.instance.start!();
  return h;
}

const corners = (d: Detection) => [d.box.x, d.box.y, d.box.x + d.box.w, d.box.y + d.box.h];
function iouOf(a: number[], b: number[]): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]), ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

describe('YOLOX-Nano (raw grid layout) on real pictures', () => {
  let h: Harness;
  beforeAll(async () => { h = await started(`type: yolo\nmodel: ${modelPath('yolox_nano.onnx')}`); });
  afterAll(async () => { await h?.instance.stop!(); });

  it('finds the dog, the bicycle and the vehicle in dog.jpg, where they are', async () => {
    const f = imageFrame(mediaPath('dog.jpg')); // 768x576
    const out = await detect(h, f);
    expect(out.frame).toBe(f);
    expect(out.gpu).toBe(false);
    expect(out.model).toBe('yolox-nano'); // the file is the manifest's, byte for byte
    expect(out.inferenceLatencyMs).toBeGreaterThan(0);
    // Measured by hand on 4–5× crops of dog.jpg (x1, y1, x2, y2 of the visible object):
    // dog: left flank 134, top of the head 222, front paw 309, tail 537;
    // bicycle: rear tyre 127, saddle 137, front tyre 566, tyre bottom 419;
    // truck (the white pick-up): bumper 467, camper top 77, front 691, front tyre bottom 168.
    const truth: Record<string, number[]> = { dog: [134, 222, 309, 537], bicycle: [127, 137, 566, 419], vehicle: [467, 77, 691, 168] };
    const best = (labels: string[]) => out.detections.filter((d) => labels.includes(d.label)).sort((a, b) => b.score - a.score)[0];
    const found = { dog: best(['dog']), bicycle: best(['bicycle']), vehicle: best(['car', 'truck']) };
    for (const [name, d] of Object.entries(found)) {
      expect(d, name).toBeDefined();
      expect(d.score, name).toBeGreaterThan(0.7);
      expect(iouOf(corners(d), truth[name]), name).toBeGreaterThan(0.8);
    }
    // Every edge within 10 px of the hand measurement, except three the model itself gets wrong
    // (the same boxes come out of an independent pipeline — ffmpeg letterbox, plain decode): it
    // puts the dog's top at ~207 (the bike frame above the head) and its right at ~326 (past the
    // paw), and the bicycle's left at ~60 (the rear wheel is hidden behind the dog). Those are
    // held to what the model does, so a regression in the node still shows.
    const tol: Record<string, number[]> = { dog: [10, 20, 20, 10], bicycle: [75, 10, 10, 10], vehicle: [10, 10, 10, 10] };
    for (const [name, d] of Object.entries(found)) {
      corners(d).forEach((v, i) => expect(Math.abs(v - truth[name][i]), `${name} edge ${i}: ${v.toFixed(1)} vs ${truth[name][i]}`).toBeLessThanOrEqual(tol[name][i]));
    }
    expect(found.dog).toMatchObject({ classId: 16, category: 'wildlife', species: 'dog', threatLevel: 'medium' });
    expect(found.bicycle).toMatchObject({ classId: 1, category: 'other' });
    expect(found.bicycle.species).toBeUndefined();
  });

  it('finds at least 5 people in a vtest frame, all inside the picture', async () => {
    const f = imageFrame(mediaPath('vtest_first20s_h264.mp4'), { atSeconds: 5 });
    const out = await detect(h, f);
    const people = out.detections.filter((d) => d.label === 'person');
    expect(people.length).toBeGreaterThanOrEqual(5);
    for (const p of people) {
      expect(p.category).toBe('human');
      expect(p.box.x).toBeGreaterThanOrEqual(0);
      expect(p.box.x + p.box.w).toBeLessThanOrEqual(768);
      expect(p.box.h).toBeGreaterThan(p.box.w); // standing people
    }
  });

  it('gives the same boxes for a bgr24 frame, and reports them in source pixels for a scaled frame', async () => {
    const rgb = await detect(h, imageFrame(mediaPath('dog.jpg')));
    const swapped = imageFrame(mediaPath('dog.jpg'));
    for (let i = 0; i < swapped.pixels.length; i += 3) { const r = swapped.pixels[i]; swapped.pixels[i] = swapped.pixels[i + 2]; swapped.pixels[i + 2] = r; }
    const bgr = await detect(h, { ...swapped, format: 'bgr24' });
    expect(bgr.detections.map((d) => d.label)).toEqual(rgb.detections.map((d) => d.label));
    bgr.detections.forEach((d, i) => expect(d).toEqual(rgb.detections[i]));
    // The same picture as a source would give it with `size: [384, 288]` from a 768x576 camera.
    const half = imageFrame(mediaPath('dog.jpg'));
    const small = allocFrameBuffer(384 * 288 * 3);
    for (let y = 0; y < 288; y++) for (let x = 0; x < 384; x++) for (let c = 0; c < 3; c++) small[(y * 384 + x) * 3 + c] = half.pixels[(2 * y * 768 + 2 * x) * 3 + c];
    const scaled = await detect(h, { width: 384, height: 288, format: 'rgb24', stride: 384 * 3, pixels: small, source: { width: 768, height: 576, scaleX: 2, scaleY: 2, offsetX: 0, offsetY: 0 } });
    const dog = scaled.detections.find((d) => d.label === 'dog')!;
    expect(iouOf(corners(dog), [134, 222, 309, 537])).toBeGreaterThan(0.75);
  });
});

describe('YOLOv8 layout on YOLO11n-pose (int8, fixed head)', () => {
  it('finds the one skier with plausible keypoints, while the event loop keeps running', async () => {
    const h = await started(`type: yolo\nmodel: ${modelPath('yolo11n-pose_int8_640_fixedhead.onnx')}`);
    try {
      // Inference (~80 ms a frame here) runs in the worker: a 5 ms timer on this thread keeps
      // firing meanwhile (run on this thread, it would fire about once per frame).
      const skier = imageFrame(mediaPath('coco_000000000785_skier.jpg'));
      let ticks = 0;
      const timer = setInterval(() => { ticks++; }, 5);
      const t0 = performance.now();
      for (let i = 0; i < 3; i++) await detect(h, skier);
      const ms = performance.now() - t0;
      clearInterval(timer);
      expect(ticks).toBeGreaterThanOrEqual(Math.min(10, Math.floor(ms / 5 / 3)));
      expect(h.statuses.at(-1)?.text).toMatch(/\(yolov8-pose 640x640\) on cpu/);
      const out = await detect(h, imageFrame(mediaPath('coco_000000000785_skier.jpg'))); // 640x425
      expect(out.detections).toHaveLength(1);
      const p = out.detections[0];
      expect(p).toMatchObject({ label: 'person', classId: 0, category: 'human' });
      expect(p.score).toBeGreaterThan(0.7);
      // Hand-measured on 3× crops: glove 281, hat top 44, boot heel 500, boot soles 392.
      expect(iouOf(corners(p), [281, 44, 500, 392])).toBeGreaterThan(0.85);
      const k = p.keypoints!;
      expect(k).toHaveLength(17);
      const [nose, , , , , ls, rs, , , , , lh, rh, , , la, ra] = k;
      for (const q of k) {
        expect(q.x).toBeGreaterThanOrEqual(p.box.x - 5);
        expect(q.x).toBeLessThanOrEqual(p.box.x + p.box.w + 5);
        expect(q.y).toBeGreaterThanOrEqual(p.box.y - 5);
        expect(q.y).toBeLessThanOrEqual(p.box.y + p.box.h + 5);
      }
      for (const q of [nose, ls, rs, lh, rh]) expect(q.score).toBeGreaterThan(0.5);
      // Head above shoulders above hips above ankles; the face (sunglasses) is at about (367, 78).
      expect(nose.y).toBeLessThan(Math.min(ls.y, rs.y));
      expect(Math.max(ls.y, rs.y)).toBeLessThan(Math.min(lh.y, rh.y));
      expect(Math.max(lh.y, rh.y)).toBeLessThan(Math.min(la.y, ra.y));
      expect(Math.hypot(nose.x - 367, nose.y - 78)).toBeLessThan(15);
    } finally {
      await h.instance.stop!();
    }
  });
});

describe('layouts on generated models (outputs known exactly)', () => {
  // 32x32 input: the YOLOX/YOLOv8 grid is 21 cells (16 + 4 + 1), YOLOv5 has 63 rows.
  const input = { name: 'images', shape: [1, 3, 32, 32] };
  const zeros = (n: number) => new Array<number>(n).fill(0);
  const v5 = zeros(63 * 7); // 2 classes
  v5.splice(0, 7, 16, 12, 8, 4, 0.9, 0.2, 0.8); // centre (16, 12), 8x4, score 0.72, class 1
  v5.splice(7, 7, 16, 12, 8, 4.4, 0.9, 0.1, 0.7); // same place: suppressed by NMS
  v5.splice(14, 7, 4, 20, 4, 4, 0.5, 0.9, 0.1); // (2..6, 18..22), 0.45, class 0
  const v8 = zeros(6 * 21); // [4+2, 21], channels first
  const put8 = (i: number, vals: number[]) => vals.forEach((v, a) => { v8[a * 21 + i] = v; });
  put8(3, [16, 16, 32, 16, 0.1, 0.95]); // (0..32, 8..24) class 1
  put8(7, [8, 8, 4, 4, 0.6, 0.2]); // (6..10, 6..10) class 0
  const e2e = [2, 10, 10, 14, 0.88, 16, /**/ 20, 20, 30, 30, 0.05, 1, /**/ 0, 0, 0, 0, 0, 0];
  let dir: string;
  beforeAll(() => {
    dir = buildModels([
      { file: 'v5.onnx', kind: 'const', input, outputs: [{ name: 'output0', shape: [1, 63, 7], data: v5 }] },
      { file: 'v8.onnx', kind: 'const', input, outputs: [{ name: 'output0', shape: [1, 6, 21], data: v8 }] },
      { file: 'e2e.onnx', kind: 'const', input, outputs: [{ name: 'output0', shape: [1, 3, 6], data: e2e }] },
      {
        file: 'e2e-split.onnx', kind: 'const', input, outputs: [
          { name: 'num_dets', shape: [1, 1], type: 'int32', data: [1] },
          { name: 'det_boxes', shape: [1, 2, 4], data: [2, 3, 10, 7, 1, 1, 2, 2] },
          { name: 'det_scores', shape: [1, 2], data: [0.66, 0.99] },
          { name: 'det_classes', shape: [1, 2], type: 'int64', data: [0, 0] },
        ],
      },
    ]);
    writeFileSync(path.join(dir, 'two.txt'), 'deer\nfox\n');
  });
  // A 64x32 picture: letterboxed at scale 0.5 into the 32x32 input, centred (8 px bands) for
  // YOLOv5/v8/end2end: source = (tensor − (0, 8)) × 2.
  const frame = (): Frame => ({ width: 64, height: 32, format: 'rgb24', stride: 192, pixels: allocFrameBuffer(64 * 32 * 3) });
  const summary = (out: Detections) => out.detections.map((d) => [d.label, ...corners(d).map((v) => Math.round(v * 1000) / 1000), Math.round(d.score * 1000) / 1000]);

  it('YOLOv5 [1, 3A, 5+C]: obj × class, NMS, letterbox undone', async () => {
    const h = await started(`type: yolo\nmodel: v5.onnx\nlabels: two.txt`, dir);
    try {
      expect(h.statuses.at(-1)?.text).toMatch(/v5\.onnx \(yolov5 32x32\)/);
      expect(summary(await detect(h, frame()))).toEqual([['fox', 24, 4, 40, 12, 0.72], ['deer', 4, 20, 12, 28, 0.45]]);
    } finally { await h.instance.stop!(); }
  });

  it('YOLOv8 [1, 4+C, A]: best class, boxes clipped to the picture; classes: and class_thresholds: apply', async () => {
    const h = await started(`type: yolo\nmodel: v8.onnx\nlabels: two.txt`, dir);
    try {
      expect(summary(await detect(h, frame()))).toEqual([['fox', 0, 0, 64, 32, 0.95], ['deer', 12, 0, 20, 4, 0.6]]);
    } finally { await h.instance.stop!(); }
    const only = await started(`type: yolo\nmodel: v8.onnx\nlabels: two.txt\nclasses: [deer]\nclass_thresholds: { deer: 0.5 }\ncategories: categories/wildlife-11-example.yml`, dir);
    try {
      const out = await detect(only, frame());
      expect(summary(out)).toEqual([['deer', 12, 0, 20, 4, 0.6]]);
      expect(out.detections[0]).toMatchObject({ category: 'wildlife', species: 'deer', threatLevel: 'high' }); // from the example 11-species table
    } finally { await only.instance.stop!(); }
  });

  it('end-to-end [1, N, 6] and split outputs: taken as they are (no NMS), thresholds still apply', async () => {
    const h = await started(`type: yolo\nmodel: e2e.onnx\nscore_threshold: 0.1`, dir);
    try {
      const out = await detect(h, frame());
      expect(summary(out)).toEqual([['dog', 4, 4, 20, 12, 0.88]]);
      expect(out.detections[0]).toMatchObject({ classId: 16, category: 'wildlife', species: 'dog' });
    } finally { await h.instance.stop!(); }
    const s = await started(`type: yolo\nmodel: e2e-split.onnx\nlabels: two.txt`, dir);
    try {
      // num_dets = 1: only the first row counts, though the second scores higher.
      expect(summary(await detect(s, { ...frame(), height: 64, pixels: allocFrameBuffer(64 * 64 * 3) }))).toEqual([['deer', 4, 6, 20, 14, 0.66]]);
    } finally { await s.instance.stop!(); }
  });

  it('tries the execution providers in order, says which one runs, and marks the output CPU', async () => {
    const h = await started(`type: yolo\nmodel: v5.onnx\nlabels: two.txt\nproviders: [cuda, tensorrt, cpu]`, dir);
    try {
      expect(h.logs.join('\n')).toMatch(/execution provider cuda unavailable/);
      expect(h.logs.join('\n')).toMatch(/yolo: v5\.onnx runs on cpu \(after cuda, tensorrt failed\)/);
      expect(h.statuses.at(-1)?.text).toMatch(/ on cpu ×1 thread/);
      expect((await detect(h, frame())).gpu).toBe(false);
    } finally { await h.instance.stop!(); }
  });
});

describe('bad models are refused at start with the file, the shapes found and what was expected', () => {
  let dir: string;
  beforeAll(() => {
    dir = buildModels([
      { file: 'classifier.onnx', kind: 'classifier', input: { name: 'images', shape: [1, 3, 224, 224] } },
      { file: 'rank3.onnx', kind: 'identity', input: { name: 'images', shape: [1, 416, 416] } },
    ]);
    const whole = readFileSync(modelPath('yolox_nano.onnx'));
    writeFileSync(path.join(dir, 'truncated.onnx'), whole.subarray(0, 100_000));
  });
  const refusal = async (model: string) => {
    const h = buildNode(`type: yolo\nmodel: ${model}`, { graphDir: dir });
    const err = await Promise.resolve(h.instance.start!()).then(() => undefined, (e: Error) => e);
    await h.instance.stop!();
    expect(err).toBeInstanceOf(Error);
    return err!.message;
  };

  it('a truncated .onnx', async () => {
    expect(await refusal('truncated.onnx')).toMatch(new RegExp(`^yolo: model ${path.join(dir, 'truncated.onnx')} refused: onnxruntime cannot read it \\(100000 bytes, .+\\)\\. Is it truncated or not an ONNX file\\? Expected an ONNX export of a YOLO detector`));
  });

  it('an image classifier (output of rank 2)', async () => {
    expect(await refusal('classifier.onnx')).toBe(
      `yolo: model ${path.join(dir, 'classifier.onnx')} refused: output "logits" has rank 2 [1, 3] (an image classifier or another task?); expected one of: ` +
      'YOLOX raw grid [1, 1029, 5+C]; YOLOv5 [1, 3087, 5+C]; YOLOv8/11 [1, 4+C, 1029]; YOLOv8-pose [1, 5+3K, 1029]; end-to-end [1, N, 6] or num_dets/boxes/scores/classes ' +
      '(1029 = cells of strides 8/16/32 at 224x224; set layout: to force one). Found inputs images [1, 3, 224, 224]; outputs logits [1, 3].',
    );
  });

  it('an input of the wrong rank', async () => {
    expect(await refusal('rank3.onnx')).toMatch(/^yolo: model .*rank3\.onnx refused: input "images" has rank 3 \[1, 416, 416\]; expected one image input of rank 4 \[batch, 3, height, width\] \(NCHW\)\. Found inputs images \[1, 416, 416\]; outputs out \[1, 416, 416\]\.$/);
  });

  it('a model path that does not exist', async () => {
    const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    expect(await refusal('models/nope.onnx')).toMatch(new RegExp(`^yolo: model file not found: ${esc(path.join(dir, 'models/nope.onnx'))} \\("models/nope\\.onnx" relative to ${esc(dir)}\\)\\. Give an existing file, or a model id \\(.*yolox-nano.*\\)$`));
  });

  it('a class the labels do not have', async () => {
    copyFileSync(modelPath('yolox_nano.onnx'), path.join(dir, 'yolox.onnx'));
    expect(await refusal('yolox.onnx\nclasses: [person, dgo]')).toMatch(/^yolo: classes: unknown class "dgo"/);
  });
});

describe('batching several streams on a model with a dynamic batch axis', () => {
  it('gathers frames of two cameras into one inference, with the results of single frames', async () => {
    const dir = buildModels([{ file: 'yolox-dyn.onnx', kind: 'relabel', from: modelPath('yolox_nano.onnx') }]);
    const h = await started(`type: yolo\nmodel: yolox-dyn.onnx\nmax_batch: 2\nmax_wait_ms: 50`, dir);
    try {
      const dog = imageFrame(mediaPath('dog.jpg'));
      const street = imageFrame(mediaPath('vtest_first20s_h264.mp4'), { atSeconds: 5 });
      const alone = [await detect(h, dog, 'a'), await detect(h, street, 'b')];
      // The runtime hands a node with concurrency 2 both frames at once.
      await Promise.all([h.instance.process!(packet(dog, 'a', 1), 'frames'), h.instance.process!(packet(street, 'b', 1), 'frames')]);
      const both = h.emitted.slice(-2).map((e) => e.packet.data as Detections);
      expect(both.map((d) => d.frame)).toEqual([dog, street]);
      // One inference for both: they share its latency (separate runs never match to the bit).
      expect(both[0].inferenceLatencyMs).toBe(both[1].inferenceLatencyMs);
      expect(alone[0].inferenceLatencyMs).not.toBe(alone[1].inferenceLatencyMs);
      both.forEach((d, i) => {
        expect(d.detections.map((x) => x.label)).toEqual(alone[i].detections.map((x) => x.label));
        d.detections.forEach((x, j) => expect(x.box.y).toBeCloseTo(alone[i].detections[j].box.y, 2));
      });
    } finally { await h.instance.stop!(); }
  });
});

describe('in a graph', () => {
  it('file-source (scaled by ffmpeg) → yolo with 2 workers → every frame\'s detections, in camera pixels', async () => {
    const t = await startGraph(`version: 1
name: yolo-graph
status: { enabled: false }
nodes:
  cam:
    type: file-source
    path: ${mediaPath('vtest_first20s_h264.mp4')}
    realtime: false
    max_fps: 2
    size: [416, 312]
  detect:
    type: yolo
    model: ${modelPath('yolox_nano.onnx')}
    workers: 2
    concurrency: 2
    classes: [person]
    inputs: { frames: { from: cam.frames, queue: { block: 4 } } }
  rec:
    type: test-recorder
    inputs: { in: { from: detect.detections, queue: { block: 4 } } }
`);
    try {
      const rt = t.app.runtime;
      await waitFor(() => rt.runners.get('cam')!.ended && rt.runners.get('detect')!.inFlight === 0 && (recorded.get('rec')?.length ?? 0) === rt.runners.get('cam')!.stats.packetsOut, 60000, 'every frame through');
      const got = recorded.get('rec')!;
      expect(got.length).toBeGreaterThanOrEqual(38); // 20 s at 2 fps
      expect(rt.runners.get('detect')!.stats.errors).toBe(0);
      expect(got.map((p) => p.seq)).toEqual(got.map((_, i) => got[0].seq + i)); // block edges: all, in order
      for (const p of got) {
        const d = p.data as Detections;
        expect(d.frame.width).toBe(416);
        expect(d.frame.source).toMatchObject({ width: 768, height: 576 });
        for (const x of d.detections) {
          expect(x.label).toBe('person');
          expect(x.box.x + x.box.w).toBeLessThanOrEqual(768.001);
          expect(x.box.y + x.box.h).toBeLessThanOrEqual(576.001);
        }
      }
      const counts = got.map((p) => (p.data as Detections).detections.length);
      expect(counts.filter((n) => n >= 3).length).toBeGreaterThan(got.length * 0.8);
      // Boxes are in camera pixels: the tallest people are far taller than the 312-px frame allows at scale 1.
      expect(Math.max(...got.flatMap((p) => (p.data as Detections).detections.map((x) => x.box.y + x.box.h)))).toBeGreaterThan(330);
    } finally {
      await t.app.stop();
    }
  });
});
