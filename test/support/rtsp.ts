/** Helpers for tests that read the camera simulator through rtsp-source. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defineNode, Type, type Frame, type Packet } from '../../src/contract.js';
import { testRegistry } from './test-nodes.js';

/** A 1280x720 15 fps H.264 baseline clip whose every frame differs (testsrc2 has a counter). */
export function makeCounterClip(seconds = 10, size = '1280x720', fps = 15): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'graphrun-clip-'));
  const out = path.join(dir, `counter-${size}-${fps}.mp4`);
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${fps}:duration=${seconds}`,
    '-c:v', 'libx264', '-profile:v', 'baseline', '-level', '4.1', '-pix_fmt', 'yuv420p', '-g', String(fps), '-keyint_min', String(fps),
    '-sc_threshold', '0', '-tune', 'zerolatency', '-b:v', '2M', '-an', out]);
  return out;
}

export interface Seen { seq: number; at: number; hash: string; width: number; height: number; streamId: string }
export const seen = new Map<string, Seen[]>();

/** Records arrival time and a hash of each frame's pixels (to find duplicated frames). */
export const frameHasher = defineNode({
  type: 'test-frame-hasher',
  summary: 'Hashes every frame and keeps seq, arrival time and hash.',
  options: Type.Object({}),
  inputs: { frames: { kind: 'frame', description: 'Frames.', defaultQueue: { mode: 'drop_oldest', size: 64 } } },
  outputs: {},
  canPause: true,
  create(_cfg, ctx) {
    const list: Seen[] = [];
    seen.set(ctx.id, list);
    return {
      process(p: Packet) {
        const f = p.data as Frame;
        list.push({ seq: p.seq, at: Date.now(), hash: createHash('sha1').update(f.pixels).digest('hex'), width: f.width, height: f.height, streamId: p.streamId });
      },
    };
  },
});

export const rtspRegistry = testRegistry.with([frameHasher]);
