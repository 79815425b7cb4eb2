// Worker for the worker-pool test: reads a frame shared with the main thread, returns a
// checksum, and writes a marker byte into it (visible to the main thread only if not copied).
import { serveWorker } from '../../src/worker.js';

await serveWorker(
  (data: { marker: number }) => data,
  (state, req: { pixels: Buffer; crash?: boolean }) => {
    if (req.crash) process.exit(3);
    let sum = 0;
    for (let i = 0; i < req.pixels.length; i++) sum = (sum + req.pixels[i]) % 65521;
    req.pixels[0] = state.marker;
    return { sum, shared: req.pixels.buffer instanceof SharedArrayBuffer };
  },
);
