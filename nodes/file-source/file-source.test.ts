import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { Frame, Packet } from '../../src/contract.js';
import { runningFfmpegCount } from '../../src/media/ffmpeg.js';
import { startGraph, waitFor } from '../../test/support/app.js';
import { mediaPath } from '../../test/support/media.js';
import { recorded } from '../../test/support/test-nodes.js';

let app: App | undefined;
afterEach(async () => { await app?.stop(); app = undefined; });

const clip = mediaPath('vtest_first20s_h264.mp4'); // 768x576, 10 fps, 200 frames

describe('file-source', () => {
  it('with realtime: false and a block edge delivers every frame of a 200-frame clip exactly once, in order', async () => {
    ({ app } = await startGraph(`
version: 1
name: every-frame
status: { enabled: false }
nodes:
  clip: { type: file-source, path: ${clip}, realtime: false, pixel_format: bgr24 }
  slow: { type: test-pass, delay_ms: 2, inputs: { in: { from: clip.frames, queue: { block: 2 } } } }
  rec: { type: test-recorder, inputs: { in: { from: slow.out, queue: { block: 2 } } } }
`));
    await app.runtime.finished;
    const got = recorded.get('rec')! as Packet<Frame>[];
    expect(got.map((p) => p.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(new Set(got.map((p) => p.data.pixels)).size).toBe(200); // 200 distinct buffers, none reused
    const f = got[0].data;
    expect(f).toMatchObject({ width: 768, height: 576, format: 'bgr24', stride: 768 * 3 });
    expect(f.pixels.length).toBe(768 * 576 * 3);
    // Packet time is file time: 10 fps → 100 ms apart, whatever the decoding speed.
    expect(got[199].captureTimeMs - got[0].captureTimeMs).toBe(19900);
    expect(app.runtime.edgeList().every((e) => e.dropped === 0)).toBe(true);
    // The pixels are the file's: frames 0 and 150 equal what ffmpeg decodes on its own.
    for (const n of [0, 150]) {
      const direct = execFileSync('ffmpeg', ['-v', 'error', '-i', clip, '-vf', `select=eq(n\\,${n})`, '-fps_mode', 'passthrough', '-frames:v', '1', '-pix_fmt', 'bgr24', '-f', 'rawvideo', '-'], { maxBuffer: 1 << 24 });
      expect(direct.length).toBe(768 * 576 * 3);
      expect(Buffer.compare(direct, got[n].data.pixels)).toBe(0);
    }
    const snap = app.runtime.snapshot().nodes.find((n) => n.id === 'clip')!;
    expect(snap.text).toBe('ended after 200 frames');
  });

  it('scales inside ffmpeg with size, records the transform, and caps the rate by file time with max_fps', async () => {
    ({ app } = await startGraph(`
version: 1
name: scaled
status: { enabled: false }
nodes:
  clip: { type: file-source, path: ${clip}, realtime: false, size: [384, 288], max_fps: 5 }
  rec: { type: test-recorder, inputs: { in: { from: clip.frames, queue: { block: 4 } } } }
`));
    await app.runtime.finished;
    const got = recorded.get('rec')! as Packet<Frame>[];
    expect(got).toHaveLength(100);
    expect(got[1].captureTimeMs - got[0].captureTimeMs).toBe(200);
    expect(got[0].data).toMatchObject({ width: 384, height: 288 });
    expect(got[0].data.source).toEqual({ width: 768, height: 576, scaleX: 2, scaleY: 2, offsetX: 0, offsetY: 0 });
  });

  it('plays a still image once, or repeats it with loop', async () => {
    ({ app } = await startGraph(`
version: 1
name: still
status: { enabled: false }
nodes:
  img: { type: file-source, path: ${mediaPath('dog.jpg')}, realtime: false }
  rec: { type: test-recorder, inputs: { in: { from: img.frames, queue: { block: 4 } } } }
`));
    await app.runtime.finished;
    expect(recorded.get('rec')).toHaveLength(1);
    expect((recorded.get('rec')![0] as Packet<Frame>).data.width).toBe(768);
  });

  it('loops a clip with increasing sequence numbers and paces it in real time', async () => {
    ({ app } = await startGraph(`
version: 1
name: loop
status: { enabled: false }
nodes:
  clip: { type: file-source, path: ${mediaPath('fall_sit_then_fall_indoor_320x240.mp4')}, loop: true, realtime: true }
  rec: { type: test-recorder, keep: false, inputs: { in: clip.frames } }
`));
    const rt = app.runtime;
    await new Promise((r) => setTimeout(r, 2500));
    const n = rt.runners.get('rec')!.stats.packetsIn;
    // 10 fps in real time: about 25 in 2.5 s (ffmpeg start-up takes some of it).
    expect(n).toBeGreaterThan(12);
    expect(n).toBeLessThan(35);
  });

  it('a clip truncated in the middle of a GOP: the frames before the cut arrive, no crash, the status and a log line say so', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'graphrun-trunc-'));
    const ts = path.join(dir, 'clip.ts');
    execFileSync('ffmpeg', ['-v', 'error', '-i', clip, '-c', 'copy', '-f', 'mpegts', ts]);
    const whole = readFileSync(ts);
    const cut = path.join(dir, 'cut.ts');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.55) + 77)); // not on a packet boundary
    const started = await startGraph(`
version: 1
name: truncated
status: { enabled: false }
nodes:
  clip: { type: file-source, path: ${cut}, realtime: false }
  rec: { type: test-recorder, keep: false, inputs: { in: { from: clip.frames, queue: { block: 4 } } } }
`);
    app = started.app;
    await app.runtime.finished;
    const n = app.runtime.runners.get('rec')!.stats.packetsIn;
    expect(n).toBeGreaterThan(80);
    expect(n).toBeLessThan(200);
    const node = app.runtime.snapshot().nodes.find((x) => x.id === 'clip')!;
    expect(node.errors).toBe(0);
    expect(node.text).toMatch(/^ended (with decode errors )?after \d+ frames.*(damaged or truncated|decode errors)/);
    expect(started.logs.some((l) => /decode errors|damaged or truncated/.test(l))).toBe(true);
  });

  it('a missing file or a file that is not video: a clear error on the node, retried, nothing crashes', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'graphrun-bad-'));
    writeFileSync(path.join(dir, 'noise.mp4'), Buffer.alloc(5000, 7));
    ({ app } = await startGraph(`
version: 1
name: bad-files
status: { enabled: false }
nodes:
  missing: { type: file-source, path: ${path.join(dir, 'nope.mp4')}, restart: { initial_ms: 50, max_ms: 100 } }
  noise: { type: file-source, path: ${path.join(dir, 'noise.mp4')}, restart: { initial_ms: 50, max_ms: 100 } }
  rec: { type: debug-sink, inputs: { in: [missing.frames, noise.frames] } }
`));
    const rt = app.runtime;
    await waitFor(() => rt.runners.get('missing')!.stats.restarts >= 1 && rt.runners.get('noise')!.stats.restarts >= 1, 15000, 'restarts');
    const snap = rt.snapshot().nodes;
    expect(snap.find((n) => n.id === 'missing')!.lastError).toBe(`file not found: ${path.join(dir, 'nope.mp4')}`);
    expect(snap.find((n) => n.id === 'noise')!.lastError).toMatch(/^cannot read noise\.mp4 as video: /);
    await app.stop();
    app = undefined;
    expect(runningFfmpegCount()).toBe(0);
  });
});
