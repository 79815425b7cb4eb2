/**
 * The runtime: instantiates a compiled graph, wires its edges, schedules packets into nodes,
 * restarts failing nodes with backoff, reloads a changed graph in place, and stops cleanly.
 *
 * Scheduling: an edge that receives a packet schedules its consumer on a microtask; the
 * consumer takes packets round-robin from its input edges (fair between cameras) while fewer
 * than `concurrency` are in flight. A synchronous `process` never runs inside its producer's
 * call, so per-node timings are the node's own.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Clock, NodeContext, NodeInstance, NodeState, Packet } from '../contract.js';
import { isSource } from '../contract.js';
import type { CompiledGraph, CompiledNode } from '../graph/compile.js';
import { policyText } from '../graph/compile.js';
import type { Diagnostic } from '../graph/diagnostics.js';
import { LatencyHistogram, MetricsHub, type EdgeStatsView, type NodeStatsView, type StatsSource } from '../metrics.js';
import { redactSecrets } from '../redact.js';
import type { EdgeSnapshot, NodeSnapshot, StatusSnapshot } from '../status/snapshot.js';
import { systemClock } from './clock.js';
import { acquireLease, handOver, leaseOf, releaseLease } from '../frames.js';
import { Edge } from './edge.js';

const WINDOW = 256;

/** A packet an edge dropped lets go of its frame. */
function discardPacket(p: Packet): void {
  const lease = leaseOf(p.data);
  if (lease) releaseLease(lease);
}

/** Counters of one node id; they survive restarts and reloads that keep the node's type. */
export class NodeStats {
  packetsIn = 0;
  packetsOut = 0;
  errors = 0;
  restarts = 0;
  lastError: string | null = null;
  lastOutAt = -Infinity;
  readonly durations = new Float64Array(WINDOW);
  readonly latency = new LatencyHistogram();
  private n = 0;
  private samples: { t: number; in: number; out: number }[] = [];

  record(ms: number): void {
    this.durations[this.n++ % WINDOW] = ms;
    this.latency.observe(ms / 1000);
  }
  quantile(q: number): number | null {
    const count = Math.min(this.n, WINDOW);
    if (count === 0) return null;
    const sorted = Array.from(this.durations.subarray(0, count)).sort((a, b) => a - b);
    return sorted[Math.min(count - 1, Math.floor(q * count))];
  }
  sample(t: number): void {
    this.samples.push({ t, in: this.packetsIn, out: this.packetsOut });
    while (this.samples.length > 2 && t - this.samples[0].t > 3000) this.samples.shift();
  }
  rates(): { inRate: number; outRate: number } {
    const s = this.samples;
    if (s.length < 2) return { inRate: 0, outRate: 0 };
    const a = s[0];
    const b = s[s.length - 1];
    const dt = (b.t - a.t) / 1000;
    return dt > 0 ? { inRate: (b.in - a.in) / dt, outRate: (b.out - a.out) / dt } : { inRate: 0, outRate: 0 };
  }
}

export interface RuntimeOptions {
  log: Logger;
  clock?: Clock;
  metrics?: MetricsHub;
  /** Grace after start during which a silent source still counts as ready. */
  readyGraceMs?: number;
  /** A source silent for longer than this is not ready. */
  readyStaleMs?: number;
}

class NodeRunner {
  state: NodeState = 'stopped';
  text = '';
  instance: NodeInstance | undefined;
  inputs: Edge[] = [];
  readonly outputs = new Map<string, Edge[]>();
  inFlight = 0;
  private rr = 0;
  private scheduled = false;
  private accepting = false;
  private gen = 0;
  private abort = new AbortController();
  private runPromise: Promise<void> | undefined;
  ended = false;
  private restarting = false;
  /** Set once the node is being stopped for good (shutdown, reload): no more restarts. */
  private retired = false;
  private failures = 0;
  private healthySince = 0;
  startedAt = 0;
  readonly log: Logger;
  readonly source: boolean;

  constructor(readonly node: CompiledNode, private readonly rt: Runtime, readonly stats: NodeStats) {
    this.log = rt.log.child({ node_id: node.id, node_type: node.type });
    this.source = isSource(node.def);
  }

  get id(): string { return this.node.id; }

  schedule = (): void => {
    if (this.scheduled || !this.accepting) return;
    this.scheduled = true;
    queueMicrotask(this.pump);
  };

  private pump = (): void => {
    this.scheduled = false;
    const inst = this.instance;
    if (!this.accepting || !inst?.process) return;
    const gen = this.gen;
    const inputs = this.inputs;
    while (this.inFlight < this.node.concurrency && this.accepting) {
      let edge: Edge | undefined;
      const n = inputs.length;
      for (let i = 0; i < n; i++) {
        const e = inputs[(this.rr + i) % n];
        if (e.depth > 0) { edge = e; this.rr = (this.rr + i + 1) % n; break; }
      }
      if (!edge) return;
      const packet = edge.shift()!;
      this.stats.packetsIn++;
      this.inFlight++;
      const t0 = performance.now();
      let r: void | Promise<void>;
      try {
        r = inst.process(packet, edge.to.port);
      } catch (err) {
        this.finish(t0, gen, packet);
        this.fail(err, 'process');
        return;
      }
      if (r !== undefined && typeof (r as Promise<void>).then === 'function') {
        (r as Promise<void>).then(
          () => { this.finish(t0, gen, packet); this.schedule(); },
          (err: unknown) => { this.finish(t0, gen, packet); if (gen === this.gen) this.fail(err, 'process'); },
        );
      } else this.finish(t0, gen, packet);
    }
  };

  private finish(t0: number, gen: number, packet: Packet): void {
    const ms = performance.now() - t0;
    const lease = leaseOf(packet.data);
    if (lease) releaseLease(lease); // this node is done with the frame
    if (gen !== this.gen) return; // a previous instance finishing late
    this.inFlight--;
    this.stats.record(ms);
  }

  private makeContext(gen: number, signal: AbortSignal): NodeContext {
    const runner = this;
    const { node, stats } = this;
    const defOutputs = node.def.outputs;
    const source = this.source;
    return {
      id: node.id,
      type: node.type,
      log: this.log,
      clock: this.rt.clock,
      signal,
      graphDir: this.rt.graph.dir,
      metrics: this.rt.metrics.forNode(node.id, node.type),
      status(update) {
        if (gen !== runner.gen) return;
        if (update.state) runner.state = update.state;
        if (update.text !== undefined) runner.text = redactSecrets(update.text);
      },
      emit(port: string, packet: Packet): void | Promise<void> {
        const edges = runner.outputs.get(port);
        const lease = leaseOf(packet.data);
        if (edges === undefined) {
          if (!(port in defOutputs)) throw new Error(`${node.type} emitted on unknown output port "${port}"`);
          stats.packetsOut++;
          if (lease) handOver(lease);
          return;
        }
        stats.packetsOut++;
        if (source) stats.lastOutAt = runner.rt.clock.monotonic(); // readiness reads it for sources only
        let waits: Promise<void>[] | undefined;
        for (let i = 0; i < edges.length; i++) {
          if (lease) acquireLease(lease); // the queue's reference (let go if it drops the packet)
          const w = edges[i].push(packet);
          if (w) (waits ??= []).push(w);
        }
        if (lease) handOver(lease);
        if (waits) return waits.length === 1 ? waits[0] : Promise.all(waits).then(() => undefined);
      },
      connected(port: string): number {
        return runner.outputs.get(port)?.length ?? 0;
      },
    };
  }

  async start(): Promise<void> {
    this.gen++;
    const gen = this.gen;
    this.abort = new AbortController();
    this.state = 'starting';
    this.text = this.text.startsWith('error') ? this.text : 'starting';
    this.ended = false;
    this.inFlight = 0;
    const ctx = this.makeContext(gen, this.abort.signal);
    try {
      const inst = this.node.def.create(this.node.options, ctx);
      this.instance = inst;
      await inst.start?.();
    } catch (err) {
      if (gen === this.gen) this.fail(err, 'start');
      return;
    }
    if (gen !== this.gen || this.retired) return;
    this.startedAt = this.rt.clock.monotonic();
    this.healthySince = this.startedAt;
    if (this.state === 'starting') this.state = 'running';
    if (this.text === 'starting' || this.text.startsWith('error')) this.text = '';
    this.restarting = false;
    this.accepting = true;
    const inst = this.instance!;
    if (this.source && inst.run) {
      this.runPromise = inst.run().then(
        () => {
          if (gen !== this.gen) return;
          this.ended = true;
          if (!this.retired) { this.state = 'stopped'; this.text ||= 'ended'; }
          this.rt.sourceEnded();
        },
        (err: unknown) => { if (gen === this.gen && !this.abort.signal.aborted) this.fail(err, 'run'); },
      );
    }
    this.schedule();
  }

  fail(err: unknown, where: string): void {
    const msg = redactSecrets(err instanceof Error ? err.message : String(err));
    this.stats.errors++;
    this.stats.lastError = msg;
    this.state = 'error';
    this.text = `error in ${where}: ${msg}`;
    this.log.error({ err, where }, `node failed: ${msg}`);
    if (this.restarting || this.retired) return;
    this.restarting = true;
    this.accepting = false;
    const now = this.rt.clock.monotonic();
    const pol = this.node.restart;
    if (now - this.healthySince > pol.reset_after_ms) this.failures = 0;
    this.failures++;
    const base = Math.min(pol.max_ms, pol.initial_ms * 2 ** Math.min(30, this.failures - 1));
    const delay = base / 2 + Math.random() * (base / 2); // equal jitter: spread restarts, keep a floor
    this.text += ` — restarting in ${(delay / 1000).toFixed(1)} s`;
    const gen = this.gen;
    void this.rt.clock.sleep(delay, this.rt.lifetime).then(async () => {
      if (gen !== this.gen || this.retired) return;
      await this.stopInstance();
      if (this.retired) return;
      this.stats.restarts++;
      this.log.info({ attempt: this.failures }, 'restarting node');
      this.restarting = false;
      await this.start();
    }, () => undefined);
  }

  /** Stop the current instance within the deadline; never throws. */
  async stopInstance(): Promise<void> {
    this.accepting = false;
    this.abort.abort();
    const inst = this.instance;
    this.instance = undefined;
    const tasks: Promise<unknown>[] = [];
    try {
      const r = inst?.stop?.();
      if (r) tasks.push(Promise.resolve(r).catch((err: unknown) => this.log.warn({ err }, 'stop failed')));
    } catch (err) {
      this.log.warn({ err }, 'stop failed');
    }
    if (this.runPromise) tasks.push(this.runPromise);
    this.runPromise = undefined;
    if (tasks.length === 0) return;
    const deadline = this.rt.graph.shutdown.stop_timeout_ms;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.allSettled(tasks).then(() => false),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(true), deadline); }),
    ]);
    clearTimeout(timer);
    if (timedOut) this.log.warn({ deadline_ms: deadline }, 'node did not stop within its deadline');
  }

  /** Stop for good (shutdown, or removed/replaced by a reload). */
  async retire(): Promise<void> {
    this.retired = true;
    this.gen++;
    await this.stopInstance();
    this.state = 'stopped';
    if (!this.text || this.text === 'starting') this.text = 'stopped';
  }

  /** Sources only: stop producing (shutdown begins with this). */
  async stopSource(): Promise<void> {
    this.retired = true;
    await this.stopInstance();
    this.ended = true;
    this.state = 'stopped';
  }

  /** Let the node emit what it still holds (once per instance); never throws. */
  async flush(): Promise<void> {
    const inst = this.instance;
    if (!inst?.flush || this.flushed === inst) return;
    this.flushed = inst;
    try {
      await inst.flush();
    } catch (err) {
      this.log.warn({ err }, 'flush failed');
    }
  }
  private flushed: NodeInstance | undefined;

  idle(): boolean {
    return this.inFlight === 0 && this.inputs.every((e) => e.depth === 0 && e.waiting === 0);
  }
}

export class Runtime implements StatsSource {
  graph: CompiledGraph;
  readonly log: Logger;
  readonly clock: Clock;
  readonly metrics: MetricsHub;
  readonly runners = new Map<string, NodeRunner>();
  private readonly stats = new Map<string, NodeStats>();
  /** Edges keyed by `id|policy`: an edge whose ends and policy survive a reload keeps its queue. */
  private edges = new Map<string, Edge>();
  private readonly lifetimeCtl = new AbortController();
  readonly lifetime = this.lifetimeCtl.signal;
  startedAt = new Date();
  reloads = 0;
  diagnostics: Diagnostic[] = [];
  private stopping: Promise<void> | undefined;
  private finishedResolve!: () => void;
  /** Resolves when every source has ended and every queue is empty, or when stop() is done. */
  readonly finished = new Promise<void>((r) => { this.finishedResolve = r; });
  private drainPoll: NodeJS.Timeout | undefined;
  private readonly readyGraceMs: number;
  private readonly readyStaleMs: number;

  constructor(graph: CompiledGraph, opts: RuntimeOptions) {
    this.graph = graph;
    this.log = opts.log;
    this.clock = opts.clock ?? systemClock;
    this.metrics = opts.metrics ?? new MetricsHub();
    this.metrics.attach(this);
    this.readyGraceMs = opts.readyGraceMs ?? 30000;
    this.readyStaleMs = opts.readyStaleMs ?? 10000;
  }

  async start(): Promise<void> {
    this.startedAt = new Date();
    for (const id of this.graph.order) this.addRunner(this.graph.nodes.get(id)!);
    this.wire();
    await this.startRunners(this.graph.order);
    this.log.info({ graph: this.graph.name, nodes: this.graph.order.length }, 'graph started');
  }

  private addRunner(node: CompiledNode): NodeRunner {
    let stats = this.stats.get(node.id);
    const prev = this.runners.get(node.id);
    if (!stats || (prev && prev.node.type !== node.type)) {
      if (prev && prev.node.type !== node.type) this.metrics.forget(node.id, prev.node.type);
      stats = new NodeStats();
      this.stats.set(node.id, stats);
    }
    const r = new NodeRunner(node, this, stats);
    this.runners.set(node.id, r);
    return r;
  }

  /** Consumers start before producers, so nothing is emitted into a node that is not there. */
  private async startRunners(ids: string[]): Promise<void> {
    const rs = ids.map((id) => this.runners.get(id)!);
    await Promise.all(rs.filter((r) => !r.source).map((r) => r.start()));
    await Promise.all(rs.filter((r) => r.source).map((r) => r.start()));
  }

  /** Build edges from the current graph, keeping queues of edges that did not change. */
  private wire(): void {
    const next = new Map<string, Edge>();
    for (const r of this.runners.values()) { r.inputs = []; r.outputs.clear(); }
    for (const id of this.graph.order) {
      const node = this.graph.nodes.get(id)!;
      const consumer = this.runners.get(id)!;
      for (const w of node.inputs) {
        for (const f of w.from) {
          const edgeId = `${f.node}.${f.port}->${id}.${w.port}`;
          const key = `${edgeId}|${policyText(w.policy)}`;
          let edge = this.edges.get(key);
          if (!edge) {
            edge = new Edge(edgeId, f, { node: id, port: w.port }, w.policy);
            const e = edge;
            edge.onDrop = (reason, n) => {
              if (reason === 'shutdown' || reason === 'removed') this.log.warn({ edge: e.id, reason, count: n }, 'packets dropped');
            };
          }
          edge.onReady = consumer.schedule;
          edge.onDiscard = discardPacket;
          next.set(key, edge);
          consumer.inputs.push(edge);
          const producer = this.runners.get(f.node)!;
          const list = producer.outputs.get(f.port);
          if (list) list.push(edge); else producer.outputs.set(f.port, [edge]);
        }
      }
    }
    for (const [key, e] of this.edges) if (!next.has(key)) e.clear('removed');
    this.edges = next;
  }

  /**
   * Apply a new valid graph: nodes whose configuration or inputs changed restart, new ones
   * start, removed ones stop; the others, sources included, keep running untouched.
   */
  async reload(next: CompiledGraph): Promise<{ changed: string[]; added: string[]; removed: string[] }> {
    const old = this.graph;
    const changed: string[] = [];
    const added: string[] = [];
    const removed: string[] = [];
    for (const [id, n] of next.nodes) {
      const o = old.nodes.get(id);
      if (!o) added.push(id);
      else if (o.fingerprint !== n.fingerprint) changed.push(id);
    }
    for (const id of old.nodes.keys()) if (!next.nodes.has(id)) removed.push(id);
    await Promise.all([...changed, ...removed].map((id) => this.runners.get(id)!.retire()));
    for (const id of removed) {
      const r = this.runners.get(id)!;
      this.runners.delete(id);
      this.stats.delete(id);
      this.metrics.forget(id, r.node.type);
    }
    this.graph = { ...next, status: old.status }; // the status server keeps its socket
    for (const id of [...changed, ...added]) this.addRunner(next.nodes.get(id)!);
    this.wire();
    await this.startRunners(next.order.filter((id) => changed.includes(id) || added.includes(id)));
    this.reloads++;
    this.diagnostics = [];
    this.log.info({ changed, added, removed }, 'graph reloaded');
    return { changed, added, removed };
  }

  sourceEnded(): void {
    if (this.drainPoll || this.stopping) return;
    const sources = [...this.runners.values()].filter((r) => r.source);
    if (!sources.every((r) => r.ended)) return;
    this.drainPoll = setInterval(() => {
      if ([...this.runners.values()].every((r) => r.idle())) {
        clearInterval(this.drainPoll);
        this.log.info('all sources ended and every queue is empty');
        void this.flushAll(Infinity).then(() => { if (!this.stopping) this.finishedResolve(); });
      }
    }, 20);
  }

  private flushing: Promise<void> | undefined;
  /**
   * Flush nodes in topological order, each after everything upstream of it has flushed and the
   * graph is idle again, so what a flush emits reaches the end before the next node flushes.
   */
  private flushAll(until: number): Promise<void> {
    this.flushing ??= (async () => {
      for (const id of this.graph.order) {
        const r = this.runners.get(id);
        if (!r || r.source) continue;
        await r.flush();
        await this.waitIdle(until);
      }
    })();
    return this.flushing;
  }

  private async waitIdle(until: number): Promise<void> {
    const runners = [...this.runners.values()];
    while (this.clock.monotonic() < until && !runners.every((r) => r.source || r.idle())) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * Graceful stop: sources stop, queues drain up to the deadline, then nodes stop in
   * topological order; what is still queued after the deadline is counted as dropped.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.drainPoll);
      const order = this.graph.order.map((id) => this.runners.get(id)!).filter(Boolean);
      await Promise.all(order.filter((r) => r.source).map((r) => r.stopSource()));
      const until = this.clock.monotonic() + this.graph.shutdown.drain_timeout_ms;
      await this.waitIdle(until);
      await this.flushAll(until);
      for (const r of order) if (!r.source) await r.retire();
      for (const e of this.edges.values()) e.clear('shutdown');
      this.lifetimeCtl.abort();
      this.log.info('graph stopped');
      this.finishedResolve();
    })();
    return this.stopping;
  }

  /** Called by the status ticker: sample counters for rates. */
  sample(): void {
    const t = this.clock.monotonic();
    for (const s of this.stats.values()) s.sample(t);
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const now = this.clock.monotonic();
    const reasons: string[] = [];
    for (const r of this.runners.values()) {
      if (!r.source || r.ended) continue;
      const silentFor = now - r.stats.lastOutAt;
      const inGrace = r.startedAt > 0 && now - r.startedAt < this.readyGraceMs;
      if (r.state === 'error' || (silentFor > this.readyStaleMs && !inGrace)) {
        reasons.push(`${r.id}: ${r.state === 'error' ? r.text : Number.isFinite(silentFor) ? `no packet for ${(silentFor / 1000).toFixed(1)} s` : 'no packet yet'}`);
      }
    }
    return { ready: reasons.length === 0 && !this.stopping, reasons };
  }

  edgeList(): Edge[] {
    return [...this.edges.values()];
  }

  nodeViews(): NodeStatsView[] {
    return [...this.runners.values()].map((r) => ({
      id: r.id, type: r.node.type, state: r.state, packetsIn: r.stats.packetsIn, packetsOut: r.stats.packetsOut,
      errors: r.stats.errors, restarts: r.stats.restarts, inFlight: r.inFlight, latency: r.stats.latency, source: r.source,
    }));
  }

  edgeViews(): EdgeStatsView[] {
    return this.edgeList().map((e) => ({
      id: e.id, from: `${e.from.node}.${e.from.port}`, to: `${e.to.node}.${e.to.port}`, policy: policyText(e.policy),
      depth: e.depth, capacity: e.capacity, delivered: e.delivered, drops: { ...e.drops },
    }));
  }

  snapshot(): StatusSnapshot {
    const edges: EdgeSnapshot[] = this.edgeList().map((e) => ({
      id: e.id, from: e.from, to: e.to, policy: policyText(e.policy), capacity: e.capacity, depth: e.depth,
      maxDepth: e.maxDepth, delivered: e.delivered, drops: { ...e.drops },
    }));
    const nodes: NodeSnapshot[] = this.graph.order.map((id) => {
      const r = this.runners.get(id)!;
      const s = r.stats;
      const { inRate, outRate } = s.rates();
      return {
        id, type: r.node.type, source: r.source, state: r.state, text: r.text,
        packetsIn: s.packetsIn, packetsOut: s.packetsOut, inRate, outRate,
        p50Ms: s.quantile(0.5), p95Ms: s.quantile(0.95), inFlight: r.inFlight, concurrency: r.node.concurrency,
        errors: s.errors, restarts: s.restarts, lastError: s.lastError,
        drops: r.inputs.reduce((a, e) => a + e.dropped, 0),
        inputs: r.node.inputs.map((w) => ({ port: w.port, edges: w.from.map((f) => `${f.node}.${f.port}->${id}.${w.port}`) })),
        outputs: Object.keys(r.node.def.outputs),
      };
    });
    return {
      graph: { name: this.graph.name, file: this.graph.file, startedAt: this.startedAt.toISOString(), reloads: this.reloads },
      time: this.clock.now(),
      diagnostics: this.diagnostics,
      nodes,
      edges,
    };
  }
}
