/**
 * A private Prometheus server for tests: the Debian `prometheus` binary run by the test itself
 * (never the system service), with a temporary TSDB, on a free loopback port, scraping the given
 * targets every second. A missing binary fails the test with one line saying what to install.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, pollFor } from './net.js';

export const PROMETHEUS_PATH = process.env.GRAPHRUN_PROMETHEUS ?? '/usr/bin/prometheus';

export interface PromSample { metric: Record<string, string>; value: [number, string] }

export interface TestPrometheus {
  url: string;
  /** Instant query; returns the vector. */
  query(q: string): Promise<PromSample[]>;
  stop(): Promise<void>;
  output(): string;
}

export async function startPrometheus(targets: { host: string; port: number; metricsPath?: string }[]): Promise<TestPrometheus> {
  if (!existsSync(PROMETHEUS_PATH)) {
    throw new Error(`Prometheus not found at ${PROMETHEUS_PATH}: install it with \`apt-get install -y --no-install-recommends prometheus\` (Debian package "prometheus"), or set GRAPHRUN_PROMETHEUS`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'graphrun-prom-'));
  const config = path.join(dir, 'prometheus.yml');
  const scrape = targets.map((t, i) => `
  - job_name: graphrun-${i}
    metrics_path: ${t.metricsPath ?? '/metrics'}
    static_configs:
      - targets: ['${t.host}:${t.port}']`).join('');
  writeFileSync(config, `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:${scrape}\n`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let out = '';
  const child: ChildProcess = spawn(PROMETHEUS_PATH, [
    `--config.file=${config}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let gone = false;
  void exited.then(() => { gone = true; });

  const stop = async () => {
    if (!gone) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await pollFor(async () => {
      if (gone) throw new Error(`prometheus exited: ${out.trim().split('\n').slice(-3).join(' | ')}`);
      const r = await fetch(`${url}/-/ready`);
      return r.ok ? true : undefined;
    }, 15000, 'prometheus to be ready');
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    async query(q: string) {
      const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: PromSample[] } };
      if (body.status !== 'success' || !body.data) throw new Error(`prometheus query ${q} failed: ${body.error ?? r.status}`);
      return body.data.result;
    },
    stop,
    output: () => out,
  };
}
