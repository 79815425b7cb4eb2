/**
 * A simulated garden camera behind a mediaMTX stand-in, for tests and for `graphrun sim`:
 * rtsp-relay.py (GStreamer's RTSP server; publish port + read port) and one ffmpeg per path
 * publishing a looped clip to it, the way the Raspberry Pi publishes H.264 over RTSP/TCP.
 *
 *   const sim = await startCameraSim({ clip, readUser: 'graphrun', readPass, publishUser: 'camera', publishPass });
 *   sim.readUrl('garden')   // rtsp://graphrun:…@127.0.0.1:PORT/garden
 *   await sim.stopPublisher('garden'); await sim.startPublisher('garden'); await sim.stop();
 *
 * Every child is registered and killed when the process exits; the relay also exits when its
 * stdin closes, so even a parent killed with SIGKILL leaves nothing behind (the publishers die
 * with the relay's connections).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface EncodeOptions {
  width: number;
  height: number;
  fps: number;
  /** ffmpeg bitrate syntax ('2M', '800k') or bits/s. Default 2M, the Pi's setting. */
  bitrate?: string | number;
}

export interface CameraSimOptions {
  /** The clip every path publishes, looped forever. */
  clip: string;
  /** Path names (rtsp://…/NAME). Default ['garden']. */
  paths?: string[];
  /** Paths that publish from the start; default all. The others answer 404 until startPublisher. */
  publish?: string[];
  /** 0 or undefined: a free port. The port stays the same across restartRelay. */
  readPort?: number;
  publishPort?: number;
  readUser: string;
  readPass: string;
  publishUser: string;
  publishPass: string;
  /**
   * Re-encode to H.264 baseline at this size and rate (libx264, keyframe every second), as the
   * Pi's encoder sends. Without it the clip is copied when it already is H.264 baseline with
   * keyframes at least every 2 s, and otherwise re-encoded at its own size and rate.
   */
  encode?: EncodeOptions;
  /** Seconds without data before the relay counts a publisher as gone (mediaMTX readTimeout). Default 10. */
  readTimeoutS?: number;
  /** How long start-up (relay ready, publishers streaming) may take. Default 20000 ms. */
  startTimeoutMs?: number;
  /** Called with every relay event as it arrives. */
  onEvent?: (e: RelayEvent) => void;
  python?: string;
  ffmpeg?: string;
  ffprobe?: string;
}

/** One JSON line of the relay's stderr: listening, publisher_connected, publisher_streaming,
 * publisher_gone, reader_connected, reader_dropped, reader_gone, stopping, exit, error; plus
 * relay_exited, added here when the relay process ends (whatever the reason). */
export interface RelayEvent {
  t: number;
  event: string;
  path?: string;
  [key: string]: unknown;
}

export interface VideoPlan {
  mode: 'copy' | 'encode';
  why: string;
  encode?: Required<EncodeOptions>;
}

export interface CameraSim {
  readonly host: string;
  readonly readPort: number;
  readonly publishPort: number;
  readonly paths: readonly string[];
  readonly video: VideoPlan;
  /** rtsp://readUser:readPass@127.0.0.1:port/path (default: the first path). */
  readUrl(path?: string): string;
  /** Stop publishing (all paths without an argument); resolves once the relay saw it go.
   * `abrupt` kills ffmpeg with SIGKILL (a camera losing power) instead of a clean TEARDOWN. */
  stopPublisher(path?: string, opts?: { abrupt?: boolean }): Promise<void>;
  /** Start publishing (all paths without an argument); resolves once the relay gets frames. */
  startPublisher(path?: string): Promise<void>;
  /** Freeze the publisher (SIGSTOP): its connection stays open but no data flows, like a Wi-Fi
   * stall. Longer than readTimeoutS, the relay drops it and its readers; after resume it then
   * finds its connection gone and reconnects, as the Pi does. */
  pausePublisher(path?: string): void;
  resumePublisher(path?: string): void;
  /** Stop and start the relay on the same ports; resolves when the publishers are back. */
  restartRelay(): Promise<void>;
  /** Stop the relay; publishers keep retrying as a camera would, until startRelay. */
  stopRelay(): Promise<void>;
  startRelay(): Promise<void>;
  /** Stop everything; idempotent. */
  stop(): Promise<void>;
  /** Every relay event so far, in order. */
  readonly events: readonly RelayEvent[];
  /** The first event from index `since` on (default: any so far) that matches. */
  waitForEvent(match: (e: RelayEvent) => boolean, timeoutMs?: number, since?: number): Promise<RelayEvent>;
}

export class CameraSimError extends Error {}

/* ---------------------------------------------------------------------------------------------
 * Child registry: whatever this module started dies with the process.
 */
const children = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): ChildProcess {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });
  }
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.once('error', () => children.delete(child));
  return child;
}

/** Children of this module still running (for tests that check nothing is left). */
export function runningSimChildren(): number {
  return children.size;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function kill(child: ChildProcess, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    child.kill(signal);
    // A paused (SIGSTOPped) publisher would sit on the signal until the grace ran out.
    child.kill('SIGCONT');
  });
}

/* ---------------------------------------------------------------------------------------------
 * The relay script and the publisher's ffmpeg arguments.
 */

/** rtsp-relay.py beside this file (running from src/) or in src/sim/ of the package (from dist/). */
export function relayScriptPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'rtsp-relay.py'), path.resolve(here, '../../../src/sim/rtsp-relay.py')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new CameraSimError(`rtsp-relay.py not found (looked in ${candidates.join(', ')})`);
  return found;
}

const GST_HINT =
  'the camera simulator needs GStreamer\'s RTSP server for Debian\'s python3: ' +
  'apt-get install -y python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad';

export interface ClipInfo { codec: string; profile: string; width: number; height: number; fps: number; maxKeyGapS: number }

async function probeClip(ffprobe: string, clip: string): Promise<ClipInfo> {
  let stream: Record<string, unknown>;
  let keyTimes: number[];
  try {
    const { stdout } = await execFileP(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-show_entries',
      'stream=codec_name,profile,width,height,r_frame_rate,duration', '-of', 'json', clip], { timeout: 15000 });
    stream = (JSON.parse(stdout) as { streams?: Record<string, unknown>[] }).streams?.[0] ?? {};
    // Keyframe times over the first 10 s: enough to tell a 1 s GOP from a clip with one IDR.
    const keys = await execFileP(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-skip_frame', 'nokey',
      '-read_intervals', '%+10', '-show_entries', 'frame=pts_time', '-of', 'csv=p=0', clip], { timeout: 15000 });
    keyTimes = keys.stdout.split('\n').map((l) => Number.parseFloat(l)).filter((n) => Number.isFinite(n));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new CameraSimError(`${ffprobe} not found: apt-get install -y ffmpeg`);
    throw new CameraSimError(`cannot read clip ${clip}: ${(e.stderr || e.message).trim().split('\n')[0]}`);
  }
  if (!stream.codec_name) throw new CameraSimError(`clip ${clip} has no video stream`);
  const [num, den] = String(stream.r_frame_rate ?? '0/1').split('/').map(Number);
  const duration = Number(stream.duration) || 0;
  const span = Math.min(10, duration || 10);
  let maxKeyGapS = keyTimes.length ? keyTimes[0] : span;
  for (let i = 1; i < keyTimes.length; i++) maxKeyGapS = Math.max(maxKeyGapS, keyTimes[i] - keyTimes[i - 1]);
  if (keyTimes.length) maxKeyGapS = Math.max(maxKeyGapS, span - keyTimes[keyTimes.length - 1]);
  return {
    codec: String(stream.codec_name),
    profile: String(stream.profile ?? ''),
    width: Number(stream.width) || 0,
    height: Number(stream.height) || 0,
    fps: den ? num / den : 0,
    maxKeyGapS,
  };
}

export function planVideo(info: ClipInfo, encode?: EncodeOptions): VideoPlan {
  const full = (e: EncodeOptions): Required<EncodeOptions> => ({ bitrate: '2M', ...e });
  if (encode) return { mode: 'encode', why: `re-encoding to ${encode.width}x${encode.height} at ${encode.fps} fps as asked`, encode: full(encode) };
  const baseline = info.codec === 'h264' && /baseline/i.test(info.profile);
  // A reader that joins mid-stream decodes from the next keyframe only; a clip with one IDR
  // would leave it blind for the rest of the loop.
  if (baseline && info.maxKeyGapS <= 2) return { mode: 'copy', why: `clip is H.264 ${info.profile} with keyframes every ≤ ${info.maxKeyGapS.toFixed(1)} s` };
  const fps = Math.max(1, Math.round(info.fps || 10));
  const why = baseline
    ? `clip's keyframes are up to ${info.maxKeyGapS.toFixed(1)} s apart`
    : `clip is ${info.codec} ${info.profile || ''}`.trimEnd() + ', not H.264 baseline';
  // yuv420p (what baseline decoders expect) needs even dimensions.
  const even = (n: number) => Math.max(2, n - (n % 2));
  return { mode: 'encode', why: `${why}: re-encoding at its own size and rate`, encode: full({ width: even(info.width), height: even(info.height), fps }) };
}

export function publisherArgs(clip: string, plan: VideoPlan, url: string): string[] {
  const input = ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-re', '-stream_loop', '-1', '-i', clip, '-map', '0:v:0', '-an'];
  const output = ['-f', 'rtsp', '-rtsp_transport', 'tcp', url];
  if (plan.mode === 'copy' || !plan.encode) return [...input, '-c:v', 'copy', ...output];
  const { width, height, fps, bitrate } = plan.encode;
  const b = String(bitrate);
  return [
    ...input,
    '-vf', `fps=${fps},scale=${width}:${height},format=yuv420p`,
    '-c:v', 'libx264', '-profile:v', 'baseline', '-level:v', '4.1', '-preset', 'veryfast', '-tune', 'zerolatency',
    // A fixed one-second GOP like the Pi's encoder (no extra keyframes at scene cuts).
    '-g', String(fps), '-keyint_min', String(fps), '-sc_threshold', '0',
    '-b:v', b, '-maxrate', b, '-bufsize', b,
    ...output,
  ];
}

function rtspUrl(user: string, pass: string, host: string, port: number, p: string): string {
  return `rtsp://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@${host}:${port}/${p}`;
}

/* ---------------------------------------------------------------------------------------------
 * The simulator.
 */

interface Publisher {
  path: string;
  wanted: boolean;
  child?: ChildProcess;
  retry?: NodeJS.Timeout;
  backoffMs: number;
  stderrTail: string[];
}

const RELAY_STOP_GRACE_MS = 3000;
const PUBLISHER_STOP_GRACE_MS = 3000;

export async function startCameraSim(opts: CameraSimOptions): Promise<CameraSim> {
  const sim = new Sim(opts);
  try {
    await sim.init();
  } catch (err) {
    await sim.stop();
    throw err;
  }
  return sim;
}

class Sim implements CameraSim {
  readonly host = '127.0.0.1';
  readonly paths: readonly string[];
  readonly events: RelayEvent[] = [];
  readPort: number;
  publishPort: number;
  video: VideoPlan = { mode: 'copy', why: 'not probed yet' };
  private relay?: ChildProcess;
  private relayStderrTail: string[] = [];
  private publishers = new Map<string, Publisher>();
  private waiters = new Set<() => void>();
  private stopped = false;
  private readonly python: string;
  private readonly ffmpeg: string;
  private readonly ffprobe: string;
  private readonly startTimeoutMs: number;

  constructor(private readonly opts: CameraSimOptions) {
    this.paths = opts.paths?.length ? [...opts.paths] : ['garden'];
    for (const p of this.paths) {
      if (!/^[A-Za-z0-9_-]+$/.test(p)) throw new CameraSimError(`path "${p}": letters, digits, _ and - only`);
      this.publishers.set(p, { path: p, wanted: false, backoffMs: 0, stderrTail: [] });
    }
    if (opts.readUser === opts.publishUser) throw new CameraSimError('readUser and publishUser must differ (read and publish permissions are separate)');
    this.readPort = opts.readPort ?? 0;
    this.publishPort = opts.publishPort ?? 0;
    this.python = opts.python ?? process.env.GRAPHRUN_SIM_PYTHON ?? '/usr/bin/python3';
    this.ffmpeg = opts.ffmpeg ?? 'ffmpeg';
    this.ffprobe = opts.ffprobe ?? (this.ffmpeg.endsWith('ffmpeg') ? this.ffmpeg.slice(0, -'ffmpeg'.length) + 'ffprobe' : 'ffprobe');
    this.startTimeoutMs = opts.startTimeoutMs ?? 20000;
  }

  async init(): Promise<void> {
    if (!existsSync(this.opts.clip)) throw new CameraSimError(`clip not found: ${this.opts.clip}`);
    this.video = planVideo(await probeClip(this.ffprobe, this.opts.clip), this.opts.encode);
    await this.startRelay();
    const initial = this.opts.publish ?? this.paths;
    await Promise.all(initial.map((p) => this.startPublisher(p)));
  }

  readUrl(p: string = this.paths[0]): string {
    this.known(p);
    return rtspUrl(this.opts.readUser, this.opts.readPass, this.host, this.readPort, p);
  }

  private known(p: string): Publisher {
    const pub = this.publishers.get(p);
    if (!pub) throw new CameraSimError(`unknown path "${p}" (paths: ${this.paths.join(', ')})`);
    return pub;
  }

  /* --- events ------------------------------------------------------------------------------- */

  private onEvent(e: RelayEvent): void {
    this.events.push(e);
    this.opts.onEvent?.(e);
    for (const w of [...this.waiters]) w();
  }

  waitForEvent(match: (e: RelayEvent) => boolean, timeoutMs = 10000, since = 0): Promise<RelayEvent> {
    return new Promise((resolve, reject) => {
      let next = since;
      const check = (): boolean => {
        for (; next < this.events.length; next++) {
          if (match(this.events[next])) {
            done();
            resolve(this.events[next]);
            return true;
          }
        }
        return false;
      };
      const timer = setTimeout(() => { done(); reject(new CameraSimError(`timed out after ${timeoutMs} ms waiting for a relay event${this.diagnostics()}`)); }, timeoutMs);
      const done = () => { clearTimeout(timer); this.waiters.delete(waiter); };
      // Nothing more will come once stopped: waiting out the timeout would only hold callers up.
      const waiter = () => {
        if (!check() && this.stopped) { done(); reject(new CameraSimError('camera simulator stopped')); }
      };
      this.waiters.add(waiter);
      waiter();
    });
  }

  private diagnostics(): string {
    const parts: string[] = [];
    if (this.relayStderrTail.length) parts.push(`relay: ${this.relayStderrTail.slice(-5).join(' | ')}`);
    for (const pub of this.publishers.values()) {
      if (pub.stderrTail.length) parts.push(`ffmpeg ${pub.path}: ${pub.stderrTail.slice(-3).join(' | ')}`);
    }
    return parts.length ? ` (${parts.join('; ')})` : '';
  }

  /* --- relay -------------------------------------------------------------------------------- */

  async startRelay(): Promise<void> {
    if (this.stopped) throw new CameraSimError('camera simulator is stopped');
    if (this.relay && !exited(this.relay)) return;
    const script = relayScriptPath();
    const args = [
      script,
      '--host', this.host,
      '--publish-port', String(this.publishPort),
      '--read-port', String(this.readPort),
      '--paths', this.paths.join(','),
      '--publish-user', this.opts.publishUser,
      '--read-user', this.opts.readUser,
      '--read-timeout', String(this.opts.readTimeoutS ?? 10),
      '--exit-on-stdin-close',
    ];
    this.relayStderrTail = [];
    // Passwords travel in the environment so they do not show in `ps`.
    const child = track(spawn(this.python, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, SIM_PUBLISH_PASS: this.opts.publishPass, SIM_READ_PASS: this.opts.readPass, PYTHONUNBUFFERED: '1' },
    }));
    this.relay = child;
    child.stdin!.on('error', () => undefined);
    // 'close', not 'exit': the relay's last stderr lines are events too, and come first.
    child.once('close', (code, signal) => this.onEvent({ t: Date.now() / 1000, event: 'relay_exited', code, signal }));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      let e: RelayEvent | undefined;
      if (line.startsWith('{')) {
        try { e = JSON.parse(line) as RelayEvent; } catch { e = undefined; }
      }
      if (e && typeof e.event === 'string') this.onEvent(e);
      else {
        this.relayStderrTail.push(line);
        if (this.relayStderrTail.length > 40) this.relayStderrTail.shift();
      }
    });
    const ready = new Promise<{ publishPort: number; readPort: number }>((resolve, reject) => {
      const fail = (why: string) => {
        const tail = this.relayStderrTail.join('\n');
        const gi = /No module named 'gi'|Namespace GstRtspServer|Namespace Gst\b|typelib/i.test(tail);
        const errEvent = [...this.events].reverse().find((ev) => ev.event === 'error');
        reject(new CameraSimError(gi ? GST_HINT
          : `rtsp-relay ${why}${errEvent ? `: ${String(errEvent.message)}` : ''}${tail ? `\n${tail}` : ''}`));
      };
      const timer = setTimeout(() => fail(`not ready after ${this.startTimeoutMs} ms`), this.startTimeoutMs);
      child.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new CameraSimError(err.code === 'ENOENT' ? `${this.python} not found; ${GST_HINT}` : `rtsp-relay: ${err.message}`));
      });
      child.once('close', (code, signal) => { clearTimeout(timer); fail(`exited (${signal ?? `code ${code}`}) before it was ready`); });
      createInterface({ input: child.stdout! }).once('line', (line) => {
        clearTimeout(timer);
        try {
          const r = JSON.parse(line) as { ready?: boolean; publishPort: number; readPort: number };
          if (r.ready) resolve(r);
          else fail(`said: ${line}`);
        } catch {
          fail(`said: ${line}`);
        }
      });
    });
    const r = await ready;
    // Ports picked by the system are kept, so a restarted relay answers on the same URLs.
    this.publishPort = r.publishPort;
    this.readPort = r.readPort;
    // Cameras waiting to retry reconnect now instead of after their backoff.
    for (const pub of this.publishers.values()) {
      if (pub.wanted && !pub.child) {
        if (pub.retry) clearTimeout(pub.retry);
        pub.retry = undefined;
        pub.backoffMs = 0;
        this.spawnPublisher(pub);
      }
    }
  }

  async stopRelay(): Promise<void> {
    const child = this.relay;
    this.relay = undefined;
    if (child) await kill(child, RELAY_STOP_GRACE_MS);
  }

  async restartRelay(): Promise<void> {
    await this.stopRelay();
    const since = this.events.length;
    await this.startRelay();
    await Promise.all([...this.publishers.values()].filter((p) => p.wanted).map((p) => this.streaming(p, since)));
  }

  /* --- publishers --------------------------------------------------------------------------- */

  private streaming(pub: Publisher, since: number): Promise<RelayEvent> {
    return this.waitForEvent((e) => e.event === 'publisher_streaming' && e.path === pub.path, this.startTimeoutMs, since);
  }

  private spawnPublisher(pub: Publisher): void {
    const url = rtspUrl(this.opts.publishUser, this.opts.publishPass, this.host, this.publishPort, pub.path);
    const child = track(spawn(this.ffmpeg, publisherArgs(this.opts.clip, this.video, url), { stdio: ['ignore', 'ignore', 'pipe'] }));
    pub.child = child;
    pub.stderrTail = [];
    createInterface({ input: child.stderr! }).on('line', (line) => {
      pub.stderrTail.push(line.split(url).join(`rtsp://${this.opts.publishUser}:***@${this.host}:${this.publishPort}/${pub.path}`));
      if (pub.stderrTail.length > 20) pub.stderrTail.shift();
    });
    const startedAt = Date.now();
    const onGone = () => {
      if (pub.child !== child) return;
      pub.child = undefined;
      if (!pub.wanted || this.stopped) return;
      // A camera retries until it gets through (the Pi's service restarts it), backing off
      // while the relay is down; a run that streamed for a while starts over at once.
      pub.backoffMs = Date.now() - startedAt > 10000 ? 0 : Math.min(2000, Math.max(250, pub.backoffMs * 2));
      pub.retry = setTimeout(() => {
        pub.retry = undefined;
        if (pub.wanted && !this.stopped && !pub.child) this.spawnPublisher(pub);
      }, pub.backoffMs);
    };
    child.once('exit', onGone);
    child.once('error', (err: NodeJS.ErrnoException) => {
      pub.stderrTail.push(err.code === 'ENOENT' ? `${this.ffmpeg} not found: apt-get install -y ffmpeg` : err.message);
      onGone();
    });
  }

  async startPublisher(p?: string): Promise<void> {
    if (this.stopped) throw new CameraSimError('camera simulator is stopped');
    const pubs = p === undefined ? [...this.publishers.values()] : [this.known(p)];
    const since = this.events.length;
    const waitFor = pubs.filter((pub) => !(pub.wanted && pub.child && this.pathState(pub.path) === 'streaming'));
    for (const pub of waitFor) {
      pub.wanted = true;
      pub.backoffMs = 0;
      if (pub.retry) { clearTimeout(pub.retry); pub.retry = undefined; }
      if (!pub.child) this.spawnPublisher(pub);
    }
    await Promise.all(waitFor.map((pub) => this.streaming(pub, since).catch((err: Error) => {
      throw new CameraSimError(`publisher for "${pub.path}" did not start: ${err.message}`);
    })));
  }

  pausePublisher(p?: string): void {
    for (const pub of p === undefined ? this.publishers.values() : [this.known(p)]) pub.child?.kill('SIGSTOP');
  }

  resumePublisher(p?: string): void {
    for (const pub of p === undefined ? this.publishers.values() : [this.known(p)]) pub.child?.kill('SIGCONT');
  }

  async stopPublisher(p?: string, o: { abrupt?: boolean } = {}): Promise<void> {
    const pubs = p === undefined ? [...this.publishers.values()] : [this.known(p)];
    const since = this.events.length;
    const waits: Promise<unknown>[] = [];
    for (const pub of pubs) {
      pub.wanted = false;
      if (pub.retry) { clearTimeout(pub.retry); pub.retry = undefined; }
      const child = pub.child;
      if (!child) continue;
      const relayUp = this.relay !== undefined && !exited(this.relay);
      const wasPublishing = this.pathState(pub.path) !== 'idle';
      await kill(child, PUBLISHER_STOP_GRACE_MS, o.abrupt ? 'SIGKILL' : 'SIGTERM');
      if (relayUp && wasPublishing) {
        waits.push(this.waitForEvent((e) => e.event === 'publisher_gone' && e.path === pub.path, 5000, since));
      }
    }
    await Promise.all(waits);
  }

  /** The relay's last word on this path's publisher. */
  private pathState(p: string): 'idle' | 'connected' | 'streaming' {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i];
      if (e.event === 'listening' || e.event === 'relay_exited') return 'idle';
      if (e.path !== p) continue;
      if (e.event === 'publisher_gone') return 'idle';
      if (e.event === 'publisher_connected') return 'connected';
      if (e.event === 'publisher_streaming') return 'streaming';
    }
    return 'idle';
  }

  /* --- stop --------------------------------------------------------------------------------- */

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of [...this.waiters]) w();
    const kills: Promise<void>[] = [];
    for (const pub of this.publishers.values()) {
      pub.wanted = false;
      if (pub.retry) { clearTimeout(pub.retry); pub.retry = undefined; }
      if (pub.child) kills.push(kill(pub.child, PUBLISHER_STOP_GRACE_MS));
    }
    await Promise.all(kills);
    await this.stopRelay();
  }
}
