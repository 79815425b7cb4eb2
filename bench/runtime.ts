/**
 * `runtime`: what the runtime itself costs per packet per node.
 *
 * Packets carrying a 1280x720 rgb24 frame go source → N × bench-pass → bench-sink over `block`
 * queues (nothing may drop: every run checks delivered == produced on every edge). Throughput is
 * taken at the sink over the steady part of the run (from the 10% mark to the last packet), and
 *
 *   cost per packet per node = (time per packet with the chain − time per packet with 0 nodes) / N
 *
 * with both measured in the same run. Two sources:
 * - `synthetic`: synthetic-source with `realtime: false`, which yields to the event loop
 *   (setImmediate) after every frame — as a real graph does; the yield is in both terms and
 *   cancels out of the per-node figure, but it caps packets/s.
 * - `tight`: bench-source, a loop that awaits only `emit` (back-pressure): no per-frame yield,
 *   so the per-node figure is the runtime's cost alone. It never yields to the event loop while
 *   the chain keeps up (everything runs on microtasks), which the event-loop delay shows.
 */
import type { BenchContext, Check, Metric, RunResult, SubBenchmark } from './lib/harness.js';
import { armSink, benchRegistry } from './lib/nodes.js';
import { startGraph, within } from './lib/graph.js';
import { LoopDelay } from './lib/loop.js';

const WIDTH = 1280;
const HEIGHT = 720;
const CHAIN = 5;
const QUEUE = 16;
/** The target from the issue. */
const TARGET_US = 20;

type Variant = 'synthetic' | 'tight';
const VARIANTS: Variant[] = ['synthetic', 'tight'];

interface Scenario {
  rate: number; // packets/s, steady state
  usPerPacket: number;
  /** Process CPU time (all threads) per packet over the same window. */
  cpuUsPerPacket: number;
  eldP99Ms: number;
  eldMaxMs: number;
  heapBeforeMB: number;
  heapEndMB: number;
  heapAfterMB: number;
  count: number;
  checks: Check[];
}

function graphYaml(variant: Variant, nodes: number, count: number): string {
  const lines = [
    'version: 1',
    `name: bench-runtime-${variant}-${nodes}`,
    'status: { enabled: false }',
    'nodes:',
    '  src:',
    ...(variant === 'synthetic'
      ? ['    type: synthetic-source', '    realtime: false', '    distinct_frames: 2', '    format: rgb24']
      : ['    type: bench-source']),
    `    width: ${WIDTH}`,
    `    height: ${HEIGHT}`,
    `    count: ${count}`,
  ];
  let prev = 'src.frames';
  for (let i = 1; i <= nodes; i++) {
    lines.push(`  p${i}:`, '    type: bench-pass', `    inputs: { in: { from: ${prev}, queue: { block: ${QUEUE} } } }`);
    prev = `p${i}.out`;
  }
  lines.push('  sink:', '    type: bench-sink', `    inputs: { in: { from: ${prev}, queue: { block: ${QUEUE} } } }`);
  return lines.join('\n') + '\n';
}

const MB = 2 ** 20;

async function scenario(ctx: BenchContext, variant: Variant, nodes: number, count: number): Promise<Scenario> {
  const name = `${variant}, ${nodes} nodes`;
  const mark = Math.max(1, Math.floor(count * 0.1));
  ctx.gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const probe = armSink('sink', count, mark);
  const eld = new LoopDelay(1);
  const app = await startGraph(graphYaml(variant, nodes, count), benchRegistry, `runtime-${variant}-${nodes}`);
  const checks: Check[] = [];
  let finished = true;
  try {
    // Delay is recorded from the first packet at the sink to the end of the run.
    if (probe.count > 0) eld.start(); else probe.onFirst = () => eld.start();
    await within(probe.done, 120_000, `${probe.expect} packets at the sink (${name})`);
    checks.push({ name: `all packets arrive in time (${name})`, ok: true, detail: 'within 120 s' });
  } catch (err) {
    finished = false;
    checks.push({ name: `all packets arrive in time (${name})`, ok: false, detail: err instanceof Error ? err.message : String(err) });
  }
  // One timer turn, so a delay the run caused (a loop that never yielded) is recorded before we stop.
  await new Promise((r) => setTimeout(r, 2));
  eld.stop();
  const heapEnd = process.memoryUsage().heapUsed;
  const rt = app.runtime;
  const produced = rt.nodeViews().find((n) => n.id === 'src')?.packetsOut ?? -1;
  const edges = rt.edgeViews();
  const bad = edges.filter((e) => e.delivered !== count || Object.values(e.drops).some((d) => d > 0) || e.depth !== 0);
  checks.push({
    name: `delivered == produced, no drops (${name})`,
    ok: finished && produced === count && probe.count === count && bad.length === 0,
    detail: bad.length
      ? `produced ${produced}, delivered ${probe.count}; ${bad.map((e) => `${e.id}: delivered ${e.delivered}, drops ${JSON.stringify(e.drops)}, depth ${e.depth}`).join('; ')}`
      : `produced ${produced}, delivered ${probe.count} over ${edges.length} edges`,
  });
  await app.stop();
  ctx.gc();
  const heapAfter = process.memoryUsage().heapUsed;
  const seconds = (probe.lastAt - probe.markAt) / 1000;
  const rate = (count - mark) / seconds;
  return {
    rate,
    usPerPacket: 1e6 / rate,
    cpuUsPerPacket: (probe.lastCpuUs - probe.markCpuUs) / (count - mark),
    eldP99Ms: eld.quantile(0.99),
    eldMaxMs: eld.max,
    heapBeforeMB: heapBefore / MB,
    heapEndMB: heapEnd / MB,
    heapAfterMB: heapAfter / MB,
    count,
    checks,
  };
}

/** Packets per scenario: sized in the warm-up so that each scenario lasts about `seconds`. */
function countFor(ctx: BenchContext, key: string): number {
  const counts = (ctx.state.counts ??= {}) as Record<string, number>;
  if (!counts[key]) return key.startsWith('synthetic') ? 5_000 : 20_000;
  return counts[key];
}

function calibrate(ctx: BenchContext, key: string, rate: number): void {
  const seconds = ctx.quick ? 0.25 : 1;
  const counts = (ctx.state.counts ??= {}) as Record<string, number>;
  counts[key] = Math.max(2_000, Math.min(5_000_000, Math.round((rate * seconds) / 1000) * 1000));
}

export const runtimeBench: SubBenchmark = {
  name: 'runtime',
  description: `packets/s and runtime cost per packet per node: source → ${CHAIN} × pass-through → sink, ${WIDTH}x${HEIGHT} rgb24 frames, block queues`,
  async run(ctx): Promise<RunResult> {
    const metrics: Metric[] = [];
    const checks: Check[] = [];
    const info: Record<string, unknown> = {};
    for (const v of VARIANTS) {
      let base!: Scenario;
      let chain!: Scenario;
      // The warm-up runs twice: a first pass warms the JIT, the second sizes the counted runs.
      for (let pass = 0; pass < (ctx.warmup ? 2 : 1); pass++) {
        base = await scenario(ctx, v, 0, countFor(ctx, `${v}-0`));
        chain = await scenario(ctx, v, CHAIN, countFor(ctx, `${v}-${CHAIN}`));
        if (ctx.warmup) {
          calibrate(ctx, `${v}-0`, base.rate);
          calibrate(ctx, `${v}-${CHAIN}`, chain.rate);
        }
      }
      checks.push(...base.checks, ...chain.checks);
      const perNode = (chain.usPerPacket - base.usPerPacket) / CHAIN;
      const perNodeCpu = (chain.cpuUsPerPacket - base.cpuUsPerPacket) / CHAIN;
      const m = (key: string, label: string, unit: string, value: number, better: Metric['better'], decimals?: number): Metric =>
        ({ key: `${v}.${key}`, label: `${v}: ${label}`, unit, value, better, decimals });
      metrics.push(
        m('baseline.rate', '0 nodes, packets/s', 'packets/s', base.rate, 'higher'),
        m('chain.rate', `${CHAIN} nodes, packets/s`, 'packets/s', chain.rate, 'higher'),
        m('baseline.us', '0 nodes, wall time per packet', 'µs', base.usPerPacket, 'lower'),
        m('chain.us', `${CHAIN} nodes, wall time per packet`, 'µs', chain.usPerPacket, 'lower'),
        m('per_node.us', '**runtime cost per packet per node (wall)**', 'µs', perNode, 'lower', 2),
        m('baseline.cpu_us', '0 nodes, CPU time per packet', 'µs', base.cpuUsPerPacket, 'lower'),
        m('chain.cpu_us', `${CHAIN} nodes, CPU time per packet`, 'µs', chain.cpuUsPerPacket, 'lower'),
        m('per_node.cpu_us', 'runtime cost per packet per node (CPU time)', 'µs', perNodeCpu, 'lower', 2),
        m('chain.eld_p99', `${CHAIN} nodes, event-loop delay p99`, 'ms', chain.eldP99Ms, 'lower', 2),
        m('chain.eld_max', `${CHAIN} nodes, event-loop delay max`, 'ms', chain.eldMaxMs, 'lower', 2),
        m('chain.heap_before', `${CHAIN} nodes, heap used before (after GC)`, 'MiB', chain.heapBeforeMB, 'none', 1),
        m('chain.heap_end', `${CHAIN} nodes, heap used at end of run (no GC)`, 'MiB', chain.heapEndMB, 'none', 1),
        m('chain.heap_after', `${CHAIN} nodes, heap used after stop (after GC)`, 'MiB', chain.heapAfterMB, 'none', 1),
      );
      info[v] = { baselinePackets: base.count, chainPackets: chain.count };
      ctx.log(`${v}: ${Math.round(base.rate)} → ${Math.round(chain.rate)} packets/s, per packet per node ${perNode.toFixed(2)} µs wall, ${perNodeCpu.toFixed(2)} µs CPU; event-loop delay p99 ${chain.eldP99Ms.toFixed(1)} ms`);
    }
    // The noise floor: the same delay measured on an idle loop. On a busy shared machine the
    // scheduler alone delays timers by milliseconds; compare the synthetic figure to this one.
    const idle = new LoopDelay(1);
    idle.start();
    await new Promise((r) => setTimeout(r, ctx.quick ? 200 : 500));
    idle.stop();
    metrics.push({ key: 'reference.idle_eld_p99', label: 'reference: idle event loop, delay p99 (machine noise)', unit: 'ms', value: idle.quantile(0.99), better: 'lower', decimals: 2 });
    return { metrics, checks, info };
  },
  notes({ metrics }) {
    const get = (k: string) => metrics.find((m) => m.key === k)?.median ?? NaN;
    const verdict = (v: Variant) => {
      const wall = get(`${v}.per_node.us`);
      const cpu = get(`${v}.per_node.cpu_us`);
      const ok = Math.max(wall, cpu) <= TARGET_US;
      return `${ok ? 'meets the target' : '**misses the target**'} (median ${wall.toFixed(2)} µs wall, ${cpu.toFixed(2)} µs CPU; target ${TARGET_US} µs)`;
    };
    return [
      `synthetic: synthetic-source with realtime: false, which yields to the event loop (setImmediate) after every frame (real sources yield too, waiting on I/O); tight: bench-source, a loop that awaits only emit (no per-frame yield), so the per-node figure is the runtime's own cost with back-pressure engaged.`,
      `Runtime cost per packet per node = (time per packet through ${CHAIN} pass-through nodes − time per packet source → sink) / ${CHAIN}, paired within each run; "wall" from packets/s, "CPU time" from process.cpuUsage() over the same window (all threads, so GC helpers count; less disturbed by other processes on a busy machine). Target: under ${TARGET_US} µs.`,
      `synthetic ${verdict('synthetic')}; tight ${verdict('tight')}.`,
      'The tight source and the whole chain run on microtasks while the chain keeps up, so the event loop does not turn until the run ends: its event-loop delay is the length of the run. That comes from how the measurement is built (no yield at all), not from a runtime stall; real sources are driven by I/O and yield.',
      'Throughput is measured at the sink from the 10% mark to the last packet; packet counts are sized in the warm-up run to about 1 s (0.25 s with --quick) per scenario. Heap figures are V8 heapUsed; frame pixels live in SharedArrayBuffers outside it.',
    ];
  },
};
