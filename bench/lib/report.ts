/** Results as JSON (everything, for tools and comparisons) and as a markdown table (for people). */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchResult, MetricSummary } from './harness.js';
import type { MachineInfo } from './machine.js';

export interface Report {
  format: 'graphrun-bench/1';
  startedAt: string;
  finishedAt: string;
  durationS: number;
  mode: 'full' | 'quick';
  argv: string[];
  machine: MachineInfo;
  results: BenchResult[];
}

/** `2025-01-31T07-43-56Z`: sortable, and valid as a file name everywhere. */
export function fileStamp(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

export function writeReport(dir: string, stamp: string, report: Report): { json: string; md: string; text: string } {
  mkdirSync(dir, { recursive: true });
  const json = path.join(dir, `${stamp}.json`);
  const md = path.join(dir, `${stamp}.md`);
  const text = markdown(report);
  writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(md, text);
  return { json, md, text };
}

export function fmt(x: number, decimals?: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (decimals !== undefined) return x.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  const a = Math.abs(x);
  const d = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 1 ? 2 : a === 0 ? 0 : 3;
  return x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

export function machineLine(m: MachineInfo): string {
  const git = m.git ? `, commit ${m.git.commit}${m.git.dirty ? ' (uncommitted changes)' : ''}` : '';
  return `${m.cores} cores (${m.cpuModel}${m.cpuMHz ? `, ${m.cpuMHz} MHz` : ''}), load average ${m.loadAvgAtStart.join(' / ')} at start (1/5/15 min), ` +
    `${m.memTotalGiB} GiB RAM, Node ${m.node} (V8 ${m.v8}), ${m.platform} ${m.arch} ${m.osRelease}${git}`;
}

function metricRow(m: MetricSummary): string {
  const arrow = m.better === 'higher' ? ' ↑' : m.better === 'lower' ? ' ↓' : '';
  return `| ${m.label}${arrow} | ${fmt(m.median, m.decimals)} | ${fmt(m.p95, m.decimals)} | ${fmt(m.min, m.decimals)} … ${fmt(m.max, m.decimals)} | ${m.unit} |`;
}

export function markdown(r: Report): string {
  const out: string[] = [];
  out.push(`# graphrun bench — ${r.startedAt}`, '');
  out.push(`- Machine: ${machineLine(r.machine)}`);
  if (r.machine.loadAvgAtStart[0] > r.machine.cores / 2) {
    out.push(`- **Warning:** the machine was busy at start (1-min load ${r.machine.loadAvgAtStart[0]} on ${r.machine.cores} cores): expect noisy, pessimistic figures.`);
  }
  out.push(`- Mode: ${r.mode}${r.argv.length ? ` (\`npm run bench -- ${r.argv.join(' ')}\`)` : ''}; took ${r.durationS.toFixed(1)} s`);
  out.push('- Figures: median and p95 over the counted runs (after one uncounted warm-up run); p95 is on the worse side ' +
    '(↑ higher is better: 5th percentile; ↓ lower is better: 95th percentile). Each sub-benchmark runs in its own Node process.');
  for (const b of r.results) {
    out.push('', `## ${b.name} — ${b.description}`, '');
    if (b.status === 'skipped') { out.push(`Skipped: ${b.reason}`); continue; }
    if (b.status === 'error') { out.push('**Error:**', '', '```', b.reason ?? '', '```'); continue; }
    out.push(`${b.runs} runs, ${b.durationS.toFixed(1)} s, load average ${b.loadAvgAtStart.join(' / ')} at start`, '');
    out.push('| metric | median | p95 | min … max | unit |', '|---|---:|---:|---:|---|');
    for (const m of b.metrics) out.push(metricRow(m));
    if (b.checks.length) {
      out.push('', 'Checks:');
      for (const c of b.checks) {
        out.push(`- ${c.passed === c.total ? 'ok' : '**FAILED**'} ${c.name}: ${c.passed}/${c.total} runs — ${c.details.slice(0, 3).join('; ')}`);
      }
    }
    if (b.notes.length) {
      out.push('');
      for (const n of b.notes) out.push(`> ${n}`);
    }
  }
  return out.join('\n') + '\n';
}
