/**
 * The yolo node's worker thread: one onnxruntime session, and for each job the whole frame →
 * detections path — letterbox straight from the shared frame memory into the input tensor,
 * `session.run` (which blocks this thread, not the event loop), decode, NMS, boxes back to
 * source pixels. The main thread only posts frames (shared, not copied) and gets small arrays.
 *
 * Start-up: sessions are tried with each execution provider in the order given; the first
 * that loads runs. The model's shapes are checked (layout.ts) before the worker says ready, so
 * a bad model fails the pool's start with the file, the shapes found and what was expected.
 */
import { statSync } from 'node:fs';
import { isMainThread, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { serveWorker } from '../../src/worker.js';
import { sessionOptions } from '../../src/onnx-session.js';
import type { PixelFormat, SourceTransform } from '../../src/contract.js';
import { CandidateBuffer, decodeImage, finishImage, rowsOf, yoloxGrid, type ImageResult, type Thresholds } from './decode.js';
import { ModelError, planModel, type LayoutOption, type ModelPlan, type TensorMeta } from './layout.js';
import { channelSources, channelsOf, letterboxInto, levelTables, padInto, planLetterbox, resolvePreprocess, type LetterboxPlan, type PreprocessHints, type PreprocessOptions } from './preprocess.js';

export type Provider = 'cuda' | 'tensorrt' | 'webgpu' | 'cpu';

export interface WorkerInit {
  modelPath: string;
  providers: Provider[];
  threads: number;
  layout: LayoutOption;
  inputSize?: number[];
  preprocess: PreprocessOptions;
  /** From the model's manifest entry: used where the options say auto. */
  hints?: PreprocessHints;
  maxBatch: number;
}

export interface FrameIn {
  pixels: Uint8Array;
  width: number;
  height: number;
  stride: number;
  format: PixelFormat;
  source?: SourceTransform;
}

export type WorkerRequest =
  | { type: 'info' }
  | { type: 'detect'; frames: FrameIn[]; thresholds: Thresholds; nmsIou: number; maxDetections: number };

export interface WorkerInfo {
  provider: Provider;
  /** Providers tried before the one that runs, and why each failed. */
  failed: { provider: Provider; error: string }[];
  plan: ModelPlan;
  preprocess: ReturnType<typeof resolvePreprocess>;
  threads: number;
  maxBatch: number;
}

export interface DetectResult {
  images: ImageResult[];
  preMs: number;
  runMs: number;
  postMs: number;
}

interface State {
  session: ort.InferenceSession;
  info: WorkerInfo;
  input: Float32Array;
  lut: Float32Array;
  grid: Float32Array | undefined;
  candidates: CandidateBuffer;
  plans: Map<string, LetterboxPlan>;
}

const firstLine = (s: string) => s.split('\n').find((l) => l.trim())?.trim().slice(0, 300) ?? s;

/** onnxruntime's message when the file itself is unreadable (not a provider problem). */
const MODEL_LOAD = /load model|protobuf|parse|modelproto|invalid model|no_suchfile|invalid_graph|invalid_protobuf|opset|ir version|model_path/i;

export async function createSession(file: string, providers: Provider[], threads: number): Promise<{ session: ort.InferenceSession; provider: Provider; failed: WorkerInfo['failed'] }> {
  // Provider failures come back as exceptions and are reported by the node; onnxruntime's own
  // stderr lines about them (and its graph warnings) would only repeat them.
  ort.env.logLevel = 'fatal';
  const failed: WorkerInfo['failed'] = [];
  for (const p of providers) {
    try {
      return { session: await ort.InferenceSession.create(file, sessionOptions(p, threads)), provider: p, failed };
    } catch (err) {
      failed.push({ provider: p, error: firstLine(err instanceof Error ? err.message : String(err)) });
    }
  }
  const modelErr = failed.find((f) => MODEL_LOAD.test(f.error) && !/shared library|adapter/i.test(f.error));
  if (modelErr) {
    let size = '';
    try { size = `${statSync(file).size} bytes, `; } catch { /* gone */ }
    throw new ModelError(`model ${file} refused: onnxruntime cannot read it (${size}${modelErr.error}). Is it truncated or not an ONNX file? Expected an ONNX export of a YOLO detector: input [batch, 3, height, width], outputs in a YOLO layout.`);
  }
  throw new Error(`no execution provider could load ${file}: ${failed.map((f) => `${f.provider}: ${f.error}`).join('; ')}`);
}

function metaOf(names: readonly string[], meta: readonly ort.InferenceSession.ValueMetadata[]): TensorMeta[] {
  return names.map((name, i) => {
    const m = meta[i] as { name?: string; isTensor?: boolean; type?: string; shape?: readonly (number | string)[] } | undefined;
    return { name, type: m?.isTensor === false ? 'non-tensor' : String(m?.type ?? 'float32'), shape: m?.shape ?? [] };
  });
}

export async function init(d: WorkerInit): Promise<State> {
  const { session, provider, failed } = await createSession(d.modelPath, d.providers, d.threads);
  let plan: ModelPlan;
  try {
    plan = planModel(d.modelPath, { inputs: metaOf(session.inputNames, session.inputMetadata), outputs: metaOf(session.outputNames, session.outputMetadata) }, { layout: d.layout, inputSize: d.inputSize });
  } catch (err) {
    await session.release().catch(() => undefined);
    throw err;
  }
  const maxBatch = plan.fixedBatch || d.maxBatch;
  const pre = resolvePreprocess(plan.layout, d.preprocess, d.hints);
  return {
    session,
    info: { provider, failed, plan, preprocess: pre, threads: d.threads, maxBatch },
    input: new Float32Array(maxBatch * 3 * plan.inputW * plan.inputH),
    lut: levelTables(pre),
    grid: plan.layout === 'yolox' ? yoloxGrid(plan.inputW, plan.inputH) : undefined,
    candidates: new CandidateBuffer(plan.keypoints),
    plans: new Map(),
  };
}

export async function handle(s: State, req: WorkerRequest): Promise<WorkerInfo | DetectResult> {
  if (req.type === 'info') return s.info;
  const { plan, preprocess: pre, maxBatch } = s.info;
  const frames = req.frames;
  if (frames.length === 0 || frames.length > maxBatch) throw new Error(`batch of ${frames.length} frames; this model takes 1 to ${maxBatch}`);
  const t0 = performance.now();
  const chw = 3 * plan.inputW * plan.inputH;
  const lbs: LetterboxPlan[] = [];
  frames.forEach((f, i) => {
    const ch = channelsOf(f.format);
    const key = `${f.width}x${f.height}/${f.stride}/${ch}`;
    let lb = s.plans.get(key);
    if (!lb) {
      lb = planLetterbox(f.width, f.height, f.stride, ch, plan.inputW, plan.inputH, pre.align);
      if (s.plans.size > 16) s.plans.clear();
      s.plans.set(key, lb);
    }
    lbs.push(lb);
    letterboxInto(lb, f.pixels, s.input, i * chw, s.lut, channelSources(f.format, pre.color), pre.pad);
  });
  const batch = plan.fixedBatch || frames.length;
  for (let i = frames.length; i < batch; i++) padInto(plan.inputW, plan.inputH, s.input, i * chw, s.lut, pre.pad);
  const t1 = performance.now();
  const tensor = new ort.Tensor('float32', s.input.subarray(0, batch * chw), [batch, 3, plan.inputH, plan.inputW]);
  const out = await s.session.run({ [plan.inputName]: tensor });
  const t2 = performance.now();
  const outputs = plan.outputs.map((n) => out[n].data as Float32Array);
  // end2end split: boxes [B, N, 4] give N; otherwise the one output's row axis.
  const rows = plan.e2e === 'split' ? out[plan.outputs[1]].dims[1] : rowsOf(plan, out[plan.outputs[0]].dims);
  const images = frames.map((f, i) => {
    decodeImage(plan, outputs, i, req.thresholds, s.candidates, s.grid, rows);
    return finishImage(s.candidates, lbs[i], f.source, { nmsIou: req.nmsIou, maxDetections: req.maxDetections, runNms: plan.layout !== 'end2end' });
  });
  const t3 = performance.now();
  return { images, preMs: t1 - t0, runMs: t2 - t1, postMs: t3 - t2 };
}

// Started as a worker thread (by the node's WorkerPool): serve jobs. Imported elsewhere (the
// bench, tests): only the functions above.
if (!isMainThread) {
  if ((workerData as { yolo?: unknown } | null)?.yolo) await serveWorker<State, WorkerRequest, WorkerInfo | DetectResult>((d: { yolo: WorkerInit }) => init(d.yolo), handle);
}
