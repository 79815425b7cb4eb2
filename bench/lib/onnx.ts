/**
 * Models and bare onnxruntime sessions for the benchmarks: the floor a node's inference is
 * measured against.
 */
import { Worker } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import { loadModelManifest, resolveModel } from '../../src/models.js';

/** The first of `ids` (models.yml ids) with a copy in the cache or a mirror; never downloads. */
export async function findLocalModel(ids: readonly string[]): Promise<{ id: string; path: string } | undefined> {
  const manifest = loadModelManifest();
  for (const id of ids) {
    if (!manifest.has(id)) continue;
    try {
      return { id, path: (await resolveModel(id, { fetchImpl: (() => Promise.reject(new Error('offline'))) as typeof fetch })).path };
    } catch { /* not here */ }
  }
  return undefined;
}

/**
 * A bare session in a worker thread, as the nodes' workers hold theirs. A message without data
 * runs the prepared tensor again and answers the time session.run took; a Float32Array becomes
 * the new input and the answer carries the first output too.
 */
const BARE_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require('onnxruntime-node');
ort.env.logLevel = 'fatal';
(async () => {
  const s = await ort.InferenceSession.create(workerData.model, workerData.options);
  const name = s.inputNames[0];
  let t = new ort.Tensor('float32', workerData.input, workerData.dims);
  parentPort.on('message', async (input) => {
    if (input) t = new ort.Tensor('float32', input, workerData.dims);
    const t0 = performance.now();
    const out = await s.run({ [name]: t });
    const ms = performance.now() - t0;
    parentPort.postMessage(input ? { ms, output: out[s.outputNames[0]].data } : ms);
  });
  parentPort.postMessage('ready');
})();`;

export interface BareWorker {
  /** session.run on the prepared tensor; the ms it took in the worker. */
  run(): Promise<number>;
  /** session.run on `input` (transferred: do not reuse it); the ms it took and the first output. */
  runWith(input: Float32Array): Promise<{ ms: number; output: Float32Array }>;
  stop(): Promise<number>;
}

/** Open `model` in a worker thread with `options` (the node's session options) and `input` of shape `dims` prepared. */
export async function bareWorker(model: string, options: InferenceSession.SessionOptions, input: Float32Array, dims: readonly number[] = [1, 3, 416, 416]): Promise<BareWorker> {
  const w = new Worker(BARE_WORKER, { eval: true, workerData: { model, options, input, dims } });
  await new Promise<void>((resolve, reject) => { w.once('message', () => resolve()); w.once('error', reject); });
  const ask = <T>(msg: Float32Array | null): Promise<T> => new Promise<T>((resolve, reject) => {
    const fail = (err: Error) => reject(err);
    w.once('error', fail);
    w.once('message', (m: T) => { w.off('error', fail); resolve(m); });
    if (msg) w.postMessage(msg, [msg.buffer as ArrayBuffer]); else w.postMessage(null);
  });
  return {
    run: () => ask<number>(null),
    runWith: (input) => ask<{ ms: number; output: Float32Array }>(input),
    stop: () => w.terminate(),
  };
}
