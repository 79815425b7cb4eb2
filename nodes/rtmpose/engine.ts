/**
 * One pose model session: crop warp → session.run → decode → keypoints in source pixels.
 * `session.run` blocks its thread, so the node runs this inside worker threads (pose-worker.ts,
 * one engine per worker); the benchmark runs it directly.
 */
import ort from 'onnxruntime-node';
import { sessionOptions } from '../../src/onnx-session.js';
import type { Keypoint, SourceTransform } from '../../src/contract.js';
import { apply, compose, cropToSource, invert, frameToSource, warpToTensor, type CropRegion, type WarpInput } from './crop.js';
import { chooseHead, decodeHeatmaps, decodeSimcc, type CropKeypoint, type PoseHead } from './decode.js';

export interface EngineOptions {
  model: string;
  providers: string[];
  threads: number;
  /** [w, h] when the model's input size is dynamic; ignored when the model fixes it. */
  inputSize?: [number, number];
  mean: [number, number, number];
  std: [number, number, number];
  order: 'rgb' | 'bgr';
}

/**
 * An onnxruntime session on the first of `providers` that loads `model` (each failure is kept
 * for the error when none does), with the options every model worker uses (src/onnx-session.ts).
 */
export async function openSession(model: string, providers: readonly string[], threads: number): Promise<{ session: ort.InferenceSession; provider: string }> {
  ort.env.logLevel = 'fatal';
  const failures: string[] = [];
  for (const p of providers) {
    try {
      const session = await ort.InferenceSession.create(model, sessionOptions(p, threads));
      return { session, provider: p };
    } catch (err) {
      failures.push(`${p}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
    }
  }
  throw new Error(failures.join('; '));
}

export interface FrameRef extends WarpInput { source?: SourceTransform }

export interface PoseTiming { warpMs: number; runMs: number; decodeMs: number }

export class PoseEngine {
  private head: PoseHead | undefined;
  private readonly tensor: Float32Array;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly opts: EngineOptions,
    private readonly inputName: string,
    readonly inW: number,
    readonly inH: number,
    readonly provider: string,
  ) {
    this.tensor = new Float32Array(3 * inW * inH);
  }

  /** The first of `opts.providers` that loads the model; its name is `provider`. */
  static async create(opts: EngineOptions): Promise<PoseEngine> {
    const { session, provider } = await openSession(opts.model, opts.providers, opts.threads);
    const inputName = session.inputNames[0];
    const meta = session.inputMetadata[0] as { isTensor: boolean; shape?: readonly (number | string)[] } | undefined;
    const shape = meta?.shape ?? [];
    if (shape.length !== 4) throw new Error(`pose model input ${inputName} should be [1,3,H,W], got [${shape.join(',')}]`);
    const h = typeof shape[2] === 'number' && shape[2] > 0 ? shape[2] : opts.inputSize?.[1];
    const w = typeof shape[3] === 'number' && shape[3] > 0 ? shape[3] : opts.inputSize?.[0];
    if (!w || !h) throw new Error(`pose model input ${inputName} [${shape.join(',')}] has a dynamic size: set input_size`);
    return new PoseEngine(session, opts, inputName, w, h, provider);
  }

  get headKind(): PoseHead['kind'] | undefined {
    return this.head?.kind;
  }

  /** Keypoints of one crop, in source pixels (frame pixels mapped through `frame.source`). */
  async estimate(frame: FrameRef, crop: CropRegion): Promise<{ keypoints: Keypoint[]; timing: PoseTiming }> {
    const t0 = performance.now();
    const toSource = cropToSource(crop, this.inW, this.inH);
    const toFrame = compose(invert(frameToSource(frame.source)), toSource);
    warpToTensor(frame, toFrame, { outW: this.inW, outH: this.inH, mean: this.opts.mean, std: this.opts.std, order: this.opts.order }, this.tensor);
    const t1 = performance.now();
    const out = await this.session.run({ [this.inputName]: new ort.Tensor('float32', this.tensor, [1, 3, this.inH, this.inW]) });
    const t2 = performance.now();
    this.head ??= chooseHead(Object.entries(out).map(([name, t]) => ({ name, dims: t.dims })), this.inW, this.inH);
    const pts = this.decode(out, this.head);
    const keypoints = pts.map((p) => {
      const [x, y] = apply(toSource, p.x, p.y);
      return { x, y, score: p.score };
    });
    for (const t of Object.values(out)) t.dispose();
    return { keypoints, timing: { warpMs: t1 - t0, runMs: t2 - t1, decodeMs: performance.now() - t2 } };
  }

  private decode(out: ort.InferenceSession.ReturnType, head: PoseHead): CropKeypoint[] {
    if (head.kind === 'simcc') {
      return decodeSimcc(out[head.x].data as Float32Array, out[head.y].data as Float32Array, head.keypoints, head.binsX, head.binsY, head.splitRatio);
    }
    return decodeHeatmaps(out[head.name].data as Float32Array, head.keypoints, head.h, head.w, this.inW, this.inH);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
