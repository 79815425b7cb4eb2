/**
 * Small ONNX models with fixed outputs, written by make_const_model.py (Debian's python3-onnx),
 * for exact decoder tests through a real onnxruntime session.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'make_const_model.py');

export interface ConstOutput { name: string; shape: number[]; data: ArrayLike<number> }

export function makeConstModel(file: string, input: { name: string; shape: number[] }, outputs: ConstOutput[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'graphrun-onnx-'));
  const out = path.join(dir, file);
  const spec = { path: out, input, outputs: outputs.map((o) => ({ ...o, data: Array.from(o.data) })) };
  try {
    execFileSync('/usr/bin/python3', [script], { input: JSON.stringify(spec), stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (err) {
    const msg = String((err as { stderr?: Buffer }).stderr ?? err);
    if (/No module named 'onnx'/.test(msg)) throw new Error('python3-onnx missing: apt-get install -y python3-onnx (tests generate small ONNX models with it)');
    throw err;
  }
  return out;
}
