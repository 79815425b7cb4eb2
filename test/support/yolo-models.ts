/**
 * For the yolo node's tests: small ONNX models with outputs we know exactly (built by
 * nodes/yolo/testdata/make_models.py with Debian's python3-onnx), and still images decoded to
 * frames in shared memory the way sources deliver them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Frame } from '../../src/contract.js';
import { allocFrameBuffer } from '../../src/frames.js';
import { repoRoot } from './media.js';

const PY = '/usr/bin/python3';

export type ModelSpec =
  | { file: string; kind: 'const'; input: { name: string; shape: (number | string)[] }; outputs: { name: string; shape: (number | string)[]; data_shape?: number[]; type?: 'float' | 'int32' | 'int64'; data: number[] }[] }
  | { file: string; kind: 'classifier' | 'identity'; input: { name: string; shape: (number | string)[] } }
  | { file: string; kind: 'relabel'; from: string };

/** Build the models into a fresh temp folder; returns it. Fails with one line when python3-onnx is missing. */
export function buildModels(models: ModelSpec[]): string {
  const probe = spawnSync(PY, ['-c', 'import onnx, numpy'], { stdio: 'ignore' });
  if (probe.status !== 0) throw new Error('the yolo tests build small ONNX models with Debian\'s python3-onnx: apt-get install -y python3-onnx (or npm test as root installs it)');
  const dir = mkdtempSync(path.join(tmpdir(), 'graphrun-yolo-models-'));
  const r = spawnSync(PY, [path.join(repoRoot, 'nodes/yolo/testdata/make_models.py')], { input: JSON.stringify({ dir, models }), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`make_models.py failed: ${r.stderr}`);
  for (const m of models) if (!existsSync(path.join(dir, m.file))) throw new Error(`make_models.py did not write ${m.file}`);
  return dir;
}

/** A still image (or a video's frame at `atSeconds`) as an rgb24/bgr24 frame in shared memory. */
export function imageFrame(file: string, opts: { format?: 'rgb24' | 'bgr24' | 'gray8'; atSeconds?: number } = {}): Frame {
  const format = opts.format ?? 'rgb24';
  const probe = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', file], { encoding: 'utf8' }).trim().split(',').map(Number);
  const [width, height] = probe;
  const seek = opts.atSeconds !== undefined ? ['-ss', String(opts.atSeconds)] : [];
  const raw = execFileSync('ffmpeg', ['-v', 'error', ...seek, '-i', file, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', format === 'gray8' ? 'gray' : format, '-'], { maxBuffer: 1 << 28 });
  const ch = format === 'gray8' ? 1 : 3;
  if (raw.length !== width * height * ch) throw new Error(`${file}: decoded ${raw.length} bytes, expected ${width}x${height}x${ch}`);
  const pixels = allocFrameBuffer(raw.length);
  raw.copy(pixels);
  return { width, height, format, stride: width * ch, pixels };
}
