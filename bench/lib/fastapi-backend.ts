/**
 * The reference FastAPI backend (examples/fastapi-backend) as a real uvicorn process, for tests
 * (test/support/fastapi.ts re-exports this) and for the delivery benchmark: free loopback
 * port, its own SQLite file and media folder, ready once GET /health answers.
 *
 *   const be = await startBackend({ token: 'secret' });
 *   // sink option: endpoint: be.url, token: be.token
 *   await be.fault({ mode: 'status', status: 503, retry_after: 1, count: 2 });
 *   expect((await be.events()).total).toBe(1);
 *   await be.kill(); await be.restart();   // a crash; the same port and database afterwards
 *   await be.close();
 *
 * The interpreter is /usr/bin/python3 (Debian's FastAPI 0.92, pydantic v1) unless
 * GRAPHRUN_FASTAPI_PYTHON names another (a venv with FastAPI and pydantic v2). It lives under
 * bench/lib because the bench runs compiled from dist/, where test/ is not.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, pollFor } from './net.js';

/** The nearest folder above this file with a package.json: the project, from source or from dist/. */
function projectRoot(): string {
  let d = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(d, 'package.json')) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

export const BACKEND_DIR = path.join(projectRoot(), 'examples', 'fastapi-backend');
export const BACKEND_PYTHON = process.env.GRAPHRUN_FASTAPI_PYTHON ?? '/usr/bin/python3';

export interface BackendOptions {
  /** FASTAPI_TOKEN: the bearer token senders must present. */
  token: string;
  /** SQLite file (default: events.db in a new temporary folder, removed by close()). */
  dbPath?: string;
  /** Snapshot folder (default: media/ beside the database). */
  mediaDir?: string;
  /** Port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Enables POST /_faults (default true; test-only in the backend). */
  faults?: boolean;
  /** BACKEND_JSONSCHEMA: '1' also checks events with the jsonschema module, '0' pydantic only (default 'auto'). */
  jsonschema?: 'auto' | '0' | '1';
  /** More environment for the backend (BACKEND_MAX_UPLOAD_BYTES, …). */
  env?: Record<string, string>;
}

/** A fault rule for POST /_faults (examples/fastapi-backend/faults.py). */
export interface FaultRule {
  mode: 'status' | 'html500' | 'slow' | 'reset' | 'reject_event';
  status?: number;
  retry_after?: number;
  /** How many matching requests (default 1; 0: until clearFaults()). */
  count?: number;
  delay_s?: number;
  event_id?: string;
  path?: '/events' | '/upload';
  /** 'after': the request is stored, then the answer is replaced (a lost acknowledgement). */
  stage?: 'before' | 'after';
}

export interface StoredEvent {
  event_id: string;
  stream_id: string;
  event_type: string;
  category: string;
  risk_level: string;
  timestamp_utc: string;
  received_at: string;
  has_upload: boolean;
  upload: { bytes: number; sha256: string; source: 'upload' | 'inline'; received_at: string; href: string } | null;
  snapshot_url: string | null;
  event: Record<string, unknown>;
}

export interface BackendStats {
  events: number;
  uploads: number;
  counters: Record<'events_received' | 'events_stored' | 'events_duplicate' | 'events_rejected' | 'uploads_received' | 'uploads_stored' | 'uploads_duplicate' | 'uploads_rejected' | 'unauthorized', number>;
}

export interface TestBackend {
  /** http://127.0.0.1:PORT (the sink's endpoint). */
  url: string;
  port: number;
  token: string;
  dbPath: string;
  mediaDir: string;
  /** fetch() against the backend with the bearer token (init.headers win). */
  request(pathAndQuery: string, init?: RequestInit): Promise<Response>;
  /** GET /events (newest first). */
  events(query?: { limit?: number; offset?: number; stream_id?: string; event_type?: string }): Promise<{ total: number; items: StoredEvent[] }>;
  /** GET /events/{id}, or undefined when not stored. */
  event(eventId: string): Promise<StoredEvent | undefined>;
  /** GET /stats. */
  stats(): Promise<BackendStats>;
  fault(rule: FaultRule): Promise<void>;
  clearFaults(): Promise<void>;
  /** Graceful stop (SIGTERM); the files stay for restart(). */
  stop(): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port, database and media folder (stops it first if running). */
  restart(): Promise<void>;
  /** stop(), then removes the temporary folder startBackend made (not a given dbPath). */
  close(): Promise<void>;
  running(): boolean;
  /** What uvicorn printed (the last 64 KiB). */
  output(): string;
}

const INSTALL_HINT = 'install Debian\'s python3-fastapi python3-uvicorn python3-multipart python3-jsonschema (apt-get install -y …), or point GRAPHRUN_FASTAPI_PYTHON at a python with fastapi, uvicorn, python-multipart';

export async function startBackend(opts: BackendOptions): Promise<TestBackend> {
  if (!existsSync(BACKEND_PYTHON)) throw new Error(`python not found at ${BACKEND_PYTHON}: ${INSTALL_HINT}`);
  const madeDir = opts.dbPath ? undefined : mkdtempSync(path.join(tmpdir(), 'graphrun-backend-'));
  const dbPath = path.resolve(opts.dbPath ?? path.join(madeDir!, 'events.db'));
  const mediaDir = path.resolve(opts.mediaDir ?? path.join(path.dirname(dbPath), 'media'));
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    FASTAPI_TOKEN: opts.token,
    BACKEND_DB: dbPath,
    BACKEND_MEDIA_DIR: mediaDir,
    BACKEND_FAULTS: opts.faults === false ? '0' : '1',
    BACKEND_JSONSCHEMA: opts.jsonschema ?? 'auto',
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1', // no __pycache__ in the source folder
    ...opts.env,
  };
  let port = opts.port ?? 0;
  let out = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 65536) out = out.slice(-65536);
  };
  const killOnExit = () => child?.kill('SIGKILL');

  const launch = async (): Promise<void> => {
    out = '';
    const proc = spawn(BACKEND_PYTHON, ['-m', 'uvicorn', 'app:app', '--host', '127.0.0.1', '--port', String(port)], {
      cwd: BACKEND_DIR, env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let gone = false;
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    exited = new Promise((resolve) => proc.once('exit', () => { gone = true; resolve(); }));
    proc.once('error', (err) => { keep(Buffer.from(String(err))); });
    process.once('exit', killOnExit);
    await pollFor(async () => {
      if (gone) throw new Error(`backend exited: ${out.trim().split('\n').slice(-4).join(' | ')}`);
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      return r.ok ? true : undefined;
    }, 20000, `the FastAPI backend on port ${port}`).catch(async (err: Error) => {
      await halt('SIGKILL');
      const hint = /No module named/.test(out) ? ` (${INSTALL_HINT})` : '';
      throw new Error(`${err.message}${hint}`);
    });
  };

  const halt = async (signal: 'SIGTERM' | 'SIGKILL') => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    process.removeListener('exit', killOnExit);
  };

  // A free port can be taken between the check and uvicorn's bind: try another, unless one was given.
  for (let attempt = 0; ; attempt++) {
    if (!opts.port) port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      if (opts.port || attempt >= 2 || !/address already in use|Errno 98/i.test(out)) {
        if (madeDir) rmSync(madeDir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  const url = `http://127.0.0.1:${port}`;
  const request = (p: string, init: RequestInit = {}) =>
    fetch(url + p, { ...init, headers: { authorization: `Bearer ${opts.token}`, ...(init.headers as Record<string, string> | undefined) } });
  const json = async <T>(p: string, init?: RequestInit): Promise<T> => {
    const r = await request(p, init);
    if (!r.ok) throw new Error(`${init?.method ?? 'GET'} ${p}: ${r.status} ${await r.text()}`);
    return (await r.json()) as T;
  };

  return {
    url, port, token: opts.token, dbPath, mediaDir, request,
    events(query = {}) {
      const qs = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)])).toString();
      return json(`/events${qs ? `?${qs}` : ''}`);
    },
    async event(eventId) {
      const r = await request(`/events/${encodeURIComponent(eventId)}`);
      if (r.status === 404) return undefined;
      if (!r.ok) throw new Error(`GET /events/${eventId}: ${r.status} ${await r.text()}`);
      return (await r.json()) as StoredEvent;
    },
    stats: () => json('/stats'),
    async fault(rule) {
      await json('/_faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rule) });
    },
    async clearFaults() {
      await json('/_faults', { method: 'DELETE' });
    },
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    async restart() {
      await halt('SIGTERM');
      await launch();
    },
    async close() {
      await halt('SIGTERM');
      if (madeDir) rmSync(madeDir, { recursive: true, force: true });
    },
    running: () => !!child && child.exitCode === null && child.signalCode === null,
    output: () => out,
  };
}

/** Whether the backend's Python modules import (for a one-line error before any test runs). */
export function backendPythonProblem(): string | undefined {
  const r = spawnSync(BACKEND_PYTHON, ['-c', 'import fastapi, uvicorn, multipart, pydantic'], { encoding: 'utf8' });
  if (r.error) return `${BACKEND_PYTHON}: ${r.error.message}: ${INSTALL_HINT}`;
  return r.status === 0 ? undefined : `${BACKEND_PYTHON} lacks a module (${r.stderr.trim().split('\n').pop()}): ${INSTALL_HINT}`;
}

/* Port and polling helpers (the same as test/support/net.ts, which dist/ does not have). */


