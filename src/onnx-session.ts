/**
 * The onnxruntime session options every model worker opens with (yolo, rtmpose, the ByteTrack
 * appearance model): `threads` intra-op threads for single-image inference, sequential
 * execution, every graph optimisation, and intra-op threads that do not spin-wait for work —
 * on a 2-vCPU host with frames 100 ms apart, two spinning threads burnt 52 ms of CPU per 11 ms
 * inference (14 ms without), CPU that ffmpeg and the other nodes need, for no gain in latency.
 */
import type ort from 'onnxruntime-node';

export function sessionOptions(provider: string, threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider as ort.InferenceSession.ExecutionProviderConfig],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}
