/**
 * Build one node from a YAML snippet through the real schema (defaults, validation), with a
 * context that records what it emits: the way node unit tests exercise pure node logic.
 */
import { parse } from 'yaml';
import { defineNode, Type, type Clock, type NodeContext, type NodeInstance, type NodeState, type Packet } from '../../src/contract.js';
import { compileGraph } from '../../src/graph/compile.js';
import { formatDiagnostic } from '../../src/graph/diagnostics.js';
import { MetricsHub } from '../../src/metrics.js';
import { defaultRegistry, type Registry } from '../../src/registry.js';
import { systemClock } from '../../src/runtime/clock.js';
import { captureLogger } from './app.js';

export interface Harness {
  instance: NodeInstance;
  emitted: { port: string; packet: Packet }[];
  statuses: { state?: NodeState; text?: string }[];
  logs: string[];
  abort: AbortController;
  ctx: NodeContext;
}

const stub = defineNode({
  type: 'harness-stub', summary: 'Stands in for producers.', options: Type.Object({}), inputs: {},
  outputs: { out: { kind: 'any', description: 'Anything.' } }, canPause: true, create: () => ({}),
});

export function buildNode(optionsYaml: string, opts: { registry?: Registry; clock?: Clock; id?: string; graphDir?: string } = {}): Harness {
  const registry = (opts.registry ?? defaultRegistry).with([stub]);
  const id = opts.id ?? 'n';
  const raw = parse(optionsYaml) as Record<string, unknown>;
  const def = registry.get(String(raw.type));
  if (!def) throw new Error(`unknown node type ${String(raw.type)}`);
  // Inputs are not the point here: wire every input to a stand-in producer.
  raw.inputs = Object.fromEntries(Object.keys(def.inputs).map((p) => [p, 'stub.out']));
  const value = { version: 1, name: 'harness', status: { enabled: false }, nodes: { stub: { type: 'harness-stub' }, [id]: raw } as Record<string, unknown> };
  const compiled = compileGraph({ file: 'harness.yml', files: [], value, diagnostics: [], locate: () => ({ file: 'harness.yml', line: 1, col: 1 }) }, registry);
  const errors = compiled.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) throw new Error(errors.map(formatDiagnostic).join('\n'));
  const node = compiled.graph?.nodes.get(id);
  const options = node?.options ?? (() => { throw new Error('node did not compile'); })();
  const emitted: Harness['emitted'] = [];
  const statuses: Harness['statuses'] = [];
  const { log, logs } = captureLogger('debug');
  const abort = new AbortController();
  const metrics = new MetricsHub({ processMetrics: false });
  const ctx: NodeContext = {
    id, type: def.type, log: log.child({ node_id: id, node_type: def.type }), clock: opts.clock ?? systemClock, signal: abort.signal,
    graphDir: opts.graphDir ?? process.cwd(), metrics: metrics.forNode(id, def.type),
    status: (s) => { statuses.push(s); },
    emit: (port, packet) => { emitted.push({ port, packet }); },
    connected: () => 1,
  };
  return { instance: def.create(options, ctx), emitted, statuses, logs, abort, ctx };
}
