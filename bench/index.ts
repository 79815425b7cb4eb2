/**
 * `npm run bench`: graphrun's one benchmark command.
 *
 *   npm run bench                       every sub-benchmark (full: 7 runs each)
 *   npm run bench -- runtime            only those named
 *   npm run bench -- --quick            fewer, shorter runs (3)
 *   npm run bench -- --list             the sub-benchmarks
 *   npm run bench -- runtime --cpu-prof also write a CPU profile per sub-benchmark and print where the time goes
 *   npm run bench -- --runs 11          override the number of counted runs
 *   npm run bench -- --out DIR          write results to DIR (default bench/results)
 *   npm run bench -- soak [--quick]     an opt-in sub-benchmark: run only when named (30 min; quick 60 s)
 *
 * Each sub-benchmark runs in its own Node process (started with --expose-gc), so one cannot
 * warm up, pollute or crash another. Results go to bench/results/<timestamp>.json and .md, and
 * the markdown table is printed. Exit code: 0 all ok, 1 a check failed or a sub-benchmark
 * errored, 2 bad usage.
 *
 * To add a sub-benchmark: write bench/<name>.ts exporting a `SubBenchmark` (see
 * bench/lib/harness.ts and bench/README.md) and add it to `benchmarks` below.
 */
import { NODE_ENV, NODE_FLAGS } from '../src/node-flags.js';
import { fork } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runSubBenchmark, type BenchResult, type SubBenchmark } from './lib/harness.js';
import { machineInfo } from './lib/machine.js';
import { summarizeProfile } from './lib/profile.js';
import { fileStamp, writeReport, type Report } from './lib/report.js';
import { videoBench } from './video.js';
import { outboxBench } from './outbox.js';
import { deliveryBench } from './delivery.js';
import { pipelineBench } from './pipeline.js';
import { realtimeBench } from './realtime.js';
import { multicamBench } from './multicam.js';
import { soakBench, soakTimeoutS } from './soak.js';
import { poseBench } from './pose.js';
import { trackBench } from './track.js';
import { runtimeBench } from './runtime.js';
import { yoloBench } from './yolo.js';

/** The registry: every sub-benchmark, in the order `npm run bench` runs them. */
export const benchmarks: SubBenchmark[] = [runtimeBench, videoBench, yoloBench, poseBench, trackBench, outboxBench, deliveryBench, pipelineBench, realtimeBench, multicamBench];

/**
 * Run only when named (`npm run bench -- soak`), never in the default set: too long for it.
 * Each with the longest its process may run, for quick or full.
 */
export const optInBenchmarks: { bench: SubBenchmark; timeoutS: (quick: boolean) => number }[] = [
  { bench: soakBench, timeoutS: soakTimeoutS },
];

/** Longest a sub-benchmark's process may run (opt-in ones: their own). */
const CHILD_TIMEOUT_S = 600;

/** Every sub-benchmark, default and opt-in. */
const allBenchmarks = (): SubBenchmark[] => [...benchmarks, ...optInBenchmarks.map((o) => o.bench)];
const childTimeoutS = (b: SubBenchmark, quick: boolean): number => optInBenchmarks.find((o) => o.bench === b)?.timeoutS(quick) ?? CHILD_TIMEOUT_S;

const USAGE = `usage: npm run bench -- [name...] [--quick] [--runs N] [--cpu-prof] [--out DIR] [--list]`;

/** Project root: the nearest folder above this file with a package.json (works from dist/ and from source). */
function projectRoot(): string {
  let d = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(d, 'package.json')) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        quick: { type: 'boolean', default: false },
        list: { type: 'boolean', default: false },
        runs: { type: 'string' },
        'cpu-prof': { type: 'boolean', default: false },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        child: { type: 'string' },
      },
    });
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const o = args.values;
  const runs = o.runs === undefined ? undefined : Number(o.runs);
  if (runs !== undefined && !(Number.isInteger(runs) && runs >= 1)) {
    process.stderr.write(`bench: --runs must be a positive integer (got ${o.runs})\n`);
    return 2;
  }
  if (o.child) return child(o.child, { quick: o.quick, runs });
  if (o.help) {
    process.stdout.write(`${USAGE}\n\n`);
    o.list = true;
  }
  if (o.list) {
    const w = Math.max(...allBenchmarks().map((b) => b.name.length));
    for (const b of benchmarks) process.stdout.write(`${b.name.padEnd(w)}  ${b.description}\n`);
    for (const { bench: b } of optInBenchmarks) process.stdout.write(`${b.name.padEnd(w)}  (only when named) ${b.description}\n`);
    return 0;
  }
  const unknown = args.positionals.filter((n) => !allBenchmarks().some((b) => b.name === n));
  if (unknown.length) {
    process.stderr.write(`bench: unknown sub-benchmark ${unknown.map((n) => `"${n}"`).join(', ')} (known: ${allBenchmarks().map((b) => b.name).join(', ')})\n`);
    return 2;
  }
  const selected = args.positionals.length ? allBenchmarks().filter((b) => args.positionals.includes(b.name)) : benchmarks;

  const root = projectRoot();
  const started = new Date();
  const stamp = fileStamp(started);
  const outDir = path.resolve(o.out ?? path.join(root, 'bench', 'results'));
  const machine = machineInfo(root);
  const profDir = o['cpu-prof'] ? path.join(outDir, `${stamp}-cpuprof`) : undefined;
  process.stderr.write(`bench: ${selected.map((b) => b.name).join(', ')} (${o.quick ? 'quick' : 'full'}) on ${machine.cores} cores, ${machine.cpuModel}, load ${machine.loadAvgAtStart.join(' / ')}, Node ${machine.node}\n`);

  const results: BenchResult[] = [];
  for (const b of selected) {
    results.push(await inChild(b, { quick: o.quick, runs, profDir }));
  }
  const finished = new Date();
  const report: Report = {
    format: 'graphrun-bench/1',
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationS: (finished.getTime() - started.getTime()) / 1000,
    mode: o.quick ? 'quick' : 'full',
    argv,
    machine,
    results,
  };
  const files = writeReport(outDir, stamp, report);
  process.stdout.write(`\n${files.text}\n`);
  process.stderr.write(`bench: wrote ${path.relative(process.cwd(), files.json)} and ${path.relative(process.cwd(), files.md)}\n`);
  if (profDir) {
    for (const f of existsSync(profDir) ? readdirSync(profDir).filter((x) => x.endsWith('.cpuprofile')).sort() : []) {
      process.stdout.write(`\n${summarizeProfile(path.join(profDir, f), root)}\n`);
    }
    process.stderr.write(`bench: CPU profiles in ${path.relative(process.cwd(), profDir)} (open in Chrome DevTools → Performance, or speedscope)\n`);
  }
  return results.every((r) => r.status === 'ok' || r.status === 'skipped') ? 0 : 1;
}

/** Run one sub-benchmark in a fresh Node process and collect its result. */
function inChild(b: SubBenchmark, o: { quick: boolean; runs?: number; profDir?: string }): Promise<BenchResult> {
  const execArgv = ['--expose-gc', ...NODE_FLAGS]; // the CLI's V8 flags: measure what users run
  if (o.profDir) execArgv.push('--cpu-prof', '--cpu-prof-dir', o.profDir, '--cpu-prof-name', `${b.name}.cpuprofile`);
  const args = ['--child', b.name, ...(o.quick ? ['--quick'] : []), ...(o.runs ? ['--runs', String(o.runs)] : [])];
  const startedAt = new Date().toISOString();
  const failed = (reason: string): BenchResult => ({
    name: b.name, description: b.description, status: 'error', reason, runs: 0, warmup: false, startedAt,
    durationS: 0, loadAvgAtStart: os.loadavg(), metrics: [], checks: [], notes: [], info: [],
  });
  return new Promise((resolve) => {
    let result: BenchResult | undefined;
    const cp = fork(fileURLToPath(import.meta.url), args, { execArgv, env: { ...process.env, ...NODE_ENV }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    // A sub-benchmark that hangs must not hang the bench.
    const limitS = childTimeoutS(b, o.quick);
    const timer = setTimeout(() => {
      process.stderr.write(`bench: ${b.name} still running after ${limitS} s: stopping it\n`);
      cp.kill('SIGKILL');
    }, limitS * 1000);
    cp.on('message', (m) => { result = m as BenchResult; });
    cp.on('error', (err) => { clearTimeout(timer); resolve(failed(`could not start: ${err.message}`)); });
    cp.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve(result ?? failed(`its process exited (${signal ?? `code ${code}`}) without a result`));
    });
  });
}

/** Child side: run one sub-benchmark and send the result to the parent. */
async function child(name: string, o: { quick: boolean; runs?: number }): Promise<number> {
  const b = allBenchmarks().find((x) => x.name === name);
  if (!b || !process.send) {
    process.stderr.write(`bench: --child is internal (unknown "${name}" or no parent)\n`);
    return 2;
  }
  const gcFn = (globalThis as { gc?: () => void }).gc;
  const result = await runSubBenchmark(b, {
    quick: o.quick,
    runs: o.runs,
    log: (msg) => process.stderr.write(`${msg}\n`),
    gc: gcFn ? () => gcFn() : () => undefined,
    loadAvg: () => os.loadavg().map((x) => Math.round(x * 100) / 100),
  });
  await new Promise<void>((r) => process.send!(result, () => r()));
  return 0;
}

// Forked as a child (`--child <name>`), this file is the entry point itself.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
