/**
 * `soak` (only when named: `npm run bench -- soak`): graphs/cpu.yml as production runs it — its
 * own gate (10 s cooldown, one event per presence), delivery to the reference backend and
 * s3rver through the outbox — on the camera simulator for 30 minutes (`--quick`: 60 s;
 * BENCH_SOAK_MINUTES=N sets any length). Does it leak?
 *
 * After a warm-up (60 s; quick 10 s: models loaded, JIT, buffers pooled), then at the end:
 * resident memory (VmRSS of this process + rtsp-source's ffmpeg), the main isolate's heap after
 * a full GC, open file descriptors (/proc/<pid>/fd of this process + ffmpeg); each the median of
 * three readings a second apart, so a socket opened for one delivery does not count as a leak.
 * A tap beside the sinks (bench-latency-tap on snap.events) counts the events raised, so the
 * backend can be checked to have stored each one.
 * In between, a reading every 10 s (quick: 5 s) gives the highest RSS and, for soaks of 10
 * minutes or more, its trend (least-squares slope, MB per hour). Checks: frames kept flowing (each interval), no node errors,
 * every event raised was stored at the backend.
 */
import path from 'node:path';
import type { App } from '../src/app.js';
import type { BenchContext, Check, Metric, RunResult, SubBenchmark } from './lib/harness.js';
import type { StoredEvent } from './lib/fastapi-backend.js';
import { benchTemp, cpuYmlGraph, liveProblem, recordTaps, residentAndFds, sleep, startLiveGraph, startStandIns, tapWindow, waitUntil, type StandIns } from './lib/live.js';
import { storedInWindow } from './realtime.js';

export const SOAK_TARGETS = { memoryGrowthPct: 5, fdGrowth: 0 };
const MB = 2 ** 20;

/** Minutes of the soak: BENCH_SOAK_MINUTES, else 30 (quick: 1). */
export function soakMinutes(quick: boolean): number {
  const env = process.env.BENCH_SOAK_MINUTES;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!(Number.isFinite(n) && n > 0)) throw new Error(`BENCH_SOAK_MINUTES must be a positive number of minutes (got "${env}")`);
    return n;
  }
  return quick ? 1 : 30;
}

/** How long the soak's process may run: the soak, its warm-up, start and stop, with room (a bad BENCH_SOAK_MINUTES fails in the run, named). */
export function soakTimeoutS(quick: boolean): number {
  let minutes: number;
  try { minutes = soakMinutes(quick); } catch { minutes = quick ? 1 : 30; }
  return Math.ceil(minutes * 60 * 1.2) + 300;
}

interface Reading { rss: number; heap: number; fds: number; fdsSelf: number }

/** Median of three readings a second apart (after a full GC for the heap). */
async function steadyReading(ctx: BenchContext): Promise<Reading> {
  const rs: Reading[] = [];
  for (let i = 0; i < 3; i++) {
    if (i) await sleep(1000);
    ctx.gc();
    const r = residentAndFds();
    rs.push({ rss: r.rss / MB, heap: r.heapUsed / MB, fds: r.fds, fdsSelf: r.fdsSelf });
  }
  const med = (f: (r: Reading) => number) => rs.map(f).sort((a, b) => a - b)[1];
  return { rss: med((r) => r.rss), heap: med((r) => r.heap), fds: med((r) => r.fds), fdsSelf: med((r) => r.fdsSelf) };
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) { num += (xs[i] - mx) * (ys[i] - my); den += (xs[i] - mx) ** 2; }
  return den ? num / den : NaN;
}

export const soakBench: SubBenchmark = {
  name: 'soak',
  description: 'graphs/cpu.yml on the camera simulator for 30 min (--quick: 60 s; BENCH_SOAK_MINUTES): resident memory, heap and open files at start and end',
  runs: { full: 1, quick: 1 },
  warmup: false,
  skip: () => liveProblem(),
  async setup(ctx: BenchContext) {
    ctx.state.si = await startStandIns();
    const si = ctx.state.si as StandIns;
    if (si.noDelivery) ctx.log(`delivery left out: ${si.noDelivery}`);
  },
  async run(ctx: BenchContext): Promise<RunResult> {
    const si = ctx.state.si as StandIns;
    const minutes = soakMinutes(ctx.quick);
    const warmS = ctx.quick ? 10 : 60;
    const everyS = ctx.quick ? 5 : 10;
    // cpu.yml as it is, and a tap beside the sinks counting the events they are offered.
    const yaml = cpuYmlGraph({ name: 'bench-soak', outbox: path.join(benchTemp(), 'soak-outbox.db'), delivery: !si.noDelivery,
      nodes: '  t_event: { type: bench-latency-tap, inputs: { in: snap.events } }' });
    const app: App = await startLiveGraph(yaml, 'bench-soak', si.env);
    const rt = app.runtime;
    const out = (id: string) => rt.runners.get(id)?.stats.packetsOut ?? 0;
    const metrics: Metric[] = [];
    const checks: Check[] = [];
    const series: { t: number; rss: number; heap: number; fds: number; frames: number }[] = [];
    let start: Reading, end: Reading;
    let stalls = 0;
    let framesStart = 0, framesEnd = 0, fromMs = 0, toMs = 0, raised = 0;
    let stored: StoredEvent[] = [];
    const startedAt = Date.now();
    try {
      await waitUntil(() => (rt.runners.get('gate')?.stats.packetsIn ?? 0) >= 10, 60000, 'frames to reach the gate');
      ctx.log(`warming up ${warmS} s, then ${minutes} min`);
      await sleep(warmS * 1000);
      start = await steadyReading(ctx);
      recordTaps(true);
      fromMs = Date.now();
      framesStart = out('cam');
      const t0 = performance.now();
      const until = t0 + minutes * 60000;
      let lastFrames = framesStart;
      let lastLog = t0;
      while (performance.now() < until) {
        await sleep(Math.min(everyS * 1000, Math.max(0, until - performance.now())));
        const r = residentAndFds();
        const frames = out('cam');
        if (frames === lastFrames) stalls++;
        lastFrames = frames;
        series.push({ t: (performance.now() - t0) / 1000, rss: r.rss / MB, heap: r.heapUsed / MB, fds: r.fds, frames });
        if (performance.now() - lastLog >= 60000) {
          lastLog = performance.now();
          ctx.log(`${Math.round((performance.now() - t0) / 60000)} min: RSS ${Math.round(r.rss / MB)} MB, ${r.fds} fds, ${frames - framesStart} frames`);
        }
      }
      framesEnd = out('cam');
      toMs = Date.now();
      end = await steadyReading(ctx);
      // Every event of a frame captured in the soak must reach the backend before the stop.
      await sleep(1500);
      raised = tapWindow('t_event', fromMs, toMs).latencies.length;
      if (si.backend) stored = await storedInWindow(si, 'garden', { fromMs, toMs }, raised);
    } finally {
      recordTaps(false);
      await app.stop();
    }
    const snap = rt.snapshot();
    const soakS = series.length ? series[series.length - 1].t : 0;
    const growth = (a: number, b: number) => ((b - a) / a) * 100;
    const rssSlope = slope(series.map((s) => s.t / 3600), series.map((s) => s.rss));
    metrics.push(
      { key: 'soak.minutes', label: 'measured (after the warm-up)', unit: 'min', value: soakS / 60, better: 'none', decimals: 1 },
      { key: 'soak.fps', label: 'frames/s out of rtsp-source over the soak', unit: 'fps', value: (framesEnd - framesStart) / soakS, better: 'higher', decimals: 2 },
      { key: 'soak.rss.start_mb', label: 'resident memory (process + ffmpeg) at start', unit: 'MB', value: start.rss, better: 'lower', decimals: 0 },
      { key: 'soak.rss.end_mb', label: 'resident memory (process + ffmpeg) at end', unit: 'MB', value: end.rss, better: 'lower', decimals: 0 },
      { key: 'soak.rss.growth_pct', label: 'resident memory growth, start → end', unit: '%', value: growth(start.rss, end.rss), better: 'lower', decimals: 1 },
      { key: 'soak.rss.max_mb', label: 'resident memory, highest reading', unit: 'MB', value: Math.max(...series.map((s) => s.rss)), better: 'lower', decimals: 0 },
    );
    // Over a minute or two the trend is start-up and noise extrapolated to an hour: only for long soaks.
    if (soakS >= 600) metrics.push({ key: 'soak.rss.slope_mb_per_h', label: 'resident memory trend (least squares over the readings)', unit: 'MB/h', value: rssSlope, better: 'lower', decimals: 1 });
    metrics.push(
      { key: 'soak.heap.start_mb', label: 'heap used after a full GC (main isolate) at start', unit: 'MB', value: start.heap, better: 'lower', decimals: 1 },
      { key: 'soak.heap.end_mb', label: 'heap used after a full GC (main isolate) at end', unit: 'MB', value: end.heap, better: 'lower', decimals: 1 },
      { key: 'soak.heap.growth_pct', label: 'heap growth, start → end', unit: '%', value: growth(start.heap, end.heap), better: 'lower', decimals: 1 },
      { key: 'soak.fds.start', label: 'open file descriptors (process + ffmpeg) at start', unit: 'fds', value: start.fds, better: 'lower', decimals: 0 },
      { key: 'soak.fds.end', label: 'open file descriptors (process + ffmpeg) at end', unit: 'fds', value: end.fds, better: 'lower', decimals: 0 },
      { key: 'soak.fds.growth', label: 'open file descriptor growth, start → end', unit: 'fds', value: end.fds - start.fds, better: 'lower', decimals: 0 },
    );
    metrics.push({ key: 'soak.events', label: 'events raised (cpu.yml gate: 10 s cooldown, one per presence)', unit: 'events', value: raised, better: 'none', decimals: 0 });
    if (si.backend) {
      checks.push({ name: 'every event raised in the soak was stored at the backend', ok: stored.length === raised, detail: `${stored.length} stored of ${raised} raised` });
    }
    const errors = snap.nodes.filter((n) => n.errors || n.restarts);
    checks.push(
      { name: 'frames kept flowing (every reading saw new frames)', ok: stalls === 0 && framesEnd > framesStart, detail: `${stalls} of ${series.length} readings without a new frame` },
      { name: 'no node errors or restarts', ok: errors.length === 0, detail: errors.map((n) => `${n.id}: ${n.lastError}`).join('; ') || 'none' },
    );
    ctx.log(`RSS ${start.rss.toFixed(0)} → ${end.rss.toFixed(0)} MB, heap ${start.heap.toFixed(1)} → ${end.heap.toFixed(1)} MB, fds ${start.fds} → ${end.fds} (${Math.round((Date.now() - startedAt) / 1000)} s)`);
    return {
      metrics, checks,
      info: { minutes, warmS, everyS, start, end, fdsSelf: [start.fdsSelf, end.fdsSelf], series, delivery: si.noDelivery ?? 'backend + s3rver' },
    };
  },
  async teardown(ctx: BenchContext) {
    await (ctx.state.si as StandIns | undefined)?.stop();
  },
  notes: ({ quick, metrics }) => {
    const m = (k: string) => metrics.find((x) => x.key === k)?.median ?? NaN;
    const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');
    const g = m('soak.rss.growth_pct'), fd = m('soak.fds.growth');
    return [
      `Targets: resident memory growth under ${SOAK_TARGETS.memoryGrowthPct}% — ${g.toFixed(1)}% (${mark(g < SOAK_TARGETS.memoryGrowthPct)}); open file descriptors not growing — ${fd >= 0 ? '+' : ''}${fd} (${mark(fd <= SOAK_TARGETS.fdGrowth)}).${quick ? ' A quick soak (1 min) shows start-up growth more than leaks: the 30-minute run (`npm run bench -- soak`) is the one to judge by.' : ''}`,
      'The graph is graphs/cpu.yml unchanged but for its environment, a temp outbox file, the status page off and a tap counting events; the camera simulator loops vtest (1280x720, 15 fps). RSS counts this process (the graph, its yolo/rtmpose worker threads; the bench itself is small) and rtsp-source\'s ffmpeg; the simulator, the backend and s3rver are other processes. Readings are medians of three a second apart; the heap is read after a full GC.',
    ];
  },
};
