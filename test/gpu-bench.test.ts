/**
 * bench/gpu.sh and bench/gpu.ts, the GPU profile bench, on this machine (no GPU): the raw-frame
 * streams, the graph made from graphs/gpu.yml, a real cell on the CPU provider, the Vulkan and
 * CUDA checks against prepared folders, and the whole path — bundle, unpack, run — with a PATH
 * that has neither ffmpeg nor python.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinNodes, Registry } from '../src/registry.js';
import { buildGraph, checkEnvironment, prepare, readData, runCell, tidyError, type CellSpec, type DataManifest } from '../bench/gpu.js';
import { gpuBenchNodes, loadRawFrames, pingPong, readRawHeader } from '../bench/lib/gpu-nodes.js';
import { mediaPath, repoRoot } from './support/media.js';

const registry = new Registry([...builtinNodes, ...gpuBenchNodes]);
const tmp = mkdtempSync(path.join(tmpdir(), 'graphrun-gpu-bench-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cell = (over: Partial<CellSpec>): CellSpec => ({
  pipeline: 'detect', provider: 'cpu', streams: 2, seconds: 2, warmup: 0, fps: 0, dataDir: path.join(tmp, 'data'),
  graphFile: path.join(repoRoot, 'graphs/gpu.yml'), cpuWorkers: 2, gpuWorkers: 1, startTimeoutS: 60, ...over,
});

describe('raw-frame streams', () => {
  it('play forwards then backwards without repeating the turning frames twice in a row', () => {
    expect(Array.from({ length: 12 }, (_, k) => pingPong(k, 4))).toEqual([0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1]);
    expect(pingPong(5, 1)).toBe(0);
  });

  it('name the file and the field when the header or the raw file is wrong', () => {
    const h = path.join(tmp, 'bad.json');
    writeFileSync(h, JSON.stringify({ width: 4, height: 0, format: 'rgb24', count: 2, file: 'bad.rgb' }));
    expect(() => readRawHeader(h)).toThrow(/bad\.json: "height" must be a positive integer/);
    writeFileSync(h, JSON.stringify({ width: 4, height: 2, format: 'yuv420p', count: 2, file: 'bad.rgb' }));
    expect(() => readRawHeader(h)).toThrow(/"format" must be "rgb24"/);
    writeFileSync(h, JSON.stringify({ width: 4, height: 2, format: 'rgb24', count: 2, file: 'bad.rgb' }));
    writeFileSync(path.join(tmp, 'bad.rgb'), Buffer.alloc(4 * 2 * 3 * 2 - 1));
    expect(() => loadRawFrames(h)).toThrow(/bad\.rgb has 47 bytes; .*bad\.json says 2 frames of 4x2 rgb24 = 48/);
  });
});

describe('prepared data, graphs and cells', () => {
  let data: DataManifest;
  beforeAll(async () => {
    // 6 small frames of vtest (people in every one), the models from the mirrors.
    data = await prepare({ out: path.join(tmp, 'data'), frames: 6, width: 384, height: 288, clip: mediaPath('vtest_first20s_h264.mp4'), log: () => undefined });
    process.env.GRAPHRUN_MODELS_DIR = path.join(tmp, 'data', data.models.dir);
  }, 120000);

  it('prepare decodes the frames and makes a dynamic-batch detector that computes the same', () => {
    expect(readData(path.join(tmp, 'data'))).toEqual(data);
    expect(data.count).toBe(6);
    expect(statSync(path.join(tmp, 'data/frames.rgb')).size).toBe(6 * 384 * 288 * 3);
    const frames = loadRawFrames(path.join(tmp, 'data/frames.json'));
    expect(frames).toHaveLength(6);
    expect(frames[0].pixels.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(frames[0].pixels.equals(frames[5].pixels)).toBe(false);
    expect(data.models.detectorDynamic).toBe('yolox_nano_dynbatch.onnx');
    expect(data.models.dynamicNote).toMatch(/a batch of 3 matches 3 single runs/);
    expect(data.models.pose).not.toBeNull();
    expect(data.models.reid?.id).toBe('person-reid-0288');
  });

  it('turns graphs/gpu.yml into N streams on one batching detector (detect)', () => {
    const g = buildGraph(cell({ provider: 'webgpu', streams: 3, maxBatch: 16 }), data, registry);
    expect(Object.keys(g.nodes).sort()).toEqual(['cam01', 'cam02', 'cam03', 'detect', 'frames_out']);
    const d = g.nodes.detect as Record<string, unknown>;
    expect(d.providers).toEqual(['webgpu']);
    expect(d.model).toBe(path.join(tmp, 'data/models/yolox_nano_dynbatch.onnx'));
    expect(d).toMatchObject({ workers: 1, max_batch: 16, concurrency: 16, max_wait_ms: 5, score_threshold: 0.1 });
    expect(d.inputs).toEqual({ frames: { from: ['cam01.frames', 'cam02.frames', 'cam03.frames'], queue: { block: 8 } } });
    expect(new Set(['cam01', 'cam02', 'cam03'].map((c) => (g.nodes[c] as { offset: number }).offset)).size).toBe(3);
    expect(g.nodes.frames_out).toEqual({ type: 'bench-stream-counter', inputs: { in: { from: 'detect.detections', queue: { block: 16 } } } });
    expect(g.status).toEqual({ enabled: false });
  });

  it('keeps every node of gpu.yml between camera and delivery (full), providers set, cpu as the fallback of pose and re-id', () => {
    const g = buildGraph(cell({ pipeline: 'full', provider: 'webgpu', streams: 2 }), data, registry);
    expect(Object.keys(g.nodes).sort()).toEqual(['cam01', 'cam02', 'detect', 'events_out', 'frames_out', 'gate', 'pose', 'posture', 'snap', 'track', 'zones']);
    expect((g.nodes.frames_out.inputs as { in: { from: string } }).in.from).toBe('zones.detections');
    expect((g.nodes.events_out.inputs as { in: { from: string[] } }).in.from).toEqual(['snap.events']);
    expect(g.nodes.pose).toMatchObject({ providers: ['webgpu', 'cpu'], model: data.models.pose!.id, every_n_frames: 1 });
    expect(g.nodes.track).toMatchObject({ appearance: { enabled: true, providers: ['webgpu', 'cpu'] } });
    // Paced streams keep gpu.yml's queues (the detector's `latest`).
    const paced = buildGraph(cell({ pipeline: 'full', fps: 15 }), data, registry);
    expect((paced.nodes.detect.inputs as { frames: unknown }).frames).toEqual({ from: ['cam01.frames', 'cam02.frames'], queue: 'latest' });
    expect(paced.nodes.detect).toMatchObject({ providers: ['cpu'], model: 'yolox-nano', workers: 2, threads: 1, max_batch: 1, concurrency: 2 });
  });

  it('applies an overrides file last', () => {
    const f = path.join(tmp, 'over.yml');
    writeFileSync(f, 'nodes:\n  pose: { workers: 4 }\n  snap: null\n');
    const g = buildGraph(cell({ pipeline: 'full', overrides: f }), data, registry);
    expect(g.nodes.pose).toMatchObject({ workers: 4 });
    expect(g.nodes.snap).toBeUndefined();
  });

  it('runs a detect cell on the CPU: both streams served, detections on every frame, nothing dropped', async () => {
    const r = await runCell(cell({ streams: 2 }));
    expect(r.error).toBeUndefined();
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.ranOn).toBe('cpu');
    expect(r.perStreamFps).toHaveLength(2);
    for (const f of r.perStreamFps!) expect(f).toBeGreaterThan(0);
    expect(r.totalFps).toBeCloseTo(r.perStreamFps![0] + r.perStreamFps![1], 6);
    expect(r.frames).toBeGreaterThan(0);
    expect(r.detectionsPerFrame).toBeGreaterThan(2); // vtest: several people in every frame
    // Frames out / batches over a window read at two slightly different moments: about 1, not exactly.
    expect(r.meanBatch).toBeGreaterThanOrEqual(0.9);
    expect(r.inferMsPerBatch).toBeGreaterThan(0);
    expect(r.drops).toBe(0);
    expect(r.processCores).toBeGreaterThan(0);
    expect(r.latencyMs!.p95).toBeGreaterThanOrEqual(r.latencyMs!.p50);
  });

  it('batches across streams with the dynamic-batch copy (a GPU cell\'s detector settings, run on the CPU)', async () => {
    const f = path.join(tmp, 'batch.yml');
    writeFileSync(f, `nodes:\n  detect: { model: ${path.join(tmp, 'data/models', data.models.detectorDynamic!)}, workers: 1, max_batch: 4, concurrency: 4 }\n`);
    const r = await runCell(cell({ streams: 4, overrides: f }));
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.meanBatch).toBeGreaterThan(3);
    expect(r.detectionsPerFrame).toBeGreaterThan(2);
    for (const fps of r.perStreamFps!) expect(fps).toBeGreaterThan(0);
  });

  it('runs a full cell: frames through tracking, pose and posture, pose and re-id on the CPU', async () => {
    const r = await runCell(cell({ pipeline: 'full', streams: 1, seconds: 3 }));
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.frames).toBeGreaterThan(0);
    expect(r.alsoRanOn).toEqual({ pose: 'cpu', 're-id': 'cpu' });
    expect(r.nodes!.map((n) => n.id)).toEqual(expect.arrayContaining(['detect', 'track', 'pose', 'posture', 'zones']));
  });

  it('reads nvidia-smi into the GPU columns (a stand-in nvidia-smi on the PATH: there is no GPU here)', () => {
    const bin = path.join(tmp, 'fake-smi');
    mkdirSync(bin);
    // Answers the three queries the bench makes; memory grows 10 MiB a sample, utilisation 40%.
    writeFileSync(path.join(bin, 'nvidia-smi'), `#!/bin/bash
case "$*" in
  *--query-gpu=index*) echo "0, NVIDIA H200, 550.54.15, 143771, 480" ;;
  *--query-gpu=memory.used*) i=0; while true; do echo "$((500 + i * 10)), 40"; i=$((i + 1)); sleep 0.25; done ;;
  *--query-compute-apps*) ;;
  *) exit 2 ;;
esac
`, { mode: 0o755 });
    const results = path.join(tmp, 'smi-results');
    const r = spawnSync(path.join(repoRoot, 'bench/gpu.sh'), ['run', '--local', '--quick', '--streams', '1', '--pipelines', 'detect', '--seconds', '1', '--warmup', '0', '--out', results],
      { cwd: repoRoot, env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, GPU_BENCH_DATA: path.join(tmp, 'data') }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('- GPU: NVIDIA H200 (driver 550.54.15, 140 GiB)');
    const report = JSON.parse(readFileSync(path.join(results, readdirSync(results).find((f) => f.endsWith('.json'))!), 'utf8')) as { cells: { gpu: { memBeforeMiB: number; memPeakMiB: number; meanUtil: number; procPeakMiB: number | null } }[] };
    const g = report.cells[0].gpu;
    expect(g.meanUtil).toBe(40);
    expect(g.memBeforeMiB).toBeGreaterThanOrEqual(500);
    expect(g.memPeakMiB).toBeGreaterThan(g.memBeforeMiB);
    expect(g.procPeakMiB).toBeNull();
    expect(r.stdout).toMatch(new RegExp(`\\| 40% \\| ${g.memBeforeMiB} → ${g.memPeakMiB.toLocaleString('en-US')} \\(\\+\\d+\\)`));
  }, 120000);

  it('fails a cell fast, naming the node, when a model cannot load', async () => {
    const bad = path.join(tmp, 'not-a-model.onnx');
    writeFileSync(bad, 'this is not ONNX');
    const f = path.join(tmp, 'bad-model.yml');
    writeFileSync(f, `nodes:\n  detect: { model: ${bad} }\n`);
    const t0 = Date.now();
    const r = await runCell(cell({ streams: 1, overrides: f }));
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/^detect: .*not-a-model\.onnx/);
    expect(Date.now() - t0).toBeLessThan(30000);
  });
});

describe('environment checks', () => {
  const dir = (name: string) => { const d = path.join(tmp, name); mkdirSync(d, { recursive: true }); return d; };

  it('writes the NVIDIA ICD manifest when the driver library is there without one', () => {
    const lib = dir('driver-only');
    writeFileSync(path.join(lib, 'libGLX_nvidia.so.0'), '');
    const env = checkEnvironment({ root: dir('root1'), workDir: dir('work1'), env: { PATH: process.env.PATH, LD_LIBRARY_PATH: lib }, icdSearchRoots: [dir('no-icd')] });
    const icd = env.checks.find((c) => c.name === 'NVIDIA Vulkan ICD')!;
    expect(icd.ok).toBe(true);
    expect(icd.detail).toContain(path.join(lib, 'libGLX_nvidia.so.0'));
    expect(env.childEnv.VK_ICD_FILENAMES).toBe(path.join(tmp, 'work1/nvidia_icd.json'));
    expect(JSON.parse(readFileSync(env.childEnv.VK_ICD_FILENAMES, 'utf8'))).toMatchObject({ ICD: { library_path: 'libGLX_nvidia.so.0' } });
  });

  it('says what is missing when neither the manifest nor the driver library is there', () => {
    const env = checkEnvironment({ root: dir('root2'), workDir: dir('work2'), env: { PATH: process.env.PATH, LD_LIBRARY_PATH: dir('empty-lib') }, icdSearchRoots: [dir('no-icd2')] });
    const icd = env.checks.find((c) => c.name === 'NVIDIA Vulkan ICD')!;
    // (A host with the NVIDIA driver installed system-wide finds libGLX_nvidia.so.0 anyway.)
    if (icd.ok === false) {
      expect(icd.detail).toMatch(/no NVIDIA ICD manifest \(nvidia_icd\.json\)/);
      expect(icd.fix).toMatch(/NVIDIA_DRIVER_CAPABILITIES/);
      expect(env.providers.webgpu!.why).toMatch(/Vulkan is incomplete/);
    } else {
      expect(icd.detail).toMatch(/wrote .*nvidia_icd\.json/);
    }
    expect(env.childEnv.VK_ICD_FILENAMES === undefined).toBe(icd.ok === false);
  });

  it('checks the library an NVIDIA manifest names, and lists other drivers', () => {
    const root = dir('icd-root');
    const d = path.join(root, 'vulkan/icd.d');
    mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, 'nvidia_icd.json'), JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: '/nowhere/libGLX_nvidia.so.0' } }));
    writeFileSync(path.join(d, 'lvp_icd.x86_64.json'), JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: '/nowhere/libvulkan_lvp.so' } }));
    const env = checkEnvironment({ root: dir('root3'), workDir: dir('work3'), env: { PATH: process.env.PATH }, icdSearchRoots: [root] });
    const icd = env.checks.find((c) => c.name === 'NVIDIA Vulkan ICD')!;
    expect(icd).toMatchObject({ ok: false });
    expect(icd.detail).toContain('names "/nowhere/libGLX_nvidia.so.0", which is not on this host');
    expect(env.checks.find((c) => c.name === 'other Vulkan drivers')!.detail).toContain('lvp_icd.x86_64.json');
  });

  it('reports the CUDA provider skipped without its binaries, with how to add them', () => {
    const env = checkEnvironment({ root: dir('root4'), workDir: dir('work4') });
    const ort = path.join(repoRoot, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64');
    const present = existsSync(path.join(ort, 'libonnxruntime_providers_cuda.so'));
    expect(env.providers.cuda!.available).toBe(present);
    if (!present) expect(env.checks.find((c) => c.name === 'CUDA provider')!.fix).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });

  it('keeps what onnxruntime says and drops its source paths', () => {
    expect(tidyError('webgpu: /onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::Initialize(const onnxruntime::webgpu::WebGpuContextConfig&)::<lambda()> Failed to get a WebGPU adapter'))
      .toBe('webgpu: Failed to get a WebGPU adapter');
  });
});

describe('bench/gpu.sh', () => {
  it('bundles, and the unpacked bundle runs its local matrix with neither ffmpeg nor python on the PATH', () => {
    const out = path.join(tmp, 'b/bundle.tar.gz');
    const env = { ...process.env, GPU_BENCH_NODE_BINARY: '0', GPU_BENCH_FRAMES: '4', GPU_BENCH_SIZE: '320x180' };
    const b = spawnSync(path.join(repoRoot, 'bench/gpu.sh'), ['bundle', out], { cwd: repoRoot, env, encoding: 'utf8' });
    expect(b.status, b.stderr).toBe(0);
    expect(statSync(out).size).toBeLessThan(150 * 2 ** 20);
    const unpacked = path.join(tmp, 'unpacked');
    mkdirSync(unpacked);
    expect(spawnSync('tar', ['-xzf', out, '-C', unpacked]).status).toBe(0);
    const root = path.join(unpacked, 'graphrun-gpu-bench');
    const ortBin = path.join(root, 'node_modules/onnxruntime-node/bin/napi-v6');
    expect(readdirSync(ortBin)).toEqual(['linux']);
    expect(readdirSync(path.join(ortBin, 'linux'))).toEqual(['x64']);
    expect(existsSync(path.join(root, 'node_modules/vitest'))).toBe(false); // dev dependencies stay home
    expect(JSON.parse(readFileSync(path.join(root, 'BUNDLE.json'), 'utf8'))).toMatchObject({ modules: process.versions.modules, nodeBinary: false });

    // A PATH with node and the shell's basics only.
    const bin = path.join(tmp, 'minbin');
    mkdirSync(bin);
    for (const t of ['bash', 'sed', 'head', 'dirname', 'cat', 'uname', 'readlink', 'node']) {
      const w = spawnSync('bash', ['-c', `command -v ${t}`], { encoding: 'utf8' }).stdout.trim();
      symlinkSync(w, path.join(bin, t));
    }
    const results = path.join(tmp, 'results');
    const r = spawnSync(path.join(root, 'bench/gpu.sh'), ['run', '--dry-run', '--quick', '--streams', '1', '--pipelines', 'detect', '--seconds', '1', '--warmup', '0', '--out', results],
      { cwd: root, env: { PATH: bin, HOME: tmp }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\| detect \| cpu \| 1 \| [\d.]+ · [\d.]+ · [\d.]+ \| [\d.]+ \|/);
    const json = readdirSync(results).find((f) => f.endsWith('.json'))!;
    const report = JSON.parse(readFileSync(path.join(results, json), 'utf8')) as { cells: { ok: boolean; totalFps: number }[]; environment: { checks: { name: string }[] } };
    expect(report.cells).toHaveLength(1);
    expect(report.cells[0].ok).toBe(true);
    expect(report.cells[0].totalFps).toBeGreaterThan(0);
    expect(report.environment.checks.map((c) => c.name)).toEqual(expect.arrayContaining(['nvidia-smi', 'libvulkan.so.1', 'NVIDIA Vulkan ICD', 'CUDA provider']));
  }, 300000);
});
