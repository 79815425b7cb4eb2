/**
 * `multicam`: how many cameras one graph on this machine serves. N simulated cameras (the camera
 * simulator publishing the camera clip — 1280x720, 15 fps, H.264 baseline — on N paths) read
 * by N rtsp-source nodes with graphs/cpu.yml's settings (896x504, max_fps 10), each its own
 * stream_id, all feeding ONE yolo node with cpu.yml's settings (its `frames` input lists them
 * all, a `latest` queue per edge: the runtime takes the edges round robin) → bytetrack → a
 * counting tap (`bench-latency-tap`: packets per stream, capture → tracked latency).
 *
 * For N = 1, 2, 4, 6, 8, … (quick: 4 only) the graph runs fresh, warms up until every stream
 * has tracked frames, then is measured (15 s; quick 3 s): detected (tracked) frames/s per
 * stream, their min and max and min/max (fairness: 1 = equal shares), frames dropped before
 * detection, CPU of the process + its ffmpeg children. It stops after the first N at which a
 * stream gets under 5 frames/s; the answer is the largest N before it where every stream had
 * at least 5.
 */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import type { BenchContext, Check, Metric, RunResult, SubBenchmark } from './lib/harness.js';
import {
  CPU_YML, cpuSample, cpuShare, edgeCounts, edgeDelta, liveProblem, pct, recordTaps, sleep, startLiveGraph, startStandIns,
  tap, tapWindow, waitUntil, type StandIns,
} from './lib/live.js';

/** Each stream must get at least this many detected frames per second. */
const MIN_FPS = 5;
const FULL_STEPS = [1, 2, 4, 6, 8, 10, 12, 16];
const QUICK_STEPS = [4]; // one step: a smoke test of N streams sharing one detector
const pathOf = (i: number) => `cam${i}`;

/** Per-stream rates of every step, for the notes (they run in this process after the runs). */
const stepLines: string[] = [];

/** cpu.yml's cam, detect and track nodes (their options, not their inputs). */
function cpuYmlNodes(): { cam: Record<string, unknown>; detect: Record<string, unknown>; track: Record<string, unknown> } {
  const doc = parse(readFileSync(CPU_YML, 'utf8')) as { nodes: Record<string, Record<string, unknown>> };
  const opts = (id: string) => {
    const n = { ...doc.nodes[id] };
    if (!n) throw new Error(`graphs/cpu.yml has no node "${id}"`);
    delete n.inputs;
    return n;
  };
  const cam = opts('cam');
  delete cam.health_url; // the simulator has no mediaMTX API
  return { cam, detect: opts('detect'), track: opts('track') };
}

/** The graph for `n` cameras; `readUrl` gives the simulator's URL of a path. */
export function multicamGraph(n: number, readUrl: (path: string) => string): string {
  const base = cpuYmlNodes();
  const nodes: Record<string, unknown> = {};
  const cams = Array.from({ length: n }, (_, i) => pathOf(i + 1));
  for (const c of cams) nodes[c] = { ...base.cam, url: readUrl(c), stream_id: c };
  nodes.detect = { ...base.detect, inputs: { frames: { from: cams.map((c) => `${c}.frames`), queue: 'latest' } } };
  nodes.track = { ...base.track, inputs: { detections: 'detect.detections' } };
  nodes.count = { type: 'bench-latency-tap', inputs: { in: 'track.detections' } };
  return stringify({ version: 1, name: `bench-multicam-${n}`, status: { enabled: false }, nodes });
}

interface Step {
  n: number;
  seconds: number;
  perStream: number[];
  minFps: number;
  maxFps: number;
  dropPct: number;
  cpuPct: number;
  /** Shares of one core: main thread, the busiest other thread (the yolo worker), all ffmpeg. */
  cpuMainPct: number;
  cpuTopThreadPct: number;
  cpuFfmpegPct: number;
  /** yolo's processing time per frame in the window, p50 (ms, from the runtime's stats): with two frames at the node (one at work, one in the worker's inbox) it includes the wait behind the other when the detector is busy. */
  detectP50Ms: number;
  latencyP95: number;
}

async function step(ctx: BenchContext, si: StandIns, n: number): Promise<Step> {
  const cams = Array.from({ length: n }, (_, i) => pathOf(i + 1));
  await Promise.all(cams.map((c) => si.sim.startPublisher(c)));
  const app = await startLiveGraph(multicamGraph(n, (p) => si.sim.readUrl(p)), `multicam-${n}`, si.env);
  try {
    // Warm-up: every stream tracked (rtsp connected, model loaded), then a little more.
    recordTaps(true);
    const t = tap('count');
    await waitUntil(() => { const seen = new Set(t.streams); return cams.every((c) => seen.has(c)); }, 60000, `tracked frames from every one of ${n} cameras`);
    await sleep((ctx.quick ? 1 : 3) * 1000);
    const seconds = ctx.quick ? 3 : 15;
    recordTaps(true);
    const from = Date.now();
    const e0 = edgeCounts(app);
    const c0 = cpuSample();
    await sleep(seconds * 1000);
    const c1 = cpuSample();
    const e1 = edgeCounts(app);
    const to = Date.now();
    await sleep(1000); // frames captured before `to` still on their way
    recordTaps(false);
    const win = tapWindow('count', from, to);
    const wall = (to - from) / 1000;
    const perStream = cams.map((c) => (win.perStream.get(c) ?? 0) / wall);
    let out = 0, dropped = 0;
    for (const [id, e] of edgeDelta(e0, e1)) {
      if (!/^cam\d+\.frames->detect\./.test(id)) continue;
      out += e.delivered + e.dropped;
      dropped += e.dropped;
    }
    const cpu = cpuShare(c0, c1);
    const s: Step = {
      n, seconds: wall, perStream, minFps: Math.min(...perStream), maxFps: Math.max(...perStream),
      dropPct: out ? (dropped / out) * 100 : NaN, cpuPct: cpu.total, cpuMainPct: cpu.main, cpuTopThreadPct: cpu.topThreads[0] ?? 0, cpuFfmpegPct: cpu.ffmpeg,
      detectP50Ms: app.runtime.snapshot().nodes.find((x) => x.id === 'detect')?.p50Ms ?? NaN, latencyP95: pct(win.latencies, 0.95),
    };
    const errors = app.runtime.snapshot().nodes.filter((x) => x.errors || x.restarts);
    if (errors.length) throw new Error(`node errors with ${n} cameras: ${errors.map((x) => `${x.id}: ${x.lastError}`).join('; ')}`);
    return s;
  } finally {
    await app.stop();
  }
}

export const multicamBench: SubBenchmark = {
  name: 'multicam',
  description: `N simulated 720p 15 fps cameras into one yolo node (cpu.yml settings): the largest N with every stream >= ${MIN_FPS} detected frames/s, per-stream rates and fairness`,
  runs: { full: 1, quick: 1 },
  warmup: false, // every step warms its own graph up
  skip: () => liveProblem(),
  async setup(ctx: BenchContext) {
    const steps = ctx.quick ? QUICK_STEPS : FULL_STEPS;
    const paths = Array.from({ length: Math.max(...steps) }, (_, i) => pathOf(i + 1));
    // Publishers start per step (a path nobody reads costs the relay nothing, but a publisher
    // copying the clip costs a little CPU).
    ctx.state.si = await startStandIns({ paths, publish: [], delivery: false });
  },
  async run(ctx: BenchContext): Promise<RunResult> {
    const si = ctx.state.si as StandIns;
    const steps = ctx.quick ? QUICK_STEPS : FULL_STEPS;
    const metrics: Metric[] = [];
    const checks: Check[] = [];
    const done: Step[] = [];
    let maxN = 0;
    for (const n of steps) {
      const s = await step(ctx, si, n);
      done.push(s);
      const line = `N=${n}: ${s.perStream.map((f) => f.toFixed(1)).join(' / ')} detected frames/s per stream (min/max ${(s.minFps / s.maxFps).toFixed(2)}), ${s.dropPct.toFixed(0)}% dropped before detection, CPU ${s.cpuPct.toFixed(0)}% of a core (main thread ${s.cpuMainPct.toFixed(0)}%, busiest other thread ${s.cpuTopThreadPct.toFixed(0)}%, ffmpeg ${s.cpuFfmpegPct.toFixed(0)}%), yolo ${s.detectP50Ms.toFixed(1)} ms/frame p50 (incl. waiting in the worker's inbox)`;
      ctx.log(line);
      stepLines.push(line);
      const k = `multicam.n${n}`;
      metrics.push(
        { key: `${k}.min_fps`, label: `${n} camera${n > 1 ? 's' : ''}: slowest stream, detected frames/s`, unit: 'fps', value: s.minFps, better: 'higher', decimals: 2 },
        { key: `${k}.total_fps`, label: `${n} camera${n > 1 ? 's' : ''}: detected frames/s, all streams`, unit: 'fps', value: s.perStream.reduce((a, b) => a + b, 0), better: 'higher', decimals: 1 },
        { key: `${k}.fairness`, label: `${n} camera${n > 1 ? 's' : ''}: slowest / fastest stream`, unit: 'ratio', value: s.minFps / s.maxFps, better: 'higher', decimals: 2 },
        { key: `${k}.drop_pct`, label: `${n} camera${n > 1 ? 's' : ''}: frames dropped before detection`, unit: '%', value: s.dropPct, better: 'lower', decimals: 1 },
        { key: `${k}.latency_p95_ms`, label: `${n} camera${n > 1 ? 's' : ''}: capture → tracked, p95`, unit: 'ms', value: s.latencyP95, better: 'lower', decimals: 0 },
        { key: `${k}.cpu_pct`, label: `${n} camera${n > 1 ? 's' : ''}: CPU (process + ffmpeg), share of one core`, unit: '%', value: s.cpuPct, better: 'lower', decimals: 0 },
      );
      if (s.minFps < MIN_FPS) break;
      maxN = n;
    }
    const last = done[done.length - 1];
    metrics.unshift({ key: 'multicam.max_n', label: `largest N measured with every stream >= ${MIN_FPS} detected frames/s`, unit: 'cameras', value: maxN, better: 'higher', decimals: 0 });
    checks.push(
      { name: 'every stream of every step was detected', ok: done.every((s) => s.minFps > 0), detail: done.map((s) => `N=${s.n}: slowest ${s.minFps.toFixed(1)} fps`).join(', ') },
      { name: 'one camera gets its 10 frames/s detected', ok: done[0].minFps >= 9, detail: `${done[0].minFps.toFixed(2)} fps` },
    );
    return {
      metrics, checks,
      info: { steps: done, stoppedAt: last.n, reachedLimit: last.minFps < MIN_FPS, cores: os.cpus().length },
    };
  },
  async teardown(ctx: BenchContext) {
    await (ctx.state.si as StandIns | undefined)?.stop();
  },
  notes: ({ quick, metrics }) => {
    const maxN = metrics.find((m) => m.key === 'multicam.max_n')?.median;
    const steps = quick ? QUICK_STEPS : FULL_STEPS;
    const top = steps[steps.length - 1];
    return [
      `Largest N with every stream at >= ${MIN_FPS} detected frames/s: ${maxN}${maxN === top ? ` (the last step measured: the limit is ${top} or more${quick ? '; the full run goes further' : ''})` : ''}.`,
      ...stepLines,
      'One yolo node (cpu.yml: yolox-nano, 1 worker, 1 thread, score 0.1) takes the cameras\' `latest` edges round robin, so a stream gets its share of the detector\'s pace; fairness 1.0 = equal shares. Frames it has no time for are replaced in the queue by newer ones (dropped before detection). Each camera also costs one ffmpeg decoding 1280x720 H.264 and scaling to 896x504 (CPU above includes them).',
      'The simulator (relay + one publisher per camera) and the whole graph share this machine\'s cores; on a shared machine the absolute figures are noisy and pessimistic.',
    ];
  },
};
