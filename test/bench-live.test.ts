/**
 * The live benchmarks' pieces that can be checked without a camera (the benchmarks themselves
 * run with `npm run bench -- realtime multicam soak --quick`): their graphs compile against the
 * real graphs/cpu.yml through the real loader (extends, ${…}), the latency tap windows by
 * capture time, CPU shares add up, the soak's length is read or refused clearly, and the soak is
 * opt-in.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { benchmarks, optInBenchmarks } from '../bench/index.js';
import { cpuShare, cpuYmlGraph, liveRegistry, recordTaps, tapWindow, type CpuSample } from '../bench/lib/live.js';
import { multicamGraph } from '../bench/multicam.js';
import { realtimeOverlay } from '../bench/realtime.js';
import { soakMinutes, soakTimeoutS } from '../bench/soak.js';
import { loadAndCompile } from '../src/graph/compile.js';
import { formatDiagnostic } from '../src/graph/diagnostics.js';
import { buildNode } from './support/node-harness.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'graphrun-bench-live-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ENV = {
  MEDIA_RPI_RTSP_URL: 'rtsp://graphrun:pw@127.0.0.1:8554/garden', FASTAPI_ENDPOINT: 'http://127.0.0.1:9', FASTAPI_TOKEN: 't',
  S3_BUCKET: 'snaps', POSE_MODEL: 'ultralight-nano-simplepose',
};

function compile(name: string, yaml: string) {
  const file = path.join(dir, `${name}.yml`);
  writeFileSync(file, yaml);
  const r = loadAndCompile(file, liveRegistry, { env: ENV, cwd: dir });
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  expect(errors.map(formatDiagnostic)).toEqual([]);
  return r.graph!;
}

describe('live bench graphs', () => {
  it('realtime: graphs/cpu.yml extended — gate every second, taps fanned out, one outbox for both sinks', () => {
    const outbox = path.join(dir, 'ob.db');
    const g = compile('rt', cpuYmlGraph({ name: 'rt', outbox, delivery: true, nodes: realtimeOverlay() }));
    expect(g.status.enabled).toBe(false);
    const gate = g.nodes.get('gate')!;
    expect(gate.options).toMatchObject({ cooldown_ms: 1000, extend_on_sighting: false });
    // The rest of the gate is cpu.yml's: its inputs survive the merge.
    expect(gate.inputs.map((i) => i.port).sort()).toEqual(['detections', 'ended']);
    for (const id of ['s3', 'backend']) expect((g.nodes.get(id)!.options as { outbox: { path: string } }).outbox.path).toBe(outbox);
    expect(g.nodes.get('t_event')!.inputs[0].from).toEqual([{ node: 'snap', port: 'events' }]);
    expect(g.nodes.get('t_gate')!.inputs[0].from).toEqual([{ node: 'zones', port: 'detections' }]);
    expect((g.nodes.get('cam')!.options as { size: number[]; max_fps: number }).max_fps).toBe(10);
  });

  it('without delivery the sinks are gone and the rest still compiles', () => {
    const g = compile('nodeliv', cpuYmlGraph({ name: 'nodeliv', outbox: path.join(dir, 'x.db'), delivery: false }));
    expect(g.nodes.has('s3')).toBe(false);
    expect(g.nodes.has('backend')).toBe(false);
    expect(g.nodes.has('snap')).toBe(true);
  });

  it('multicam: N sources with cpu.yml settings into one yolo, a latest edge each', () => {
    const g = compile('mc', multicamGraph(3, (p) => `rtsp://graphrun:pw@127.0.0.1:8554/${p}`));
    const detect = g.nodes.get('detect')!;
    expect(detect.inputs).toHaveLength(1);
    expect(detect.inputs[0].from.map((f) => f.node)).toEqual(['cam1', 'cam2', 'cam3']);
    expect(detect.inputs[0].policy).toEqual({ mode: 'latest' });
    expect(detect.options).toMatchObject({ threads: 1, score_threshold: 0.1 });
    for (const c of ['cam1', 'cam2', 'cam3']) {
      expect(g.nodes.get(c)!.options).toMatchObject({ stream_id: c, max_fps: 10, size: [896, 504], url: `rtsp://graphrun:pw@127.0.0.1:8554/${c}` });
    }
  });
});

describe('latency tap', () => {
  it('counts and times packets by capture time, per stream, only while recording', async () => {
    const h = buildNode('type: bench-latency-tap', { registry: liveRegistry, id: 'tap-test' });
    const now = Date.now();
    const send = (stream: string, capture: number) => h.instance.process!({ streamId: stream, seq: 0, captureTimeMs: capture, data: null }, 'in');
    await send('a', now - 5000); // not recording yet
    recordTaps(true);
    await send('a', now - 5000); // captured before the window
    await send('a', now - 100);
    await send('b', now - 50);
    await send('a', now + 60_000); // captured after the window
    recordTaps(false);
    await send('b', now - 10);
    const w = tapWindow('tap-test', now - 1000, now + 1000);
    expect(Object.fromEntries(w.perStream)).toEqual({ a: 1, b: 1 });
    expect(w.latencies).toHaveLength(2);
    for (const l of w.latencies) expect(l).toBeGreaterThanOrEqual(50);
  });
});

describe('cpuShare', () => {
  it('splits one window into main thread, other threads and ffmpeg, as shares of one core', () => {
    const a: CpuSample = { at: 0, threads: new Map([[process.pid, 100], [11, 50], [12, 0]]), ffmpeg: new Map([[900, 10], [901, 5]]) };
    // 2 s later: main +200 ms, thread 11 +600, thread 12 +100, a new thread 13 with 40, ffmpeg 900 +300, 901 gone.
    const b: CpuSample = { at: 2000, threads: new Map([[process.pid, 300], [11, 650], [12, 100], [13, 40]]), ffmpeg: new Map([[900, 310]]) };
    const s = cpuShare(a, b);
    expect(s.wallS).toBe(2);
    expect(s.main).toBeCloseTo(10);
    expect(s.otherThreads).toBeCloseTo(37);
    expect(s.topThreads.map((x) => Math.round(x))).toEqual([30, 5, 2]);
    expect(s.ffmpeg).toBeCloseTo(15);
    expect(s.ffmpegGone).toBe(1);
    expect(s.total).toBeCloseTo(62);
  });
});

describe('soak', () => {
  it('runs 30 min, 1 quick, BENCH_SOAK_MINUTES when set; refuses a bad value by name', () => {
    const before = process.env.BENCH_SOAK_MINUTES;
    try {
      delete process.env.BENCH_SOAK_MINUTES;
      expect([soakMinutes(false), soakMinutes(true)]).toEqual([30, 1]);
      process.env.BENCH_SOAK_MINUTES = '2.5';
      expect(soakMinutes(false)).toBe(2.5);
      expect(soakTimeoutS(false)).toBeGreaterThan(150);
      process.env.BENCH_SOAK_MINUTES = 'ten';
      expect(() => soakMinutes(false)).toThrow(/BENCH_SOAK_MINUTES.*"ten"/);
      // The parent's time limit does not throw: the run reports the error.
      expect(soakTimeoutS(false)).toBeGreaterThan(30 * 60);
    } finally {
      if (before === undefined) delete process.env.BENCH_SOAK_MINUTES; else process.env.BENCH_SOAK_MINUTES = before;
    }
  });

  it('is opt-in: not in the default set, registered with a time limit longer than the soak', () => {
    expect(benchmarks.map((b) => b.name)).not.toContain('soak');
    expect(benchmarks.map((b) => b.name)).toEqual(expect.arrayContaining(['realtime', 'multicam']));
    const soak = optInBenchmarks.find((o) => o.bench.name === 'soak')!;
    expect(soak).toBeDefined();
    expect(soak.timeoutS(false)).toBeGreaterThan(30 * 60);
    expect(soak.timeoutS(true)).toBeGreaterThan(60);
  });
});
