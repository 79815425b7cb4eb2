import { describe, expect, it } from 'vitest';
import { CandidateBuffer, decodeEnd2End, decodeEnd2EndSplit, decodeImage, decodeYolov5, decodeYolov8, decodeYolox, finishImage, makeThresholds, yoloxGrid } from './decode.js';
import { gridCount, ModelError, planModel, type ModelIO } from './layout.js';
import { iou, nms } from './nms.js';
import { planLetterbox } from './preprocess.js';

const io = (inp: (number | string)[], ...outs: (number | string)[][]): ModelIO => ({
  inputs: [{ name: 'images', type: 'float32', shape: inp }],
  outputs: outs.map((s, i) => ({ name: `out${i}`, type: 'float32', shape: s })),
});
const all = (n: number, score = 0.3) => makeThresholds(n, score, new Map(), undefined);
const rows = (c: CandidateBuffer) => Array.from({ length: c.n }, (_, i) => [...c.boxes.slice(4 * i, 4 * i + 4), c.scores[i], c.classes[i]].map((v) => Math.round(v * 1e4) / 1e4));

describe('layout from shapes', () => {
  it('counts the cells of strides 8/16/32', () => {
    expect(gridCount(416, 416)).toBe(3549);
    expect(gridCount(640, 640)).toBe(8400);
    expect(gridCount(32, 32)).toBe(21);
    expect(gridCount(640, 384)).toBe(80 * 48 + 40 * 24 + 20 * 12);
  });

  it('tells YOLOX from YOLOv5 by row count (the grid, or 3× it), and finds v8, pose and end2end', () => {
    expect(planModel('m', io([1, 3, 416, 416], [1, 3549, 85]), { layout: 'auto' })).toMatchObject({ layout: 'yolox', numClasses: 80, rows: 3549, attrs: 85, inputW: 416, inputH: 416, fixedBatch: 1 });
    expect(planModel('m', io([1, 3, 640, 640], [1, 25200, 85]), { layout: 'auto' })).toMatchObject({ layout: 'yolov5', numClasses: 80, rows: 25200 });
    expect(planModel('m', io([1, 3, 640, 640], [1, 84, 8400]), { layout: 'auto' })).toMatchObject({ layout: 'yolov8', numClasses: 80, rows: 8400, attrs: 84 });
    expect(planModel('m', io([1, 3, 640, 640], [1, 56, 8400]), { layout: 'auto' })).toMatchObject({ layout: 'yolov8-pose', numClasses: 1, keypoints: 17 });
    expect(planModel('m', io([1, 3, 640, 640], [1, 300, 6]), { layout: 'auto' })).toMatchObject({ layout: 'end2end', e2e: 'single', rows: 300 });
    // A single-class YOLOX ([1, A, 6]) is still YOLOX: the grid count comes first.
    expect(planModel('m', io([1, 3, 32, 32], [1, 21, 6]), { layout: 'auto' })).toMatchObject({ layout: 'yolox', numClasses: 1 });
    const split: ModelIO = {
      inputs: [{ name: 'images', type: 'float32', shape: ['batch', 3, 640, 640] }],
      outputs: [
        { name: 'num_dets', type: 'int32', shape: ['batch', 1] }, { name: 'det_boxes', type: 'float32', shape: ['batch', 100, 4] },
        { name: 'det_scores', type: 'float32', shape: ['batch', 100] }, { name: 'det_classes', type: 'int32', shape: ['batch', 100] },
      ],
    };
    expect(planModel('m', split, { layout: 'auto' })).toMatchObject({ layout: 'end2end', e2e: 'split', fixedBatch: 0, outputs: ['num_dets', 'det_boxes', 'det_scores', 'det_classes'], rows: 100 });
  });

  it('takes input_size for dynamic models (640 when absent), refuses one that contradicts a fixed size', () => {
    expect(planModel('m', io(['b', 3, 'h', 'w'], ['b', 84, 'n']), { layout: 'auto', inputSize: [320, 256] })).toMatchObject({ layout: 'yolov8', inputW: 320, inputH: 256, fixedBatch: 0, rows: 0 });
    expect(planModel('m', io(['b', 3, 'h', 'w'], ['b', 56, 'n']), { layout: 'auto' })).toMatchObject({ layout: 'yolov8-pose', inputW: 640, inputH: 640 });
    expect(planModel('m', io(['b', 3, 'h', 'w'], ['b', 'n', 85]), { layout: 'yolox' })).toMatchObject({ layout: 'yolox', rows: 0, attrs: 85 });
    expect(() => planModel('m', io(['b', 3, 'h', 'w'], ['b', 'n', 85]), { layout: 'auto' })).toThrow(/\[b, n, 85\] has a dynamic row count: YOLOX and YOLOv5 cannot be told apart; expected layout: yolox or layout: yolov5/);
    expect(() => planModel('m.onnx', io([1, 3, 416, 416], [1, 3549, 85]), { layout: 'auto', inputSize: [640, 640] })).toThrow('input_size [640, 640] differs from the model\'s fixed input [1, 3, 416, 416]');
  });

  it('refuses what it cannot decode, saying the file, the shapes found and what was expected', () => {
    const refuse = (m: ModelIO, layout: 'auto' | 'yolox' = 'auto') => {
      try { planModel('/m/x.onnx', m, { layout }); } catch (err) { expect(err).toBeInstanceOf(ModelError); return (err as Error).message; }
      throw new Error('accepted');
    };
    expect(refuse(io([1, 3, 224, 224], [1, 1000]))).toBe((
      'model /m/x.onnx refused: output "out0" has rank 2 [1, 1000] (an image classifier or another task?); expected one of: YOLOX raw grid [1, 3549, 5+C]; ' +
      'YOLOv5 [1, 10647, 5+C]; YOLOv8/11 [1, 4+C, 3549]; YOLOv8-pose [1, 5+3K, 3549]; end-to-end [1, N, 6] or num_dets/boxes/scores/classes ' +
      '(3549 = cells of strides 8/16/32 at 416x416; set layout: to force one). Found inputs images [1, 3, 224, 224]; outputs out0 [1, 1000].').replace(/3549/g, String(gridCount(224, 224))).replace('10647', String(3 * gridCount(224, 224))).replace('416x416', '224x224'),
    );
    expect(refuse(io([1, 416, 416], [1, 3549, 85]))).toMatch(/^model \/m\/x\.onnx refused: input "images" has rank 3 \[1, 416, 416\]; expected one image input of rank 4 \[batch, 3, height, width\] \(NCHW\)\. Found inputs images \[1, 416, 416\]; outputs out0 \[1, 3549, 85\]\.$/);
    expect(refuse(io([1, 416, 416, 3], [1, 3549, 85]))).toMatch(/axis 1; expected an NCHW input/);
    expect(refuse(io([1, 3, 416, 416], [1, 1234, 85]))).toMatch(/output layout unknown: "out0" \[1, 1234, 85\] fits no known layout for a 416x416 input; expected one of: YOLOX raw grid \[1, 3549, 5\+C\]/);
    expect(refuse(io([1, 3, 416, 416], [1, 84, 8400]), 'yolox')).toMatch(/does not fit layout: yolox; expected \[B, 3549, 5\+C\] \(the grid of 416x416\)/);
  });
});

describe('decoders (exact numbers)', () => {
  it('YOLOX: ((x, y) + cell) × stride, exp(w, h) × stride, score = obj × best class', () => {
    const grid = yoloxGrid(32, 32); // 16 cells of stride 8, 4 of 16, 1 of 32
    expect(grid.length).toBe(21 * 3);
    expect([...grid.slice(3 * 5, 3 * 5 + 3)]).toEqual([1, 1, 8]); // row 5 = cell (1, 1) at stride 8
    const out = new Float32Array(21 * 7); // 2 classes
    out.set([0.5, 0.5, Math.log(2), Math.log(1), 0.9, 0.1, 0.8], 5 * 7); // → centre (12, 12), 16 × 8, score 0.72 class 1
    out.set([0, 0, 0, 0, 0.5, 0.5, 0.1], 20 * 7); // stride 32 cell (0, 0): centre (0, 0), 32 × 32, score 0.25: below 0.3
    out.set([0.25, 0, 0, 0, 1, 0.4, 0.3], 17 * 7); // stride 16, row 17 = cell (1, 0): centre (20, 0), 16 × 16, 0.4 class 0
    const c = new CandidateBuffer();
    decodeYolox(out, 0, 21, 7, grid, all(2), c);
    expect(rows(c)).toEqual([[4, 8, 20, 16, 0.72, 1], [12, -8, 28, 8, 0.4, 0]]);
  });

  it('YOLOv5: centre boxes in pixels, score = obj × class', () => {
    const out = Float32Array.from([10, 20, 4, 6, 0.5, 0.9, 0.2, /**/ 0, 0, 1, 1, 0.2, 1, 1]);
    const c = new CandidateBuffer();
    decodeYolov5(out, 0, 2, 7, all(2), c);
    expect(rows(c)).toEqual([[8, 17, 12, 23, 0.45, 0]]);
  });

  it('YOLOv8: channels first, no objectness; pose carries K keypoints', () => {
    // 3 anchors, 2 classes: attributes × anchors.
    const out = Float32Array.from([
      10, 50, 90, /* cx */ 10, 50, 90, /* cy */ 4, 4, 4, /* w */ 2, 2, 2, /* h */
      0.9, 0.1, 0.2, /* class 0 */ 0.1, 0.6, 0.25, /* class 1 */
    ]);
    const c = new CandidateBuffer();
    decodeYolov8(out, 0, 3, 6, 0, all(2), c);
    expect(rows(c)).toEqual([[8, 9, 12, 11, 0.9, 0], [48, 49, 52, 51, 0.6, 1]]);
    // Pose: 2 anchors, K = 1: cx, cy, w, h, score, kx, ky, kv.
    const pose = Float32Array.from([5, 7, 5, 7, 2, 2, 2, 2, 0.8, 0.1, 3, 4, 3, 4, 0.9, 0.95]);
    const p = new CandidateBuffer(1);
    decodeYolov8(pose, 0, 2, 8, 1, all(1), p);
    expect(rows(p)).toEqual([[4, 4, 6, 6, 0.8, 0]]);
    expect([...p.keypoints!.slice(0, 3)].map((v) => Math.round(v * 100) / 100)).toEqual([3, 3, 0.9]);
  });

  it('end-to-end: rows as they are (single output), or the first num_dets of the split outputs', () => {
    const single = Float32Array.from([1, 2, 3, 4, 0.9, 7, /**/ 5, 6, 7, 8, 0.2, 1, /**/ 0, 0, 0, 0, 0, 0]);
    const c = new CandidateBuffer();
    decodeEnd2End(single, 0, 3, all(80), c);
    expect(rows(c)).toEqual([[1, 2, 3, 4, 0.9, 7]]);
    const s = new CandidateBuffer();
    decodeEnd2EndSplit(Int32Array.from([2, 1]), Float32Array.from([1, 1, 2, 2, 3, 3, 4, 4, 9, 9, 9, 9, 5, 5, 6, 6]), Float32Array.from([0.8, 0.7, 0.99, 0.6]), BigInt64Array.from([3n, 5n, 1n, 2n]), 1, 2, all(80), s);
    expect(rows(s)).toEqual([[9, 9, 9, 9, 0.99, 1]]); // image 1: rows 2–3, of which num_dets[1] = 1
  });

  it('per-class thresholds and a class filter: the best class decides, filtered classes are never reported', () => {
    const out = Float32Array.from([10, 10, 2, 2, 1, 0.35, 0.1, 0.0, /**/ 20, 20, 2, 2, 1, 0.1, 0.5, 0.0, /**/ 30, 30, 2, 2, 1, 0.1, 0.2, 0.45]);
    const c = new CandidateBuffer();
    decodeYolov5(out, 0, 3, 8, makeThresholds(3, 0.3, new Map([[0, 0.4]]), undefined), c);
    expect(rows(c).map((r) => r[5])).toEqual([1, 2]); // class 0 needs 0.4: 0.35 is dropped
    const only = new CandidateBuffer();
    decodeYolov5(out, 0, 3, 8, makeThresholds(3, 0.3, new Map(), new Set([2])), only);
    expect(rows(only).map((r) => r[5])).toEqual([2]);
    const t = makeThresholds(3, 0.3, new Map([[1, 0.1]]), new Set([0, 1]));
    expect([...t.perClass]).toEqual([Math.fround(0.3), Math.fround(0.1), Infinity]);
    expect(t.other).toBe(Infinity);
    expect(t.min).toBeCloseTo(0.1, 6);
  });
});

describe('NMS', () => {
  const cands = (list: [number, number, number, number, number, number][]) => {
    const c = new CandidateBuffer();
    for (const [x1, y1, x2, y2, s, k] of list) c.push(x1, y1, x2, y2, s, k);
    return c;
  };
  it('computes IoU on continuous coordinates', () => {
    const c = cands([[0, 0, 10, 10, 1, 0], [5, 0, 15, 10, 1, 0], [20, 20, 30, 30, 1, 0]]);
    expect(iou(c.boxes, 0, 1)).toBeCloseTo(50 / 150, 12);
    expect(iou(c.boxes, 0, 2)).toBe(0);
  });
  it('keeps the best box, drops same-class boxes over the IoU threshold, keeps other classes and boxes at exactly the threshold', () => {
    // IoU(0,1) = 0.6 (drop), IoU(0,2) = 0.6 but other class (keep), IoU(0,3) = 9/29 ... keep.
    const c = cands([
      [0, 0, 10, 10, 0.9, 0],
      [0, 0, 10, 6, 0.8, 0],
      [0, 0, 10, 6, 0.85, 1],
      [0, 0, 10, 4.5, 0.7, 0], // IoU with box 0 = 45/100 = 0.45: exactly the threshold, kept
      [100, 100, 110, 110, 0.95, 0],
    ]);
    expect(nms(c, 0.45, 100)).toEqual([4, 0, 2, 3]);
    expect(nms(c, 0.45, 2)).toEqual([4, 0]);
    expect(nms(c, 0.45, 100, false)).toEqual([4, 0, 3]);
  });
  it('breaks score ties by input order', () => {
    const c = cands([[0, 0, 10, 10, 0.5, 0], [0, 0, 10, 10, 0.5, 0]]);
    expect(nms(c, 0.45, 10)).toEqual([0]);
  });
});

describe('boxes back to source pixels', () => {
  it('undoes the letterbox, clips to the frame, then applies the frame\'s transform; keypoints too', () => {
    const lb = planLetterbox(64, 32, 192, 3, 32, 32, 'center'); // scale 0.5: 32x16 at dy 8
    const c = new CandidateBuffer(1);
    c.push(4, 10, 12, 20, 0.9, 3);
    c.keypoints!.set([8, 12, 0.7]);
    c.push(-4, 0, 40, 30, 0.8, 0); // sticks out of the picture: clipped to the frame
    c.keypoints!.set([0, 0, 0.1], 3);
    const r = finishImage(c, lb, undefined, { nmsIou: 0.45, maxDetections: 10, runNms: true });
    expect([...r.dets]).toEqual([8, 4, 16, 20, 0.8999999761581421, 3, 0, 0, 64, 32, 0.800000011920929, 0]);
    expect([...r.keypoints!]).toEqual([16, 8, 0.699999988079071, 0, 0, 0.10000000149011612]);
    const scaled = finishImage(c, lb, { width: 128, height: 64, scaleX: 2, scaleY: 2, offsetX: 1, offsetY: 0 }, { nmsIou: 0.45, maxDetections: 1, runNms: false });
    expect([...scaled.dets]).toEqual([17, 8, 32, 40, 0.8999999761581421, 3]);
  });

  it('decodes one image of a batch from the whole output', () => {
    const plan = planModel('m', io(['b', 3, 32, 32], ['b', 2, 7]), { layout: 'yolov5' });
    const out = Float32Array.from([
      0, 0, 0, 0, 0, 0, 0, /**/ 0, 0, 0, 0, 0, 0, 0, // image 0: nothing
      16, 16, 4, 4, 1, 0.2, 0.9, /**/ 0, 0, 0, 0, 0, 0, 0, // image 1: one box
    ]);
    const c = new CandidateBuffer();
    decodeImage(plan, [out], 0, all(2), c, undefined);
    expect(c.n).toBe(0);
    decodeImage(plan, [out], 1, all(2), c, undefined);
    expect(rows(c)).toEqual([[14, 14, 18, 18, 0.9, 1]]);
  });
});
