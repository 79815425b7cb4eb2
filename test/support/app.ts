/** Start a graph from a YAML string in-process, the way the CLI does, for tests. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { App, type AppOptions } from '../../src/app.js';
import { createLogger } from '../../src/log.js';
import { testRegistry } from './test-nodes.js';

export interface TestApp { app: App; file: string; dir: string; logs: string[] }

export function tempGraph(yaml: string, name = 'graph.yml'): { file: string; dir: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'graphrun-test-'));
  const file = path.join(dir, name);
  writeFileSync(file, yaml);
  return { file, dir };
}

export function captureLogger(level: 'info' | 'debug' | 'warn' = 'info') {
  const logs: string[] = [];
  const destination = new Writable({ write(chunk, _enc, cb) { logs.push(...chunk.toString().split('\n').filter(Boolean)); cb(); } });
  return { log: createLogger({ level, pretty: false, destination }), logs };
}

export async function startGraph(yaml: string, opts: Partial<AppOptions> = {}): Promise<TestApp> {
  const { file, dir } = tempGraph(yaml);
  const { log, logs } = captureLogger();
  const app = await App.start(file, { registry: testRegistry, log, listen: { host: '127.0.0.1', port: 0 }, ...opts });
  return { app, file, dir, logs };
}

export async function waitFor(cond: () => boolean, timeoutMs = 10000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
