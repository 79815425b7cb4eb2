/**
 * The camera simulator (src/sim/): GStreamer's RTSP server standing in for mediaMTX, fed by
 * ffmpeg. Readers here are ffmpeg/ffprobe over RTSP/TCP, the way graphrun's rtsp-source reads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runningSimChildren, startCameraSim, type CameraSim } from '../src/sim/camera-sim.js';
import { mediaPath, repoRoot } from './support/media.js';

// Resolved on import: without ../shared the file fails once, with one line naming what is missing.
const VTEST = mediaPath('vtest_first20s_h264.mp4');
const FALL_720P = mediaPath('fall_two_persons_indoor_1280x720.mp4');

const READ = { readUser: 'graphrun', readPass: 'read-pw-1', publishUser: 'camera', publishPass: 'pub-pw-2' };

interface Run { code: number | null; stdout: string; stderr: string; ms: number }
const readers = new Set<ChildProcess>();

/** Runs ffmpeg/ffprobe to completion (killed after timeoutMs). */
function run(bin: 'ffmpeg' | 'ffprobe', args: string[], timeoutMs = 15000, onSpawn?: (c: ChildProcess) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(bin, ['-hide_banner', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    readers.add(child);
    let stdout = '', stderr = '';
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      readers.delete(child);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
    onSpawn?.(child);
  });
}

const probe = (url: string, extra: string[] = []) =>
  run('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-analyzeduration', '1000000', ...extra, '-of', 'json', url], 15000);

/** Decodes `n` frames; framemd5 prints one line per decoded frame. */
async function readFrames(url: string, n: number): Promise<{ frames: number; r: Run }> {
  const r = await run('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', url, '-frames:v', String(n), '-f', 'framemd5', '-'], 20000);
  const frames = r.stdout.split('\n').filter((l) => l && !l.startsWith('#')).length;
  return { frames, r };
}

function streamOf(r: Run): Record<string, unknown> {
  return (JSON.parse(r.stdout) as { streams: Record<string, unknown>[] }).streams[0];
}

afterAll(() => {
  for (const c of readers) c.kill('SIGKILL');
});

describe('camera simulator: 768x576 10 fps clip, paths garden and cam2', () => {
  let sim: CameraSim;

  beforeAll(async () => {
    sim = await startCameraSim({ clip: VTEST, paths: ['garden', 'cam2'], publish: ['garden'], readTimeoutS: 3, ...READ });
  }, 30000);
  afterAll(async () => { await sim?.stop(); });

  it('re-encodes a High-profile clip with one keyframe to baseline at its own size and rate', () => {
    expect(sim.video.mode).toBe('encode');
    expect(sim.video.encode).toMatchObject({ width: 768, height: 576, fps: 10 });
    expect(sim.readUrl('garden')).toBe(`rtsp://graphrun:read-pw-1@127.0.0.1:${sim.readPort}/garden`);
  });

  it('(a) a reader with the right credentials gets the clip over TCP', async () => {
    const s = streamOf(await probe(sim.readUrl('garden'), ['-show_entries', 'stream=codec_name,profile,width,height']));
    expect(s).toMatchObject({ codec_name: 'h264', profile: 'Constrained Baseline', width: 768, height: 576 });
    const { frames, r } = await readFrames(sim.readUrl('garden'), 30);
    expect(r.code, r.stderr).toBe(0);
    expect(frames).toBe(30);
    expect(sim.events.some((e) => e.event === 'reader_connected' && e.path === 'garden')).toBe(true);
    const t0 = Date.now();
    await sim.startPublisher('garden'); // already streaming: nothing to wait for
    expect(Date.now() - t0).toBeLessThan(500);
  }, 30000);

  it('(a) refuses UDP transport: TCP only, like the production mediaMTX', async () => {
    const r = await run('ffprobe', ['-v', 'error', '-rtsp_transport', 'udp', sim.readUrl('garden')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/461|Unsupported transport/i);
  }, 30000);

  it('(b) a wrong password gets 401', async () => {
    const r = await probe(sim.readUrl('garden').replace(':read-pw-1@', ':wrong@'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/401 Unauthorized/);
  }, 30000);

  it('(f) the publisher\'s user cannot read (401): read and publish permissions are separate', async () => {
    const r = await probe(`rtsp://camera:pub-pw-2@127.0.0.1:${sim.readPort}/garden`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/401 Unauthorized/);
  }, 30000);

  it('(c) an unknown path gets 404', async () => {
    const r = await probe(sim.readUrl('garden').replace('/garden', '/backyard'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/404 Not Found/);
  }, 30000);

  it('(d) a known path nobody publishes on gets 404', async () => {
    const r = await probe(sim.readUrl('cam2'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/404 Not Found/);
  }, 30000);

  it('(e) a reader is dropped within seconds when the publisher stops, and reads again after it restarts', async () => {
    const since = sim.events.length;
    let reader!: ChildProcess;
    const reading = run('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', sim.readUrl('garden'), '-f', 'null', '-'], 25000, (c) => { reader = c; });
    await sim.waitForEvent((e) => e.event === 'reader_connected' && e.path === 'garden', 10000, since);
    await new Promise((r) => setTimeout(r, 1000));
    expect(reader.exitCode).toBeNull();
    const stoppedAt = Date.now();
    await sim.stopPublisher('garden');
    const r = await reading;
    const dropMs = Date.now() - stoppedAt;
    expect(dropMs).toBeLessThan(5000);
    expect(r.code).not.toBeNull(); // it exited by itself, not by our 25 s kill
    expect(sim.events.slice(since).some((e) => e.event === 'reader_dropped' && e.path === 'garden')).toBe(true);
    expect((await probe(sim.readUrl('garden'))).stderr).toMatch(/404 Not Found/);

    await sim.startPublisher('garden');
    const again = await readFrames(sim.readUrl('garden'), 20);
    expect(again.r.code, again.r.stderr).toBe(0);
    expect(again.frames).toBe(20);
  }, 30000);

  it('a camera that loses power (publisher killed) also drops its readers', async () => {
    const since = sim.events.length;
    const reading = run('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', sim.readUrl('garden'), '-f', 'null', '-'], 25000);
    await sim.waitForEvent((e) => e.event === 'reader_connected' && e.path === 'garden', 10000, since);
    const t0 = Date.now();
    await sim.stopPublisher('garden', { abrupt: true });
    await reading;
    expect(Date.now() - t0).toBeLessThan(5000);
    await sim.startPublisher('garden');
  }, 30000);

  it('a stall shorter than the read timeout passes; a longer one drops the camera and its readers, and the camera reconnects', async () => {
    let since = sim.events.length;
    let reader!: ChildProcess;
    const reading = run('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', sim.readUrl('garden'), '-f', 'null', '-'], 25000, (c) => { reader = c; });
    await sim.waitForEvent((e) => e.event === 'reader_connected' && e.path === 'garden', 10000, since);
    sim.pausePublisher('garden');
    await new Promise((r) => setTimeout(r, 1500));
    sim.resumePublisher('garden');
    await new Promise((r) => setTimeout(r, 500));
    expect(reader.exitCode).toBeNull();
    expect(sim.events.slice(since).filter((e) => e.event === 'publisher_gone')).toEqual([]);

    since = sim.events.length;
    const t0 = Date.now();
    sim.pausePublisher('garden');
    const gone = await sim.waitForEvent((e) => e.event === 'publisher_gone' && e.path === 'garden', 8000, since);
    expect(gone.reason).toMatch(/no data for 3 s/);
    await reading;
    expect(Date.now() - t0).toBeLessThan(6000);
    sim.resumePublisher('garden');
    await sim.waitForEvent((e) => e.event === 'publisher_streaming' && e.path === 'garden', 10000, since);
    const { frames, r } = await readFrames(sim.readUrl('garden'), 10);
    expect(r.code, r.stderr).toBe(0);
    expect(frames).toBe(10);
  }, 30000);

  it('after a relay restart the publisher reconnects and the same URL reads again', async () => {
    const port = sim.readPort;
    await sim.restartRelay();
    expect(sim.readPort).toBe(port);
    const { frames, r } = await readFrames(sim.readUrl('garden'), 10);
    expect(r.code, r.stderr).toBe(0);
    expect(frames).toBe(10);
  }, 30000);
});

describe('camera simulator: the Pi\'s 1280x720 15 fps baseline, re-encoded from a 60 fps clip', () => {
  let sim: CameraSim;

  beforeAll(async () => {
    sim = await startCameraSim({ clip: FALL_720P, encode: { width: 1280, height: 720, fps: 15 }, ...READ });
  }, 30000);
  afterAll(async () => { await sim?.stop(); });

  it('reads 1280x720 Constrained Baseline at 15 frames per second', async () => {
    const s = streamOf(await probe(sim.readUrl(), ['-show_entries', 'stream=codec_name,profile,width,height']));
    expect(s).toMatchObject({ codec_name: 'h264', profile: 'Constrained Baseline', width: 1280, height: 720 });
    // Frames before the first keyframe the reader gets are not decoded: up to a second of the three.
    const r = await probe(sim.readUrl(), ['-read_intervals', '%+3', '-show_entries', 'frame=pts_time']);
    const times = (JSON.parse(r.stdout) as { frames: { pts_time: string }[] }).frames.map((f) => Number(f.pts_time));
    expect(times.length).toBeGreaterThanOrEqual(25);
    const deltas = times.slice(1).map((t, i) => t - times[i]).sort((a, b) => a - b);
    expect(deltas[Math.floor(deltas.length / 2)]).toBeCloseTo(1 / 15, 3);
  }, 30000);
});

describe('camera simulator: a clip that already is H.264 baseline', () => {
  let dir: string;
  let sim: CameraSim | undefined;
  afterAll(async () => {
    await sim?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is sent as it is (-c:v copy)', async () => {
        dir = mkdtempSync(path.join(os.tmpdir(), 'camsim-'));
    const clip = path.join(dir, 'baseline.mp4');
    const made = await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10:duration=3',
      '-c:v', 'libx264', '-profile:v', 'baseline', '-g', '10', '-pix_fmt', 'yuv420p', '-y', clip]);
    expect(made.code, made.stderr).toBe(0);
    sim = await startCameraSim({ clip, ...READ });
    expect(sim.video.mode).toBe('copy');
    const { frames, r } = await readFrames(sim.readUrl(), 10);
    expect(r.code, r.stderr).toBe(0);
    expect(frames).toBe(10);
  }, 30000);
});

describe('camera simulator: no orphans', () => {
  it('stop() ends every child it started', async () => {
    const sim = await startCameraSim({ clip: VTEST, ...READ });
    expect(runningSimChildren()).toBe(2);
    await sim.stop();
    expect(runningSimChildren()).toBe(0);
  }, 30000);

  it('a parent killed with SIGKILL leaves no relay or publisher behind', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'camsim-'));
    const script = path.join(dir, 'parent.mts');
    writeFileSync(script, `
      import { startCameraSim } from ${JSON.stringify(path.join(repoRoot, 'src/sim/camera-sim.ts'))};
      const sim = await startCameraSim({ clip: ${JSON.stringify(VTEST)}, ...${JSON.stringify(READ)} });
      process.stdout.write(JSON.stringify({ ready: true }) + '\\n');
      setInterval(() => {}, 1000);
    `);
    const parent = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('simulator in the child did not start')), 20000);
        parent.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('"ready"')) { clearTimeout(timer); resolve(); } });
        parent.once('exit', (code) => { clearTimeout(timer); reject(new Error(`child exited with ${code}`)); });
      });
      // tsx runs an esbuild service beside them; only ours count.
      const kids = childPids(parent.pid!).filter((pid) => ['python3', 'ffmpeg'].includes(procComm(pid)));
      expect(kids.length).toBe(2);
      parent.kill('SIGKILL');
      const deadline = Date.now() + 8000;
      while (kids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(kids.filter(alive)).toEqual([]);
    } finally {
      parent.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30000);
});

function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const stat = procStat(Number(d));
    if (stat && stat.ppid === pid) out.push(Number(d));
  }
  return out;
}

function procComm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** /proc/PID/stat is "pid (comm) state ppid …"; comm may hold spaces, so split after the ')'. */
function procStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state, ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}

/** A zombie counts as gone: it has exited, and who reaps it (the container's init) is not ours. */
function alive(pid: number): boolean {
  const s = procStat(pid);
  return s !== undefined && s.state !== 'Z';
}
