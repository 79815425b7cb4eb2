/**
 * Person re-identification embeddings for the tracker's appearance cue: each box is cut from
 * the frame and stretched to the model's input (the Open Model Zoo recipe: crop, cv2.resize,
 * no padding, aspect not kept), run through one onnxruntime session, and the output vector is
 * L2-normalised, so the cosine distance of two embeddings is 1 − their dot product.
 *
 * `session.run` blocks its thread: the node runs this in worker threads (reid-worker.ts, one
 * engine per worker) on the frame's shared pixels; tests and benchmarks may run it directly.
 */
import ort from 'onnxruntime-node';
import { compose, frameToSource, invert, warpToTensor, type Affine, type Box } from '../rtmpose/crop.js';
import { openSession, type FrameRef } from '../rtmpose/engine.js';

export interface ReidEngineOptions {
  model: string;
  providers: string[];
  threads: number;
  /** Channel order the model expects. */
  order: 'rgb' | 'bgr';
  /** Per model channel, on 0–255 values: (v − mean) / std. */
  mean: [number, number, number];
  std: [number, number, number];
}

export interface Embeddings {
  /** n × dim, row i for box i; rows of `ok[i] = 0` are zero (the model gave a zero vector). */
  data: Float32Array;
  dim: number;
  ok: Uint8Array;
  /** Per box: crop warp + session.run + normalise, ms. */
  ms: number[];
}

/**
 * Crop pixel (u, v) of an inW × inH stretch of `box` → source pixel, as cv2.resize samples a
 * crop (pixel centres aligned: u ↦ x + (u + ½)·w/inW − ½).
 */
export function stretchToSource(box: Box, inW: number, inH: number): Affine {
  const sx = box.w / inW, sy = box.h / inH;
  return { a: sx, b: 0, c: box.x + 0.5 * sx - 0.5, d: 0, e: sy, f: box.y + 0.5 * sy - 0.5 };
}

export class ReidEngine {
  private readonly tensor: Float32Array;
  private readonly dims: number[];

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly opts: ReidEngineOptions,
    private readonly inputName: string,
    private readonly outputName: string,
    readonly layout: 'hwc' | 'chw',
    readonly inW: number,
    readonly inH: number,
    readonly provider: string,
  ) {
    this.tensor = new Float32Array(3 * inW * inH);
    this.dims = layout === 'hwc' ? [1, inH, inW, 3] : [1, 3, inH, inW];
  }

  /** Opens the model on the first provider that loads it; checks its input is one fixed-size image. */
  static async create(opts: ReidEngineOptions): Promise<ReidEngine> {
    const { session, provider } = await openSession(opts.model, opts.providers, opts.threads);
    const inputName = session.inputNames[0];
    const meta = session.inputMetadata[0] as { shape?: readonly (number | string)[] } | undefined;
    const shape = meta?.shape ?? [];
    const fixed = (d: number | string | undefined): number => (typeof d === 'number' && d > 0 ? d : 0);
    let layout: 'hwc' | 'chw' | undefined;
    let w = 0, h = 0;
    if (shape.length === 4 && shape[3] === 3) { layout = 'hwc'; h = fixed(shape[1]); w = fixed(shape[2]); }
    else if (shape.length === 4 && shape[1] === 3) { layout = 'chw'; h = fixed(shape[2]); w = fixed(shape[3]); }
    if (!layout || !w || !h) {
      await session.release();
      throw new Error(`re-identification model input ${inputName} should be [1,H,W,3] or [1,3,H,W] with a fixed H and W, got [${shape.join(',')}]`);
    }
    return new ReidEngine(session, opts, inputName, session.outputNames[0], layout, w, h, provider);
  }

  /**
   * Embeddings of `boxes` (source pixels) in `frame`, one run per box (the model's batch is 1).
   * Calls run one after another: they share the input tensor.
   */
  embed(frame: FrameRef, boxes: readonly Box[]): Promise<Embeddings> {
    const r = this.last.then(() => this.embedNow(frame, boxes));
    this.last = r.then(() => undefined, () => undefined);
    return r;
  }
  private last: Promise<void> = Promise.resolve();

  private async embedNow(frame: FrameRef, boxes: readonly Box[]): Promise<Embeddings> {
    const toFrame = invert(frameToSource(frame.source));
    const warp = { outW: this.inW, outH: this.inH, mean: this.opts.mean, std: this.opts.std, order: this.opts.order, layout: this.layout };
    let data = new Float32Array(0);
    let dim = 0;
    const ok = new Uint8Array(boxes.length);
    const ms: number[] = [];
    for (let i = 0; i < boxes.length; i++) {
      const t0 = performance.now();
      warpToTensor(frame, compose(toFrame, stretchToSource(boxes[i], this.inW, this.inH)), warp, this.tensor);
      const out = await this.session.run({ [this.inputName]: new ort.Tensor('float32', this.tensor, this.dims) });
      const t = out[this.outputName];
      const v = t.data as Float32Array;
      if (dim === 0) { dim = v.length; data = new Float32Array(dim * boxes.length); }
      else if (v.length !== dim) throw new Error(`re-identification model output ${this.outputName} changed size: ${v.length} after ${dim}`);
      let ss = 0;
      for (let k = 0; k < dim; k++) ss += v[k] * v[k];
      if (ss > 1e-24 && Number.isFinite(ss)) {
        const s = 1 / Math.sqrt(ss), o = i * dim;
        for (let k = 0; k < dim; k++) data[o + k] = v[k] * s;
        ok[i] = 1;
      }
      for (const x of Object.values(out)) x.dispose();
      ms.push(performance.now() - t0);
    }
    return { data, dim, ok, ms };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
