/**
 * The worker side of a WorkerPool: `serveWorker(init, handle)` runs `init(workerData)` once
 * (load a model session), tells the pool it is ready, then answers jobs one at a time, in the
 * order they came: a pool with `depth` > 1 posts the next job while one is at work, and it
 * waits here until that one is answered.
 */
import { parentPort, workerData } from 'node:worker_threads';

export async function serveWorker<S, Req, Res>(
  init: (data: any) => S | Promise<S>,
  handle: (state: S, req: Req) => Res | Promise<Res>,
): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('serveWorker must run inside a worker thread');
  const state = await init(workerData);
  let turn: Promise<void> = Promise.resolve();
  const answer = async (msg: Req): Promise<void> => {
    try {
      port.postMessage({ type: 'result', result: await handle(state, msg) });
    } catch (err) {
      port.postMessage({ type: 'error', error: err instanceof Error ? err.message : String(err) });
    }
  };
  port.on('message', (m: { type: string; msg: Req }) => {
    if (m.type !== 'job') return;
    turn = turn.then(() => answer(m.msg));
  });
  port.postMessage({ type: 'ready' });
}
