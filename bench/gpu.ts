/**
 * The GPU profile bench (driven by bench/gpu.sh; see bench/README.md, "GPU hosts"): graphs
 * shaped like graphs/gpu.yml fed by 1, 8 and 32 simulated camera streams, for each execution
 * provider (webgpu, cuda where its binaries are present, cpu for comparison): frames/s per
 * stream and in total, mean batch, inference time, detections per frame, CPU and GPU use.
 *
 *   node dist/bench/gpu.js prepare --out DIR [--frames 32] [--clip FILE] [--size 1280x720]
 *       frames (raw rgb24, decoded here by ffmpeg) and models (YOLOX-Nano, a copy with a
 *       dynamic batch axis made with python3-onnx, the pose and re-id models) into DIR
 *   node dist/bench/gpu.js check --data DIR
 *       what the host has: nvidia-smi, libvulkan, the NVIDIA Vulkan ICD, the CUDA provider
 *   node dist/bench/gpu.js run --data DIR [--providers webgpu,cuda,cpu] [--streams 1,8,32]
 *       [--pipelines detect,full] [--seconds 20] [--warmup 5] [--fps 0] [--quick] [--local]
 *       [--cpu-workers N] [--gpu-workers 1] [--max-batch N] [--overrides FILE.yml] [--out DIR]
 *
 * Each cell (pipeline × provider × streams) runs in its own Node process, so a provider that
 * crashes (a GPU driver without Vulkan can take the process down) costs one cell, and GPU
 * memory is measured per cell from a clean start. The parent samples nvidia-smi meanwhile.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { loadGraphFile, mergeGraphs } from '../src/graph/load.js';
import { loadModelManifest } from '../src/models.js';
import { builtinNodes, Registry } from '../src/registry.js';
import type { App } from '../src/app.js';
import { startGraph, within } from './lib/graph.js';
import { gpuBenchNodes, probeSnapshot, readRawHeader, resetProbes, streamProbe } from './lib/gpu-nodes.js';
import { machineInfo, type MachineInfo } from './lib/machine.js';
import { findMedia } from './lib/media.js';
import { findLocalModel } from './lib/onnx.js';
import { fileStamp, fmt, machineLine } from './lib/report.js';

const SELF = fileURLToPath(import.meta.url);

/** Project root (or the unpacked bundle): the nearest folder above this file with a package.json. */
function projectRoot(): string {
  let d = path.dirname(SELF);
  while (!existsSync(path.join(d, 'package.json')) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

export type Provider = 'webgpu' | 'cuda' | 'tensorrt' | 'cpu';
export type Pipeline = 'detect' | 'full';
const PROVIDERS: readonly Provider[] = ['webgpu', 'cuda', 'tensorrt', 'cpu'];
const PIPELINES: readonly Pipeline[] = ['detect', 'full'];

// ---------------------------------------------------------------------------------------------
// prepare: frames and models into a data folder (run where the project and its media are)

/** What `prepare` wrote (DIR/data.json). Paths are relative to DIR. */
export interface DataManifest {
  createdAt: string;
  clip: string;
  frames: string;
  width: number;
  height: number;
  count: number;
  models: {
    /** GRAPHRUN_MODELS_DIR for the cells: manifest models under their file names. */
    dir: string;
    detector: { id: string; file: string };
    /** The detector with its first input/output axis renamed "batch"; null when it could not be made. */
    detectorDynamic: string | null;
    dynamicNote: string;
    pose: { id: string; file: string } | null;
    reid: { id: string; file: string } | null;
  };
}

const RELABEL_PY = `
import sys, onnx
m = onnx.load(sys.argv[1])
for t in list(m.graph.input) + list(m.graph.output):
    t.type.tensor_type.shape.dim[0].dim_param = "batch"
onnx.save(m, sys.argv[2])
`;

/** A python3 that imports onnx (Debian's python3-onnx lives under /usr/bin/python3), or undefined. */
function pythonWithOnnx(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(py, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0) return py;
  }
  return undefined;
}

/**
 * The dynamic copy must compute what the original does: batch of 3 distinct inputs against the
 * original run on each alone (onnxruntime CPU). Returns the largest difference.
 */
async function compareBatch(fixed: string, dynamic: string): Promise<number> {
  const ort = await import('onnxruntime-node');
  const a = await ort.InferenceSession.create(fixed);
  const b = await ort.InferenceSession.create(dynamic);
  try {
    const meta = a.inputMetadata[0] as { shape?: readonly (number | string)[] };
    const shape = (meta.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
    const per = shape.slice(1).reduce((x, y) => x * y, 1);
    const n = 3;
    const x = new Float32Array(n * per);
    for (let i = 0; i < x.length; i++) x[i] = (i * 7919) % 255;
    const name = a.inputNames[0];
    const out = (await b.run({ [name]: new ort.Tensor('float32', x, [n, ...shape.slice(1)]) }))[b.outputNames[0]].data as Float32Array;
    let worst = 0;
    for (let k = 0; k < n; k++) {
      const one = (await a.run({ [name]: new ort.Tensor('float32', x.slice(k * per, (k + 1) * per), shape) }))[a.outputNames[0]].data as Float32Array;
      for (let i = 0; i < one.length; i++) worst = Math.max(worst, Math.abs(one[i] - out[k * one.length + i]));
    }
    return worst;
  } finally {
    await a.release();
    await b.release();
  }
}

export async function prepare(o: { out: string; frames: number; clip?: string; width: number; height: number; log: (s: string) => void }): Promise<DataManifest> {
  const dir = path.resolve(o.out);
  mkdirSync(path.join(dir, 'models'), { recursive: true });
  // Frames: decoded here, so the GPU host needs no ffmpeg.
  const clip = o.clip ? path.resolve(o.clip) : findMedia('vtest_first20s_h264.mp4');
  if (!clip || !existsSync(clip)) throw new Error(`prepare: no clip to decode${o.clip ? ` (${o.clip} does not exist)` : ': vtest_first20s_h264.mp4 is in no media mirror (../shared/media, $GRAPHRUN_MEDIA_MIRROR); give --clip FILE'}`);
  const raw = path.join(dir, 'frames.rgb');
  const ff = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-i', clip, '-an', '-frames:v', String(o.frames), '-vf', `scale=${o.width}:${o.height}`, '-pix_fmt', 'rgb24', '-f', 'rawvideo', raw], { encoding: 'utf8' });
  if (ff.error) throw new Error(`prepare: ffmpeg is needed on this (the build) host to decode ${clip}: ${ff.error.message}`);
  if (ff.status !== 0) throw new Error(`prepare: ffmpeg could not decode ${clip}: ${ff.stderr.trim().split('\n').pop()}`);
  const frameBytes = o.width * o.height * 3;
  const count = Math.floor(statSync(raw).size / frameBytes);
  if (count < 2) throw new Error(`prepare: ${clip} gave ${count} frame(s); the bench needs at least 2`);
  writeFileSync(path.join(dir, 'frames.json'), JSON.stringify({ width: o.width, height: o.height, format: 'rgb24', count, file: 'frames.rgb', clip: path.basename(clip) }, null, 2) + '\n');
  readRawHeader(path.join(dir, 'frames.json'));
  o.log(`frames: ${count} of ${path.basename(clip)} at ${o.width}x${o.height} rgb24 (${(statSync(raw).size / 2 ** 20).toFixed(0)} MiB)`);

  // Models: from the cache or the mirrors, never downloaded.
  const manifest = loadModelManifest();
  const take = async (ids: string[], what: string, required: boolean) => {
    const m = await findLocalModel(ids);
    if (!m) {
      if (required) throw new Error(`prepare: no ${what} model on this host (${ids.join(', ')}): put it in the model cache or ../shared/models (graphrun models fetch)`);
      o.log(`${what}: none of ${ids.join(', ')} here: the full pipeline will be skipped`);
      return null;
    }
    const file = manifest.get(m.id)!.file;
    copyFileSync(m.path, path.join(dir, 'models', file));
    o.log(`${what}: ${m.id} (${file})`);
    return { id: m.id, file };
  };
  const detector = (await take(['yolox-nano'], 'detector', true))!;
  const pose = await take(['rtmpose-t', 'rtmpose-s', 'ultralight-nano-simplepose'], 'pose', false);
  const reid = await take(['person-reid-0288'], 'appearance (re-id)', false);

  // The dynamic-batch copy: renaming the first axis is enough for YOLOX-Nano (checked below).
  let detectorDynamic: string | null = null;
  let dynamicNote: string;
  const py = pythonWithOnnx();
  const dynFile = path.join(dir, 'models', detector.file.replace(/\.onnx$/, '') + '_dynbatch.onnx');
  if (!py) {
    dynamicNote = 'no python3 with onnx on the build host (apt-get install python3-onnx): the detector keeps its fixed batch of 1, so GPU cells run batch 1 only';
  } else {
    const r = spawnSync(py, ['-c', RELABEL_PY, path.join(dir, 'models', detector.file), dynFile], { encoding: 'utf8' });
    if (r.status !== 0) {
      dynamicNote = `relabelling the batch axis failed: ${r.stderr.trim().split('\n').pop()}`;
    } else {
      const diff = await compareBatch(path.join(dir, 'models', detector.file), dynFile);
      if (diff <= 1e-3) {
        detectorDynamic = path.basename(dynFile);
        dynamicNote = `first axis of input and output renamed "batch" (${py}, onnx); a batch of 3 matches 3 single runs (max difference ${diff.toExponential(1)})`;
      } else {
        rmSync(dynFile, { force: true });
        dynamicNote = `the relabelled copy computes something else in a batch (max difference ${diff}); not used`;
      }
    }
  }
  o.log(`dynamic batch: ${dynamicNote}`);
  const data: DataManifest = {
    createdAt: new Date().toISOString(), clip: path.basename(clip), frames: 'frames.json', width: o.width, height: o.height, count,
    models: { dir: 'models', detector, detectorDynamic, dynamicNote, pose, reid },
  };
  writeFileSync(path.join(dir, 'data.json'), JSON.stringify(data, null, 2) + '\n');
  return data;
}

export function readData(dir: string): DataManifest {
  const f = path.join(dir, 'data.json');
  if (!existsSync(f)) throw new Error(`no ${f}: run \`bench/gpu.sh bundle\` (or \`node dist/bench/gpu.js prepare --out ${dir}\`) first`);
  return JSON.parse(readFileSync(f, 'utf8')) as DataManifest;
}

// ---------------------------------------------------------------------------------------------
// check: what the host has for each provider

export interface EnvCheck {
  name: string;
  /** true ok, false missing, null not applicable / information. */
  ok: boolean | null;
  detail: string;
  fix?: string;
}

export interface GpuInfo { index: number; name: string; driver: string; memTotalMiB: number; memUsedMiB: number }

export interface Environment {
  checks: EnvCheck[];
  gpus: GpuInfo[];
  /** Providers worth trying, and why the others are not. */
  providers: Partial<Record<Provider, { available: boolean; why: string }>>;
  /** Added to the cells' environment (Vulkan fallbacks). */
  childEnv: Record<string, string>;
}

const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib64', '/lib64', '/usr/lib', '/lib', '/usr/local/lib', '/usr/local/nvidia/lib64', '/usr/local/cuda/lib64', '/usr/lib/wsl/lib'];

let ldCache: string | undefined;
/** Where the dynamic loader would find `name` (LD_LIBRARY_PATH, ldconfig's cache, the usual folders), or undefined. */
export function findLibrary(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  for (const d of dirs) if (existsSync(path.join(d, name))) return path.join(d, name);
  if (ldCache === undefined) {
    ldCache = '';
    for (const ldconfig of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
      const r = spawnSync(ldconfig, ['-p'], { encoding: 'utf8' });
      if (r.status === 0) { ldCache = r.stdout; break; }
    }
  }
  const hit = ldCache.split('\n').find((l) => l.trim().startsWith(`${name} `) && /x86-64|x86_64/.test(l));
  if (hit) return hit.split('=>').pop()!.trim();
  for (const d of LIB_DIRS) if (existsSync(path.join(d, name))) return path.join(d, name);
  return undefined;
}

/** Vulkan ICD manifests the loader would read (VK_DRIVER_FILES / VK_ICD_FILENAMES replace the search). */
export function icdFiles(env: NodeJS.ProcessEnv = process.env, searchRoots?: string[]): { files: string[]; from: string } {
  const explicit = env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES;
  if (explicit) return { files: explicit.split(':').filter(Boolean), from: env.VK_DRIVER_FILES ? 'VK_DRIVER_FILES' : 'VK_ICD_FILENAMES' };
  const roots = searchRoots ?? [
    ...(env.XDG_CONFIG_DIRS || '/etc/xdg').split(':'), '/etc',
    ...(env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':'), '/usr/local/share', '/usr/share',
    path.join(env.HOME ?? os.homedir(), '.local/share'),
  ];
  const files: string[] = [];
  for (const r of [...new Set(roots.filter(Boolean))]) {
    const d = path.join(r, 'vulkan/icd.d');
    try {
      for (const f of readdirSync(d).sort()) if (f.endsWith('.json')) files.push(path.join(d, f));
    } catch { /* absent */ }
  }
  return { files, from: 'the standard folders (/etc/vulkan/icd.d, /usr/share/vulkan/icd.d, …)' };
}

const require_ = createRequire(import.meta.url);

function run(cmd: string, args: string[], timeoutMs = 20000): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) return { ok: false, out: (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : r.error.message };
  return { ok: r.status === 0, out: (r.stdout + (r.status === 0 ? '' : r.stderr)).trim() };
}

/** The folder onnxruntime-node loads its binaries from on this platform. */
export function ortBinDir(): string {
  const pkg = path.dirname(require_.resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin/napi-v6', process.platform, process.arch);
}

/**
 * `env` (default process.env) and `icdSearchRoots` (default the Vulkan loader's folders) are
 * there for tests; `root` is the project or bundle (its runtime/lib may hold libvulkan.so.1);
 * files written for the cells (an ICD manifest) go to `workDir`.
 */
export function checkEnvironment(o: { root: string; workDir: string; env?: NodeJS.ProcessEnv; icdSearchRoots?: string[] }): Environment {
  const penv = o.env ?? process.env;
  const findLib = (name: string) => findLibrary(name, penv);
  const checks: EnvCheck[] = [];
  const childEnv: Record<string, string> = {};
  const providers: Environment['providers'] = { cpu: { available: true, why: 'bundled with onnxruntime-node' } };
  let gpus: GpuInfo[] = [];

  // nvidia-smi: the GPU, and where GPU memory figures come from.
  const smi = run('nvidia-smi', ['--query-gpu=index,name,driver_version,memory.total,memory.used', '--format=csv,noheader,nounits']);
  if (smi.ok) {
    gpus = smi.out.split('\n').filter(Boolean).map((l) => {
      const [index, name, driver, total, used] = l.split(',').map((s) => s.trim());
      return { index: Number(index), name, driver, memTotalMiB: Number(total), memUsedMiB: Number(used) };
    });
    checks.push({ name: 'nvidia-smi', ok: true, detail: gpus.map((g) => `GPU ${g.index}: ${g.name}, driver ${g.driver}, ${(g.memTotalMiB / 1024).toFixed(0)} GiB (${g.memUsedMiB} MiB used)`).join('; ') });
  } else {
    checks.push({ name: 'nvidia-smi', ok: false, detail: `nvidia-smi ${smi.out}`, fix: 'no NVIDIA GPU visible (or no driver): GPU memory and utilisation are not recorded; in a container, start it with the GPU (--gpus all / the NVIDIA container runtime)' });
  }

  // Vulkan, for the WebGPU provider (Dawn dlopens libvulkan.so.1, which reads the ICD manifests).
  const bundledLib = path.join(o.root, 'runtime/lib');
  const vk = findLib('libvulkan.so.1');
  let vulkanOk = true;
  if (vk) {
    checks.push({ name: 'libvulkan.so.1', ok: true, detail: vk });
  } else if (existsSync(path.join(bundledLib, 'libvulkan.so.1'))) {
    childEnv.LD_LIBRARY_PATH = [bundledLib, penv.LD_LIBRARY_PATH].filter(Boolean).join(':');
    checks.push({ name: 'libvulkan.so.1', ok: true, detail: `not on the host: using the bundle's copy (${bundledLib}, from the build host's libvulkan1) through LD_LIBRARY_PATH` });
  } else {
    vulkanOk = false;
    checks.push({ name: 'libvulkan.so.1', ok: false, detail: 'the Vulkan loader is not on this host and the bundle has none', fix: 'apt-get install libvulkan1 (Debian/Ubuntu), or copy libvulkan.so.1 into runtime/lib/ of the bundle' });
  }
  const icd = icdFiles(penv, o.icdSearchRoots);
  const manifests = icd.files.map((f) => {
    try {
      const j = JSON.parse(readFileSync(f, 'utf8')) as { ICD?: { library_path?: string } };
      return { file: f, lib: j.ICD?.library_path ?? '' };
    } catch (err) {
      return { file: f, lib: '', error: (err as Error).message };
    }
  });
  const nvidia = manifests.filter((m) => /nvidia/i.test(m.file) || /nvidia/i.test(m.lib));
  const others = manifests.filter((m) => !nvidia.includes(m));
  const glx = findLib('libGLX_nvidia.so.0');
  if (nvidia.length) {
    const m = nvidia[0];
    const lib = m.lib ? (path.isAbsolute(m.lib) ? (existsSync(m.lib) ? m.lib : undefined) : findLib(m.lib)) : undefined;
    if (lib) checks.push({ name: 'NVIDIA Vulkan ICD', ok: true, detail: `${m.file} → ${lib}` });
    else {
      vulkanOk = false;
      checks.push({ name: 'NVIDIA Vulkan ICD', ok: false, detail: `${m.file} names "${m.lib || '(nothing)'}", which is not on this host`, fix: 'the driver\'s Vulkan library is missing: in a container, set NVIDIA_DRIVER_CAPABILITIES=all (or compute,utility,graphics) so the NVIDIA runtime mounts it' });
    }
  } else if (glx && !(penv.VK_DRIVER_FILES || penv.VK_ICD_FILENAMES)) {
    // The driver is there without its manifest (containers mount the library but not always
    // /usr/share/vulkan/icd.d): write the manifest the driver package installs.
    mkdirSync(o.workDir, { recursive: true });
    const f = path.join(o.workDir, 'nvidia_icd.json');
    writeFileSync(f, JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: 'libGLX_nvidia.so.0', api_version: '1.3.0' } }, null, 2) + '\n');
    childEnv.VK_ICD_FILENAMES = f;
    childEnv.VK_DRIVER_FILES = f;
    checks.push({ name: 'NVIDIA Vulkan ICD', ok: true, detail: `no nvidia_icd.json in ${icd.from}, but the driver's ${glx} is here: wrote ${f} and pointed VK_ICD_FILENAMES at it` });
  } else {
    vulkanOk = false;
    checks.push({
      name: 'NVIDIA Vulkan ICD', ok: false,
      detail: `no NVIDIA ICD manifest (nvidia_icd.json) in ${icd.from}${glx ? '' : ', and no libGLX_nvidia.so.0 (the driver\'s Vulkan library)'}`,
      fix: glx ? `set VK_ICD_FILENAMES to an nvidia_icd.json naming ${glx}` : 'install the NVIDIA driver\'s Vulkan part (libnvidia-gl / nvidia-vulkan-icd), or in a container set NVIDIA_DRIVER_CAPABILITIES=all (or compute,utility,graphics)',
    });
  }
  if (others.length) {
    checks.push({ name: 'other Vulkan drivers', ok: null, detail: `${others.map((m) => path.basename(m.file)).join(', ')}: WebGPU may pick one of these (a software one such as lavapipe is slow); the GPU utilisation column tells` });
  }
  providers.webgpu = vulkanOk
    ? { available: true, why: 'bundled with onnxruntime-node; Vulkan loader and NVIDIA ICD found' }
    : { available: true, why: 'bundled with onnxruntime-node, but Vulkan is incomplete (see the checks): it is tried and will probably fail or run on a software adapter' };

  // CUDA: onnxruntime-node's install script downloads these; the project disables it.
  let ortDir = '';
  try { ortDir = ortBinDir(); } catch (err) { checks.push({ name: 'onnxruntime-node', ok: false, detail: (err as Error).message }); }
  const cudaLib = path.join(ortDir, 'libonnxruntime_providers_cuda.so');
  const sharedLib = path.join(ortDir, 'libonnxruntime_providers_shared.so');
  if (ortDir && existsSync(cudaLib) && existsSync(sharedLib)) {
    const needs = ['libcudart.so.12', 'libcublas.so.12', 'libcublasLt.so.12', 'libcufft.so.11', 'libcudnn.so.9'];
    const missing = needs.filter((n) => !findLib(n));
    checks.push({ name: 'CUDA provider', ok: missing.length === 0, detail: `${cudaLib} present${missing.length ? `; missing CUDA libraries: ${missing.join(', ')}` : '; CUDA 12 and cuDNN 9 libraries found'}`, fix: missing.length ? 'install CUDA 12 and cuDNN 9 runtime libraries (or put them on LD_LIBRARY_PATH): tried anyway' : undefined });
    providers.cuda = { available: true, why: missing.length ? `binaries present, ${missing.join(', ')} missing: tried anyway` : 'binaries and CUDA libraries present' };
    if (existsSync(path.join(ortDir, 'libonnxruntime_providers_tensorrt.so'))) providers.tensorrt = { available: true, why: 'binaries present (only run when --providers names it)' };
  } else {
    const why = `libonnxruntime_providers_cuda.so / _shared.so are not in ${ortDir || 'onnxruntime-node'}: onnxruntime-node's install script downloads them (NuGet Microsoft.ML.OnnxRuntime.Gpu.Linux 1.30.0), and this project disables it`;
    checks.push({ name: 'CUDA provider', ok: null, detail: `skipped: ${why}`, fix: `to try it: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install on a host with internet, or copy both .so files from that package's runtimes/linux-x64/native/ into ${ortDir}` });
    providers.cuda = { available: false, why };
  }
  return { checks, gpus, providers, childEnv };
}

function checkLines(env: Environment): string[] {
  const mark = (c: EnvCheck) => (c.ok === true ? 'ok  ' : c.ok === false ? 'MISSING' : 'note');
  return env.checks.flatMap((c) => [`  [${mark(c)}] ${c.name}: ${c.detail}`, ...(c.fix ? [`         → ${c.fix}`] : [])]);
}

// ---------------------------------------------------------------------------------------------
// The graph of one cell

export interface CellSpec {
  pipeline: Pipeline;
  provider: Provider;
  streams: number;
  seconds: number;
  warmup: number;
  /** 0: unpaced (block queues, capacity); > 0: each stream paced like a camera, gpu.yml's queues. */
  fps: number;
  dataDir: string;
  graphFile: string;
  cpuWorkers: number;
  gpuWorkers: number;
  /** Undefined: gpu.yml's. */
  maxBatch?: number;
  overrides?: string;
  /** Longest wait for every stream's first frame out (session start-up, shader compilation). */
  startTimeoutS: number;
}

const SOURCE_TYPES = new Set(['rtsp-source', 'file-source', 'synthetic-source']);
const DELIVERY_TYPES = new Set(['s3-sink', 'fastapi-sink', 'webhook-sink', 'local-store', 'debug-sink']);

type GraphValue = { nodes: Record<string, Record<string, unknown>> } & Record<string, unknown>;

function inputsOf(n: Record<string, unknown>): Record<string, unknown> {
  return (n.inputs as Record<string, unknown> | undefined) ?? {};
}
function fromList(v: unknown): string[] {
  const f = v && typeof v === 'object' && !Array.isArray(v) ? (v as { from: unknown }).from : v;
  return (Array.isArray(f) ? f : [f]).filter((x): x is string => typeof x === 'string');
}

/**
 * graphs/gpu.yml (with what it extends) turned into the cell's graph: its camera replaced by
 * `streams` raw-frame sources all feeding the detector, its delivery sinks replaced by counters,
 * the providers set to the cell's one. `detect` keeps only the detector; `full` keeps every
 * node between (tracking with appearance, pose, posture, zones, gate, snapshot).
 */
export function buildGraph(spec: CellSpec, data: DataManifest, registry: Registry): GraphValue {
  const env = {
    ...process.env,
    MEDIA_RPI_RTSP_URL: 'rtsp://bench.invalid/unused', FASTAPI_ENDPOINT: 'http://bench.invalid', FASTAPI_TOKEN: 'unused', S3_BUCKET: 'unused',
    YOLO_MODEL_PATH: data.models.detector.id,
    ...(data.models.pose ? { POSE_MODEL: data.models.pose.id } : {}),
  };
  const loaded = loadGraphFile(spec.graphFile, { env });
  const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length || !loaded.value) throw new Error(`${spec.graphFile}: ${errors.map((d) => `${d.file}:${d.line}: ${d.message}`).join('; ') || 'could not be read'}`);
  const g = structuredClone(loaded.value) as GraphValue;
  delete g.extends;
  g.status = { enabled: false };
  g.name = `gpu-bench-${spec.pipeline}-${spec.provider}-${spec.streams}`;
  const typeOf = (id: string) => String(g.nodes[id]?.type ?? '');
  const sources = Object.keys(g.nodes).filter((id) => SOURCE_TYPES.has(typeOf(id)));
  if (sources.length === 0) throw new Error(`${spec.graphFile}: no camera source node to replace`);
  const detectors = Object.keys(g.nodes).filter((id) => typeOf(id) === 'yolo');
  if (detectors.length !== 1) throw new Error(`${spec.graphFile}: expected one yolo node, found ${detectors.length}`);
  const detect = detectors[0];
  // What the delivery sinks were fed: the events counter takes their place.
  const delivered = new Set(Object.keys(g.nodes).filter((id) => DELIVERY_TYPES.has(typeOf(id))).flatMap((id) => Object.values(inputsOf(g.nodes[id])).flatMap(fromList)));
  for (const id of sources) delete g.nodes[id];
  for (const id of Object.keys(g.nodes)) if (DELIVERY_TYPES.has(typeOf(id))) delete g.nodes[id];
  if (spec.pipeline === 'detect') for (const id of Object.keys(g.nodes)) if (id !== detect) delete g.nodes[id];

  // The streams.
  const framesFile = path.resolve(spec.dataDir, data.frames);
  const cams: string[] = [];
  for (let i = 0; i < spec.streams; i++) {
    const id = `cam${String(i + 1).padStart(2, '0')}`;
    cams.push(id);
    // Offsets spread the streams over the clip: a batch holds different pictures.
    g.nodes[id] = { type: 'bench-raw-frames', file: framesFile, offset: Math.floor((i * 2 * (data.count - 1)) / Math.max(1, spec.streams)), fps: spec.fps };
  }
  const gone = new Set(sources);
  for (const [id, n] of Object.entries(g.nodes)) {
    const ins = inputsOf(n);
    for (const [port, v] of Object.entries(ins)) {
      const from = fromList(v);
      const rewired = from.flatMap((f) => (gone.has(f.split('.')[0]) ? cams.map((c) => `${c}.frames`) : [f]));
      if (rewired.some((f) => !g.nodes[f.split('.')[0]])) { delete g.nodes[id]; break; } // fed only by what was removed
      const queue = v && typeof v === 'object' && !Array.isArray(v) ? (v as { queue?: unknown }).queue : undefined;
      // Unpaced streams measure capacity: every frame processed once (block), nothing dropped.
      ins[port] = { from: rewired.length === 1 ? rewired[0] : rewired, ...(spec.fps > 0 ? (queue !== undefined ? { queue } : {}) : { queue: { block: 8 } }) };
    }
  }

  // The cell's provider everywhere a node takes one.
  const d = g.nodes[detect];
  const gpuModel = data.models.detectorDynamic ? path.resolve(spec.dataDir, data.models.dir, data.models.detectorDynamic) : data.models.detector.id;
  if (spec.provider === 'cpu') {
    // One single-thread session per core is the CPU's best (npm run bench -- yolo); batching buys nothing there.
    Object.assign(d, { providers: ['cpu'], model: data.models.detector.id, workers: spec.cpuWorkers, threads: 1, max_batch: 1, concurrency: spec.cpuWorkers });
  } else {
    const maxBatch = data.models.detectorDynamic ? (spec.maxBatch ?? Number(d.max_batch ?? 4)) : 1;
    Object.assign(d, { providers: [spec.provider], model: gpuModel, workers: spec.gpuWorkers, max_batch: maxBatch, concurrency: spec.gpuWorkers * maxBatch });
  }
  // Pose and re-id models on the cell's provider too, falling back to the CPU (the table says
  // where they ran): the cell measures the detector's provider, and one of them failing to
  // load there should not cost the whole cell.
  const secondary = [...new Set([spec.provider === 'tensorrt' ? 'cuda' : spec.provider, 'cpu'])];
  for (const [id, n] of Object.entries(g.nodes)) {
    if (id === detect) continue;
    if (Array.isArray(n.providers)) n.providers = secondary;
    const app = n.appearance as Record<string, unknown> | undefined;
    if (app && Array.isArray(app.providers)) app.providers = secondary;
    if (typeOf(id) === 'rtmpose' && data.models.pose) n.model = data.models.pose.id;
  }

  // Counters where the frames end (the last node putting out detections) and where the
  // delivery sinks took the events.
  const detOut = (id: string) => Object.hasOwn(registry.get(typeOf(id))?.outputs ?? {}, 'detections');
  const consumers = (ref: string) => Object.entries(g.nodes).filter(([, n]) => Object.values(inputsOf(n)).some((v) => fromList(v).includes(ref))).map(([id]) => id);
  const last = Object.keys(g.nodes).filter((id) => detOut(id) && !consumers(`${id}.detections`).some(detOut));
  if (last.length !== 1) throw new Error(`${spec.graphFile}: cannot tell where frames end (${last.join(', ') || 'no detections output'})`);
  g.nodes.frames_out = { type: 'bench-stream-counter', inputs: { in: { from: `${last[0]}.detections`, queue: { block: 16 } } } };
  const evs = [...delivered].filter((ref) => g.nodes[ref.split('.')[0]]);
  if (evs.length) g.nodes.events_out = { type: 'bench-stream-counter', inputs: { in: { from: evs, queue: { block: 16 } } } };

  if (spec.overrides) {
    let over: unknown;
    try { over = parseYaml(readFileSync(spec.overrides, 'utf8')); } catch (err) { throw new Error(`--overrides ${spec.overrides}: ${(err as Error).message}`); }
    return mergeGraphs(g, over) as GraphValue;
  }
  return g;
}

// ---------------------------------------------------------------------------------------------
// One cell, in its own process

export interface CellResult {
  spec: Omit<CellSpec, 'dataDir' | 'graphFile'>;
  ok: boolean;
  error?: string;
  /** The provider the detector reports running on (its status line). */
  ranOn?: string;
  /** Where the pose and re-id models ran (full pipeline; they may fall back to the CPU). */
  alsoRanOn?: Record<string, string>;
  detectStatus?: string;
  /** Epoch ms of the measured window (the parent matches nvidia-smi samples to it). */
  windowStart?: number;
  windowEnd?: number;
  startupS?: number;
  frames?: number;
  totalFps?: number;
  perStreamFps?: number[];
  meanBatch?: number;
  inferMsPerBatch?: number;
  detectionsPerFrame?: number;
  events?: number;
  processCores?: number;
  hostCpuBusy?: number;
  latencyMs?: { p50: number; p95: number };
  drops?: number;
  nodeErrors?: number;
  checks: { name: string; ok: boolean; detail: string }[];
  nodes?: { id: string; p50Ms: number | null; p95Ms: number | null; text: string }[];
}

function hostCpu(): { busy: number; total: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - f[3] - (f[4] ?? 0), total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

async function yoloCounters(app: App, node: string): Promise<{ batches: number; inferSum: number; inferCount: number }> {
  const all = await app.runtime.metrics.registry.getMetricsAsJSON();
  let batches = 0, inferSum = 0, inferCount = 0;
  for (const m of all) {
    for (const v of m.values as { value: number; labels: Record<string, unknown>; metricName?: string }[]) {
      if (v.labels.node_id !== node) continue;
      if (m.name === 'graphrun_yolo_batches_total') batches = v.value;
      if (v.metricName === 'graphrun_yolo_inference_seconds_sum') inferSum = v.value;
      if (v.metricName === 'graphrun_yolo_inference_seconds_count') inferCount = v.value;
    }
  }
  return { batches, inferSum, inferCount };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
}

export async function runCell(spec: CellSpec, log: (s: string) => void = () => undefined): Promise<CellResult> {
  const { dataDir: _d, graphFile: _g, ...shown } = spec;
  const res: CellResult = { spec: shown, ok: false, checks: [] };
  const data = readData(spec.dataDir);
  const registry = new Registry([...builtinNodes, ...gpuBenchNodes]);
  const graph = buildGraph(spec, data, registry);
  const detect = Object.keys(graph.nodes).find((id) => graph.nodes[id].type === 'yolo')!;
  const t0 = performance.now();
  let app: App | undefined;
  resetProbes();
  try {
    app = await startGraph(toYaml(graph), registry, graph.name as string);
    const rt = app.runtime;
    const frames = streamProbe('frames_out');
    const events = streamProbe('events_out');
    const detectNode = () => rt.snapshot().nodes.find((n) => n.id === detect)!;
    // Start-up: every stream's first frame out, or the detector failing (no provider loads).
    const deadline = t0 + spec.startTimeoutS * 1000;
    for (;;) {
      if (frames.perStream.size >= spec.streams) break;
      // A node failing before its first packet out failed to start (a provider that does not
      // load, a model it cannot read): say so now rather than at the time-out.
      const broken = rt.snapshot().nodes.find((x) => x.errors > 0 && x.packetsOut === 0 && x.lastError);
      if (broken) throw new Error(`${broken.id}: ${broken.lastError}`);
      const n = detectNode();
      if (performance.now() > deadline) throw new Error(`after ${spec.startTimeoutS} s only ${frames.perStream.size} of ${spec.streams} streams had a frame out (detector: ${n.state}, ${n.text || 'no status'})`);
      await sleep(100);
    }
    res.startupS = (performance.now() - t0) / 1000;
    log(`  started in ${res.startupS.toFixed(1)} s: ${detectNode().text}`);
    await sleep(spec.warmup * 1000);

    const snap = () => ({ at: performance.now(), epoch: Date.now(), cpu: process.cpuUsage(), host: hostCpu(), frames: probeSnapshot(frames), events: events.total, lat: frames.latencies.length });
    frames.recordLatency = true;
    const errs0 = rt.snapshot().nodes.reduce((a, n) => a + n.errors, 0);
    const y0 = await yoloCounters(app, detect);
    const a = snap();
    const d0 = rt.snapshot().nodes.find((n) => n.id === detect)!.packetsOut;
    await sleep(spec.seconds * 1000);
    const b = snap();
    const y1 = await yoloCounters(app, detect);
    const after = rt.snapshot();
    const d1 = after.nodes.find((n) => n.id === detect)!.packetsOut;
    frames.recordLatency = false;

    const s = (b.at - a.at) / 1000;
    res.windowStart = a.epoch;
    res.windowEnd = b.epoch;
    res.frames = b.frames.total - a.frames.total;
    res.totalFps = res.frames / s;
    res.perStreamFps = Array.from({ length: spec.streams }, (_, i) => {
      const id = `cam${String(i + 1).padStart(2, '0')}`;
      return ((b.frames.perStream[id] ?? 0) - (a.frames.perStream[id] ?? 0)) / s;
    });
    res.meanBatch = y1.batches > y0.batches ? (d1 - d0) / (y1.batches - y0.batches) : NaN;
    res.inferMsPerBatch = y1.inferCount > y0.inferCount ? ((y1.inferSum - y0.inferSum) / (y1.inferCount - y0.inferCount)) * 1000 : NaN;
    res.detectionsPerFrame = res.frames > 0 ? (b.frames.detections - a.frames.detections) / res.frames : NaN;
    res.events = b.events - a.events;
    res.processCores = ((b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system) / 1e6) / s;
    res.hostCpuBusy = (b.host.busy - a.host.busy) / (b.host.total - a.host.total);
    const lats = frames.latencies.slice(a.lat, b.lat);
    res.latencyMs = { p50: quantile(lats, 0.5), p95: quantile(lats, 0.95) };
    res.drops = after.edges.reduce((x, e) => x + Object.values(e.drops).reduce((p, q) => p + q, 0), 0);
    res.nodeErrors = after.nodes.reduce((x, n) => x + n.errors, 0) - errs0;
    const dn = after.nodes.find((n) => n.id === detect)!;
    res.detectStatus = dn.text;
    res.ranOn = /\bon (\w+)/.exec(dn.text)?.[1];
    for (const n of after.nodes) {
      if (n.type === 'rtmpose') (res.alsoRanOn ??= {}).pose = /\bon (\w+)/.exec(n.text)?.[1] ?? '?';
      if (n.type === 'bytetrack' && /appearance/.test(n.text)) (res.alsoRanOn ??= {})['re-id'] = /appearance \S+ on (\w+)/.exec(n.text)?.[1] ?? '?';
    }
    res.nodes = after.nodes.filter((n) => !n.source).map((n) => ({ id: n.id, p50Ms: n.p50Ms, p95Ms: n.p95Ms, text: n.text }));

    const idle = res.perStreamFps.filter((f) => f === 0).length;
    res.checks.push({ name: 'every stream served', ok: idle === 0, detail: idle ? `${idle} of ${spec.streams} streams had no frame out in the window` : `${spec.streams} of ${spec.streams}` });
    res.checks.push({ name: 'ran on the provider asked for', ok: res.ranOn === spec.provider, detail: `detector: ${dn.text}` });
    res.checks.push({ name: 'no node errors', ok: res.nodeErrors === 0, detail: `${res.nodeErrors} in the window${dn.lastError ? `; detector's last: ${dn.lastError}` : ''}` });
    if (spec.fps === 0) res.checks.push({ name: 'nothing dropped (block queues)', ok: res.drops === 0, detail: `${res.drops} drops` });
    res.ok = res.checks.every((c) => c.ok);
  } catch (err) {
    res.error = (err as Error).message;
  } finally {
    if (app) await within(app.stop(), 30000, 'stopping the graph').catch((err: unknown) => { res.checks.push({ name: 'graph stopped', ok: false, detail: (err as Error).message }); });
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// nvidia-smi sampling (parent side)

interface GpuSample { at: number; memUsedMiB: number; util: number }

class GpuSampler {
  private child: ChildProcess | undefined;
  private buf = '';
  samples: GpuSample[] = [];
  /** Peak MiB per pid seen in --query-compute-apps (CUDA contexts; Vulkan ones may not be listed). */
  private appsTimer: NodeJS.Timeout | undefined;
  procPeakMiB = new Map<number, number>();

  start(): boolean {
    const c = spawn('nvidia-smi', ['--query-gpu=memory.used,utilization.gpu', '--format=csv,noheader,nounits', '-lms', '250'], { stdio: ['ignore', 'pipe', 'ignore'] });
    c.on('error', () => undefined);
    c.stdout.on('data', (chunk: Buffer) => {
      this.buf += chunk.toString();
      const lines = this.buf.split('\n');
      this.buf = lines.pop()!;
      // One line per GPU per tick: sum memory, keep the busiest GPU's utilisation.
      const now = Date.now();
      for (const l of lines) {
        const [mem, util] = l.split(',').map((x) => Number(x.trim()));
        if (!Number.isFinite(mem)) continue;
        const lastS = this.samples[this.samples.length - 1];
        if (lastS && now - lastS.at < 50) { lastS.memUsedMiB += mem; lastS.util = Math.max(lastS.util, util); } else this.samples.push({ at: now, memUsedMiB: mem, util });
      }
    });
    this.child = c;
    this.appsTimer = setInterval(() => {
      const r = spawnSync('nvidia-smi', ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 5000 });
      if (r.status !== 0) return;
      for (const l of r.stdout.split('\n')) {
        const [pid, mem] = l.split(',').map((x) => Number(x.trim()));
        if (Number.isFinite(pid) && Number.isFinite(mem)) this.procPeakMiB.set(pid, Math.max(this.procPeakMiB.get(pid) ?? 0, mem));
      }
    }, 1000);
    return true;
  }

  /** Resolves once nvidia-smi printed its first sample (or after `ms`). */
  async ready(ms = 10000): Promise<void> {
    const until = Date.now() + ms;
    while (this.samples.length === 0 && Date.now() < until) await sleep(50);
  }

  /** Latest device-wide memory in use. */
  latest(): number {
    return this.samples[this.samples.length - 1]?.memUsedMiB ?? NaN;
  }

  between(from: number, to: number): { peakMiB: number; meanUtil: number } {
    const s = this.samples.filter((x) => x.at >= from && x.at <= to);
    return { peakMiB: Math.max(...s.map((x) => x.memUsedMiB)), meanUtil: s.reduce((a, x) => a + x.util, 0) / s.length };
  }

  stop(): void {
    clearInterval(this.appsTimer);
    this.child?.kill();
  }
}

// ---------------------------------------------------------------------------------------------
// The matrix (parent)

export interface MatrixCell extends CellResult {
  /** The cell process's last stderr lines, kept when it failed (Dawn and driver messages land there). */
  stderrTail?: string[];
  gpu?: { memBeforeMiB: number; memPeakMiB: number; procPeakMiB: number | null; meanUtil: number };
  skipped?: string;
  wallS: number;
}

export interface GpuReport {
  format: 'graphrun-gpu-bench/1';
  startedAt: string;
  finishedAt?: string;
  argv: string[];
  machine: MachineInfo;
  bundle: Record<string, unknown> | null;
  environment: Omit<Environment, 'childEnv'> & { childEnv: Record<string, string> };
  data: DataManifest;
  settings: Record<string, unknown>;
  cells: MatrixCell[];
}

function cellInChild(spec: CellSpec, env: NodeJS.ProcessEnv, timeoutMs: number, log: (s: string) => void): Promise<{ result?: CellResult; error?: string; pid?: number; stderrTail: string[] }> {
  return new Promise((resolve) => {
    const child = fork(SELF, ['cell', JSON.stringify(spec)], { env, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    let result: CellResult | undefined;
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000);
    });
    child.on('message', (m: { type: string; result?: CellResult; line?: string }) => {
      if (m.type === 'result') result = m.result;
      if (m.type === 'log' && m.line) log(m.line);
    });
    const timer = setTimeout(() => { log(`  cell over its ${Math.round(timeoutMs / 1000)} s: killed`); child.kill('SIGKILL'); }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const stderrTail = stderr.trim().split('\n').filter(Boolean).slice(-8);
      if (result) resolve({ result, pid: child.pid, stderrTail });
      else resolve({ error: `cell process ended (${signal ?? `exit ${code}`}) without a result${stderrTail.length ? `: ${stderrTail.slice(-3).join(' | ')}` : ''}`, pid: child.pid, stderrTail });
    });
  });
}

/** onnxruntime's messages start with its source path and a C++ signature: keep what they say. */
export function tidyError(msg: string): string {
  return msg.replace(/\/onnxruntime_src\/\S+:\d+ (?:\S+::)*?\S*?(?:\([^)]*\))?(?:::<lambda\(\)>)? /g, '');
}

function num(x: number | undefined, d?: number): string {
  return x === undefined || !Number.isFinite(x) ? '–' : fmt(x, d);
}

export function markdownReport(r: GpuReport): string {
  const out: string[] = [];
  out.push(`# graphrun GPU bench — ${r.startedAt}`, '');
  out.push(`- Machine: ${machineLine(r.machine)}`);
  if (r.environment.gpus.length) out.push(`- GPU: ${r.environment.gpus.map((g) => `${g.name} (driver ${g.driver}, ${(g.memTotalMiB / 1024).toFixed(0)} GiB)`).join('; ')}`);
  else out.push('- GPU: none visible (no nvidia-smi)');
  if (r.bundle) out.push(`- Bundle: ${String(r.bundle.commit ?? '?')} built ${String(r.bundle.createdAt ?? '?')}`);
  const s = r.settings;
  out.push(`- Streams: ${r.data.count} frames of ${r.data.clip} at ${r.data.width}x${r.data.height}, played back and forth; ${Number(s.fps) > 0 ? `paced at ${String(s.fps)} fps each, gpu.yml's queues` : 'unpaced (as fast as accepted, block queues: the figures are capacity)'}`);
  out.push(`- Window: ${String(s.seconds)} s per cell after ${String(s.warmup)} s warm-up; cpu: ${String(s.cpuWorkers)} workers × 1 thread, batch 1; GPU providers: ${String(s.gpuWorkers)} workers, max batch ${String(s.maxBatch ?? 'of gpu.yml')} (${r.data.models.detectorDynamic ? 'dynamic-batch copy of the detector' : 'fixed batch 1: no dynamic copy'})`);
  out.push('- Environment:');
  for (const l of checkLines(r.environment as Environment)) out.push(`  ${l.trim()}`);
  out.push('');
  out.push('| pipeline | provider | streams | fps/stream min · med · max | total fps | batch | ms/batch | latency ms p50 · p95 | dets/frame | CPU cores (host busy) | GPU util | GPU MiB before → peak (Δ) | notes |');
  out.push('|---|---|---:|---|---:|---:|---:|---|---:|---|---:|---|---|');
  for (const c of r.cells) {
    const sp = c.spec;
    if (c.skipped || c.error) {
      out.push(`| ${sp.pipeline} | ${sp.provider} | ${sp.streams} | – | – | – | – | – | – | – | – | – | ${(c.skipped ? `skipped: ${c.skipped}` : `failed: ${c.error}`).replace(/\|/g, '/').slice(0, 300)} |`);
      continue;
    }
    const ps = c.perStreamFps ?? [];
    const g = c.gpu;
    const gpuMem = g ? `${num(g.memBeforeMiB, 0)} → ${num(g.memPeakMiB, 0)} (+${num(g.memPeakMiB - g.memBeforeMiB, 0)})${g.procPeakMiB !== null ? `, process ${g.procPeakMiB}` : ''}` : '–';
    const failed = c.checks.filter((x) => !x.ok).map((x) => `${x.name}: ${x.detail}`);
    const also = Object.entries(c.alsoRanOn ?? {}).map(([k, v]) => `${k} on ${v}`);
    if (sp.fps > 0 && c.drops) also.push(`${c.drops} frames dropped (latest queues: the chain fell behind the cameras)`);
    const ran = c.ranOn && c.ranOn !== sp.provider ? `${sp.provider} (ran on ${c.ranOn})` : sp.provider;
    out.push(`| ${sp.pipeline} | ${ran} | ${sp.streams} | ${num(Math.min(...ps))} · ${num(quantile(ps, 0.5))} · ${num(Math.max(...ps))} | ${num(c.totalFps)} | ${num(c.meanBatch)} | ${num(c.inferMsPerBatch)} | ${num(c.latencyMs?.p50, 0)} · ${num(c.latencyMs?.p95, 0)} | ${num(c.detectionsPerFrame)} | ${num(c.processCores)} (${num((c.hostCpuBusy ?? NaN) * 100, 0)}%) | ${g ? `${num(g.meanUtil, 0)}%` : '–'} | ${gpuMem} | ${[...also, ...failed].join('; ').replace(/\|/g, '/').slice(0, 300)} |`);
  }
  const failures = r.cells.filter((c) => c.error && c.stderrTail?.length);
  if (failures.length) {
    out.push('', 'What the failed cells wrote last (stderr):', '');
    for (const c of failures) out.push(`- ${c.spec.pipeline} ${c.spec.provider} ×${c.spec.streams}:`, '', '  ```', ...c.stderrTail!.map((l) => `  ${l.slice(0, 300)}`), '  ```');
  }
  out.push('');
  out.push('Reading it: total fps is frames out of the last per-frame node (detect: the detector; full: zones, after tracking, pose and posture) per second over the window; ' +
    'fps/stream: the slowest, median and fastest stream (close together when the detector serves the streams fairly). batch = frames per inference; ms/batch = letterbox + run + decode per inference; latency = capture stamp to the end of the chain (unpaced, mostly queueing behind the block queues; paced with --fps, how long a camera frame waits). ' +
    'dets/frame should agree across providers (same frames): a provider computing garbage shows here. CPU cores = this process (every thread) over the window; host busy = all cores of the host. ' +
    'GPU columns come from nvidia-smi (device-wide memory, sampled every 250 ms during the cell; "process" where nvidia-smi lists the process as a compute app).');
  return out.join('\n') + '\n';
}

interface RunOptions {
  root: string;
  dataDir: string;
  providers: Provider[] | undefined;
  streams: number[];
  pipelines: Pipeline[];
  seconds: number;
  warmup: number;
  fps: number;
  cpuWorkers: number;
  gpuWorkers: number;
  maxBatch?: number;
  overrides?: string;
  out: string;
  local: boolean;
  argv: string[];
}

async function runMatrix(o: RunOptions): Promise<number> {
  const log = (s: string) => process.stderr.write(s + '\n');
  const data = readData(o.dataDir);
  const stamp = fileStamp(new Date());
  const env = checkEnvironment({ root: o.root, workDir: path.join(o.out, `${stamp}-env`) });
  log('graphrun GPU bench — environment:');
  for (const l of checkLines(env)) log(l);
  const bundleFile = path.join(o.root, 'BUNDLE.json');
  const bundle = existsSync(bundleFile) ? (JSON.parse(readFileSync(bundleFile, 'utf8')) as Record<string, unknown>) : null;

  // Providers: given, or every one that can be tried here (the local mode: cpu only).
  const providers: Provider[] = o.providers ?? (o.local ? ['cpu'] : (['webgpu', 'cuda', 'cpu'] as Provider[]));
  const graphFile = path.join(o.root, 'graphs/gpu.yml');
  const report: GpuReport = {
    format: 'graphrun-gpu-bench/1', startedAt: new Date().toISOString(), argv: o.argv, machine: machineInfo(o.root), bundle,
    environment: env, data,
    settings: { providers, streams: o.streams, pipelines: o.pipelines, seconds: o.seconds, warmup: o.warmup, fps: o.fps, cpuWorkers: o.cpuWorkers, gpuWorkers: o.gpuWorkers, maxBatch: o.maxBatch, overrides: o.overrides, local: o.local },
    cells: [],
  };
  const sampler = env.gpus.length ? new GpuSampler() : undefined;
  sampler?.start();
  await sampler?.ready();
  mkdirSync(o.out, { recursive: true });
  const jsonFile = path.join(o.out, `gpu-${stamp}.json`);
  const mdFile = path.join(o.out, `gpu-${stamp}.md`);
  const save = () => writeFileSync(jsonFile, JSON.stringify(report, null, 2) + '\n');
  const cells = o.pipelines.flatMap((pipeline) => providers.flatMap((provider) => o.streams.map((streams) => ({ pipeline, provider, streams }))));
  const perCell = o.warmup + o.seconds + 10;
  log(`\n${cells.length} cells, about ${Math.ceil((cells.length * perCell) / 60)} min (${o.warmup} s warm-up + ${o.seconds} s + start-up each); results: ${jsonFile}`);
  const childEnv = { ...process.env, ...env.childEnv, GRAPHRUN_MODELS_DIR: path.resolve(o.dataDir, data.models.dir) };
  let i = 0;
  for (const c of cells) {
    i++;
    const spec: CellSpec = {
      ...c, seconds: o.seconds, warmup: o.warmup, fps: o.fps, dataDir: o.dataDir, graphFile, cpuWorkers: o.cpuWorkers, gpuWorkers: o.gpuWorkers,
      maxBatch: o.maxBatch, overrides: o.overrides, startTimeoutS: 180,
    };
    const { dataDir: _d, graphFile: _g, ...shown } = spec;
    const avail = env.providers[c.provider];
    if (!avail?.available) {
      report.cells.push({ spec: shown, ok: false, checks: [], skipped: avail?.why ?? `${c.provider} is not available here`, wallS: 0 });
      log(`[${i}/${cells.length}] ${c.pipeline} ${c.provider} ×${c.streams}: skipped (${avail?.why ?? 'not available'})`);
      save();
      continue;
    }
    if (c.pipeline === 'full' && !data.models.pose) {
      report.cells.push({ spec: shown, ok: false, checks: [], skipped: 'no pose model in the data folder', wallS: 0 });
      continue;
    }
    log(`[${i}/${cells.length}] ${c.pipeline} ${c.provider} ×${c.streams} …`);
    const before = sampler?.latest() ?? NaN;
    const t0 = Date.now();
    const r = await cellInChild(spec, childEnv, (spec.startTimeoutS + spec.warmup + spec.seconds + 60) * 1000, log);
    const t1 = Date.now();
    const cell: MatrixCell = r.result ? { ...r.result, wallS: (t1 - t0) / 1000 } : { spec: shown, ok: false, checks: [], error: r.error, wallS: (t1 - t0) / 1000 };
    if (sampler) {
      const whole = sampler.between(t0, t1);
      const win = cell.windowStart ? sampler.between(cell.windowStart, cell.windowEnd!) : whole;
      cell.gpu = { memBeforeMiB: before, memPeakMiB: whole.peakMiB, procPeakMiB: r.pid !== undefined ? (sampler.procPeakMiB.get(r.pid) ?? null) : null, meanUtil: win.meanUtil };
    }
    if (cell.error) cell.error = tidyError(cell.error);
    if (!cell.ok && r.stderrTail.length) cell.stderrTail = r.stderrTail;
    report.cells.push(cell);
    save();
    if (cell.error) log(`  failed: ${cell.error}`);
    else log(`  ${num(cell.totalFps)} frames/s in total (${num(quantile(cell.perStreamFps ?? [], 0.5))} per stream), batch ${num(cell.meanBatch)}, ${num(cell.inferMsPerBatch)} ms/batch${cell.gpu ? `, GPU ${num(cell.gpu.meanUtil, 0)}%` : ''}${cell.ok ? '' : ` — check failed: ${cell.checks.filter((x) => !x.ok).map((x) => x.name).join(', ')}`}`);
    // Let the driver hand back the memory before the next cell's "before".
    if (sampler) await sleep(1500);
  }
  sampler?.stop();
  report.finishedAt = new Date().toISOString();
  save();
  const md = markdownReport(report);
  writeFileSync(mdFile, md);
  process.stdout.write('\n' + md);
  log(`\nwrote ${jsonFile} and ${mdFile}`);
  // Exit 1 when a cell that ran failed a check or errored; skipped cells are reported, not failures.
  return report.cells.some((c) => !c.skipped && !c.ok) ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// CLI

const USAGE = `usage:
  node dist/bench/gpu.js prepare --out DIR [--frames 32] [--clip FILE] [--size 1280x720]
  node dist/bench/gpu.js check [--data DIR]
  node dist/bench/gpu.js run --data DIR [--local] [--quick] [--providers webgpu,cuda,cpu] [--streams 1,8,32]
      [--pipelines detect,full] [--seconds 20] [--warmup 5] [--fps 0] [--cpu-workers N] [--gpu-workers 1]
      [--max-batch N] [--overrides FILE.yml] [--out DIR]`;

function list<T extends string>(v: string | undefined, allowed: readonly T[], what: string): T[] | undefined {
  if (v === undefined) return undefined;
  const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const x of xs) if (!allowed.includes(x as T)) throw new Error(`--${what}: "${x}" is not one of ${allowed.join(', ')}`);
  if (!xs.length) throw new Error(`--${what}: empty`);
  return xs as T[];
}
function posInt(v: string | undefined, what: string, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${what} must be an integer ≥ ${min} (got ${v})`);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'cell') {
    // Internal: one cell, result over IPC.
    const spec = JSON.parse(rest[0]) as CellSpec;
    const logp = (line: string) => process.send?.({ type: 'log', line });
    const result = await runCell(spec, logp);
    await new Promise<void>((r) => process.send ? process.send({ type: 'result', result }, () => r()) : r());
    return 0;
  }
  let a;
  try {
    a = parseArgs({
      args: rest, allowPositionals: false,
      options: {
        out: { type: 'string' }, frames: { type: 'string' }, clip: { type: 'string' }, size: { type: 'string' },
        data: { type: 'string' }, local: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false },
        providers: { type: 'string' }, streams: { type: 'string' }, pipelines: { type: 'string' },
        seconds: { type: 'string' }, warmup: { type: 'string' }, fps: { type: 'string' },
        'cpu-workers': { type: 'string' }, 'gpu-workers': { type: 'string' }, 'max-batch': { type: 'string' }, overrides: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`gpu bench: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (a.help || !cmd) { process.stdout.write(USAGE + '\n'); return cmd ? 0 : 2; }
  const root = projectRoot();
  try {
    if (cmd === 'prepare') {
      if (!a.out) throw new Error('prepare needs --out DIR');
      const m = /^(\d+)x(\d+)$/.exec(a.size ?? '1280x720');
      if (!m) throw new Error(`--size must be WIDTHxHEIGHT (got ${a.size})`);
      await prepare({ out: a.out, frames: posInt(a.frames, 'frames', 32, 2), clip: a.clip, width: Number(m[1]), height: Number(m[2]), log: (s) => process.stderr.write(s + '\n') });
      return 0;
    }
    if (cmd === 'check') {
      const env = checkEnvironment({ root, workDir: mkdtempSync(path.join(os.tmpdir(), 'graphrun-gpu-check-')) });
      process.stdout.write(checkLines(env).join('\n') + '\n');
      for (const [p, v] of Object.entries(env.providers)) process.stdout.write(`  ${p}: ${v.available ? 'will be tried' : 'skipped'} — ${v.why}\n`);
      return 0;
    }
    if (cmd === 'run') {
      if (!a.data) throw new Error('run needs --data DIR (the bundle\'s bench-data)');
      const quick = a.quick;
      const fps = a.fps === undefined ? 0 : Number(a.fps);
      if (!(Number.isFinite(fps) && fps >= 0)) throw new Error(`--fps must be ≥ 0 (got ${a.fps})`);
      const streams = a.streams ? a.streams.split(',').map((s) => posInt(s.trim(), 'streams', 1)) : a.local ? [1, 2] : [1, 8, 32];
      return await runMatrix({
        root, dataDir: path.resolve(a.data), local: a.local, argv,
        providers: list(a.providers, PROVIDERS, 'providers'),
        streams,
        pipelines: list(a.pipelines, PIPELINES, 'pipelines') ?? ['detect', 'full'],
        seconds: posInt(a.seconds, 'seconds', quick ? 4 : 20),
        warmup: posInt(a.warmup, 'warmup', quick ? 2 : 5, 0),
        fps,
        cpuWorkers: posInt(a['cpu-workers'], 'cpu-workers', os.availableParallelism()),
        gpuWorkers: posInt(a['gpu-workers'], 'gpu-workers', 1),
        maxBatch: a['max-batch'] === undefined ? undefined : posInt(a['max-batch'], 'max-batch', 8),
        overrides: a.overrides ? path.resolve(a.overrides) : undefined,
        out: path.resolve(a.out ?? path.join(root, 'bench/results')),
      });
    }
    process.stderr.write(`gpu bench: unknown command "${cmd}"\n${USAGE}\n`);
    return 2;
  } catch (err) {
    process.stderr.write(`gpu bench: ${(err as Error).message}\n`);
    return 1;
  }
}

// Run as a script (node dist/bench/gpu.js …); imported (tests): only the exports.
if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  process.exitCode = await main(process.argv.slice(2));
  // Sessions and worker threads may keep the loop alive after the cell's graph stopped.
  if (process.argv[2] === 'cell') process.exit(process.exitCode);
}
