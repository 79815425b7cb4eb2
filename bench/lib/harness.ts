/**
 * The sub-benchmark contract and the loop that runs one: a warm-up run (not counted), then
 * `runs` runs, each returning metrics and checks; every metric is summarised as median and p95
 * over the runs.
 *
 * p95 is taken on the *worse* side of each metric, so it reads as "95% of runs were at least
 * this good": the 95th percentile for lower-is-better metrics (µs, ms, MB) and the 5th
 * percentile for higher-is-better ones (packets/s). Quantiles interpolate linearly between
 * order statistics (with 7 runs, p95 lies between the worst and second-worst run).
 */
import { performance } from 'node:perf_hooks';

export type Better = 'higher' | 'lower' | 'none';

/** One number measured by one run. `key` is stable (JSON, comparisons); `label` is for people. */
export interface Metric {
  key: string;
  label: string;
  unit: string;
  value: number;
  better: Better;
  /** Decimals shown in the table (default: 3 significant digits-ish, see format). */
  decimals?: number;
}

/** A correctness assertion made during a run (e.g. delivered == produced). A failed check fails the benchmark. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface RunResult {
  metrics: Metric[];
  checks?: Check[];
  /** Anything worth keeping in the JSON (packet counts, settings). */
  info?: Record<string, unknown>;
}

export interface BenchContext {
  /** `--quick`: scale everything down. */
  readonly quick: boolean;
  /** True for the warm-up run, whose result is not counted (use it to calibrate). */
  readonly warmup: boolean;
  /** 0-based index of the counted run; -1 for the warm-up. */
  readonly run: number;
  readonly runs: number;
  /** Survives from run to run of one sub-benchmark (calibration results, fixtures). */
  readonly state: Record<string, unknown>;
  /** Progress line on stderr. */
  log(msg: string): void;
  /** Full garbage collection when the process has --expose-gc (the runner gives it), else nothing. */
  gc(): void;
}

export interface SubBenchmark {
  /** Name used on the command line: `npm run bench -- <name>`. */
  name: string;
  /** One line for `--list` and the report. */
  description: string;
  /** Counted runs; default { full: 7, quick: 3 }. `--runs N` overrides both. */
  runs?: { full?: number; quick?: number };
  /** Run once uncounted first (default true). */
  warmup?: boolean;
  /** A reason to skip (missing model, no camera, no GPU), or undefined to run. */
  skip?(ctx: BenchContext): string | undefined | Promise<string | undefined>;
  setup?(ctx: BenchContext): void | Promise<void>;
  run(ctx: BenchContext): Promise<RunResult>;
  teardown?(ctx: BenchContext): void | Promise<void>;
  /** Lines printed under the table: how to read the figures, targets (may look at the summaries). */
  notes?: string[] | ((r: { quick: boolean; metrics: MetricSummary[] }) => string[]);
}

export interface MetricSummary {
  key: string;
  label: string;
  unit: string;
  better: Better;
  decimals?: number;
  median: number;
  p95: number;
  min: number;
  max: number;
  values: number[];
}

export interface CheckSummary {
  name: string;
  passed: number;
  total: number;
  /** Distinct details seen, failures first. */
  details: string[];
}

export interface BenchResult {
  name: string;
  description: string;
  status: 'ok' | 'failed' | 'skipped' | 'error';
  /** Why skipped / the error. */
  reason?: string;
  runs: number;
  warmup: boolean;
  startedAt: string;
  durationS: number;
  loadAvgAtStart: number[];
  metrics: MetricSummary[];
  checks: CheckSummary[];
  notes: string[];
  info: Record<string, unknown>[];
}

/** Linear-interpolation quantile of sorted values (R type 7). */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarize(samples: Metric[]): MetricSummary {
  const first = samples[0];
  const values = samples.map((m) => m.value);
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return {
    key: first.key, label: first.label, unit: first.unit, better: first.better, decimals: first.decimals,
    median: quantile(sorted, 0.5),
    p95: quantile(sorted, first.better === 'higher' ? 0.05 : 0.95),
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
    values,
  };
}

export async function runSubBenchmark(
  b: SubBenchmark,
  opts: { quick: boolean; runs?: number; log: (msg: string) => void; gc: () => void; loadAvg: () => number[] },
): Promise<BenchResult> {
  const runs = opts.runs ?? (opts.quick ? b.runs?.quick ?? 3 : b.runs?.full ?? 7);
  const warm = b.warmup !== false;
  const state: Record<string, unknown> = {};
  const t0 = performance.now();
  const result: BenchResult = {
    name: b.name, description: b.description, status: 'ok', runs, warmup: warm,
    startedAt: new Date().toISOString(), durationS: 0, loadAvgAtStart: opts.loadAvg(),
    metrics: [], checks: [], notes: [], info: [],
  };
  const ctxFor = (run: number): BenchContext => ({
    quick: opts.quick, warmup: run < 0, run, runs, state, gc: opts.gc,
    log: (msg) => opts.log(`[${b.name}${run < 0 ? ' warm-up' : ` ${run + 1}/${runs}`}] ${msg}`),
  });
  const base = ctxFor(-1);
  try {
    const why = await b.skip?.(base);
    if (why) return { ...result, status: 'skipped', reason: why, durationS: (performance.now() - t0) / 1000 };
    await b.setup?.(base);
    const byKey = new Map<string, Metric[]>();
    const checks = new Map<string, { passed: number; total: number; details: string[]; failed: string[] }>();
    try {
      for (let run = warm ? -1 : 0; run < runs; run++) {
        const ctx = ctxFor(run);
        opts.gc();
        const r = await b.run(ctx);
        if (run < 0) continue;
        for (const m of r.metrics) {
          const list = byKey.get(m.key);
          if (list) list.push(m); else byKey.set(m.key, [m]);
        }
        for (const c of r.checks ?? []) {
          let s = checks.get(c.name);
          if (!s) { s = { passed: 0, total: 0, details: [], failed: [] }; checks.set(c.name, s); }
          s.total++;
          if (c.ok) s.passed++;
          const list = c.ok ? s.details : s.failed;
          if (!list.includes(c.detail)) list.push(c.detail);
          if (!c.ok) ctx.log(`CHECK FAILED ${c.name}: ${c.detail}`);
        }
        if (r.info) result.info.push({ run, ...r.info });
      }
    } finally {
      await b.teardown?.(base);
    }
    result.metrics = [...byKey.values()].map(summarize);
    result.checks = [...checks].map(([name, s]) => ({ name, passed: s.passed, total: s.total, details: [...s.failed, ...s.details] }));
    if (result.checks.some((c) => c.passed < c.total)) result.status = 'failed';
    result.notes = typeof b.notes === 'function' ? b.notes({ quick: opts.quick, metrics: result.metrics }) : b.notes ?? [];
  } catch (err) {
    result.status = 'error';
    result.reason = err instanceof Error ? err.stack ?? err.message : String(err);
  }
  result.durationS = (performance.now() - t0) / 1000;
  return result;
}
