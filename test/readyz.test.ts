import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { startGraph, waitFor } from './support/app.js';

let app: App | undefined;
afterEach(async () => { await app?.stop(); app = undefined; });

const graph = (fps: number) => `
version: 1
name: ready
nodes:
  cam: { type: synthetic-source, width: 8, height: 8, fps: ${fps} }
  sink: { type: debug-sink, inputs: { in: cam.frames } }
`;

describe('/healthz and /readyz', () => {
  it('is ready while the source delivers, and not ready (503, with the reason) when it goes silent past the grace', async () => {
    ({ app } = await startGraph(graph(50), { ready: { graceMs: 200, staleMs: 300 } }));
    await new Promise((r) => setTimeout(r, 500));
    let res = await fetch(new URL('/readyz', app.statusUrl));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ready: true, reasons: [] });
    await app.stop();

    ({ app } = await startGraph(graph(0.2), { ready: { graceMs: 200, staleMs: 300 } }));
    const a = app;
    await waitFor(() => a.runtime.runners.get('cam')!.stats.packetsOut >= 1, 5000, 'first frame');
    await new Promise((r) => setTimeout(r, 600));
    res = await fetch(new URL('/readyz', app.statusUrl));
    expect(res.status).toBe(503);
    const body = (await res.json()) as { ready: boolean; reasons: string[] };
    expect(body.ready).toBe(false);
    expect(body.reasons[0]).toMatch(/^cam: no packet for \d+\.\d s$/);
    expect((await fetch(new URL('/healthz', app.statusUrl))).status).toBe(200);
  });
});
