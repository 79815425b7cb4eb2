/**
 * `realtime`: graphs/cpu.yml as production runs it, against the camera simulator at the
 * camera's rate (1280x720, 15 fps, vtest looped; cpu.yml scales to 896x504 and keeps 10 fps),
 * in this process (so runtime.snapshot() gives per-edge drops and per-node times), delivering
 * to the reference backend (uvicorn) and s3rver (a child process) through the outbox.
 *
 * The graph is a file that `extends:` graphs/cpu.yml and changes only:
 * - the gate: `cooldown_ms: 1000, extend_on_sighting: false`, so every person in view raises an
 *   event a second (production: one per presence, 10 s cooldown) — enough events for a latency
 *   distribution in a short run; the snapshots and deliveries that come with them are real;
 * - the outbox file (a temp file), the status page (off);
 * - latency taps (`bench-latency-tap`, bench/lib/live.ts), fanned out from detect.detections,
 *   pose.detections, zones.detections (what the gate takes in) and snap.events (what both sinks
 *   take in): each records now − the packet's captureTimeMs.
 *
 * Capture time is rtsp-source's stamp when it read the decoded frame from ffmpeg, so the RTSP
 * transport and ffmpeg's decode/scale are before it and not counted. Event time is when the
 * event reaches the sinks' input (the tap on snap.events, which gets it in the same turn as
 * them); the sinks' accept itself (outbox put) is their processing time, reported apart. With
 * delivery, also capture → stored at the backend (its received_at; the event waits for its S3
 * upload first, media: s3_url).
 *
 * CPU: every thread of this process (/proc/self/task: the main thread, the yolo and rtmpose
 * worker threads, libuv, V8) plus rtsp-source's ffmpeg (/proc/<pid>), as shares of one core.
 * The simulator, the backend and s3rver run in other processes and are not counted (they do
 * share the cores). Memory: VmRSS of this process + the ffmpeg child.
 *
 * Memory as users run it (full mode, after each run's window): graphrun itself — the CLI,
 * `bin/graphrun.js run` started as its shebang starts it (src/node-flags.ts) in its own process — on graphs/cpu.yml
 * unchanged (production gate: one event per presence) against the same simulator and delivery:
 * VmRSS of that process + its children (ffmpeg) every second for CLI_SECONDS once it streams.
 * The in-process figure above is an upper bound (the bench's modules and taps, an event per
 * person per second with its snapshot and upload); the target is judged on the CLI's.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../src/assets.js';
import { NODE_ENV, NODE_FLAGS } from '../src/node-flags.js';
import type { App } from '../src/app.js';
import type { NodeStats } from '../src/runtime/runtime.js';
import type { StatusSnapshot } from '../src/status/snapshot.js';
import type { StoredEvent } from './lib/fastapi-backend.js';
import type { BenchContext, Check, Metric, RunResult, SubBenchmark } from './lib/harness.js';
import {
  benchTemp, cpuSample, cpuShare, cpuYmlGraph, edgeCounts, edgeDelta, liveProblem, pct, recordTaps, residentAndFds,
  sleep, startLiveGraph, startStandIns, tapWindow, treeRssBytes, waitUntil, type StandIns,
} from './lib/live.js';

/** Issue targets for one camera on a 2-vCPU host. */
export const TARGETS = { fps: 10, dropPct: 1, eventP95Ms: 250, rssMb: 350 };
const MB = 2 ** 20;

/** The chain's nodes, in order, for the per-node breakdown. */
const NODES = ['detect', 'track', 'pose', 'posture', 'zones', 'gate', 'snap', 's3', 'backend'];
const TAPS = [
  { id: 't_detect', from: 'detect.detections', what: 'detected (detect.detections)' },
  { id: 't_pose', from: 'pose.detections', what: 'pose done (pose.detections)' },
  { id: 't_gate', from: 'zones.detections', what: 'at the gate (zones.detections)' },
];

/** Taps and gate settings merged over cpu.yml's nodes. */
export function realtimeOverlay(): string {
  return [
    '  gate: { cooldown_ms: 1000, extend_on_sighting: false }',
    ...TAPS.map((t) => `  ${t.id}: { type: bench-latency-tap, inputs: { in: ${t.from} } }`),
    '  t_event: { type: bench-latency-tap, inputs: { in: snap.events } }',
  ].join('\n');
}

interface Window {
  /** The window in epoch ms (capture times inside it count). */
  fromMs: number;
  toMs: number;
  seconds: number;
  framesOut: number;
  detected: number;
  edges: Map<string, { delivered: number; dropped: number }>;
  cpu: ReturnType<typeof cpuShare>;
  rssMb: number[];
  /** Of the last reading: rtsp-source's ffmpeg alone. */
  rssFfmpegMb: number;
  heapMb: number;
  /** Per node: processing times (ms) of the packets it finished inside the window (at most the last 256). */
  nodeMs: Map<string, number[]>;
}

/**
 * The processing times a node recorded since its histogram counted `since` (its ring keeps the
 * last 256; the runtime's own p50/p95 cover those, warm-up included).
 */
function windowDurations(stats: NodeStats, since: number): number[] {
  const ring = stats.durations;
  const n = stats.latency.count; // one record() = one ring slot and one histogram count
  const k = Math.min(n - since, ring.length);
  const out: number[] = [];
  for (let i = n - k; i < n; i++) out.push(ring[i % ring.length]);
  return out;
}

/**
 * Run `app` for `seconds` with the taps recording (they go on recording: read them with
 * tapWindow(fromMs, toMs) once the packets captured inside have arrived): frames, drops per
 * edge, CPU, memory each second.
 */
async function measureWindow(app: App, seconds: number): Promise<Window> {
  const rt = app.runtime;
  const outOf = (id: string) => rt.runners.get(id)?.stats.packetsOut ?? 0;
  recordTaps(true);
  const fromMs = Date.now();
  const e0 = edgeCounts(app);
  const f0 = outOf('cam');
  const d0 = outOf('detect');
  const c0 = cpuSample();
  const n0 = new Map([...rt.runners].map(([id, r]) => [id, r.stats.latency.count]));
  const rssMb: number[] = [];
  let rssFfmpegMb = NaN;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    await sleep(Math.min(1000, Math.max(0, end - performance.now())));
    const r = residentAndFds();
    rssMb.push(r.rss / MB);
    rssFfmpegMb = (r.rss - r.rssSelf) / MB;
  }
  const c1 = cpuSample();
  const e1 = edgeCounts(app);
  return {
    fromMs, toMs: Date.now(), seconds: (c1.at - c0.at) / 1000, framesOut: outOf('cam') - f0, detected: outOf('detect') - d0,
    edges: edgeDelta(e0, e1), cpu: cpuShare(c0, c1), rssMb, rssFfmpegMb, heapMb: process.memoryUsage().heapUsed / MB,
    nodeMs: new Map([...rt.runners.keys()].map((id) => [id, windowDurations(rt.runners.get(id)!.stats, n0.get(id) ?? 0)])),
  };
}

/**
 * The backend's events of `stream` captured in the window, once each; waits (at most 15 s) until
 * there are `expect`. The list is newest first and the graph is still storing while it is read,
 * so an event can show on two pages: they are told apart by event_id.
 */
export async function storedInWindow(si: StandIns, stream: string, w: { fromMs: number; toMs: number }, expect: number): Promise<StoredEvent[]> {
  const get = async () => {
    const all = new Map<string, StoredEvent>();
    for (let offset = 0; ; offset += 1000) {
      const page = await si.backend!.events({ limit: 1000, offset, stream_id: stream });
      for (const e of page.items) all.set(e.event_id, e);
      if (page.items.length < 1000) break;
    }
    return [...all.values()].filter((e) => { const t = Date.parse(e.timestamp_utc); return t >= w.fromMs && t <= w.toMs; });
  };
  let got = await get();
  const until = Date.now() + 15000;
  while (got.length < expect && Date.now() < until) { await sleep(250); got = await get(); }
  return got;
}

/** Start the cpu.yml bench graph and wait until frames reach the gate, then `warmS` more. */
async function startCpuYml(si: StandIns, name: string, nodes: string, warmS: number, env: Record<string, string> = {}): Promise<App> {
  const yaml = cpuYmlGraph({ name, outbox: path.join(benchTemp(), `${name}-outbox.db`), delivery: !si.noDelivery, nodes });
  const app = await startLiveGraph(yaml, name, { ...si.env, ...env });
  try {
    await waitUntil(() => (app.runtime.runners.get('gate')?.stats.packetsIn ?? 0) >= 10, 60000, 'frames to reach the gate (camera → yolo → … → gate)');
    await sleep(warmS * 1000);
  } catch (err) {
    await app.stop();
    throw err;
  }
  return app;
}

/** Seconds the CLI's memory is sampled once it streams (full mode). */
const CLI_SECONDS = 15;

/**
 * graphrun as users start it, on graphs/cpu.yml unchanged (only the outbox file and the status
 * page differ): resident memory of the process and its children, each second for `seconds` after
 * rtsp-source logs that it streams. Then SIGTERM, and its exit code.
 */
async function cliResident(si: StandIns, name: string, seconds: number): Promise<{ mb: number[]; exitCode: number | null }> {
  const file = path.join(benchTemp(), `${name}.yml`);
  writeFileSync(file, cpuYmlGraph({ name, outbox: path.join(benchTemp(), `${name}-outbox.db`), delivery: !si.noDelivery }));
  const child = spawn(process.execPath, [...NODE_FLAGS, path.join(packageRoot, 'bin', 'graphrun.js'), 'run', file], {
    cwd: packageRoot, env: { ...process.env, ...NODE_ENV, ...si.env, CAMERA_ID: name }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let err = '';
  child.stderr!.on('data', (c: Buffer) => { err = (err + c.toString()).slice(-2000); });
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`graphrun did not stream within 60 s: ${err}`)), 60000);
      createInterface({ input: child.stdout! }).on('line', (l) => { if (l.includes('"streaming"')) { clearTimeout(t); resolve(); } });
      void exited.then((code) => { clearTimeout(t); reject(new Error(`graphrun exited (${code}) before streaming: ${err}`)); });
    });
    const mb: number[] = [];
    for (let i = 0; i < seconds; i++) {
      await sleep(1000);
      const r = treeRssBytes(child.pid!);
      mb.push((r.self + r.children) / MB);
    }
    child.kill('SIGTERM');
    return { mb, exitCode: await exited };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

const ms = (n: number) => `${Math.round(n)} ms`;
/** Why delivery was left out, for the notes (they run in this process after the runs). */
let noDelivery: string | undefined;

export const realtimeBench: SubBenchmark = {
  name: 'realtime',
  description: 'graphs/cpu.yml on the RTSP camera simulator at the camera rate: capture-to-event latency, drops per edge, CPU share, resident memory',
  runs: { full: 3, quick: 1 },
  warmup: false, // each run warms its own graph up before measuring
  skip: () => liveProblem(),
  async setup(ctx: BenchContext) {
    ctx.state.rssBeforeMb = residentAndFds().rssSelf / MB; // node + the bench's modules, no graph yet
    ctx.state.si = await startStandIns();
    const si = ctx.state.si as StandIns;
    noDelivery = si.noDelivery;
    if (si.noDelivery) ctx.log(`delivery left out: ${si.noDelivery}`);
  },
  async run(ctx: BenchContext): Promise<RunResult> {
    const si = ctx.state.si as StandIns;
    const seconds = ctx.quick ? 5 : 30;
    const name = `bench-realtime-${ctx.run + 1}`;
    const t0 = Date.now();
    // A stream of its own per run: the backend's events of this run are those of this stream.
    const stream = `garden-${ctx.run + 1}`;
    const app = await startCpuYml(si, name, realtimeOverlay(), ctx.quick ? 2 : 5, { CAMERA_ID: stream });
    let w: Window;
    let snap: StatusSnapshot;
    let stored: StoredEvent[] = [];
    let raised = 0;
    try {
      w = await measureWindow(app, seconds);
      snap = app.runtime.snapshot();
      // Events of frames captured in the window that are still on their way: wait for them at
      // the tap, then (with delivery) for the backend to have stored every one of them.
      await sleep(1500);
      raised = tapWindow('t_event', w.fromMs, w.toMs).latencies.length;
      if (si.backend) stored = await storedInWindow(si, stream, w, raised);
    } finally {
      recordTaps(false);
      await app.stop();
    }
    const metrics: Metric[] = [];
    const checks: Check[] = [];
    const node = (id: string) => snap.nodes.find((n) => n.id === id);

    // Rates and drops.
    const fps = w.framesOut / w.seconds;
    const camEdge = [...w.edges].find(([id]) => id.startsWith('cam.frames->detect.'))?.[1] ?? { delivered: 0, dropped: 0 };
    const dropPct = w.framesOut ? (camEdge.dropped / w.framesOut) * 100 : NaN;
    metrics.push(
      { key: 'realtime.fps', label: 'frames/s out of rtsp-source (cpu.yml: max_fps 10 from a 15 fps camera)', unit: 'fps', value: fps, better: 'higher', decimals: 2 },
      { key: 'realtime.detect_fps', label: 'frames/s detected (yolo out)', unit: 'fps', value: w.detected / w.seconds, better: 'higher', decimals: 2 },
      { key: 'realtime.drop_before_detect_pct', label: 'frames dropped before detection (cam → detect, latest queue)', unit: '%', value: dropPct, better: 'lower', decimals: 2 },
    );
    for (const [id, e] of w.edges) {
      if (id.includes('->t_')) continue; // the bench's own taps
      metrics.push({ key: `realtime.drops.${id}`, label: `dropped on ${id}`, unit: 'packets', value: e.dropped, better: 'lower', decimals: 0 });
    }

    // Latencies: capture → each tap.
    for (const t of TAPS) {
      const l = tapWindow(t.id, w.fromMs, w.toMs).latencies;
      metrics.push(
        { key: `realtime.frame_latency.${t.id.slice(2)}.p50_ms`, label: `per frame, capture → ${t.what}, p50`, unit: 'ms', value: pct(l, 0.5), better: 'lower', decimals: 1 },
        { key: `realtime.frame_latency.${t.id.slice(2)}.p95_ms`, label: `per frame, capture → ${t.what}, p95`, unit: 'ms', value: pct(l, 0.95), better: 'lower', decimals: 1 },
      );
    }
    const ev = tapWindow('t_event', w.fromMs, w.toMs).latencies;
    metrics.push(
      { key: 'realtime.events_per_s', label: 'events raised (gate: cooldown 1 s, not extended)', unit: 'events/s', value: ev.length / w.seconds, better: 'none', decimals: 2 },
      { key: 'realtime.event_latency.p50_ms', label: 'capture → event at the sinks (after snapshot), p50', unit: 'ms', value: pct(ev, 0.5), better: 'lower', decimals: 1 },
      { key: 'realtime.event_latency.p95_ms', label: 'capture → event at the sinks (after snapshot), p95', unit: 'ms', value: pct(ev, 0.95), better: 'lower', decimals: 1 },
    );

    // Per-node processing time in the window (the breakdown; queue waits are the rest).
    for (const id of NODES) {
      const n = node(id);
      const d = w.nodeMs.get(id);
      if (!n || !d) continue;
      metrics.push({ key: `realtime.node.${id}.p50_ms`, label: `${id} (${n.type}) processing per packet, p50`, unit: 'ms', value: pct(d, 0.5), better: 'lower', decimals: 2 });
      if (['detect', 'pose', 'snap', 'backend'].includes(id)) {
        metrics.push({ key: `realtime.node.${id}.p95_ms`, label: `${id} (${n.type}) processing per packet, p95`, unit: 'ms', value: pct(d, 0.95), better: 'lower', decimals: 2 });
      }
    }

    // Delivery: capture → stored at the backend, for the events of frames captured in the window.
    if (si.backend) {
      const delivered = stored.map((e) => Date.parse(e.received_at) - Date.parse(e.timestamp_utc));
      metrics.push(
        { key: 'realtime.delivered_latency.p50_ms', label: 'capture → stored at the backend (S3 upload first), p50', unit: 'ms', value: pct(delivered, 0.5), better: 'lower', decimals: 0 },
        { key: 'realtime.delivered_latency.p95_ms', label: 'capture → stored at the backend (S3 upload first), p95', unit: 'ms', value: pct(delivered, 0.95), better: 'lower', decimals: 0 },
      );
      checks.push(
        { name: 'the backend stored every event raised in the window', ok: raised > 0 && stored.length === raised, detail: `${stored.length} stored of ${raised} raised` },
        { name: 'every stored event carries its S3 snapshot URL', ok: stored.every((e) => !!e.snapshot_url), detail: `${stored.filter((e) => e.snapshot_url).length} of ${stored.length}` },
      );
    }

    // CPU and memory.
    const c = w.cpu;
    metrics.push(
      { key: 'realtime.cpu.total_pct', label: 'CPU, graph total (process + ffmpeg), share of one core', unit: '%', value: c.total, better: 'lower', decimals: 1 },
      { key: 'realtime.cpu.machine_pct', label: `CPU, graph total, share of the machine (${os.cpus().length} cores)`, unit: '%', value: c.total / os.cpus().length, better: 'lower', decimals: 1 },
      { key: 'realtime.cpu.main_pct', label: 'CPU, main thread (rtsp-source, runtime, bytetrack, posture, gate, snapshot, sinks)', unit: '%', value: c.main, better: 'lower', decimals: 1 },
      { key: 'realtime.cpu.threads_pct', label: 'CPU, other threads (yolo + rtmpose workers, libuv, V8)', unit: '%', value: c.otherThreads, better: 'lower', decimals: 1 },
      { key: 'realtime.cpu.top_thread_pct', label: 'CPU, busiest other thread (the yolo worker, as a rule)', unit: '%', value: c.topThreads[0] ?? 0, better: 'lower', decimals: 1 },
      { key: 'realtime.cpu.ffmpeg_pct', label: 'CPU, rtsp-source ffmpeg (decode 1280x720 + scale + rgb24)', unit: '%', value: c.ffmpeg, better: 'lower', decimals: 1 },
      { key: 'realtime.rss_mb', label: 'resident memory (process + ffmpeg), end of window', unit: 'MB', value: w.rssMb[w.rssMb.length - 1] ?? NaN, better: 'lower', decimals: 0 },
      { key: 'realtime.rss_max_mb', label: 'resident memory (process + ffmpeg), highest second', unit: 'MB', value: Math.max(...w.rssMb), better: 'lower', decimals: 0 },
      { key: 'realtime.rss_ffmpeg_mb', label: 'resident memory of rtsp-source\'s ffmpeg alone, end of window', unit: 'MB', value: w.rssFfmpegMb, better: 'lower', decimals: 0 },
    );

    if (!ctx.quick) {
      const cli = await cliResident(si, `${name}-cli`, CLI_SECONDS);
      metrics.push(
        { key: 'realtime.cli_rss_max_mb', label: `graphrun CLI on cpu.yml as shipped, own process: resident memory (process + ffmpeg), highest of ${CLI_SECONDS} s`, unit: 'MB', value: Math.max(...cli.mb), better: 'lower', decimals: 0 },
        { key: 'realtime.cli_rss_end_mb', label: 'graphrun CLI on cpu.yml as shipped: resident memory, last second', unit: 'MB', value: cli.mb[cli.mb.length - 1], better: 'lower', decimals: 0 },
      );
      checks.push({ name: 'the CLI streamed and exited 0 on SIGTERM', ok: cli.exitCode === 0 && cli.mb.length === CLI_SECONDS, detail: `exit ${cli.exitCode}, ${cli.mb.length} readings` });
    }

    const errors = snap.nodes.reduce((s, n) => s + n.errors + n.restarts, 0);
    const atGate = tapWindow('t_gate', w.fromMs, w.toMs).latencies.length;
    checks.push(
      { name: 'frames flowed the whole window', ok: w.framesOut > 0 && w.detected > 0 && atGate > 0, detail: `${w.framesOut} out of rtsp-source, ${w.detected} detected, ${atGate} at the gate` },
      { name: 'no node errors or restarts', ok: errors === 0, detail: snap.nodes.filter((n) => n.errors || n.restarts).map((n) => `${n.id}: ${n.lastError}`).join('; ') || 'none' },
      { name: 'rtsp-source kept its ffmpeg (no reconnect in the window)', ok: c.ffmpegGone === 0, detail: `${c.ffmpegGone} ffmpeg ended` },
    );
    ctx.log(`${fps.toFixed(1)} fps, ${dropPct.toFixed(2)}% dropped before detection, ${ev.length} events (p95 ${ms(pct(ev, 0.95))}), CPU ${c.total.toFixed(0)}% of a core, RSS ${Math.round(w.rssMb[w.rssMb.length - 1])} MB (${Math.round((Date.now() - t0) / 1000)} s)`);
    return {
      metrics, checks,
      info: {
        rssBeforeGraphMb: Math.round(ctx.state.rssBeforeMb as number), seconds: w.seconds, frames: w.framesOut, detected: w.detected, events: ev.length, delivery: si.noDelivery ?? 'backend + s3rver',
        topThreadsPct: c.topThreads.map((x) => Math.round(x * 10) / 10), heapMb: Math.round(w.heapMb),
        edges: Object.fromEntries(w.edges), nodes: snap.nodes.map((n) => ({ id: n.id, p50: n.p50Ms, p95: n.p95Ms, in: n.packetsIn, out: n.packetsOut })),
      },
    };
  },
  async teardown(ctx: BenchContext) {
    await (ctx.state.si as StandIns | undefined)?.stop();
  },
  notes: ({ metrics }) => {
    const m = (k: string) => metrics.find((x) => x.key === k)?.median ?? NaN;
    const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');
    const fps = m('realtime.fps'), drop = m('realtime.drop_before_detect_pct'), p95 = m('realtime.event_latency.p95_ms'), inProcess = m('realtime.rss_max_mb');
    const cliRss = m('realtime.cli_rss_max_mb');
    const rss = Number.isNaN(cliRss) ? inProcess : cliRss;
    const rssWhat = Number.isNaN(cliRss)
      ? `${Math.round(rss)} MB at most in the bench's process (--quick: the CLI's own figure is measured in full runs only)`
      : `${Math.round(rss)} MB at most as the CLI (${Math.round(inProcess)} MB in the bench's process, with its modules, taps and an event per person per second)`;
    const det = m('realtime.frame_latency.detect.p50_ms'), pose = m('realtime.frame_latency.pose.p50_ms'), gate = m('realtime.frame_latency.gate.p50_ms'), ev50 = m('realtime.event_latency.p50_ms');
    const r = (x: number) => Math.round(x);
    return [
      `Where the latency goes (medians, capture → …): detected ${r(det)} ms (yolo processing ${m('realtime.node.detect.p50_ms').toFixed(1)} ms) → pose done ${r(pose)} ms (+${r(pose - det)}; rtmpose ${m('realtime.node.pose.p50_ms').toFixed(1)} ms on its gated frames) → at the gate ${r(gate)} ms → event at the sinks ${r(ev50)} ms (+${r(ev50 - gate)}; snapshot JPEG ${m('realtime.node.snap.p50_ms').toFixed(1)} ms). CPU: main thread ${m('realtime.cpu.main_pct').toFixed(0)}%, other threads ${m('realtime.cpu.threads_pct').toFixed(0)}% (busiest ${m('realtime.cpu.top_thread_pct').toFixed(0)}%), ffmpeg ${m('realtime.cpu.ffmpeg_pct').toFixed(0)}% of one core.`,
      `Targets (one camera, 2 vCPUs): ${TARGETS.fps} fps with under ${TARGETS.dropPct}% dropped before detection — ${fps.toFixed(1)} fps, ${drop.toFixed(2)}% (${mark(fps >= TARGETS.fps * 0.98 && drop < TARGETS.dropPct)}); p95 capture → event under ${TARGETS.eventP95Ms} ms — ${Math.round(p95)} ms (${mark(p95 < TARGETS.eventP95Ms)}); resident memory under ${TARGETS.rssMb} MB — ${rssWhat} (${mark(rss < TARGETS.rssMb)}).`,
      `The graph is graphs/cpu.yml itself (extends:), camera simulator 1280x720 15 fps (vtest re-encoded as the Pi sends it, looped), ${noDelivery ? `WITHOUT delivery (s3-sink and fastapi-sink removed: ${noDelivery})` : 'delivering for real to the reference backend and s3rver on this machine rather than to a probe sink, so CPU, memory and the event path include the outbox, the S3 upload and the POST'}; only the gate is changed (cooldown 1 s, not extended on sighting) to raise an event per person per second — more snapshots and deliveries than production, so CPU here is an upper bound for the same scene.`,
      'Capture time = rtsp-source reading the decoded frame from ffmpeg (RTSP transport and decode come before it and are not counted). "At the sinks" = the event reaching s3-sink and fastapi-sink (a tap on snap.events); accepting it is their processing time (an outbox put, p50 above). Per-node times are processing only: capture → gate minus their sum is time in queues.',
      'CPU is per thread from /proc: main thread (JS: frame reading, runtime, bytetrack, posture, zones, gate, snapshot JPEG, sinks), other threads (yolo and rtmpose workers with their onnxruntime, libuv, V8 GC), ffmpeg. The simulator, the backend and s3rver run in their own processes on the same cores: on a shared 2-core machine all of this is noisy.',
    ];
  },
};
