/**
 * Worker thread of the rtmpose node: one PoseEngine (one onnxruntime session) per worker.
 * A job is one crop of one frame; the frame's pixels arrive as a SharedArrayBuffer-backed
 * Buffer, so nothing is copied.
 */
import { serveWorker } from '../../src/worker.js';
import { PoseEngine, type EngineOptions, type FrameRef, type PoseTiming } from './engine.js';
import { cropRegion, type Box } from './crop.js';
import type { Keypoint } from '../../src/contract.js';

export interface PoseJob { frame: FrameRef; box: Box; padding: number }
export interface PoseResult { keypoints: Keypoint[]; timing: PoseTiming; head: string | undefined; provider: string }

await serveWorker(
  (data: EngineOptions) => PoseEngine.create(data),
  async (engine, job: PoseJob): Promise<PoseResult> => {
    const r = await engine.estimate(job.frame, cropRegion(job.box, job.padding, engine.inW, engine.inH));
    return { ...r, head: engine.headKind, provider: engine.provider };
  },
);
