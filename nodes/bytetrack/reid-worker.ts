/**
 * Worker thread of the bytetrack node's appearance cue: one ReidEngine (one onnxruntime
 * session) per worker. A job is some boxes of one frame; the frame's pixels arrive as a
 * SharedArrayBuffer-backed Buffer, so nothing is copied.
 */
import { serveWorker } from '../../src/worker.js';
import type { Box } from '../rtmpose/crop.js';
import type { FrameRef } from '../rtmpose/engine.js';
import { ReidEngine, type Embeddings, type ReidEngineOptions } from './reid.js';

export interface ReidJob { frame: FrameRef; boxes: Box[] }
export interface ReidResult extends Embeddings { provider: string }

await serveWorker(
  (data: ReidEngineOptions) => ReidEngine.create(data),
  async (engine, job: ReidJob): Promise<ReidResult> => ({ ...(await engine.embed(job.frame, job.boxes)), provider: engine.provider }),
);
