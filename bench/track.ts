/**
 * `track`: the bytetrack tracker's speed on MOT17-02 and MOT17-09 (../shared/data/mot17), as
 * `graphrun track` reports it: each run starts `node bin/graphrun.js track` afresh (a cold
 * process, JIT warm-up included, as a user runs it) and reads its `track_time_s` (seconds in
 * the per-frame update loop); frames/s = frames / track_time_s. Also the steady state: the same
 * loop run repeatedly in this process once the JIT has optimised it.
 *
 * Checks, every run: the CLI's output reproduces the reference ByteTrack output shipped with the
 * data (>= 99.5% of its boxes at IoU >= 0.99 under a one-to-one id mapping).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareMotTracks, parseMotDetections, parseMotTracks, trackMot } from '../nodes/bytetrack/mot.js';
import type { BenchContext, Check, Metric, RunResult, SubBenchmark } from './lib/harness.js';

const SEQUENCES = ['MOT17-02', 'MOT17-09'] as const;
/** The parameters the reference output was made with. */
const REFERENCE = { trackThresh: 0.6, trackBuffer: 30, matchThresh: 0.8, frameRate: 30 };

/** Project root: the nearest folder above this file with a package.json (from dist/ or source). */
function projectRoot(): string {
  let d = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(d, 'package.json')) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

const ROOT = projectRoot();
const MOT17 = path.join(process.env.GRAPHRUN_SHARED_DIR ?? path.resolve(ROOT, '../shared'), 'data', 'mot17');
const seqFile = (seq: string, ...p: string[]) => path.join(MOT17, seq, ...p);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export const trackBench: SubBenchmark = {
  name: 'track',
  description: 'bytetrack: frames/s of `graphrun track` (fresh process, update loop only) on MOT17-02 and MOT17-09, and in steady state; output checked against the reference ByteTrack',
  runs: { full: 5, quick: 1 },
  warmup: false, // every run is a fresh process: there is nothing to warm
  skip: () => {
    for (const seq of SEQUENCES) {
      for (const f of [seqFile(seq, 'det', 'det.txt'), seqFile(seq, 'reference', 'bytetrack.txt')]) {
        if (!existsSync(f)) return `${f} missing (MOT17 data from ../shared, or set GRAPHRUN_SHARED_DIR)`;
      }
    }
    return undefined;
  },
  setup(ctx: BenchContext) {
    ctx.state.dir = mkdtempSync(path.join(tmpdir(), 'graphrun-bench-track-'));
  },
  async run(ctx: BenchContext): Promise<RunResult> {
    const metrics: Metric[] = [];
    const checks: Check[] = [];
    const info: Record<string, unknown> = {};
    for (const seq of SEQUENCES) {
      const key = seq.toLowerCase().replace('-', '_');
      const out = path.join(ctx.state.dir as string, `${seq}.txt`);
      const stdout = execFileSync(process.execPath, [path.join(ROOT, 'bin', 'graphrun.js'), 'track', '--det', seqFile(seq, 'det', 'det.txt'),
        '--fps', String(REFERENCE.frameRate), '--out', out, '--track-thresh', String(REFERENCE.trackThresh),
        '--track-buffer', String(REFERENCE.trackBuffer), '--match-thresh', String(REFERENCE.matchThresh)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const m = /track_time_s=([\d.]+)/.exec(stdout);
      if (!m) throw new Error(`graphrun track printed no track_time_s: ${stdout.slice(0, 200)}`);
      const dets = parseMotDetections(readFileSync(seqFile(seq, 'det', 'det.txt'), 'utf8'));
      const seconds = Number(m[1]);
      metrics.push({ key: `track.${key}.fps`, label: `${seq}: frames/s, graphrun track (fresh process)`, unit: 'fps', value: dets.frames / seconds, better: 'higher', decimals: 0 });
      const c = compareMotTracks(parseMotTracks(readFileSync(seqFile(seq, 'reference', 'bytetrack.txt'), 'utf8')), parseMotTracks(readFileSync(out, 'utf8')));
      checks.push({ name: `${seq}: reproduces the reference ByteTrack (>= 99.5% of its boxes)`, ok: c.fraction >= 0.995, detail: `${(100 * c.fraction).toFixed(2)}%, worst frame ${c.worstFrame} at ${(100 * c.worstFraction).toFixed(1)}%` });
      // Steady state, in this process: the loop once the JIT has optimised it.
      const times: number[] = [];
      for (let i = 0; i < (ctx.quick ? 10 : 30); i++) times.push(trackMot(dets, REFERENCE).trackTimeS);
      const late = times.slice(times.length >> 1);
      metrics.push({ key: `track.${key}.steady_fps`, label: `${seq}: frames/s, steady state (median of the last ${late.length} of ${times.length} loops in one process)`, unit: 'fps', value: dets.frames / median(late), better: 'higher', decimals: 0 });
      info[seq] = { frames: dets.frames, trackTimeS: seconds, matched: c.matched, refBoxes: c.refBoxes };
    }
    return { metrics, checks, info };
  },
  teardown(ctx: BenchContext) {
    if (ctx.state.dir) rmSync(ctx.state.dir as string, { recursive: true, force: true });
  },
  notes: [
    'Target: MOT17-02 median of the fresh-process runs at least 3000 frames/s (the reference Python ByteTrack runs about 760 frames/s on this machine). A fresh process spends most of the loop warming up the JIT: the steady-state figure is what a long-running bytetrack node gets.',
  ],
};
