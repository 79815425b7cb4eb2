/**
 * rtsp-source in steady state through the camera simulator (the mediaMTX stand-in): a 720p
 * 15 fps H.264 baseline stream for 60 s.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { startCameraSim, type CameraSim } from '../src/sim/camera-sim.js';
import { startGraph, waitFor } from './support/app.js';
import { makeCounterClip, rtspRegistry, seen } from './support/rtsp.js';

let sim: CameraSim | undefined;
let app: App | undefined;
afterAll(async () => { await app?.stop(); await sim?.stop(); });

describe('rtsp-source steady state', () => {
  it('delivers at least 95% of a 720p 15 fps stream over 60 s, each frame once', async () => {
    sim = await startCameraSim({ clip: makeCounterClip(10), readUser: 'graphrun', readPass: 'read-pw-7x', publishUser: 'camera', publishPass: 'pub-pw-9y' });
    expect(sim.video.mode).toBe('copy');
    ({ app } = await startGraph(`
version: 1
name: steady
status: { enabled: false }
nodes:
  cam:
    type: rtsp-source
    url: \${CAM_URL}
  hash: { type: test-frame-hasher, inputs: { frames: { from: cam.frames, queue: { drop_oldest: 64 } } } }
`, { registry: rtspRegistry, env: { CAM_URL: sim.readUrl('garden') } }));
    const list = () => seen.get('hash') ?? [];
    await waitFor(() => list().length > 0, 20000, 'first frame');
    const t0 = list()[0].at;
    await new Promise((r) => setTimeout(r, 60000));
    const window = list().filter((s) => s.at - t0 < 60000);
    const expected = 60 * 15;
    const ratio = window.length / expected;
    console.log(`rtsp steady: ${window.length} frames in 60 s (${(ratio * 100).toFixed(1)}% of ${expected})`);
    expect(ratio).toBeGreaterThanOrEqual(0.95);
    expect(window.length).toBeLessThanOrEqual(expected + 15); // never more than the camera sent
    // Each frame once: sequence numbers consecutive, and no frame identical to the one before.
    window.forEach((s, i) => { if (i > 0) expect(s.seq).toBe(window[i - 1].seq + 1); });
    const dupes = window.filter((s, i) => i > 0 && s.hash === window[i - 1].hash).length;
    expect(dupes).toBe(0);
    expect(window[0]).toMatchObject({ width: 1280, height: 720, streamId: 'cam' });
    const rt = app!.runtime;
    expect(rt.runners.get('cam')!.stats.errors).toBe(0);
    expect(rt.edgeList()[0].dropped).toBe(0);
    expect(rt.snapshot().nodes.find((n) => n.id === 'cam')!.text).toMatch(/^streaming 1[3-6]\.\d fps$/);
  }, 120000);
});
