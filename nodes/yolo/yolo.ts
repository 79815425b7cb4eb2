/**
 * yolo — object detection with a YOLO-family ONNX model (onnxruntime-node), off the main
 * thread: the node owns a pool of worker threads, one onnxruntime session each; frames cross
 * to them without copies (their pixels live in SharedArrayBuffers) and each worker does the
 * whole frame → detections path (letterbox into the input tensor in one pass, run, decode,
 * NMS, boxes back to source pixels). See README.md for the layouts, the options and tuning.
 *
 * Ports: in `frames` (frame, default queue `latest`), out `detections` (detections: the
 * `Detections` of src/contract.ts, `frame` = the input frame, boxes in source pixels).
 * Drops: never itself; its input edge keeps only the newest frame by default.
 * Concurrency: unless the graph sets `concurrency`, the node takes `workers × max(2,
 * max_batch)` frames at once: each worker has a frame (or batch) at work and the next one
 * already in its inbox, so it never idles between frames waiting for the main thread, and a
 * model with a dynamic batch axis fed by several cameras can fill its batches. Each stream's
 * detections leave in frame order.
 *
 * ```yaml
 * detect:
 *   type: yolo
 *   model: yolox-nano
 *   score_threshold: 0.3
 *   inputs: { frames: cam.frames }
 * ```
 */
import { defineNode, Type, type Detection, type Detections, type Frame, type Packet } from '../../src/contract.js';
import { WorkerPool } from '../../src/worker-pool.js';
import { Batcher } from './batcher.js';
import { makeThresholds, type ImageResult, type Thresholds } from './decode.js';
import { ModelError } from './layout.js';
import { classIdOf, classMeanings, COCO_TABLE, cocoLabels, defaultLabels, loadLabels, type ClassMeaning } from './labels.js';
import { loadCategoryTable } from '../../src/models.js';
import { resolveYoloModel } from './model-source.js';
import type { DetectResult, FrameIn, Provider, WorkerInfo, WorkerInit, WorkerRequest } from './yolo-worker.js';
import { existsSync } from 'node:fs';
import path from 'node:path';

const WORKER = new URL(import.meta.url.endsWith('.ts') ? './yolo-worker.ts' : './yolo-worker.js', import.meta.url);
const GPU: ReadonlySet<Provider> = new Set(['cuda', 'tensorrt', 'webgpu']);
/** Batches posted to one worker at once: one at work, the next waiting in its inbox. */
const PER_WORKER = 2;

const lit = <const T extends string>(v: readonly T[], o: { default: T; description: string }) => Type.Union(v.map((x) => Type.Literal(x)), o);

export const yolo = defineNode({
  type: 'yolo',
  summary: 'Detect objects with a YOLO ONNX model (YOLOX, YOLOv5, YOLOv8/11, pose, end-to-end) in worker threads.',
  options: Type.Object({
    model: Type.String({ default: 'yolox-nano', description: 'Model id (models/models.yml) or .onnx file path, relative to the graph file.' }),
    layout: lit(['auto', 'yolox', 'yolov5', 'yolov8', 'yolov8-pose', 'end2end'], { default: 'auto', description: 'Output layout; auto reads it from the output shapes (YOLOX vs YOLOv5 by row count: the YOLOX grid of the input size, or 3× it).' }),
    providers: Type.Array(Type.Union([Type.Literal('cuda'), Type.Literal('tensorrt'), Type.Literal('webgpu'), Type.Literal('cpu')]), { minItems: 1, default: ['cpu'], description: 'Execution providers in order of preference; the first that loads runs (logged and shown in the status).' }),
    workers: Type.Integer({ minimum: 1, maximum: 64, default: 1, description: 'Worker threads, one session each; give the node `concurrency` of at least this.' }),
    threads: Type.Integer({ minimum: 1, maximum: 64, default: 1, description: 'CPU provider threads per worker; workers × threads should not exceed the cores (on 2 vCPUs: 1 is best, 2 no faster, 4 much slower).' }),
    score_threshold: Type.Number({ minimum: 0, maximum: 1, default: 0.3, description: 'Lowest score reported (graphs feeding ByteTrack use 0.1).' }),
    nms_iou: Type.Number({ minimum: 0, maximum: 1, default: 0.45, description: 'Class-aware NMS: a box overlapping a better one of its class by more than this IoU is dropped.' }),
    class_thresholds: Type.Record(Type.String(), Type.Number({ minimum: 0, maximum: 1 }), { default: {}, description: 'Per-class score thresholds by label (or class id): { person: 0.5 }.' }),
    classes: Type.Array(Type.Union([Type.String(), Type.Integer({ minimum: 0 })]), { default: [], description: 'Report only these classes (labels or ids); empty means all.' }),
    max_detections: Type.Integer({ minimum: 1, maximum: 10000, default: 100, description: 'Most detections per frame (best scores kept).' }),
    input_size: Type.Optional(Type.Array(Type.Integer({ minimum: 32, maximum: 4096, multipleOf: 32 }), { minItems: 2, maxItems: 2, description: '[width, height] for models with a dynamic input size (default 640x640); must match a fixed one.' })),
    labels: Type.String({ default: '', description: 'Labels file (one per line, or YAML/JSON list or id → label); default: the model\'s, COCO for 80 classes.' }),
    categories: Type.String({ default: '', description: 'Category table (format of models/categories/*.yml), relative to the graph file or under models/ (categories/wildlife-11-example.yml); default: the model\'s, COCO animals as wildlife for COCO labels.' }),
    preprocess: Type.Object({
      color: Type.Union([Type.Literal('auto'), Type.Literal('rgb'), Type.Literal('bgr')], { default: 'auto', description: 'Channel order the model wants; auto: bgr for YOLOX, rgb otherwise.' }),
      scale: Type.Number({ minimum: 0, default: 0, description: 'Pixel multiplier before mean/std; 0 = auto (1 for YOLOX, 1/255 otherwise).' }),
      mean: Type.Optional(Type.Array(Type.Number(), { minItems: 3, maxItems: 3, description: 'Subtracted per channel (model order) after scaling; omit for the model\'s (none for YOLO).' })),
      std: Type.Optional(Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 3, maxItems: 3, description: 'Divides per channel after the mean; omit for the model\'s (none for YOLO).' })),
      align: Type.Union([Type.Literal('auto'), Type.Literal('center'), Type.Literal('top-left')], { default: 'auto', description: 'Where the letterboxed picture sits; auto: top-left for YOLOX, center otherwise.' }),
      pad: Type.Optional(Type.Integer({ minimum: 0, maximum: 255, description: 'Grey level of the letterbox padding; omit for the model\'s (114 for YOLO).' })),
    }, { default: {}, additionalProperties: false, description: 'Letterbox pre-processing; the defaults match the layout\'s models.' }),
    max_batch: Type.Integer({ minimum: 1, maximum: 64, default: 4, description: 'Frames per inference when the model has a dynamic batch axis and several streams feed the node.' }),
    max_wait_ms: Type.Number({ minimum: 0, maximum: 1000, default: 5, description: 'Longest a frame waits for frames of other streams to share its batch.' }),
  }),
  inputs: { frames: { kind: 'frame', description: 'Frames to detect in (any size; rgb24, bgr24 or gray8).', defaultQueue: { mode: 'latest' } } },
  outputs: { detections: { kind: 'detections', description: 'Detections in source pixels, with the frame, inference latency and provider.' } },
  canPause: true,
  concurrency: (cfg) => cfg.workers * Math.max(2, cfg.max_batch),
  create(cfg, ctx) {
    let pool: WorkerPool<WorkerRequest, WorkerInfo | DetectResult> | undefined;
    let batcher: Batcher<FrameIn, { image: ImageResult; ms: number } | undefined> | undefined;
    let meanings: ClassMeaning[] = [];
    let labels: string[] = [];
    let thresholds: Thresholds;
    let modelName = cfg.model;
    let gpu = false;
    let info: WorkerInfo | undefined;
    let lastStatus = -Infinity;
    let stopping = false;
    const latencyMs: number[] = [];
    const m = {
      latency: ctx.metrics.histogram('yolo_inference_seconds', 'Pre-processing + inference + decode per batch.', [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2]),
      detections: ctx.metrics.counter('yolo_detections_total', 'Detections reported.'),
      batches: ctx.metrics.counter('yolo_batches_total', 'Inferences run (one per batch).'),
    };

    const showStatus = (force = false) => {
      const now = ctx.clock.monotonic();
      if (!info || (!force && now - lastStatus < 1000)) return;
      lastStatus = now;
      const p = info.plan;
      const sorted = [...latencyMs].sort((a, b) => a - b);
      const med = sorted.length ? `, ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} ms/inference` : '';
      const batch = batcher && batcher.batches ? `, batch ${(batcher.items / batcher.batches).toFixed(1)}` : '';
      const prov = info.provider === 'cpu' ? `cpu ×${cfg.threads} thread${cfg.threads > 1 ? 's' : ''}` : info.provider;
      ctx.status({ text: `${modelName} (${p.layout} ${p.inputW}x${p.inputH}) on ${prov}, ${cfg.workers} worker${cfg.workers > 1 ? 's' : ''}${med}${batch}` });
    };

    /** One image's result as the contract's Detections: labels, categories, keypoints. */
    const toDetections = (frame: Frame, image: ImageResult, ms: number): Detections => {
      const detections: Detection[] = [];
      for (let i = 0; i < image.n; i++) {
        const d = image.dets;
        const cls = d[i * 6 + 5];
        const meaning = meanings[cls] ?? { category: 'other' as const };
        const det: Detection = {
          box: { x: d[i * 6], y: d[i * 6 + 1], w: d[i * 6 + 2], h: d[i * 6 + 3] },
          score: d[i * 6 + 4], classId: cls, label: labels[cls] ?? `class${cls}`, category: meaning.category,
        };
        if (meaning.species !== undefined) det.species = meaning.species;
        if (meaning.threatLevel !== undefined) det.threatLevel = meaning.threatLevel;
        if (image.k && image.keypoints) {
          const k = image.k, kp = image.keypoints;
          det.keypoints = Array.from({ length: k }, (_, q) => ({ x: kp[(i * k + q) * 3], y: kp[(i * k + q) * 3 + 1], score: kp[(i * k + q) * 3 + 2] }));
        }
        detections.push(det);
      }
      m.detections.inc(detections.length);
      showStatus();
      return { frame, detections, inferenceLatencyMs: ms, gpu, model: modelName };
    };
    const turns = new Map<string, Promise<void>>();

    return {
      async start() {
        const prefixed = (err: unknown) => (err instanceof Error && !err.message.startsWith('yolo:') ? new Error(`yolo: ${err.message}`) : err);
        const src = await resolveYoloModel(cfg.model, ctx.graphDir).catch((err: unknown) => { throw prefixed(err); });
        modelName = src.name;
        const init: WorkerInit = {
          modelPath: src.path, providers: cfg.providers as Provider[], threads: cfg.threads,
          layout: cfg.layout === 'auto' && src.layout ? src.layout : cfg.layout,
          inputSize: cfg.input_size, preprocess: cfg.preprocess, hints: src.preprocess, maxBatch: cfg.max_batch,
        };
        pool = new WorkerPool<WorkerRequest, WorkerInfo | DetectResult>(WORKER, { size: cfg.workers, depth: PER_WORKER, workerData: { yolo: init }, name: `yolo:${ctx.id}` });
        try {
          await pool.start();
          // One info job per worker: each is idle, so each takes one.
          const infos = (await Promise.all(Array.from({ length: cfg.workers }, () => pool!.run({ type: 'info' })))) as WorkerInfo[];
          info = infos[0];
          const plan = info.plan;
          labels = cfg.labels ? loadLabels(path.resolve(ctx.graphDir, cfg.labels)) : src.labels ?? defaultLabels(plan.numClasses, plan.layout);
          if (plan.numClasses && labels.length !== plan.numClasses) {
            throw new ModelError(`labels: ${cfg.labels || 'default labels'} has ${labels.length} labels but model ${src.path} has ${plan.numClasses} classes (${plan.layout})`);
          }
          const coco = labels.length === 80 && labels.join('\n') === cocoLabels().join('\n');
          const table = cfg.categories ? loadCategoryTable(cfg.categories, existsSync(path.resolve(ctx.graphDir, cfg.categories)) ? ctx.graphDir : undefined) : src.categories ? loadCategoryTable(src.categories) : coco ? loadCategoryTable(COCO_TABLE) : undefined;
          meanings = classMeanings(labels, table);
          const per = new Map<number, number>();
          for (const [k, v] of Object.entries(cfg.class_thresholds as Record<string, number>)) per.set(classIdOf(k, labels, 'class_thresholds'), v);
          const only = (cfg.classes as (string | number)[]).length ? new Set((cfg.classes as (string | number)[]).map((c) => classIdOf(c, labels, 'classes'))) : undefined;
          thresholds = makeThresholds(Math.max(plan.numClasses, labels.length), cfg.score_threshold, per, only);
          const providers = [...new Set(infos.map((i) => i.provider))];
          gpu = providers.some((p) => GPU.has(p));
          for (const f of info.failed) ctx.log.warn({ provider: f.provider, error: f.error }, `yolo: execution provider ${f.provider} unavailable (${f.error}); trying the next`);
          ctx.log.info({ model: src.path, layout: plan.layout, input: [plan.inputW, plan.inputH], classes: labels.length, provider: providers.join(','), workers: cfg.workers, threads: cfg.threads, batch: info.maxBatch },
            `yolo: ${modelName} runs on ${providers.join(', ')}${info.failed.length ? ` (after ${info.failed.map((f) => f.provider).join(', ')} failed)` : ''}, ${cfg.workers} worker(s) × ${cfg.threads} thread(s)`);
          if (cfg.max_batch > 1 && plan.fixedBatch) ctx.log.info(`yolo: ${modelName} has a fixed batch of ${plan.fixedBatch}: frames go ${plan.fixedBatch} at a time at most`);
        } catch (err) {
          await pool.stop().catch(() => undefined);
          pool = undefined;
          throw prefixed(err);
        }
        const p = pool;
        const nmsIou = cfg.nms_iou, maxDetections = cfg.max_detections;
        batcher = new Batcher({
          slots: cfg.workers * PER_WORKER,
          maxBatch: info.maxBatch,
          maxWaitMs: info.maxBatch > 1 ? cfg.max_wait_ms : 0,
          now: () => ctx.clock.monotonic(),
          setTimer: (fn, ms) => { const t = setTimeout(fn, ms); return () => clearTimeout(t); },
          run: async (frames) => {
            let r: DetectResult;
            try {
              r = (await p.run({ type: 'detect', frames, thresholds, nmsIou, maxDetections })) as DetectResult;
            } catch (err) {
              if (stopping) return frames.map(() => undefined); // the pool was stopped under it
              throw err;
            }
            const ms = r.preMs + r.runMs + r.postMs;
            m.latency.observe(ms / 1000);
            m.batches.inc();
            latencyMs.push(ms);
            if (latencyMs.length > 50) latencyMs.shift();
            return r.images.map((image) => ({ image, ms }));
          },
        });
        showStatus(true);
      },

      async process(packet: Packet) {
        const frame = packet.data as Frame;
        // Several frames of one stream may be at work at once (concurrency > 1): each waits for
        // the one before it to be emitted, so every stream's detections leave in frame order.
        const stream = packet.streamId;
        const before = turns.get(stream);
        let done!: () => void;
        const mine = new Promise<void>((resolve) => { done = resolve; });
        turns.set(stream, mine);
        try {
          const r = await batcher!.submit({ pixels: frame.pixels, width: frame.width, height: frame.height, stride: frame.stride, format: frame.format, source: frame.source }, stream);
          await before;
          if (!r) return; // stopping
          const w = ctx.emit('detections', { ...packet, data: toDetections(frame, r.image, r.ms) });
          done();
          await w;
        } finally {
          done();
          if (turns.get(stream) === mine) turns.delete(stream);
        }
      },

      async stop() {
        stopping = true;
        batcher?.close();
        await pool?.stop();
        pool = undefined;
      },
    };
  },
});
