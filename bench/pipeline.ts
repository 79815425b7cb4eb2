/**
 * `pipeline`: the demo pipeline end to end on the sample clips, against its physical limit and
 * against what a user would write without graphrun.
 *
 * - The pipeline: graphs/demo.yml's nodes with its settings (file-source → yolo yolox-nano,
 *   1 thread, score 0.1 → bytetrack → rtmpose gated (every 5th frame or on a shape change) → posture → cooldown-gate
 *   → snapshot → local-store in a temp folder; debug-sink where local-store is not registered),
 *   but file-source `realtime: false` and `block` queues on every edge, so every frame is
 *   processed once, as fast as the graph goes. Frames/s = frames / (graph started → every
 *   queue empty); per-node p50/p95 processing time from runtime.snapshot(); drops over all edges.
 * - The limit, in the same run right after: bare ffmpeg decode of the same clip at the same
 *   size (rgb24 to a pipe, thrown away) plus bare session.run in a worker thread (the node's
 *   session options) on the same frames letterboxed by the node's own code; limit fps =
 *   1000 / (decode ms + inference ms per frame), which counts them one after the other.
 * - The baseline: bench/baseline/opencv_yolox.py with Debian's python3-opencv (cv2.VideoCapture
 *   + cv2.dnn on the same yolox_nano.onnx, same input size, score and NMS thresholds, same
 *   clip); its own frames/s. Left out, with the reason in the notes, where cv2 is missing.
 * Checks, every run: every frame reached the last frame stage, nothing dropped, no node
 * errors; the bare decode counts the same frames; the baseline's detections match the node
 * decode of the bare runs (same model and thresholds: within 10%).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { packageRoot } from '../src/assets.js';
import type { StatusSnapshot } from '../src/status/snapshot.js';
import { CandidateBuffer, decodeImage, finishImage, makeThresholds, yoloxGrid } from '../nodes/yolo/decode.js';
import { planModel } from '../nodes/yolo/layout.js';
import { resolveYoloModel } from '../nodes/yolo/model-source.js';
import { channelSources, letterboxInto, levelTables, planLetterbox, resolvePreprocess } from '../nodes/yolo/preprocess.js';
import { sessionOptions } from '../src/onnx-session.js';
import { startGraph, within } from './lib/graph.js';
import type { BenchContext, Check, Metric, MetricSummary, RunResult, SubBenchmark } from './lib/harness.js';
import { decodeToNowhere, findMedia, rawFrames } from './lib/media.js';
import { cpuWithChildrenMs } from './lib/cpu.js';
import { benchRegistry } from './lib/nodes.js';
import { bareWorker, findLocalModel, type BareWorker } from './lib/onnx.js';

const execFileP = promisify(execFile);

const CLIPS = [
  { key: 'vtest', file: 'vtest_first20s_h264.mp4' },
  { key: 'fall', file: 'fall_sit_then_fall_indoor_320x240.mp4' },
] as const;
/** `--quick`: the first this many frames of each clip. */
const QUICK_FRAMES = 50;
/** Size of the `block` queue on every edge: the decoder may run this far ahead of the detector. */
const QUEUE = 8;
/** As demo.yml: rtmpose-t, or the test model where rtmpose-t is not on this machine (never downloaded here). */
const POSE_MODELS = ['rtmpose-t', 'ultralight-nano-simplepose'];
const PYTHON = '/usr/bin/python3';
const BASELINE = path.join(packageRoot, 'bench', 'baseline', 'opencv_yolox.py');
const SCORE = 0.1, IOU = 0.45, MAX_DET = 100;
/** Nodes with per-packet processing times, in graph order. */
const STAGES = ['detect', 'track', 'pose', 'posture', 'gate', 'snap', 'store'] as const;

interface Clip { key: string; path: string; width: number; height: number; frames: number }
interface State {
  model: string;
  pose: string;
  sinkType: 'local-store' | 'debug-sink';
  clips: Clip[];
  worker: BareWorker;
  /** Bare session of the pose model (input 1x3x256x192), for the limit with pose. */
  poseWorker: BareWorker;
  tmp: string;
}

/** Why the baseline cannot run here, or undefined (module-level: `notes` runs in the same process). */
let baselineMissing: string | undefined;

function probe(file: string): { width: number; height: number; frames: number } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,nb_read_frames', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  const [width, height, frames] = out.trim().split(',').map(Number);
  return { width, height, frames };
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** demo.yml's nodes and settings, every edge a `block` queue, the clip read as fast as the graph goes. */
function graphYaml(s: State, clip: Clip, storeDir: string): string {
  const q = (from: string) => `{ from: ${from}, queue: { block: ${QUEUE} } }`;
  const sink = s.sinkType === 'local-store'
    ? ['    type: local-store', `    dir: ${JSON.stringify(storeDir)}`, `    inputs: { events: ${q('snap.events')}, summaries: ${q('gate.summaries')} }`]
    : ['    type: debug-sink', `    inputs: { in: ${q('snap.events')} }`];
  return [
    'version: 1',
    `name: bench-pipeline-${clip.key}`,
    'status: { enabled: false }',
    'nodes:',
    '  clip:',
    '    type: file-source',
    `    path: ${JSON.stringify(clip.path)}`,
    '    realtime: false',
    '  detect:',
    '    type: yolo',
    `    model: ${JSON.stringify(s.model)}`,
    '    threads: 1',
    `    score_threshold: ${SCORE}`,
    `    inputs: { frames: ${q('clip.frames')} }`,
    '  track:',
    '    type: bytetrack',
    `    inputs: { detections: ${q('detect.detections')} }`,
    '  pose:',
    '    type: rtmpose',
    `    model: ${s.pose}`,
    '    fallback_models: [ultralight-nano-simplepose]',
    '    every_n_frames: 5',
    '    min_box_score: 0.1',
    '    max_persons_per_frame: 6',
    `    inputs: { detections: ${q('track.detections')} }`,
    '  posture:',
    '    type: posture',
    `    inputs: { detections: ${q('pose.detections')} }`,
    '  gate:',
    '    type: cooldown-gate',
    '    cooldown_ms: 10000',
    `    inputs: { detections: ${q('posture.detections')}, ended: ${q('track.ended')} }`,
    '  snap:',
    '    type: snapshot',
    `    inputs: { events: ${q('gate.events')} }`,
    '  store:',
    ...sink,
    '',
  ].join('\n');
}

interface PipelineRun { frames: number; seconds: number; startMs: number; cpuMs: number; snap: StatusSnapshot; poseCrops: number }

async function runPipeline(s: State, clip: Clip): Promise<PipelineRun> {
  const storeDir = mkdtempSync(path.join(s.tmp, `store-${clip.key}-`));
  const app = await startGraph(graphYaml(s, clip, storeDir), benchRegistry, `pipeline-${clip.key}`);
  try {
    // App.start returns once every node has started (models loaded) and ffmpeg is starting.
    // Timing starts at the first frame out of the source, as the bare decode's does: ffmpeg's
    // start-up is paid once per file, not per frame.
    const t0 = performance.now();
    const c0 = cpuWithChildrenMs();
    const source = app.runtime.runners.get('clip')!.stats;
    let first = NaN;
    const poll = setInterval(() => {
      if (source.packetsOut === 0) return;
      first = source.packetsOut === 1 ? source.lastOutAt : performance.now(); // lastOutAt: the runtime's performance.now() at that emit
      clearInterval(poll);
    }, 1);
    try {
      await within(app.runtime.finished, 300_000, `pipeline on ${clip.key} did not finish`);
    } finally {
      clearInterval(poll);
    }
    const end = performance.now();
    const snap = app.runtime.snapshot();
    const crops = (await app.runtime.metrics.registry.getSingleMetric('graphrun_pose_crops_total')?.get())?.values.reduce((a, v) => a + v.value, 0) ?? 0;
    await app.stop(); // ffmpeg has exited by now: its CPU is counted once it is reaped
    const cpuMs = cpuWithChildrenMs() - c0;
    if (Number.isNaN(first)) first = t0;
    return { frames: snap.nodes.find((n) => n.id === 'clip')!.packetsOut, seconds: (end - first) / 1000, startMs: first - t0, cpuMs, snap, poseCrops: crops };
  } finally {
    await app.stop();
    rmSync(storeDir, { recursive: true, force: true });
  }
}

interface LimitRun { decodeFrames: number; decodeMs: number; decodeFirstMs: number; decodeCpuMs: number; inferFrames: number; inferMs: number[]; inferCpuMs: number; detections: number; persons: number }

/** The physical limit's two parts, one after the other: bare decode, then bare inference on the letterboxed frames. */
async function runLimit(s: State, clip: Clip): Promise<LimitRun> {
  const c0 = cpuWithChildrenMs();
  const dec = await decodeToNowhere(clip.path, clip.width, clip.height);
  const c1 = cpuWithChildrenMs();
  const lb = planLetterbox(clip.width, clip.height, clip.width * 3, 3, 416, 416, 'top-left');
  const pre = resolvePreprocess('yolox', { color: 'auto', scale: 0, align: 'auto' });
  const lut = levelTables(pre), src = channelSources('rgb24', pre.color);
  const plan = planModel(s.model, { inputs: [{ name: 'images', type: 'float32', shape: [1, 3, 416, 416] }], outputs: [{ name: 'output', type: 'float32', shape: [1, 3549, 85] }] }, { layout: 'auto' });
  const grid = yoloxGrid(416, 416);
  const thr = makeThresholds(80, SCORE, new Map(), undefined);
  const cands = new CandidateBuffer();
  const inferMs: number[] = [];
  let detections = 0, persons = 0;
  for await (const pixels of rawFrames(clip.path, clip.width, clip.height)) {
    const input = new Float32Array(3 * 416 * 416); // transferred to the worker
    letterboxInto(lb, pixels, input, 0, lut, src, pre.pad);
    const { ms, output } = await s.worker.runWith(input);
    inferMs.push(ms);
    // What the node would report for this frame: the reference the baseline's count is checked against.
    decodeImage(plan, [output], 0, thr, cands, grid);
    const r = finishImage(cands, lb, undefined, { nmsIou: IOU, maxDetections: MAX_DET, runNms: true });
    detections += r.n;
    for (let i = 0; i < r.n; i++) if (r.dets[i * 6 + 5] === 0) persons++;
  }
  // The inference pass's CPU includes a second decode (to feed it), taken off as the first one measured.
  const inferCpuMs = cpuWithChildrenMs() - c1 - (c1 - c0);
  return { decodeFrames: dec.frames, decodeMs: dec.ms, decodeFirstMs: dec.firstMs, decodeCpuMs: c1 - c0, inferFrames: inferMs.length, inferMs, inferCpuMs, detections, persons };
}

interface BaselineRun { frames: number; seconds: number; fps: number; detections: number; persons: number; threads: number; opencv: string }

async function runBaseline(s: State, clip: Clip): Promise<BaselineRun> {
  const { stdout } = await execFileP(PYTHON, [BASELINE, '--model', s.model, '--video', clip.path, '--score', String(SCORE), '--iou', String(IOU), '--max-det', String(MAX_DET)], { timeout: 300_000 });
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as BaselineRun;
  } catch {
    throw new Error(`${path.basename(BASELINE)} printed no JSON line (got "${line.slice(0, 200)}")`);
  }
}

export const pipelineBench: SubBenchmark = {
  name: 'pipeline',
  description: 'the demo pipeline (file-source → yolo → bytetrack → rtmpose gated → posture → cooldown-gate → snapshot → local-store) on the sample clips: frames/s against the physical limit (bare decode + bare session.run) and an OpenCV baseline',
  runs: { full: 3, quick: 1 },
  // Every run starts a fresh graph (a cold tracker, a first inference): nothing to warm up
  // that a user's run would not pay too; setup warms the bare session instead.
  warmup: false,
  async skip() {
    try { execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' }); } catch { return 'ffmpeg not installed'; }
    for (const c of CLIPS) if (!findMedia(c.file)) return `${c.file} not found in the media mirrors (../shared/media or GRAPHRUN_MEDIA_MIRROR)`;
    try { await resolveYoloModel('yolox-nano', process.cwd()); } catch (err) { return (err as Error).message; }
    if (!(await findLocalModel(POSE_MODELS))) return `no pose model found locally (${POSE_MODELS.join(', ')}): graphrun models pull rtmpose-t`;
    return undefined;
  },
  async setup(ctx: BenchContext) {
    const tmp = mkdtempSync(path.join(tmpdir(), 'graphrun-bench-pipeline-'));
    const model = (await resolveYoloModel('yolox-nano', process.cwd())).path;
    const poseFound = (await findLocalModel(POSE_MODELS))!;
    const pose = poseFound.id;
    const poseWorker = await bareWorker(poseFound.path, sessionOptions('cpu', 1), new Float32Array(3 * 256 * 192).fill(0.1), [1, 3, 256, 192]);
    for (let i = 0; i < 5; i++) await poseWorker.run();
    const clips: Clip[] = CLIPS.map((c) => {
      let file = findMedia(c.file)!;
      if (ctx.quick) {
        // The first frames, stream-copied (no re-encode): the same pictures at the same decode cost.
        const cut = path.join(tmp, `${c.key}-${QUICK_FRAMES}.mp4`);
        execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', file, '-map', '0:v:0', '-frames:v', String(QUICK_FRAMES), '-c', 'copy', cut]);
        file = cut;
      }
      return { key: c.key, path: file, ...probe(file) };
    });
    const worker = await bareWorker(model, sessionOptions('cpu', 1), new Float32Array(3 * 416 * 416).fill(114));
    for (let i = 0; i < 5; i++) await worker.run();
    try {
      execFileSync(PYTHON, ['-c', 'import cv2'], { stdio: 'ignore' });
      baselineMissing = undefined;
    } catch {
      baselineMissing = `${PYTHON} cannot import cv2: apt-get install -y --no-install-recommends python3-opencv (or, as root: node scripts/ensure-system-deps.mjs bench)`;
      ctx.log(`baseline left out: ${baselineMissing}`);
    }
    const sinkType = benchRegistry.get('local-store') ? 'local-store' : 'debug-sink';
    ctx.log(`pose model ${pose}; last node ${sinkType}; clips ${clips.map((c) => `${c.key} ${c.width}x${c.height} ${c.frames} frames`).join(', ')}`);
    ctx.state.s = { model, pose, sinkType, clips, worker, poseWorker, tmp } satisfies State;
  },
  async run(ctx: BenchContext): Promise<RunResult> {
    const s = ctx.state.s as State;
    const metrics: Metric[] = [];
    const checks: Check[] = [];
    const info: Record<string, unknown> = { pose: s.pose, sink: s.sinkType, queue: `block: ${QUEUE}` };
    for (const clip of s.clips) {
      const k = (m: string) => `pipeline.${clip.key}.${m}`;
      const where = `${clip.key} (${clip.width}x${clip.height}, ${clip.frames} frames)`;

      ctx.log(`${clip.key}: pipeline`);
      const p = await runPipeline(s, clip);
      const node = (id: string) => p.snap.nodes.find((n) => n.id === id)!;
      const fps = p.frames / p.seconds;
      const drops = p.snap.edges.reduce((a, e) => a + Object.values(e.drops).reduce((x, y) => x + y, 0), 0);
      const last = p.snap.edges.find((e) => e.id === 'posture.detections->gate.detections')!;
      const frameStages = ['detect', 'track', 'pose', 'posture'].map((id) => `${id} ${node(id).packetsIn}`);
      const errors = p.snap.nodes.filter((n) => n.errors > 0 || n.state === 'error').map((n) => `${n.id}: ${n.lastError ?? n.state}`);
      checks.push(
        { name: `${clip.key}: every frame of the clip out of the source and into the last frame stage (gate)`, ok: p.frames === clip.frames && last.delivered === clip.frames && ['detect', 'track', 'pose', 'posture'].every((id) => node(id).packetsIn === clip.frames), detail: `file ${clip.frames}, source ${p.frames}, ${frameStages.join(', ')}, gate ${last.delivered}` },
        { name: `${clip.key}: no drops on any edge`, ok: drops === 0, detail: `${drops} dropped` },
        { name: `${clip.key}: no node errors`, ok: errors.length === 0, detail: errors.join('; ') || 'none' },
      );
      metrics.push({ key: k('fps'), label: `${where}: pipeline, first frame decoded → every queue empty`, unit: 'frames/s', value: fps, better: 'higher', decimals: 1 });

      ctx.log(`${clip.key}: bare decode and bare session.run`);
      const l = await runLimit(s, clip);
      const decodeMs = (l.decodeMs - l.decodeFirstMs) / (l.decodeFrames - 1);
      const inferMs = mean(l.inferMs);
      const limitFps = 1000 / (decodeMs + inferMs);
      // The pipeline also runs the pose model on the crops its gating chose: the same number of
      // bare session.run calls on a pose-sized tensor (a CNN costs the same whatever the pixels).
      const poseRuns: number[] = [];
      for (let i = 0; i < p.poseCrops; i++) poseRuns.push(await s.poseWorker.run());
      const posePerFrameMs = poseRuns.reduce((a, b) => a + b, 0) / clip.frames;
      const limitAllFps = 1000 / (decodeMs + inferMs + posePerFrameMs);
      checks.push({ name: `${clip.key}: bare decode and bare inference saw every frame`, ok: l.decodeFrames === clip.frames && l.inferFrames === clip.frames, detail: `decode ${l.decodeFrames}, inference ${l.inferFrames} of ${clip.frames}` });
      metrics.push(
        { key: k('decode_ms'), label: `${clip.key}: bare ffmpeg decode to rgb24 ${clip.width}x${clip.height} per frame (wall, after the first frame)`, unit: 'ms', value: decodeMs, better: 'lower' },
        { key: k('infer_ms'), label: `${clip.key}: bare session.run per frame (worker, 1 thread, mean)`, unit: 'ms', value: inferMs, better: 'lower' },
        { key: k('limit_fps'), label: `${clip.key}: limit = 1000 / (decode + inference)`, unit: 'frames/s', value: limitFps, better: 'higher', decimals: 1 },
        { key: k('of_limit_pct'), label: `${clip.key}: pipeline as a share of the limit`, unit: '%', value: (fps / limitFps) * 100, better: 'higher', decimals: 0 },
        { key: k('pose_crops'), label: `${clip.key}: pose crops the pipeline ran per frame (gated)`, unit: 'crops', value: p.poseCrops / clip.frames, better: 'none', decimals: 2 },
        { key: k('pose_ms'), label: `${clip.key}: bare pose session.run per frame (that many crops)`, unit: 'ms', value: posePerFrameMs, better: 'lower' },
        { key: k('limit_all_fps'), label: `${clip.key}: limit with pose = 1000 / (decode + detector + pose inference)`, unit: 'frames/s', value: limitAllFps, better: 'higher', decimals: 1 },
        { key: k('of_limit_all_pct'), label: `${clip.key}: pipeline as a share of the limit with pose`, unit: '%', value: (fps / limitAllFps) * 100, better: 'higher', decimals: 0 },
        { key: k('cpu_ms'), label: `${clip.key}: pipeline CPU per frame (all threads + ffmpeg)`, unit: 'ms', value: p.cpuMs / p.frames, better: 'lower' },
        { key: k('limit_cpu_ms'), label: `${clip.key}: CPU per frame of the limit's passes (decode; letterbox, session.run, decode + NMS)`, unit: 'ms', value: (l.decodeCpuMs + l.inferCpuMs) / clip.frames, better: 'lower' },
      );

      let base: BaselineRun | undefined;
      if (!baselineMissing) {
        ctx.log(`${clip.key}: OpenCV baseline`);
        base = await runBaseline(s, clip);
        const off = Math.abs(base.detections - l.detections) / Math.max(1, l.detections);
        checks.push(
          { name: `${clip.key}: the baseline read every frame`, ok: base.frames === clip.frames, detail: `${base.frames} of ${clip.frames}` },
          { name: `${clip.key}: the baseline's detections match the yolo node's decode of the same frames (within 10%)`, ok: off <= 0.1, detail: `baseline ${base.detections} (${base.persons} persons), node decode ${l.detections} (${l.persons} persons)` },
        );
        metrics.push(
          { key: k('baseline_fps'), label: `${clip.key}: OpenCV baseline (cv2.VideoCapture + cv2.dnn, ${base.threads} threads)`, unit: 'frames/s', value: base.fps, better: 'higher', decimals: 1 },
          { key: k('over_baseline'), label: `${clip.key}: pipeline / baseline`, unit: '×', value: fps / base.fps, better: 'higher', decimals: 2 },
        );
      }
      metrics.push({ key: k('drops'), label: `${clip.key}: packets dropped, all edges`, unit: 'packets', value: drops, better: 'lower', decimals: 0 });
      for (const id of STAGES) {
        const n = node(id);
        if (n.p50Ms === null || n.p95Ms === null) continue; // nothing arrived (no event on a short clip)
        metrics.push(
          { key: k(`node.${id}.p50_ms`), label: `${clip.key}: ${id} (${n.type}) per packet, p50 of ${n.packetsIn}`, unit: 'ms', value: n.p50Ms, better: 'lower' },
          { key: k(`node.${id}.p95_ms`), label: `${clip.key}: ${id} (${n.type}) per packet, p95 of ${n.packetsIn}`, unit: 'ms', value: n.p95Ms, better: 'lower' },
        );
      }
      info[clip.key] = {
        frames: clip.frames, seconds: p.seconds, startMs: p.startMs, nodes: p.snap.nodes.map((n) => ({ id: n.id, in: n.packetsIn, out: n.packetsOut, p50Ms: n.p50Ms, p95Ms: n.p95Ms, text: n.text })),
        edges: p.snap.edges.map((e) => ({ id: e.id, delivered: e.delivered, maxDepth: e.maxDepth, drops: e.drops })),
        cpuMs: p.cpuMs,
        limit: { decodeMs: l.decodeMs, decodeFirstMs: l.decodeFirstMs, decodeCpuMs: l.decodeCpuMs, inferCpuMs: l.inferCpuMs, inferMs: l.inferMs, detections: l.detections, persons: l.persons }, baseline: base,
      };
    }
    return { metrics, checks, info };
  },
  async teardown(ctx: BenchContext) {
    const s = ctx.state.s as State | undefined;
    if (!s) return;
    await s.worker.stop();
    await s.poseWorker.stop();
    rmSync(s.tmp, { recursive: true, force: true });
  },
  notes: ({ quick, metrics }) => {
    const m = (key: string): MetricSummary | undefined => metrics.find((x) => x.key === key);
    const verdict = (clip: string) => {
      const all = m(`pipeline.${clip}.of_limit_all_pct`);
      const lim = m(`pipeline.${clip}.of_limit_pct`), base = m(`pipeline.${clip}.over_baseline`);
      const a = lim ? `${lim.median.toFixed(0)}% of the limit (${lim.median >= 85 ? 'met' : 'not met'})` : 'limit not measured';
      const b = base ? `${base.median.toFixed(2)}× the baseline (${base.median >= 3 ? 'met' : 'not met'})` : 'baseline not run';
      const c = all ? `${all.median.toFixed(0)}% of the limit with pose (${all.median >= 85 ? 'met' : 'not met'})` : '';
      return `${clip}: ${a}${c ? `; ${c}` : ''}; ${b}.`;
    };
    return [
      `Targets: the pipeline at ≥ 85% of the limit and ≥ 3× the OpenCV baseline (medians). ${CLIPS.map((c) => verdict(c.key)).join(' ')}`,
      ...(baselineMissing ? [`The OpenCV baseline was left out: ${baselineMissing}.`] : []),
      `Each run, per clip${quick ? ` (--quick: the first ${QUICK_FRAMES} frames, stream-copied)` : ''}: the pipeline (a fresh graph: demo.yml's nodes, realtime: false, block: ${QUEUE} on every edge; frames/s from the first frame out of the source to every queue empty: like the bare decode, without ffmpeg's start-up), then the limit's two parts, then the baseline. Per-node times are the runtime's per-packet processing time (runtime.snapshot() p50/p95 over the run's packets); the yolo node's includes the hand-off to its worker thread and waiting for it, and, with yolo's default concurrency (workers × max(2, max_batch): 4 here), waiting behind the frames ahead of it at the node (one in the worker's inbox so the worker never idles) — read its throughput from frames/s, not from that time. With block queues a node's time also includes waiting for room downstream (emit back-pressure): nodes upstream of the slowest one show its pace, so the slowest stage is the last one with a high p50.`,
      'Two limits: decode + detector inference (what the issue names), and decode + detector + the pose inference the pipeline chose to run (its gated crops, bare session.run each): the pipeline does that work too, so the second is its physical limit.',
      'The limit counts decode and inference one after the other; in the pipeline ffmpeg decodes in its own process while the detector runs, but the pipeline also tracks, poses (gated), draws snapshots and stores events, which the limit leaves out. The baseline runs cv2.dnn with OpenCV\'s default threads (all cores) in one loop: the ratio is graphrun + onnxruntime against that whole program, not the runtime alone.',
    ];
  },
};
