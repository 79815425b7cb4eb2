/**
 * ffmpeg as a decoder: discovery with a clear error when it is missing, spawning with an
 * argument array (never a shell), splitting raw-video stdout into frames, reading stream
 * geometry and errors from stderr, and making sure no ffmpeg outlives graphrun.
 */
import { spawn, execFile, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { promisify } from 'node:util';
import { allocFrameBuffer } from '../frames.js';
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
const live = new Set<ChildProcessWithoutNullStreams>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });
}

export function spawnFfmpeg(path: string, args: string[]): ChildProcessWithoutNullStreams {
  installExitHook();
  const child = spawn(path, args, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  child.stdin.on('error', () => undefined);
  return child;
}

/** Stop a child: SIGTERM, then SIGKILL after `graceMs`. Resolves when it has exited. */
export function killChild(child: ChildProcessWithoutNullStreams, graceMs = 2000): Promise<void> {
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
 * Cuts a byte stream into frames of `frameBytes`. Each frame gets its own shared buffer, filled
 * by copying pipe chunks into it: the one copy there has to be (chunks are 64 KiB pieces that
 * ignore frame boundaries), and after it the frame is never copied again.
 */
export class FrameSplitter {
  private buf: Buffer | undefined;
  private filled = 0;
  constructor(private readonly frameBytes: number, private readonly onFrame: (pixels: Buffer) => void) {}

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (!this.buf) { this.buf = allocFrameBuffer(this.frameBytes); this.filled = 0; }
      const n = Math.min(this.frameBytes - this.filled, chunk.length - off);
      chunk.copy(this.buf, this.filled, off, off + n);
      this.filled += n;
      off += n;
      if (this.filled === this.frameBytes) {
        const done = this.buf;
        this.buf = undefined;
        this.onFrame(done);
      }
    }
  }

  /** Bytes of an incomplete frame (a truncated stream leaves some). */
  get partial(): number {
    return this.buf ? this.filled : 0;
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
      if (this.section === 'input' && !this.input) this.input = g;
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
