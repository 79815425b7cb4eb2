/**
 * The installed command line, as a user runs it: `node bin/graphrun.js …` (the compiled CLI in
 * dist/, rebuilt first when it is older than the sources), its exit codes and its signals.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { StatusSnapshot } from '../src/status/snapshot.js';
import { tempGraph } from './support/app.js';
import { ensureBuilt } from './support/build.js';
import { freePort, pollFor } from './support/net.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'graphrun.js');
/** The built CLI `main` with one more node type, test-slow-stop. */
const CLI_WITH_SLOW_STOP = [path.join(ROOT, 'test', 'support', 'cli-child.mjs')];

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** `node bin/graphrun.js ARGS`, or with `script`: `node SCRIPT… ARGS`. */
function start(args: string[], env: Record<string, string> = {}, script: string[] = [BIN]): Run {
  const child = spawn(process.execPath, [...script, ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) => {
    child.once('close', (code, signal) => r({ code, signal, at: Date.now() })); // after stdout/stderr are drained
  });
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** Run to completion (for the short commands). */
async function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 10000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = start(args, env);
  const timer = setTimeout(() => r.child.kill('SIGKILL'), timeoutMs);
  const { code } = await r.exit;
  clearTimeout(timer);
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => { timer = setTimeout(() => { onTimeout(); rej(new Error(`${what}: no exit within ${ms} ms`)); }, ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

async function statusUrlOf(r: Run): Promise<string> {
  return pollFor(() => {
    if (r.child.exitCode !== null) throw new Error(`graphrun exited early (${r.child.exitCode}): ${r.stderr()}`);
    const m = /graphrun: status page at (\S+)/.exec(r.stderr());
    return m ? m[1] : undefined;
  }, 20000, `"status page at" on stderr (got: ${JSON.stringify(r.stderr())})`);
}

async function snapshot(url: string): Promise<StatusSnapshot> {
  const res = await fetch(new URL('/status.json', url));
  expect(res.status).toBe(200);
  return (await res.json()) as StatusSnapshot;
}

beforeAll(() => {
  ensureBuilt();
});

describe('graphrun graphs/demo.yml', () => {
  it('runs, serves status, and stops cleanly on SIGTERM (exit 0)', async () => {
    const port = await freePort();
    const r = start(['graphs/demo.yml'], { GRAPHRUN_STATUS_LISTEN: `127.0.0.1:${port}` });
    try {
      const url = await statusUrlOf(r);
      expect(url).toBe(`http://127.0.0.1:${port}/`);
      // Whatever the demo holds: its sources emit and the rest of the graph takes packets in.
      const flow = (s: StatusSnapshot) => ({
        out: s.nodes.filter((n) => n.source).map((n) => n.packetsOut),
        in: s.nodes.filter((n) => !n.source).reduce((a, n) => a + n.packetsIn, 0),
      });
      const first = await pollFor(async () => {
        const s = await snapshot(url);
        return flow(s).in > 0 ? s : undefined;
      }, 15000, 'packets flowing in the demo');
      expect(first.graph.name).toBe('demo');
      expect(first.nodes.some((n) => n.source)).toBe(true);
      expect(first.nodes.some((n) => !n.source)).toBe(true);
      const f0 = flow(first);
      await pollFor(async () => {
        const f = flow(await snapshot(url));
        return f.in > f0.in && f.out.every((o, i) => o > f0.out[i]) ? true : undefined;
      }, 5000, 'more packets from every source and into the graph');
      expect((await fetch(new URL('/healthz', url))).status).toBe(200);

      const t0 = Date.now();
      r.child.kill('SIGTERM');
      const ex = await withTimeout(r.exit, 6000, 'SIGTERM', () => r.child.kill('SIGKILL'));
      expect({ code: ex.code, signal: ex.signal }).toEqual({ code: 0, signal: null });
      expect(ex.at - t0).toBeLessThan(4000);
      expect(r.stdout()).toContain('stopping: sources first');
      expect(r.stdout()).toContain('graph stopped');
      // The port is free again.
      await new Promise<void>((resolve, reject) => {
        const s = net.createServer().once('error', reject).listen(port, '127.0.0.1', () => s.close(() => resolve()));
      });
    } finally {
      r.child.kill('SIGKILL');
    }
  });

  it('exits at once on a second SIGINT', async () => {
    const port = await freePort();
    const r = start(['graphs/demo.yml'], { GRAPHRUN_STATUS_LISTEN: `127.0.0.1:${port}` });
    try {
      await statusUrlOf(r);
      const t0 = Date.now();
      r.child.kill('SIGINT');
      // Two signals sent back to back can merge into one in the kernel: leave a few ms between.
      await new Promise((res) => setTimeout(res, 5));
      r.child.kill('SIGINT');
      const ex = await withTimeout(r.exit, 2000, 'double SIGINT', () => r.child.kill('SIGKILL'));
      expect(ex.at - t0).toBeLessThan(2000);
      // The demo's graceful stop takes a few ms, so it may finish (0) before the second signal
      // is handled (130), or the second may land while node tears down (killed by SIGINT).
      expect([0, 130].includes(ex.code ?? -1) || ex.signal === 'SIGINT', JSON.stringify(ex)).toBe(true);
    } finally {
      r.child.kill('SIGKILL');
    }
  });

  it('exits at once (130) on a second SIGINT while a node is slow to stop', async () => {
    const { file } = tempGraph(`version: 1
name: slow-stop
nodes:
  cam:
    type: synthetic-source
    width: 16
    height: 16
    fps: 30
  slow:
    type: test-slow-stop
    stop_ms: 4000
    inputs: { in: cam.frames }
`);
    const port = await freePort();
    // This graph needs a test node type: the same built CLI `main`, with one more node type.
    const child = start(['run', file], { GRAPHRUN_STATUS_LISTEN: `127.0.0.1:${port}` }, CLI_WITH_SLOW_STOP);
    try {
      const url = await statusUrlOf(child);
      await pollFor(async () => ((await snapshot(url)).nodes.find((n) => n.id === 'slow')!.packetsIn > 0 ? true : undefined), 5000, 'packets at the slow-stop node');
      const t0 = Date.now();
      child.child.kill('SIGINT');
      await pollFor(() => (child.stdout().includes('stopping: sources first') ? true : undefined), 3000, 'the first SIGINT to start the graceful stop');
      // Still stopping: the node's stop takes 4 s (with time to spare for a slow machine).
      expect(child.child.exitCode).toBeNull();
      expect(Date.now() - t0).toBeLessThan(2500);
      const t1 = Date.now();
      child.child.kill('SIGINT');
      const ex = await withTimeout(child.exit, 3000, 'second SIGINT', () => child.child.kill('SIGKILL'));
      expect({ code: ex.code, signal: ex.signal }).toEqual({ code: 130, signal: null });
      expect(ex.at - t1).toBeLessThan(1000);
      expect(child.stdout()).toContain('second signal: exiting now');
    } finally {
      child.child.kill('SIGKILL');
    }
  });

  it('exits 1 with one line when the status port is in use', async () => {
    const blocker = net.createServer();
    const port = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as net.AddressInfo).port)));
    try {
      const r = await runCli(['graphs/demo.yml'], { GRAPHRUN_STATUS_LISTEN: `127.0.0.1:${port}` });
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toBe(`graphrun: status server: address in use (127.0.0.1:${port}); set status.listen, or GRAPHRUN_STATUS_LISTEN for the demo`);
      expect(r.stderr).not.toContain('    at ');
    } finally {
      await new Promise((res) => blocker.close(res));
    }
  });
});

// Independent short runs: in parallel, to keep the file fast.
describe.concurrent('graphrun commands and exit codes', () => {
  it('--help exits 0 with usage on stdout', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: graphrun /);
    for (const c of ['run [options] <file>', 'validate <files...>', 'nodes [type]', 'schema']) expect(r.stdout).toContain(c);
    expect(r.stderr).toBe('');
  });

  it('an unknown option exits 2 with the error on stderr', async () => {
    const r = await runCli(['--bogus', 'graphs/demo.yml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: unknown option '--bogus'");
    expect(r.stdout).toBe('');
  });

  it('nodes lists the node types; an unknown type exits 2', async () => {
    const [list, bad] = await Promise.all([runCli(['nodes']), runCli(['nodes', 'nope'])]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ {2}synthetic-source {2}/m);
    expect(list.stdout).toMatch(/^ {2}debug-sink {2}/m);
    expect(list.stdout).not.toContain('test-pass'); // the installed CLI knows only real nodes
    expect(list.stderr).toBe('');

    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^unknown node type "nope" \(known: (\S+, )*debug-sink, (\S+, )*synthetic-source(, \S+)*\)$/m);
    expect(bad.stdout).toBe('');
  });
});
