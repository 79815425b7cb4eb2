/**
 * What the live benchmarks (realtime, multicam, soak) share: the camera clip as the real camera
 * sends it, the production graph wired to local stand-ins, latency taps, and /proc readings of
 * the process, its threads and its ffmpeg children.
 *
 * - `cameraClip()`: vtest (768x576, 10 fps, H.264 High) re-encoded once to what the garden
 *   camera publishes — 1280x720, 15 fps, H.264 baseline, a keyframe every second, 2 Mb/s — and
 *   cached in the temp folder, so the simulator copies it instead of running libx264 live on
 *   the cores the graph is measured on.
 * - `bench-latency-tap`: a node that records, for every packet, now − captureTimeMs (the time
 *   rtsp-source stamped when it read the frame from ffmpeg) and counts packets per stream.
 *   Fanned out from any output, it measures how long a frame took to get there.
 * - `startS3rver()`: s3rver in a child Node process (not in this one, so its CPU and memory are
 *   not counted as the graph's).
 * - `cpuYmlGraph()`: graphs/cpu.yml extended (its `extends:`) with the environment it reads,
 *   a private outbox file, the status page off, and taps.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { App } from '../../src/app.js';
import { packageRoot } from '../../src/assets.js';
import { defineNode, Type, type AnyNodeDefinition, type Packet } from '../../src/contract.js';
import { createLogger } from '../../src/log.js';
import { liveFfmpegPids } from '../../src/media/ffmpeg.js';
import { builtinNodes, Registry } from '../../src/registry.js';
import { startCameraSim, type CameraSim } from '../../src/sim/camera-sim.js';
import { backendPythonProblem, startBackend, type TestBackend } from './fastapi-backend.js';
import { benchNodes } from './nodes.js';
import { findMedia } from './media.js';
import { findLocalModel } from './onnx.js';

export const CPU_YML = path.join(packageRoot, 'graphs', 'cpu.yml');
export const SIM_USERS = { readUser: 'graphrun', readPass: 'bench-read-7Hq2', publishUser: 'camera', publishPass: 'bench-pub-4Lx9' };
/** As graphs/cpu.yml without rtmpose-t on the machine (it cannot be fetched here): the test pose model stands in. */
const POSE_MODELS = ['rtmpose-t', 'ultralight-nano-simplepose'];

/* --- prerequisites ------------------------------------------------------------------------- */

/** Why the live benchmarks cannot run here (no ffmpeg, no GStreamer RTSP server, no clip or model), or undefined. */
export async function liveProblem(): Promise<string | undefined> {
  try { execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' }); } catch { return 'ffmpeg not installed'; }
  try {
    execFileSync('/usr/bin/python3', ['-c', "import gi; gi.require_version('GstRtspServer','1.0')"], { stdio: 'ignore' });
  } catch { return 'GStreamer RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0) not installed: the camera simulator needs it'; }
  if (!findMedia('vtest_first20s_h264.mp4')) return 'vtest_first20s_h264.mp4 not in the media mirrors (../shared/media)';
  if (!(await findLocalModel(['yolox-nano']))) return 'yolox-nano not on this machine (cache or mirrors)';
  if (!(await poseModel())) return `no pose model on this machine (${POSE_MODELS.join(', ')})`;
  return undefined;
}

/** POSE_MODEL for cpu.yml: rtmpose-t when on the machine, else the path of the stand-in. */
export async function poseModel(): Promise<string | undefined> {
  const m = await findLocalModel(POSE_MODELS);
  return m && (m.id === 'rtmpose-t' ? m.id : m.path);
}

/** vtest as the camera publishes it (1280x720, 15 fps, H.264 baseline, 1 s GOP), encoded once and cached. */
export function cameraClip(): string {
  const src = findMedia('vtest_first20s_h264.mp4');
  if (!src) throw new Error('vtest_first20s_h264.mp4 not in the media mirrors');
  const dir = path.join(tmpdir(), 'graphrun-bench-media');
  const out = path.join(dir, `vtest_first20s_1280x720_15fps_baseline_${Math.round(statSync(src).mtimeMs)}.mp4`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const part = `${out}.${process.pid}.part.mp4`;
  // The simulator's own encode settings (src/sim/camera-sim.ts publisherArgs): the Pi's.
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', src, '-an', '-vf', 'fps=15,scale=1280:720,format=yuv420p',
    '-c:v', 'libx264', '-profile:v', 'baseline', '-level:v', '4.1', '-preset', 'veryfast', '-tune', 'zerolatency',
    '-g', '15', '-keyint_min', '15', '-sc_threshold', '0', '-b:v', '2M', '-maxrate', '2M', '-bufsize', '2M', part]);
  renameSync(part, out); // whole or not at all: another bench process may look at the same time
  return out;
}

/* --- latency taps -------------------------------------------------------------------------- */

export interface Tap {
  /** Per packet seen while recording: its captureTimeMs, now − captureTimeMs (ms) and stream id. */
  captures: number[];
  latencies: number[];
  streams: string[];
  recording: boolean;
}

const taps = new Map<string, Tap>();

/** The tap of node `id` (made on first use; the node finds it by its id). */
export function tap(id: string): Tap {
  let t = taps.get(id);
  if (!t) { t = { captures: [], latencies: [], streams: [], recording: false }; taps.set(id, t); }
  return t;
}

/** Start recording afresh on every tap (true), or stop (false). */
export function recordTaps(on: boolean): void {
  for (const t of taps.values()) {
    if (on) { t.captures.length = 0; t.latencies.length = 0; t.streams.length = 0; }
    t.recording = on;
  }
}

/**
 * What tap `id` saw of the packets captured in [fromMs, toMs] (epoch ms): their latencies and
 * counts per stream. Windows by capture time, so a packet captured inside the window and still
 * on its way at its end counts, and one captured before it does not.
 */
export function tapWindow(id: string, fromMs: number, toMs: number): { latencies: number[]; perStream: Map<string, number> } {
  const t = tap(id);
  const latencies: number[] = [];
  const perStream = new Map<string, number>();
  for (let i = 0; i < t.captures.length; i++) {
    if (t.captures[i] < fromMs || t.captures[i] > toMs) continue;
    latencies.push(t.latencies[i]);
    perStream.set(t.streams[i], (perStream.get(t.streams[i]) ?? 0) + 1);
  }
  return { latencies, perStream };
}

export const latencyTap = defineNode({
  type: 'bench-latency-tap',
  summary: 'Records now − captureTimeMs of every packet and counts packets per stream; benchmarks only.',
  options: Type.Object({}),
  inputs: { in: { kind: 'any', description: 'Anything with a capture time.', defaultQueue: { mode: 'drop_oldest', size: 256 } } },
  outputs: {},
  canPause: true,
  create(_cfg, ctx) {
    const t = tap(ctx.id);
    return {
      process(p: Packet) {
        if (!t.recording) return;
        t.captures.push(p.captureTimeMs);
        t.latencies.push(ctx.clock.now() - p.captureTimeMs);
        t.streams.push(p.streamId);
      },
    };
  },
});

export const liveNodes: AnyNodeDefinition[] = [latencyTap];
export const liveRegistry = new Registry([...builtinNodes, ...benchNodes, ...liveNodes]);

/** Quantile (nearest rank) of unsorted values; NaN when empty. */
export function pct(values: readonly number[], q: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/* --- running graphs ------------------------------------------------------------------------ */

let dir: string | undefined;
/** This process's temp folder (graph files, outboxes), removed at exit. */
export function benchTemp(): string {
  if (!dir) {
    const d = mkdtempSync(path.join(tmpdir(), 'graphrun-bench-live-'));
    dir = d;
    process.once('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  return dir;
}

const log = createLogger({ level: 'warn', pretty: false, destination: process.stderr });

/** Start the graph in `yaml` (written to the temp folder as `name`.yml) with `env` for its ${…}. */
export async function startLiveGraph(yaml: string, name: string, env: Record<string, string>): Promise<App> {
  const file = path.join(benchTemp(), `${name}.yml`);
  writeFileSync(file, yaml);
  return App.start(file, { registry: liveRegistry, log, env: { ...process.env, ...env } });
}

export interface CpuYmlOptions {
  name: string;
  /** Overrides merged over cpu.yml's nodes (YAML text, indented under `nodes:`). */
  nodes?: string;
  /** Where both sinks keep their outbox. */
  outbox: string;
  /** Keep the S3 and FastAPI sinks (false: removed, `null` in the overlay). */
  delivery: boolean;
}

/** A graph file that extends graphs/cpu.yml: status page off, one outbox file, overrides and taps. */
export function cpuYmlGraph(o: CpuYmlOptions): string {
  const sinks = o.delivery
    ? [`  s3: { outbox: { path: ${JSON.stringify(o.outbox)} } }`, `  backend: { outbox: { path: ${JSON.stringify(o.outbox)} } }`]
    : ['  s3: null', '  backend: null'];
  return [
    `extends: ${JSON.stringify(CPU_YML)}`,
    `name: ${o.name}`,
    'status: { enabled: false }',
    'nodes:',
    ...sinks,
    o.nodes ?? '',
  ].join('\n') + '\n';
}

/* --- s3rver in a child process -------------------------------------------------------------- */

export interface S3Child { endpoint: string; bucket: string; stop(): Promise<void> }

const S3RVER_SCRIPT = `
const S3rver = require('s3rver');
const [dir, bucket] = process.argv.slice(1);
const s = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket }], vhostBuckets: false });
s.run().then((a) => process.stdout.write(JSON.stringify({ port: a.port }) + '\\n'), (e) => { console.error(e.message); process.exit(1); });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();`;

/** s3rver with one bucket on a free loopback port, in its own Node process (dies with this one: its stdin closes). */
export async function startS3rver(bucket: string): Promise<S3Child> {
  const d = mkdtempSync(path.join(tmpdir(), 'graphrun-bench-s3-'));
  const child: ChildProcess = spawn(process.execPath, ['-e', S3RVER_SCRIPT, d, bucket], { cwd: packageRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c) => { err += c; });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`s3rver did not start within 20 s: ${err}`)), 20000);
    createInterface({ input: child.stdout! }).once('line', (l) => { clearTimeout(t); resolve((JSON.parse(l) as { port: number }).port); });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`s3rver exited (${code}): ${err}`)); });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    async stop() {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.stdin!.end();
        await gone;
      }
      rmSync(d, { recursive: true, force: true });
    },
  };
}

/** s3rver's one account, for the SDK's default credential chain (s3-sink has no keys in its options). */
export function useS3rverCredentials(): void {
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_EC2_METADATA_DISABLED: 'true' });
}

/* --- the camera, the bucket and the backend -------------------------------------------------- */

export interface StandIns {
  sim: CameraSim;
  /** The reference backend and s3rver; absent when the backend's Python modules are missing (see `noDelivery`). */
  backend?: TestBackend;
  s3?: S3Child;
  noDelivery?: string;
  /** The environment graphs/cpu.yml reads (camera URL, endpoints, token, pose model). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

const BACKEND_TOKEN = `bench-live-${process.pid}-${Date.now().toString(36)}`;

/**
 * The camera simulator publishing the camera clip on `paths` (default ['garden']), and unless
 * `delivery` is false or its Python modules are missing, the reference backend and s3rver.
 */
export async function startStandIns(o: { paths?: string[]; publish?: string[]; delivery?: boolean } = {}): Promise<StandIns> {
  const pose = await poseModel();
  const sim = await startCameraSim({ clip: cameraClip(), paths: o.paths, publish: o.publish, ...SIM_USERS });
  let backend: TestBackend | undefined;
  let s3: S3Child | undefined;
  let noDelivery = o.delivery === false ? 'not asked for' : backendPythonProblem();
  try {
    if (!noDelivery) {
      [backend, s3] = await Promise.all([startBackend({ token: BACKEND_TOKEN, faults: false }), startS3rver('snaps')]);
      useS3rverCredentials();
    }
  } catch (err) {
    await Promise.all([backend?.close(), s3?.stop(), sim.stop()]);
    throw err;
  }
  if (noDelivery && o.delivery !== false) noDelivery = `the reference backend cannot run: ${noDelivery}`;
  const env: Record<string, string> = {
    MEDIA_RPI_RTSP_URL: sim.readUrl(),
    CAMERA_ID: 'garden',
    // Unused when the sinks are removed, but cpu.yml names them.
    FASTAPI_ENDPOINT: backend?.url ?? 'http://127.0.0.1:9',
    FASTAPI_TOKEN: BACKEND_TOKEN,
    S3_BUCKET: s3?.bucket ?? 'snaps',
    S3_ENDPOINT: s3?.endpoint ?? 'http://127.0.0.1:9',
    S3_FORCE_PATH_STYLE: 'true',
    AWS_REGION: 'us-east-1',
    POSE_MODEL: pose ?? 'rtmpose-t',
  };
  return {
    sim, backend, s3, noDelivery, env,
    async stop() { await Promise.all([backend?.close(), s3?.stop(), sim.stop()]); },
  };
}

/* --- /proc ----------------------------------------------------------------------------------- */

const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

function ticksMs(stat: string): number {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return ((f[11] + f[12]) * 1000) / TICK; // utime + stime
}

function read(p: string): string | undefined {
  try { return readFileSync(p, 'utf8'); } catch { return undefined; }
}

/** Resident memory of `pid` in bytes (VmRSS), 0 when it is gone. */
export function rssBytes(pid: number | 'self'): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(read(`/proc/${pid}/status`) ?? '');
  return m ? Number(m[1]) * 1024 : 0;
}

/** Resident memory in bytes of process `pid` and of its descendants (ffmpeg), from /proc/<pid>/task/<pid>/children. */
export function treeRssBytes(pid: number): { self: number; children: number } {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const k of (read(`/proc/${tree[i]}/task/${tree[i]}/children`) ?? '').trim().split(/\s+/)) if (k) tree.push(Number(k));
  }
  return { self: rssBytes(pid), children: tree.slice(1).reduce((s, p) => s + rssBytes(p), 0) };
}

/** Open file descriptors of `pid` (0 when it is gone). */
export function fdCount(pid: number | 'self'): number {
  try { return readdirSync(`/proc/${pid}/fd`).length; } catch { return 0; }
}

/** CPU ms per thread of this process (tid → user + system). */
export function threadCpuMs(): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of readdirSync('/proc/self/task')) {
    const s = read(`/proc/self/task/${t}/stat`);
    if (s) out.set(Number(t), ticksMs(s));
  }
  return out;
}

/** CPU ms of process `pid`, every thread (NaN when it is gone). */
export function pidCpuMs(pid: number): number {
  const s = read(`/proc/${pid}/stat`);
  return s ? ticksMs(s) : NaN;
}

/** The graph's ffmpeg children (rtsp-source's decoders; the simulator's publishers are not among them). */
export function graphFfmpegPids(): number[] {
  return liveFfmpegPids();
}

/** Where the graph's CPU goes between two readings. */
export interface CpuSample { at: number; threads: Map<number, number>; ffmpeg: Map<number, number> }

export function cpuSample(): CpuSample {
  return { at: performance.now(), threads: threadCpuMs(), ffmpeg: new Map(graphFfmpegPids().map((p) => [p, pidCpuMs(p)])) };
}

export interface CpuShare {
  wallS: number;
  /** Shares of one core, %. */
  total: number;
  main: number;
  /** Every other thread of the process: worker threads (yolo, rtmpose), libuv, V8's helpers. */
  otherThreads: number;
  /** The three busiest other threads, % each (the inference workers, as a rule). */
  topThreads: number[];
  ffmpeg: number;
  /** ffmpeg processes that ended inside the window (their last ticks are missing from `ffmpeg`). */
  ffmpegGone: number;
}

export function cpuShare(a: CpuSample, b: CpuSample): CpuShare {
  const wallMs = b.at - a.at;
  const pctOf = (ms: number) => (ms / wallMs) * 100;
  let main = 0;
  const others: number[] = [];
  for (const [tid, ms] of b.threads) {
    const d = ms - (a.threads.get(tid) ?? 0); // a thread born inside the window started at 0
    if (tid === process.pid) main = d; else others.push(d);
  }
  let ff = 0;
  let gone = 0;
  for (const [pid, ms] of b.ffmpeg) {
    if (Number.isNaN(ms)) { gone++; continue; }
    ff += ms - (a.ffmpeg.get(pid) ?? 0);
  }
  for (const pid of a.ffmpeg.keys()) if (!b.ffmpeg.has(pid)) gone++;
  others.sort((x, y) => y - x);
  const other = others.reduce((s, x) => s + x, 0);
  return {
    wallS: wallMs / 1000,
    total: pctOf(main + other + ff), main: pctOf(main), otherThreads: pctOf(other),
    topThreads: others.slice(0, 3).map(pctOf), ffmpeg: pctOf(ff), ffmpegGone: gone,
  };
}

/** Resident memory and open files of the graph: this process plus its ffmpeg children. */
export function residentAndFds(): { rss: number; rssSelf: number; fds: number; fdsSelf: number; heapUsed: number } {
  const pids = graphFfmpegPids();
  const rssSelf = rssBytes('self');
  const fdsSelf = fdCount('self');
  return {
    rssSelf, fdsSelf,
    rss: rssSelf + pids.reduce((s, p) => s + rssBytes(p), 0),
    fds: fdsSelf + pids.reduce((s, p) => s + fdCount(p), 0),
    heapUsed: process.memoryUsage().heapUsed,
  };
}

/* --- edges ------------------------------------------------------------------------------------ */

export interface EdgeCount { delivered: number; dropped: number }

/** Delivered and dropped per edge id, now. */
export function edgeCounts(app: App): Map<string, EdgeCount> {
  const out = new Map<string, EdgeCount>();
  for (const e of app.runtime.snapshot().edges) {
    out.set(e.id, { delivered: e.delivered, dropped: Object.values(e.drops).reduce((s, n) => s + n, 0) });
  }
  return out;
}

/** Per edge: what happened between two readings. */
export function edgeDelta(a: Map<string, EdgeCount>, b: Map<string, EdgeCount>): Map<string, EdgeCount> {
  const out = new Map<string, EdgeCount>();
  for (const [id, e] of b) {
    const p = a.get(id) ?? { delivered: 0, dropped: 0 };
    out.set(id, { delivered: e.delivered - p.delivered, dropped: e.dropped - p.dropped });
  }
  return out;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `ok` every 100 ms until it holds, or throw after `ms` with `what`. */
export async function waitUntil(ok: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}
