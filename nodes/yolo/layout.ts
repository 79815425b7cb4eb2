/**
 * Which YOLO output layout a model has, read from its input and output shapes, pure. A model
 * that fits none is refused with the file, the shapes found and what was expected.
 *
 * Input: one float tensor [batch, 3, H, W] (NCHW). H and W come from the model, or from
 * `input_size` when they are dynamic (default 640). The batch axis is fixed (a number) or
 * dynamic (a name such as "batch", or -1): only a dynamic one gathers several frames.
 *
 * Outputs, for A = Σ over strides 8/16/32 of (H/s)·(W/s) (3549 at 416×416, 8400 at 640×640):
 * - `yolox`       one [B, A, 5+C]: raw grid (x, y, log w, log h, obj, C class scores), decoded
 *                 with the grid: ((x, y) + cell) × stride, exp(w, h) × stride; score = obj × cls.
 * - `yolov5`      one [B, 3A, 5+C]: decoded centre boxes in input pixels, obj, C class scores;
 *                 score = obj × cls (3 anchors per cell: 3A rows).
 * - `yolov8`      one [B, 4+C, A]: cx, cy, w, h in input pixels, then C class scores (YOLOv8/11).
 * - `yolov8-pose` one [B, 5+3K, A]: cx, cy, w, h, person score, K × (x, y, visibility).
 * - `end2end`     NMS already ran inside the model: one [B, N, 6] (x1, y1, x2, y2, score, class
 *                 in input pixels), or four outputs num_dets [B,1], boxes [B,N,4] (x1,y1,x2,y2),
 *                 scores [B,N], classes [B,N] (TensorRT EfficientNMS style).
 *
 * Auto-detection (`layout: auto`), in this order, for a single rank-3 output [B, d1, d2]:
 * 1. d1 = A → yolox (the raw grid has exactly one row per cell of the three strides);
 * 2. d1 = 3A → yolov5;
 * 3. d2 = A → yolov8-pose when d1 = 56 (17 COCO keypoints, one class), else yolov8;
 * 4. d2 = 6 (and d1 ≠ A, 3A) → end2end.
 * A dynamic axis (exports with dynamic shapes) is read from the output at run time: a dynamic
 * anchor axis [B, 4+C, n] is taken as yolov8 (pose when 4+C = 56); a dynamic row axis
 * [B, n, 5+C] needs `layout: yolox` or `layout: yolov5`.
 * So YOLOX and YOLOv5 — both [1, N, 5+C] — are told apart by N: the YOLOX grid count for the
 * input size, or three times it. A YOLOX export with decoding baked in (`decode_in_inference`)
 * looks like the grid by shape: give it `layout: yolov5` (its rows are decoded the same way).
 * Four outputs shaped as above → end2end. Anything else is refused; `layout:` forces one
 * (the shapes must still fit it).
 */

export type Layout = 'yolox' | 'yolov5' | 'yolov8' | 'yolov8-pose' | 'end2end';
export type LayoutOption = Layout | 'auto';

export interface TensorMeta { name: string; type: string; shape: readonly (number | string)[] }
export interface ModelIO { inputs: readonly TensorMeta[]; outputs: readonly TensorMeta[] }

export interface ModelPlan {
  file: string;
  layout: Layout;
  inputName: string;
  inputW: number;
  inputH: number;
  /** Fixed batch size, or 0 when the batch axis is dynamic. */
  fixedBatch: number;
  numClasses: number;
  /** Keypoints per detection (pose), else 0. */
  keypoints: number;
  /** Output names in the order the decoder reads them. */
  outputs: string[];
  /** Rows (boxes) per image in the output; 0 when the axis is dynamic (read at run time). */
  rows: number;
  /** Values per row. */
  attrs: number;
  /** end2end only: 'single' [B,N,6] or 'split' (num_dets, boxes, scores, classes). */
  e2e?: 'single' | 'split';
}

export class ModelError extends Error {
  override name = 'ModelError';
}

export const STRIDES = [8, 16, 32] as const;

/** Cells of the three strides for an input size: one YOLOX / YOLOv8 row each. */
export function gridCount(w: number, h: number): number {
  let n = 0;
  for (const s of STRIDES) n += Math.ceil(h / s) * Math.ceil(w / s);
  return n;
}

const dim = (d: number | string): number | undefined => (typeof d === 'number' && d >= 0 ? d : undefined);
export const shapeText = (s: readonly (number | string)[]): string => `[${s.map((d) => (typeof d === 'number' && d >= 0 ? String(d) : typeof d === 'string' && d ? d : '?')).join(', ')}]`;
const ioText = (io: ModelIO): string =>
  `inputs ${io.inputs.map((t) => `${t.name} ${shapeText(t.shape)}`).join(', ') || 'none'}; outputs ${io.outputs.map((t) => `${t.name} ${shapeText(t.shape)}`).join(', ') || 'none'}`;

export function expectedText(w: number, h: number): string {
  const a = gridCount(w, h);
  return `one of: YOLOX raw grid [1, ${a}, 5+C]; YOLOv5 [1, ${3 * a}, 5+C]; YOLOv8/11 [1, 4+C, ${a}]; ` +
    `YOLOv8-pose [1, 5+3K, ${a}]; end-to-end [1, N, 6] or num_dets/boxes/scores/classes ` +
    `(${a} = cells of strides 8/16/32 at ${w}x${h}; set layout: to force one)`;
}

export interface PlanOptions {
  layout: LayoutOption;
  /** [W, H] for models whose input size is dynamic; ignored when the model fixes it (unless equal). */
  inputSize?: readonly number[];
}

/** Read the model's shapes into a plan, or throw ModelError saying what was found and expected. */
export function planModel(file: string, io: ModelIO, opts: PlanOptions): ModelPlan {
  const refuse = (why: string, expected: string): never => {
    throw new ModelError(`model ${file} refused: ${why}; expected ${expected}. Found ${ioText(io)}.`);
  };
  if (io.inputs.length !== 1) refuse(`it has ${io.inputs.length} inputs`, 'one image input [batch, 3, height, width]');
  const inp = io.inputs[0];
  if (inp.shape.length !== 4) refuse(`input "${inp.name}" has rank ${inp.shape.length} ${shapeText(inp.shape)}`, 'one image input of rank 4 [batch, 3, height, width] (NCHW)');
  if (!inp.type.startsWith('float')) refuse(`input "${inp.name}" is ${inp.type}`, 'a float32 image input');
  if (dim(inp.shape[1]) !== 3) refuse(`input "${inp.name}" ${shapeText(inp.shape)} has ${shapeText([inp.shape[1]])} channels in axis 1`, 'an NCHW input [batch, 3, height, width] (NHWC models are not supported)');
  const mh = dim(inp.shape[2]), mw = dim(inp.shape[3]);
  const [ow, oh] = opts.inputSize && opts.inputSize.length === 2 ? opts.inputSize : [];
  if (mw !== undefined && ow !== undefined && mw !== ow || mh !== undefined && oh !== undefined && mh !== oh) {
    refuse(`input_size [${ow}, ${oh}] differs from the model's fixed input ${shapeText(inp.shape)}`, `input_size [${mw}, ${mh}] or none`);
  }
  const inputW = mw ?? ow ?? 640;
  const inputH = mh ?? oh ?? 640;
  if (inputW % 32 !== 0 || inputH % 32 !== 0) refuse(`input size ${inputW}x${inputH} is not a multiple of 32`, 'a YOLO input size (multiples of 32: 320, 416, 640, …)');
  const fixedBatch = dim(inp.shape[0]) ?? 0;
  const a = gridCount(inputW, inputH);
  const base = { file, inputName: inp.name, inputW, inputH, fixedBatch };
  const outs = io.outputs;
  const want = opts.layout;
  const batchOk = (t: TensorMeta) => dim(t.shape[0]) === undefined || fixedBatch === 0 || dim(t.shape[0]) === fixedBatch;

  // Four outputs: end-to-end with NMS done (num_dets, boxes, scores, classes), found by shape.
  if (outs.length === 4 && (want === 'auto' || want === 'end2end')) {
    const by = (pred: (t: TensorMeta) => boolean) => outs.find(pred);
    const boxes = by((t) => t.shape.length === 3 && dim(t.shape[2]) === 4);
    const num = by((t) => t.shape.length === 2 && dim(t.shape[1]) === 1 || t.shape.length === 1);
    const rest = outs.filter((t) => t !== boxes && t !== num && t.shape.length === 2);
    const scores = rest.find((t) => t.type.startsWith('float')) ?? rest[0];
    const classes = rest.find((t) => t !== scores);
    if (boxes && num && scores && classes) {
      const n = dim(boxes.shape[1]) ?? 0;
      return { ...base, layout: 'end2end', e2e: 'split', numClasses: 0, keypoints: 0, outputs: [num.name, boxes.name, scores.name, classes.name], rows: n, attrs: 4 };
    }
    refuse('its four outputs are not num_dets [B,1], boxes [B,N,4], scores [B,N], classes [B,N]', expectedText(inputW, inputH));
  }
  if (outs.length !== 1) refuse(`it has ${outs.length} outputs`, expectedText(inputW, inputH));
  const out = outs[0];
  if (out.shape.length !== 3) refuse(`output "${out.name}" has rank ${out.shape.length} ${shapeText(out.shape)} (an image classifier or another task?)`, expectedText(inputW, inputH));
  if (!batchOk(out)) refuse(`output "${out.name}" ${shapeText(out.shape)} has another batch size than the input ${shapeText(inp.shape)}`, 'the same batch axis on input and output');
  const d1 = dim(out.shape[1]), d2 = dim(out.shape[2]);
  // A dynamic axis (a name, -1) is taken from the output at run time: rows = 0 here.
  const plan = (layout: Layout): ModelPlan | undefined => {
    switch (layout) {
      case 'yolox':
        return (d1 === a || d1 === undefined) && d2 !== undefined && d2 > 5 ? { ...base, layout, numClasses: d2 - 5, keypoints: 0, outputs: [out.name], rows: d1 ?? 0, attrs: d2 } : undefined;
      case 'yolov5':
        return d1 !== 0 && d2 !== undefined && d2 > 5 ? { ...base, layout, numClasses: d2 - 5, keypoints: 0, outputs: [out.name], rows: d1 ?? 0, attrs: d2 } : undefined;
      case 'yolov8':
        return d1 !== undefined && d1 > 4 && d2 !== 0 ? { ...base, layout, numClasses: d1 - 4, keypoints: 0, outputs: [out.name], rows: d2 ?? 0, attrs: d1 } : undefined;
      case 'yolov8-pose':
        return d1 !== undefined && d1 > 5 && (d1 - 5) % 3 === 0 && d2 !== 0 ? { ...base, layout, numClasses: 1, keypoints: (d1 - 5) / 3, outputs: [out.name], rows: d2 ?? 0, attrs: d1 } : undefined;
      case 'end2end':
        return d2 === 6 ? { ...base, layout, e2e: 'single', numClasses: 0, keypoints: 0, outputs: [out.name], rows: d1 ?? 0, attrs: 6 } : undefined;
    }
  };
  if (want !== 'auto') {
    const p = plan(want);
    if (!p) {
      const shapes: Record<Layout, string> = {
        yolox: `[B, ${a}, 5+C] (the grid of ${inputW}x${inputH})`, yolov5: '[B, N, 5+C]', yolov8: `[B, 4+C, N]`,
        'yolov8-pose': '[B, 5+3K, N]', end2end: '[B, N, 6] or num_dets/boxes/scores/classes',
      };
      refuse(`output "${out.name}" ${shapeText(out.shape)} does not fit layout: ${want}`, shapes[want]);
    }
    return p!;
  }
  if (d2 !== undefined && d2 > 5 && d1 === a) return plan('yolox')!;
  if (d2 !== undefined && d2 > 5 && d1 === 3 * a) return plan('yolov5')!;
  if ((d2 === a || d2 === undefined) && d1 === 56) return plan('yolov8-pose')!;
  if ((d2 === a || d2 === undefined) && d1 !== undefined && d1 > 4) return plan('yolov8')!;
  if (d2 === 6 && d1 !== a && d1 !== 3 * a) return plan('end2end')!;
  if (d1 === undefined && d2 !== undefined && d2 > 5) {
    refuse(`output "${out.name}" ${shapeText(out.shape)} has a dynamic row count: YOLOX and YOLOv5 cannot be told apart`, 'layout: yolox or layout: yolov5 in the graph');
  }
  return refuse(`output layout unknown: "${out.name}" ${shapeText(out.shape)} fits no known layout for a ${inputW}x${inputH} input`, expectedText(inputW, inputH));
}
