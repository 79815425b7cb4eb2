/**
 * ffmpeg as a decoder: discovery with a clear error when it is missing, spawning with an
 * argument array (never a shell), splitting raw-video stdout into frames, reading stream
 * geometry and errors from stderr, and making sure no ffmpeg outlives graphrun.
 */
import { spawn, execFile, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { discardFrame, FramePool } from '../frames.js';
import type { PixelFormat } from '../contract.js';
import { redactSecrets } from '../redact.js';

const execFileP = promisify(execFile);

export class FfmpegMissingError extends Error {}

export interface FfmpegInfo { path: string; version: string; major: number }

const infoCache = new Map<string, Promise<FfmpegInfo>>();

/** Finds ffmpeg (or the given path) and its version; rejects with how to install it. */
export function findFfmpeg(path = 'ffmpeg'): Promise<FfmpegInfo> {
  let p = infoCache.get(path);
  if (!p) {
    p = execFileP(path, ['-hide_banner', '-version'], { timeout: 10000 }).then(
      ({ stdout }) => {
        const m = /ffmpeg version (?:n)?(\d+)\.(\d+)?\S*/.exec(stdout);
        return { path, version: m ? m[0].slice('ffmpeg version '.length) : 'unknown', major: m ? Number(m[1]) : 0 };
      },
      (err: NodeJS.ErrnoException) => {
        infoCache.delete(path);
        throw new FfmpegMissingError(err.code === 'ENOENT'
          ? `ffmpeg not found (${path === 'ffmpeg' ? 'not on PATH' : path}): install it (Debian/Ubuntu: apt-get install ffmpeg) or set ffmpeg_path`
          : `ffmpeg at ${path} does not run: ${err.message}`);
      },
    );
    infoCache.set(path, p);
  }
  return p;
}

export function ffprobePathFor(ffmpegPath: string): string {
  return ffmpegPath.endsWith('ffmpeg') ? ffmpegPath.slice(0, -'ffmpeg'.length) + 'ffprobe' : 'ffprobe';
}

/** Every ffmpeg we started; killed if the process exits without stopping them (no orphans). */
export type FfmpegChild = ChildProcessByStdio<null, null, Readable>;
const live = new Set<FfmpegChild>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });
}

/** Spawn ffmpeg (argument array, no shell); only stderr is piped: frames come by RawVideoReader. */
export function spawnFfmpeg(path: string, args: string[]): FfmpegChild {
  installExitHook();
  const child = spawn(path, args, { stdio: ['ignore', 'ignore', 'pipe'], windowsHide: true });
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

/** Stop a child: SIGTERM, then SIGKILL after `graceMs`. Resolves when it has exited. */
export function killChild(child: FfmpegChild, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    child.kill('SIGTERM');
  });
}

export function runningFfmpegCount(): number {
  return live.size;
}

/**
 * Reads ffmpeg's raw video straight into frame memory. ffmpeg writes to a Unix socket it listens
 * on; we connect with `onread`, so each read lands in the current frame's pooled buffer at its
 * fill offset: no intermediate chunks, no copy in JavaScript, no fresh memory per read. (With a
 * plain stdout pipe, Node read 64 KiB chunks into new allocations and copied them: 4-10 ms of CPU
 * per 1280x720 frame here, most of it page faults; this way it is about 1 ms.)
 */
export class RawVideoReader {
  readonly socketPath: string;
  private readonly dir: string;
  private socket: net.Socket | undefined;
  private pool: FramePool | undefined;
  private frameBytes = 0;
  private buf: Buffer | undefined;
  private filled = 0;
  private closed = false;
  private connected = false;
  private endResolve!: () => void;
  private readonly endPromise = new Promise<void>((r) => { this.endResolve = r; });
  frames = 0;

  /** `onFrame` returns false to pause reading (ffmpeg then blocks on its socket); see `resume`. */
  constructor(private readonly onFrame: (pixels: Buffer) => boolean | void) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'graphrun-'));
    this.socketPath = path.join(this.dir, 'frames.sock');
  }

  /** ffmpeg output arguments: raw video to our socket (pixel format and filters come before). */
  outputArgs(): string[] {
    return ['-f', 'rawvideo', '-listen', '1', `unix:${this.socketPath}`];
  }

  /** Start reading once the frame size is known; retries until ffmpeg listens. */
  connect(frameBytes: number): void {
    if (this.closed || this.frameBytes) return;
    this.frameBytes = frameBytes;
    this.pool = new FramePool(frameBytes);
    const attempt = () => {
      if (this.closed) return;
      let connected = false;
      const sock = net.connect({
        path: this.socketPath,
        onread: { buffer: () => this.target(), callback: (n: number) => this.onRead(n) },
      });
      sock.once('connect', () => { connected = true; this.connected = true; this.socket = sock; });
      sock.on('error', () => { if (!connected && !this.closed) setTimeout(attempt, 20); });
      sock.once('close', () => { if (connected) this.endResolve(); });
    };
    attempt();
  }

  private target(): Uint8Array {
    if (!this.buf) { this.buf = this.pool!.take(); this.filled = 0; }
    return this.buf.subarray(this.filled);
  }

  private onRead(n: number): boolean {
    this.filled += n;
    if (this.filled < this.frameBytes || !this.buf) return true;
    const done = this.buf;
    this.buf = undefined;
    this.frames++;
    return this.onFrame(done) !== false;
  }

  resume(): void {
    this.socket?.resume();
  }

  /**
   * After ffmpeg exited: resolves once every byte it wrote has been read (the socket may still
   * hold frames, e.g. while reading is paused by a full block edge); at once if it never
   * connected.
   */
  drained(): Promise<void> {
    return this.connected && !this.closed ? this.endPromise : Promise.resolve();
  }

  /** Bytes of an incomplete frame (a truncated stream leaves some). */
  get partial(): number {
    return this.buf ? this.filled : 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket?.destroy();
    if (this.buf) discardFrame(this.buf);
    this.buf = undefined;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface StreamGeometry { width: number; height: number; fps?: number }

/**
 * Reads ffmpeg's stderr (at `-loglevel info`): input and output video geometry, and the last
 * lines, which say why it stopped. Lines pass through `redactSecrets` before anything keeps them.
 */
export class StderrReader {
  input: StreamGeometry | undefined;
  output: StreamGeometry | undefined;
  private section: 'input' | 'output' | undefined;
  private rest = '';
  readonly tail: string[] = [];
  onGeometry: (() => void) | undefined;
  onInput: (() => void) | undefined;
  onLine: ((line: string) => void) | undefined;

  push(chunk: Buffer): void {
    const text = this.rest + chunk.toString('utf8');
    const lines = text.split(/\r?\n|\r/);
    this.rest = lines.pop() ?? '';
    for (const raw of lines) this.line(raw);
  }

  private line(raw: string): void {
    const line = redactSecrets(raw.trim());
    if (!line) return;
    if (line.startsWith('Input #')) this.section = 'input';
    else if (line.startsWith('Output #')) this.section = 'output';
    const m = /Stream #\d+:\d+.*?: Video: .*?, (\d{2,5})x(\d{2,5})/.exec(line);
    if (m && this.section) {
      const fps = /, ([\d.]+) (?:fps|tbr)/.exec(line);
      const g = { width: Number(m[1]), height: Number(m[2]), fps: fps ? Number(fps[1]) : undefined };
      if (this.section === 'input' && !this.input) { this.input = g; this.onInput?.(); }
      if (this.section === 'output' && !this.output) { this.output = g; this.onGeometry?.(); }
    }
    this.tail.push(line);
    if (this.tail.length > 20) this.tail.shift();
    this.onLine?.(line);
  }
}

/** Why did an ffmpeg reading a stream stop? A short, human reason from its last lines. */
export function classifyExit(tail: readonly string[], code: number | null, signal: string | null): string {
  const text = tail.join('\n');
  const rules: [RegExp, string][] = [
    [/401 Unauthorized|authorization failed/i, '401 unauthorized'],
    [/403 Forbidden/i, '403 forbidden'],
    [/404 Not Found|Server returned 404|No such file or directory/i, '404 not found'],
    [/Connection refused/i, 'connection refused'],
    [/Connection timed out|Operation timed out|timed? ?out/i, 'timeout'],
    [/No route to host|Network is unreachable/i, 'network unreachable'],
    [/Name or service not known|Temporary failure in name resolution|Failed to resolve/i, 'cannot resolve host'],
    [/Connection reset by peer|Broken pipe/i, 'connection reset'],
    [/Invalid data found when processing input|Invalid argument|could not find codec parameters|error while decoding|non-existing PPS|no frame!/i, 'invalid data from server'],
    [/Server returned 5\d\d|500 Internal/i, 'server error'],
  ];
  for (const [re, reason] of rules) if (re.test(text)) return reason;
  if (signal) return `ffmpeg killed (${signal})`;
  if (code === 0) return 'stream ended';
  const last = tail[tail.length - 1];
  return last ? `ffmpeg exited ${code}: ${last.slice(0, 160)}` : `ffmpeg exited ${code}`;
}

export function bytesPerPixelOf(fmt: PixelFormat): number {
  return fmt === 'gray8' ? 1 : 3;
}

/**
 * The video filter chain: cap the rate by dropping (never duplicating) frames, then scale.
 * The `select` keeps a frame when it starts a new 1/max_fps slot, so 15 fps capped to 10 gives
 * 10, not 7.5, and a stall stays a gap instead of becoming a burst of copies.
 */
export function videoFilter(opts: { maxFps?: number; size?: [number, number] }): string | undefined {
  const parts: string[] = [];
  if (opts.maxFps && opts.maxFps > 0) {
    const f = opts.maxFps;
    parts.push(`select='isnan(prev_selected_t)+gt(floor(t*${f}),floor(prev_selected_t*${f}))'`);
  }
  if (opts.size) parts.push(`scale=${opts.size[0]}:${opts.size[1]}:flags=bilinear`);
  return parts.length ? parts.join(',') : undefined;
}

/** Process ids of the ffmpeg children alive now (benchmarks read their CPU time). */
export function liveFfmpegPids(): number[] {
  return [...live].map((c) => c.pid).filter((p): p is number => typeof p === 'number');
}
