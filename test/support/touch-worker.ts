// Worker for the worker-pool test: reads a frame shared with the main thread, returns a
// checksum, and writes a marker byte into it (visible to the main thread only if not copied).
// `blockMs` holds the thread like session.run does; `waitMs` awaits (the handler yields);
// `active` says how many jobs were being handled at once (1 when answered one at a time).
import { serveWorker } from '../../src/worker.js';

let active = 0;

await serveWorker(
  (data: { marker: number }) => data,
  async (state, req: { pixels: Buffer; crash?: boolean; id?: number; blockMs?: number; waitMs?: number }) => {
    if (req.crash) process.exit(3);
    const startedAt = Date.now();
    active++;
    const most = active;
    if (req.blockMs) while (Date.now() - startedAt < req.blockMs) { /* hold the thread */ }
    if (req.waitMs) await new Promise((r) => setTimeout(r, req.waitMs));
    let sum = 0;
    for (let i = 0; i < req.pixels.length; i++) sum = (sum + req.pixels[i]) % 65521;
    req.pixels[0] = state.marker;
    active--;
    return { sum, shared: req.pixels.buffer instanceof SharedArrayBuffer, id: req.id, startedAt, endedAt: Date.now(), active: most };
  },
);
