/** Run a graph from a YAML string in-process, through `App.start`, the way the CLI does. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App } from '../../src/app.js';
import { createLogger } from '../../src/log.js';
import type { Registry } from '../../src/registry.js';

let dir: string | undefined;

function tempDir(): string {
  if (!dir) {
    const d = mkdtempSync(path.join(tmpdir(), 'graphrun-bench-'));
    dir = d;
    process.once('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  return dir;
}

/** Warnings and errors of the graph go to stderr; the bench's own output stays clean. */
const log = createLogger({ level: 'warn', pretty: false, destination: process.stderr });

/** Start a graph written as YAML (give it `status: { enabled: false }`); `name` names the temp file. */
export async function startGraph(yaml: string, registry: Registry, name = 'graph'): Promise<App> {
  const file = path.join(tempDir(), `${name}.yml`);
  writeFileSync(file, yaml);
  return App.start(file, { registry, log });
}

/** Resolve `p`, or reject after `ms` with `what` in the message. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
