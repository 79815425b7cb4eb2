/** Test media for the benchmarks, and decoding it with ffmpeg the way the sources do. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { mirrorDirs } from '../../src/assets.js';

/** `name` in the media mirrors ($GRAPHRUN_MEDIA_MIRROR, ../shared/media), or undefined. */
export function findMedia(name: string): string | undefined {
  return mirrorDirs('sample').map((d) => path.join(d, name)).find((p) => existsSync(p));
}

/** ffmpeg arguments that decode `file` to rgb24 raw frames on stdout, as file-source decodes (every frame, no rate conversion). */
function rawArgs(file: string): string[] {
  return ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', file, '-an', '-sn', '-dn', '-fps_mode', 'passthrough', '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1'];
}

/**
 * Bare decode: ffmpeg decodes the whole file to rgb24 into a pipe that this process reads and
 * throws away. Frames counted from the bytes; `ms` from spawn to exit (wall clock) and
 * `firstMs` from spawn to the first byte (ffmpeg's start-up, probing and the first frame), so
 * (ms − firstMs) / (frames − 1) is the steady cost of a frame.
 */
export function decodeToNowhere(file: string, width: number, height: number): Promise<{ frames: number; ms: number; firstMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('ffmpeg', rawArgs(file), { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let firstMs = NaN;
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      if (bytes === 0) firstMs = performance.now() - t0;
      bytes += c.length;
    });
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) reject(new Error(`ffmpeg could not decode ${file} (exit ${code}): ${err.trim().split('\n').pop()}`));
      else resolve({ frames: bytes / (width * height * 3), ms, firstMs });
    });
  });
}

/** The file's rgb24 frames one by one (the same buffer each time: use it before asking for the next). */
export async function* rawFrames(file: string, width: number, height: number): AsyncGenerator<Buffer> {
  const child = spawn('ffmpeg', rawArgs(file), { stdio: ['ignore', 'pipe', 'ignore'] });
  const frame = Buffer.allocUnsafe(width * height * 3);
  let filled = 0;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      let at = 0;
      while (at < chunk.length) {
        const n = Math.min(frame.length - filled, chunk.length - at);
        chunk.copy(frame, filled, at, at + n);
        filled += n;
        at += n;
        if (filled === frame.length) {
          filled = 0;
          yield frame;
        }
      }
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
