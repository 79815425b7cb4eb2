/**
 * The mediaMTX and Raspberry Pi configs: what can be checked without mediaMTX. The templates
 * parse as YAML once rendered, say what mediamtx/README.md says they say, and the URL and
 * credentials layout they define for graphrun is one the camera simulator (our mediaMTX
 * stand-in) accepts, with two cameras in one graph, each its own stream id.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { App } from '../src/app.js';
import { startCameraSim, type CameraSim } from '../src/sim/camera-sim.js';
import { startGraph, waitFor } from './support/app.js';
import { mediaPath, repoRoot } from './support/media.js';
import { rtspRegistry, seen } from './support/rtsp.js';

/** What `envsubst` does to the template. */
function render(file: string, env: Record<string, string>): unknown {
  const text = readFileSync(`${repoRoot}/${file}`, 'utf8').replace(/\$\{([A-Z_]+)\}/g, (_m, name: string) => {
    if (!(name in env)) throw new Error(`${file} uses \${${name}}, not documented in the test`);
    return env[name];
  });
  return parse(text);
}

const env = { PI_HOST: '203.0.113.7', PI_RTSP_USER: 'cloud', PI_RTSP_PASS: 'pi-secret', GRAPHRUN_RTSP_PASS: 'gr-secret-1', VIEWER_PASS: 'viewer-secret', CLOUD_HOST_IP: '198.51.100.4' };

let sim: CameraSim | undefined;
let app: App | undefined;
afterAll(async () => { await app?.stop(); await sim?.stop(); });

describe('mediamtx/', () => {
  it('the cloud config: always-on TCP pull of the Pi, a read-only graphrun user, API and metrics on loopback', () => {
    const c = render('mediamtx/mediamtx.yml', env) as Record<string, any>;
    expect(c.paths.garden).toMatchObject({ source: 'rtsp://cloud:pi-secret@203.0.113.7:8554/cam', sourceOnDemand: false, rtspTransport: 'tcp' });
    expect(c.rtspTransports).toEqual(['tcp']);
    expect(c.apiAddress).toBe('127.0.0.1:9997');
    expect(c.metricsAddress).toBe('127.0.0.1:9998');
    const gr = c.authInternalUsers.find((u: any) => u.user === 'graphrun');
    expect(gr.permissions).toEqual([{ action: 'read', path: 'garden' }]);
    const anyUser = c.authInternalUsers.find((u: any) => u.user === 'any');
    expect(anyUser.ips).toEqual(['127.0.0.1', '::1']);
    expect(anyUser.permissions.map((p: any) => p.action).sort()).toEqual(['api', 'metrics']);
    expect([c.hls, c.webrtc, c.rtmp, c.srt]).toEqual([false, false, false, false]);
    expect(c.readTimeout).toBe('10s');
  });

  it('the Pi config: 1280x720 15 fps H.264 baseline, 2 Mbit/s, a keyframe every second, readable by the cloud host only', () => {
    const c = render('mediamtx/raspberry-pi/mediamtx.yml', env) as Record<string, any>;
    expect(c.paths.cam).toMatchObject({ source: 'rpiCamera', rpiCameraWidth: 1280, rpiCameraHeight: 720, rpiCameraFPS: 15, rpiCameraIDRPeriod: 15, rpiCameraBitrate: 2000000, rpiCameraProfile: 'baseline' });
    expect(c.authInternalUsers[0]).toMatchObject({ user: 'cloud', pass: 'pi-secret', ips: ['198.51.100.4'], permissions: [{ action: 'read', path: 'cam' }] });
    const unit = readFileSync(`${repoRoot}/mediamtx/raspberry-pi/rpicam-publish.service`, 'utf8');
    expect(unit).toMatch(/^Restart=always$/m);
    expect(unit).toMatch(/--width 1280 --height 720 --framerate 15 --bitrate 2000000 --intra 15/);
  });

  it('the simulator accepts the same URL layout (graphrun user, path garden), two cameras in one graph with their own stream ids', async () => {
    const cloud = render('mediamtx/mediamtx.yml', env) as Record<string, any>;
    const reader = cloud.authInternalUsers.find((u: any) => u.user === 'graphrun');
    sim = await startCameraSim({ clip: mediaPath('vtest_first20s_h264.mp4'), paths: ['garden', 'shed'], readUser: reader.user, readPass: reader.pass, publishUser: 'cloud', publishPass: env.PI_RTSP_PASS });
    const url = sim.readUrl('garden');
    // The layout graphrun's docs give for MEDIA_RPI_RTSP_URL, with the simulator's port.
    expect(url).toBe(`rtsp://graphrun:${env.GRAPHRUN_RTSP_PASS}@127.0.0.1:${sim.readPort}/garden`);
    ({ app } = await startGraph(`
version: 1
name: two-cameras
status: { enabled: false }
nodes:
  garden:
    type: rtsp-source
    url: \${MEDIA_RPI_RTSP_URL}
    stream_id: garden-cam
    max_fps: 5
  shed:
    type: rtsp-source
    url: \${SHED_URL}
    stream_id: shed-cam
    max_fps: 5
  hash: { type: test-frame-hasher, inputs: { frames: [garden.frames, shed.frames] } }
`, { registry: rtspRegistry, env: { MEDIA_RPI_RTSP_URL: url, SHED_URL: sim.readUrl('shed') } }));
    await waitFor(() => new Set((seen.get('hash') ?? []).map((s) => s.streamId)).size === 2, 30000, 'frames from both cameras');
    const byStream = (id: string) => (seen.get('hash') ?? []).filter((s) => s.streamId === id);
    await waitFor(() => byStream('garden-cam').length >= 10 && byStream('shed-cam').length >= 10, 20000, '10 frames from each');
    for (const id of ['garden-cam', 'shed-cam']) {
      const seqs = byStream(id).map((s) => s.seq);
      expect(seqs.slice(0, 10)).toEqual([...Array(10).keys()]);
    }
  }, 90000);

  it('ffmpeg missing: a clear start-up error that says how to install it', async () => {
    const a = await startGraph(`
version: 1
name: no-ffmpeg
status: { enabled: false }
nodes:
  cam:
    type: rtsp-source
    url: rtsp://127.0.0.1:9/x
    ffmpeg_path: /nonexistent/ffmpeg
    restart: { initial_ms: 5000 }
  sink: { type: debug-sink, inputs: { in: cam.frames } }
`);
    try {
      await waitFor(() => a.app.runtime.runners.get('cam')!.stats.errors > 0, 10000, 'start error');
      expect(a.app.runtime.snapshot().nodes.find((n) => n.id === 'cam')!.lastError).toBe('ffmpeg not found (/nonexistent/ffmpeg): install it (Debian/Ubuntu: apt-get install ffmpeg) or set ffmpeg_path');
    } finally {
      await a.app.stop();
    }
  });
});
