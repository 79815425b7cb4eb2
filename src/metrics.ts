/**
 * Prometheus metrics (prom-client) for a running graph. The runtime keeps its per-node and
 * per-edge counts as plain numbers on the hot path; the metric objects read them at scrape
 * time (`collect`), so a packet costs one histogram observation and nothing else here.
 */
import client from 'prom-client';
import type { NodeMetrics } from './contract.js';
import { redactSecrets } from './redact.js';

export interface NodeStatsView {
  id: string; type: string; state: string;
  packetsIn: number; packetsOut: number; errors: number; restarts: number; inFlight: number;
  latency: LatencyHistogram;
  /** Sources process no packets: they have no processing-time series. */
  source: boolean;
}

/** Upper bounds (seconds) of the processing-time histogram buckets. */
export const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * A Prometheus histogram kept as plain numbers: observing is a short loop and two additions,
 * with no allocation and no label hashing (prom-client's `observe` cost more than the rest of
 * the runtime's per-packet work together). Exposed in the text format at scrape time.
 */
export class LatencyHistogram {
  readonly counts = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }
}

/** Process metrics (memory, CPU, event loop, GC) are collected once per process, not per graph. */
let processRegistry: client.Registry | undefined;
function processMetrics(): client.Registry {
  if (!processRegistry) {
    processRegistry = new client.Registry();
    client.collectDefaultMetrics({ register: processRegistry, prefix: 'graphrun_' });
  }
  return processRegistry;
}
export interface EdgeStatsView {
  id: string; from: string; to: string; policy: string;
  depth: number; capacity: number; delivered: number; drops: Record<string, number>;
}
export interface StatsSource {
  nodeViews(): NodeStatsView[];
  edgeViews(): EdgeStatsView[];
}

const STATES = ['starting', 'running', 'degraded', 'error', 'stopped'];

export class MetricsHub {
  readonly registry = new client.Registry();
  private source: StatsSource | undefined;
  private readonly custom = new Map<string, client.Metric<string>>();
  private readonly withProcess: boolean;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const reg = this.registry;
    const hub = this;
    const nodeLabels = ['node_id', 'node_type'] as const;
    const perNode = (name: string, help: string, pick: (n: NodeStatsView) => number) =>
      new client.Counter({
        name, help, labelNames: nodeLabels, registers: [reg],
        collect() {
          this.reset();
          for (const n of hub.source?.nodeViews() ?? []) this.inc({ node_id: n.id, node_type: n.type }, pick(n));
        },
      });
    perNode('graphrun_node_packets_in_total', 'Packets a node took from its input queues.', (n) => n.packetsIn);
    perNode('graphrun_node_packets_out_total', 'Packets a node emitted (once per emit, whatever the fan-out).', (n) => n.packetsOut);
    perNode('graphrun_node_errors_total', 'Failures of a node (throws, rejected promises, failed starts).', (n) => n.errors);
    perNode('graphrun_node_restarts_total', 'Restarts of a node after failures.', (n) => n.restarts);
    new client.Gauge({
      name: 'graphrun_node_in_flight', help: 'Packets a node is working on now.', labelNames: nodeLabels, registers: [reg],
      collect() {
        this.reset();
        for (const n of hub.source?.nodeViews() ?? []) this.set({ node_id: n.id, node_type: n.type }, n.inFlight);
      },
    });
    new client.Gauge({
      name: 'graphrun_node_state', help: 'Node state: 1 for the current state, 0 for the others.', labelNames: [...nodeLabels, 'state'], registers: [reg],
      collect() {
        this.reset();
        for (const n of hub.source?.nodeViews() ?? []) for (const s of STATES) this.set({ node_id: n.id, node_type: n.type, state: s }, n.state === s ? 1 : 0);
      },
    });
    const histName = 'graphrun_node_processing_seconds';
    const histHelp = 'Time a node spent on one packet.';
    reg.registerMetric({
      name: histName, help: histHelp, type: 'histogram', aggregator: 'sum',
      async get() {
        const values: { value: number; labels: Record<string, string | number>; metricName: string }[] = [];
        for (const n of hub.source?.nodeViews() ?? []) {
          if (n.source) continue;
          const labels = { node_id: n.id, node_type: n.type };
          let cum = 0;
          LATENCY_BUCKETS.forEach((le, i) => {
            cum += n.latency.counts[i];
            values.push({ value: cum, labels: { ...labels, le }, metricName: `${histName}_bucket` });
          });
          values.push({ value: n.latency.count, labels: { ...labels, le: '+Inf' }, metricName: `${histName}_bucket` });
          values.push({ value: n.latency.sum, labels, metricName: `${histName}_sum` });
          values.push({ value: n.latency.count, labels, metricName: `${histName}_count` });
        }
        return { name: histName, help: histHelp, type: 'histogram', aggregator: 'sum', values };
      },
    } as unknown as client.Metric<string>);
    const edgeLabels = ['edge', 'from', 'to', 'policy'] as const;
    new client.Gauge({
      name: 'graphrun_edge_queue_depth', help: 'Packets waiting in an edge queue.', labelNames: edgeLabels, registers: [reg],
      collect() {
        this.reset();
        for (const e of hub.source?.edgeViews() ?? []) this.set({ edge: e.id, from: e.from, to: e.to, policy: e.policy }, e.depth);
      },
    });
    new client.Gauge({
      name: 'graphrun_edge_queue_capacity', help: 'Bound of an edge queue.', labelNames: edgeLabels, registers: [reg],
      collect() {
        this.reset();
        for (const e of hub.source?.edgeViews() ?? []) this.set({ edge: e.id, from: e.from, to: e.to, policy: e.policy }, e.capacity);
      },
    });
    new client.Counter({
      name: 'graphrun_edge_delivered_total', help: 'Packets an edge handed to its consumer.', labelNames: edgeLabels, registers: [reg],
      collect() {
        this.reset();
        for (const e of hub.source?.edgeViews() ?? []) this.inc({ edge: e.id, from: e.from, to: e.to, policy: e.policy }, e.delivered);
      },
    });
    new client.Counter({
      name: 'graphrun_edge_dropped_total', help: 'Packets an edge dropped, by reason (evicted: pushed out by a newer one; rejected: queue full; shutdown; removed by a reload).',
      labelNames: [...edgeLabels, 'reason'], registers: [reg],
      collect() {
        this.reset();
        for (const e of hub.source?.edgeViews() ?? []) {
          for (const [reason, n] of Object.entries(e.drops)) this.inc({ edge: e.id, from: e.from, to: e.to, policy: e.policy, reason }, n);
        }
      },
    });
    this.withProcess = opts.processMetrics !== false;
  }

  attach(source: StatsSource): void {
    this.source = source;
  }

  /** Drop a node's series (removed by a reload, or its type changed), node-specific ones included. */
  forget(id: string, type: string): void {
    const labels = { node_id: id, node_type: type };
    for (const m of this.custom.values()) (m as client.Counter<'node_id' | 'node_type'>).remove(labels);
  }

  /** Node-specific metrics: `graphrun_<name>` with the node's labels bound. */
  forNode(id: string, type: string): NodeMetrics {
    const labels = { node_id: id, node_type: type };
    const get = <M extends client.Metric<string>>(name: string, make: () => M): M => {
      const full = `graphrun_${name}`;
      let m = this.custom.get(full);
      if (!m) { m = make(); this.custom.set(full, m); }
      return m as M;
    };
    return {
      counter: (name, help) => get(name, () => new client.Counter({ name: `graphrun_${name}`, help, labelNames: ['node_id', 'node_type'], registers: [this.registry] })).labels(labels),
      gauge: (name, help) => get(name, () => new client.Gauge({ name: `graphrun_${name}`, help, labelNames: ['node_id', 'node_type'], registers: [this.registry] })).labels(labels),
      histogram: (name, help, buckets) => get(name, () => new client.Histogram({ name: `graphrun_${name}`, help, labelNames: ['node_id', 'node_type'], buckets, registers: [this.registry] })).labels(labels),
    };
  }

  async text(): Promise<string> {
    const own = await this.registry.metrics();
    return redactSecrets(this.withProcess ? own + (await processMetrics().metrics()) : own);
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
