/**
 * The reference FastAPI backend (examples/fastapi-backend) as a real uvicorn process for tests.
 * The code lives in bench/lib/fastapi-backend.ts so that the delivery benchmark, which runs
 * compiled from dist/, can start it too; the API is the same:
 *
 *   const be = await startBackend({ token: 'secret' });
 *   // sink option: endpoint: be.url, token: be.token
 *   await be.fault({ mode: 'status', status: 503, retry_after: 1, count: 2 });
 *   expect((await be.events()).total).toBe(1);
 *   await be.kill(); await be.restart();   // a crash; the same port and database afterwards
 *   await be.close();
 */
export * from '../../bench/lib/fastapi-backend.js';
