/**
 * `video`: what reading a camera costs. One 1280x720 15 fps H.264 baseline stream from the camera
 * simulator (the mediaMTX stand-in) read by rtsp-source in real time:
 * - ffmpeg's CPU (decode + pixel conversion) per frame and as a share of one core, read from
 *   /proc for the ffmpeg child;
 * - the Node process's own CPU per frame (rtsp-source splitting stdout into frames, the runtime,
 *   a sink): the JS side, aim < 1 ms per frame;
 * - resizing to 416x416 two ways: ffmpeg's scale filter at the source (ffmpeg CPU difference per
 *   frame) against the resize node (its processing time per frame, 1280x720 → 416x416 letterbox).
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { liveFfmpegPids } from '../src/media/ffmpeg.js';
import { startCameraSim, type CameraSim } from '../src/sim/camera-sim.js';
import { allocFrameBuffer } from '../src/frames.js';
import { applyResize, planResize } from '../nodes/resize/resize.js';
import type { BenchContext, Check, Metric, RunResult, SubBenchmark } from './lib/harness.js';
import { procCpuMs } from './lib/cpu.js';
import { benchRegistry } from './lib/nodes.js';
import { startGraph } from './lib/graph.js';
import { cameraClip } from './lib/live.js';
import { findMedia } from './lib/media.js';

interface Measured { frames: number; seconds: number; ffmpegMsPerFrame: number; ffmpegCorePct: number; jsMsPerFrame: number; resizeMs: number | null }

async function measure(sim: CameraSim, seconds: number, settle: number, variant: 'native' | 'ffmpeg-scale' | 'resize-node' | 'cpu-yml'): Promise<Measured> {
  const size = variant === 'ffmpeg-scale' ? '\n    size: [416, 234]' : variant === 'cpu-yml' ? '\n    size: [896, 504]\n    max_fps: 10' : '';
  const tail = variant === 'resize-node'
    ? '  small: { type: resize, width: 416, height: 416, inputs: { frames: cam.frames } }\n  sink: { type: debug-sink, inputs: { in: small.frames } }\n'
    : '  sink: { type: debug-sink, inputs: { in: cam.frames } }\n';
  const before = new Set(liveFfmpegPids()); // the simulator's publisher, if it shows here
  const app = await startGraph(`version: 1
name: bench-video-${variant}
status: { enabled: false }
nodes:
  cam:
    type: rtsp-source
    url: ${sim.readUrl()}${size}
${tail}`, benchRegistry, `video-${variant}`);
  try {
    const rt = app.runtime;
    const sink = () => rt.runners.get('sink')!.stats.packetsIn;
    const t0 = Date.now();
    while (sink() < settle) {
      if (Date.now() - t0 > 30000) throw new Error('no frames from the camera simulator within 30 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const [pid] = liveFfmpegPids().filter((p) => !before.has(p));
    if (!pid) throw new Error('cannot find the ffmpeg of rtsp-source');
    const f0 = sink();
    const ff0 = procCpuMs(pid);
    const js0 = process.cpuUsage();
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const frames = sink() - f0;
    const wall = (performance.now() - w0) / 1000;
    const ff = procCpuMs(pid) - ff0;
    const js = process.cpuUsage(js0);
    const resizeMs = variant === 'resize-node' ? rt.runners.get('small')!.stats.quantile(0.5) : null;
    return { frames, seconds: wall, ffmpegMsPerFrame: ff / frames, ffmpegCorePct: (ff / 1000 / wall) * 100, jsMsPerFrame: (js.user + js.system) / 1000 / frames, resizeMs };
  } finally {
    await app.stop();
  }
}

/** The resize kernel alone, on one prepared 1280x720 frame (median of many). */
function resizeKernelMs(n: number): number {
  const src = allocFrameBuffer(1280 * 720 * 3);
  for (let i = 0; i < src.length; i++) src[i] = (i * 31) & 255;
  const dst = allocFrameBuffer(416 * 416 * 3);
  const plan = planResize(1280, 720, 1280 * 3, 3, 416, 416, 'letterbox', 'center');
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    applyResize(plan, src, dst, 114);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export const videoBench: SubBenchmark = {
  name: 'video',
  description: 'one 720p 15 fps RTSP stream through rtsp-source: ffmpeg and JS CPU per frame; resizing to 416x416 in ffmpeg vs the resize node',
  runs: { full: 3, quick: 1 },
  warmup: false,
  skip: () => {
    try { execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' }); } catch { return 'ffmpeg not installed'; }
    try { execFileSync('/usr/bin/python3', ['-c', "import gi; gi.require_version('GstRtspServer','1.0')"], { stdio: 'ignore' }); } catch { return 'GStreamer RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0) not installed'; }
    if (!findMedia('vtest_first20s_h264.mp4')) return 'vtest_first20s_h264.mp4 not found in the media mirrors (../shared/media or GRAPHRUN_MEDIA_MIRROR)';
    return undefined;
  },
  async setup(ctx: BenchContext) {
    // vtest as the Pi sends it, encoded once and cached (bench/lib/live.ts): not re-encoded per run.
    ctx.state.sim = await startCameraSim({ clip: cameraClip(), readUser: 'graphrun', readPass: 'bench-read', publishUser: 'camera', publishPass: 'bench-pub' });
  },
  async run(ctx: BenchContext): Promise<RunResult> {
    const sim = ctx.state.sim as CameraSim;
    const seconds = ctx.quick ? 2 : 8;
    const settle = ctx.quick ? 5 : 15; // frames through before the window opens
    const native = await measure(sim, seconds, settle, 'native');
    const scaled = await measure(sim, seconds, settle, 'ffmpeg-scale');
    const node = await measure(sim, seconds, settle, 'resize-node');
    const cpuYml = await measure(sim, seconds, settle, 'cpu-yml');
    const kernel = resizeKernelMs(ctx.quick ? 50 : 200);
    const fps = native.frames / native.seconds;
    const metrics: Metric[] = [
      { key: 'video.rtsp.fps', label: 'rtsp-source frames/s delivered (camera sends 15)', unit: 'fps', value: fps, better: 'higher', decimals: 1 },
      { key: 'video.rtsp.ffmpeg_ms_per_frame', label: 'ffmpeg CPU per frame, 1280x720 decode + rgb24', unit: 'ms', value: native.ffmpegMsPerFrame, better: 'lower' },
      { key: 'video.rtsp.ffmpeg_core_pct', label: 'ffmpeg CPU share of one core at 15 fps', unit: '%', value: native.ffmpegCorePct, better: 'lower', decimals: 1 },
      { key: 'video.rtsp.js_ms_per_frame', label: 'Node process CPU per frame (rtsp-source + runtime + sink)', unit: 'ms', value: native.jsMsPerFrame, better: 'lower' },
      { key: 'video.scale.ffmpeg_ms_per_frame', label: 'ffmpeg CPU per frame with scale to 416x234 inside ffmpeg', unit: 'ms', value: scaled.ffmpegMsPerFrame, better: 'lower' },
      { key: 'video.scale.js_ms_per_frame', label: 'Node process CPU per frame, scaled in ffmpeg', unit: 'ms', value: scaled.jsMsPerFrame, better: 'lower' },
      { key: 'video.resize_node.ms', label: 'resize node processing per frame, 1280x720 → 416x416 letterbox (median)', unit: 'ms', value: node.resizeMs ?? NaN, better: 'lower' },
      { key: 'video.resize_node.js_ms_per_frame', label: 'Node process CPU per frame with the resize node', unit: 'ms', value: node.jsMsPerFrame, better: 'lower' },
      { key: 'video.cpu_yml.js_ms_per_frame', label: 'Node process CPU per frame as graphs/cpu.yml reads (896x504, 10 fps from 15)', unit: 'ms', value: cpuYml.jsMsPerFrame, better: 'lower' },
      { key: 'video.cpu_yml.ffmpeg_core_pct', label: 'ffmpeg CPU share of one core as graphs/cpu.yml reads', unit: '%', value: cpuYml.ffmpegCorePct, better: 'lower', decimals: 1 },
      { key: 'video.cpu_yml.fps', label: 'frames/s delivered as graphs/cpu.yml reads (max_fps 10)', unit: 'fps', value: cpuYml.frames / cpuYml.seconds, better: 'higher', decimals: 1 },
      { key: 'video.resize_kernel.ms', label: 'resize kernel alone, 1280x720 → 416x416 (median)', unit: 'ms', value: kernel, better: 'lower' },
    ];
    const checks: Check[] = [
      { name: 'at least 95% of the camera frames delivered', ok: fps >= 0.95 * 15, detail: `${fps.toFixed(2)} fps of 15` },
    ];
    checks.push({ name: 'max_fps 10 from a 15 fps camera gives 10 fps', ok: Math.abs(cpuYml.frames / cpuYml.seconds - 10) < 0.6, detail: `${(cpuYml.frames / cpuYml.seconds).toFixed(2)} fps` });
    return { metrics, checks, info: { native, scaled, node, cpuYml } };
  },
  async teardown(ctx: BenchContext) {
    await (ctx.state.sim as CameraSim | undefined)?.stop();
  },
  notes: [
    'ffmpeg figures are CPU time of the ffmpeg child from /proc (user + system); "Node process CPU" is process.cpuUsage() of the bench process, which runs the graph (the camera simulator runs in other processes).',
    'Targets: the JS side under 1 ms per frame; the resize node under 3 ms for 1280x720 → 416x416. Scaling inside ffmpeg costs the difference between the two ffmpeg lines and saves the JS side the resize entirely: the default when one size serves the graph.',
  ],
};
