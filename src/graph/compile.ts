/**
 * Validation and compilation: a loaded graph value becomes a `CompiledGraph` the runtime can
 * run, or a list of every problem found, each positioned in the file that wrote it. All checks
 * run; nothing stops at the first error, and nothing throws on any input.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Type, type TSchema } from '@sinclair/typebox';
import type { AnyNodeDefinition, PortKind, QueuePolicy } from '../contract.js';
import { isSource, optionsJsonSchema } from '../contract.js';
import type { Registry } from '../registry.js';
import { describeValue as describe, didYouMean, pathToString, sortDiagnostics, type Diagnostic, type PathSeg } from './diagnostics.js';
import { loadGraphFile, type LoadedGraph, type LoadOptions } from './load.js';

export interface RestartPolicy { initial_ms: number; max_ms: number; reset_after_ms: number }

export interface InputWiring {
  port: string;
  from: { node: string; port: string }[];
  policy: QueuePolicy;
}

export interface CompiledNode {
  id: string;
  type: string;
  def: AnyNodeDefinition;
  /** Options with defaults filled in (reserved keys removed). */
  options: Record<string, unknown>;
  inputs: InputWiring[];
  concurrency: number;
  restart: RestartPolicy;
  description: string;
  /** Stable text of everything that configures this node: equal fingerprints, no restart on reload. */
  fingerprint: string;
}

export interface StatusConfig { enabled: boolean; host: string; port: number; token: string }

export interface CompiledGraph {
  name: string;
  file: string;
  dir: string;
  files: string[];
  status: StatusConfig;
  shutdown: { drain_timeout_ms: number; stop_timeout_ms: number };
  /** Topological order: every producer before its consumers. */
  order: string[];
  nodes: Map<string, CompiledNode>;
}

export const RESERVED_KEYS = ['type', 'inputs', 'concurrency', 'restart', 'description'] as const;

const DESC = (d: string) => ({ description: d });
const LISTEN_PATTERN = '^(\\[[0-9a-fA-F:]+\\]|[A-Za-z0-9.-]*):[0-9]{1,5}$';

/** What to write instead, for values refused by a pattern (descriptions say what a key is for,
 * not how to fix it). */
const PATTERN_HINTS: Record<string, string> = {
  name: 'use letters, digits, _ . or -, starting with a letter or digit',
  'status.listen': 'write host:port, like 127.0.0.1:8090, 0.0.0.0:8090 or [::1]:8090',
};
export const RestartSchema = Type.Object({
  initial_ms: Type.Integer({ minimum: 0, default: 500, ...DESC('First restart delay after a failure.') }),
  max_ms: Type.Integer({ minimum: 0, default: 30000, ...DESC('Longest restart delay (delays double up to this).') }),
  reset_after_ms: Type.Integer({ minimum: 0, default: 30000, ...DESC('Healthy time after which the delay starts again from initial_ms.') }),
}, { additionalProperties: false, default: {}, ...DESC('Restart with backoff when the node fails.') });

export const NodeCommonSchema = Type.Object({
  type: Type.String({ ...DESC('Node type (see `graphrun nodes`).') }),
  description: Type.String({ default: '', ...DESC('Free text shown on the status page.') }),
  concurrency: Type.Integer({ minimum: 1, maximum: 256, default: 1, ...DESC('Packets this node may work on at once. Unset: 1, or what the node type asks for (yolo: workers × max(2, max_batch), so each worker has its next frame waiting).') }),
  restart: RestartSchema,
  inputs: Type.Object({}, { additionalProperties: true, default: {}, ...DESC('Input port → `node.port`, a list of them, or { from, queue }.') }),
});

export const StatusSchema = Type.Object({
  enabled: Type.Boolean({ default: true, ...DESC('Serve the status page, /ws, /metrics, /healthz and /readyz.') }),
  listen: Type.String({ default: '127.0.0.1:8090', pattern: LISTEN_PATTERN, ...DESC('host:port to listen on; beyond loopback a token is required.') }),
  token: Type.String({ default: '', ...DESC('Token required by page, socket and metrics (header or ?token=); use ${GRAPHRUN_STATUS_TOKEN}.') }),
}, { additionalProperties: false, default: {} });

export const ShutdownSchema = Type.Object({
  drain_timeout_ms: Type.Integer({ minimum: 0, default: 5000, ...DESC('How long queues may drain after sources stop.') }),
  stop_timeout_ms: Type.Integer({ minimum: 0, default: 5000, ...DESC('Deadline for each node to stop.') }),
}, { additionalProperties: false, default: {} });

export const GraphTopSchema = Type.Object({
  version: Type.Literal(1, DESC('Graph format version.')),
  name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', ...DESC('Graph name (letters, digits, _ . -).') }),
  description: Type.String({ default: '', ...DESC('Free text.') }),
  status: StatusSchema,
  shutdown: ShutdownSchema,
  nodes: Type.Record(Type.String(), Type.Unknown(), { ...DESC('Node id → node.') }),
}, { additionalProperties: false });

const NODE_ID = /^[a-z][a-z0-9_-]*$/;
const MAX_QUEUE = 100000;

export function makeAjv(): Ajv {
  return new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });
}

/** Compiled validators, cached per registry. */
class Validators {
  readonly ajv = makeAjv();
  readonly top: ValidateFunction;
  readonly common: ValidateFunction;
  private readonly options = new Map<string, ValidateFunction>();
  constructor() {
    this.top = this.ajv.compile(GraphTopSchema);
    this.common = this.ajv.compile(NodeCommonSchema);
  }
  forType(def: AnyNodeDefinition): ValidateFunction {
    let v = this.options.get(def.type);
    if (!v) {
      v = this.ajv.compile(optionsJsonSchema(def));
      this.options.set(def.type, v);
    }
    return v;
  }
}
const validatorCache = new WeakMap<Registry, Validators>();
function validators(reg: Registry): Validators {
  let v = validatorCache.get(reg);
  if (!v) { v = new Validators(); validatorCache.set(reg, v); }
  return v;
}

export interface CompileResult { graph?: CompiledGraph; diagnostics: Diagnostic[] }

export function loadAndCompile(file: string, registry: Registry, opts: LoadOptions = {}): CompileResult {
  const loaded = loadGraphFile(file, opts);
  return compileGraph(loaded, registry, opts.cwd);
}

export function compileGraph(loaded: LoadedGraph, registry: Registry, cwd = process.cwd()): CompileResult {
  const diags: Diagnostic[] = [...loaded.diagnostics];
  // A value the loader already rejected (an unset variable became "") would only be reported
  // again, less clearly ("must be a number"): one error per place is enough.
  const loaderErrors = new Set(loaded.diagnostics.filter((d) => d.severity === 'error').map((d) => d.path));
  const err = (p: PathSeg[], message: string, key = false) => {
    const at = pathToString(p);
    if (loaderErrors.has(at)) return;
    diags.push({ severity: 'error', ...loaded.locate(p, { key }), path: at, message });
  };
  if (loaded.value === undefined || diags.some((d) => d.severity === 'error' && d.message.startsWith('YAML'))) {
    return { diagnostics: sortDiagnostics(diags) };
  }
  const v = validators(registry);
  const root = loaded.value as Record<string, unknown>;
  if (!v.top(root)) reportAjv(v.top.errors ?? [], [], root, err, 'graph');
  const nodesVal = root.nodes;
  const nodes = new Map<string, CompiledNode>();
  if (nodesVal && typeof nodesVal === 'object' && !Array.isArray(nodesVal)) {
    if (Object.keys(nodesVal).length === 0) err(['nodes'], 'a graph needs at least one node');
    for (const [id, raw] of Object.entries(nodesVal as Record<string, unknown>)) {
      const n = compileNode(id, raw, registry, v, err);
      if (n) nodes.set(id, n);
    }
  } else if (nodesVal === undefined || nodesVal === null) {
    if (!diags.some((d) => d.path === 'nodes' || d.path === '')) err([], 'missing required key "nodes"');
  }
  const declared = nodesVal && typeof nodesVal === 'object' && !Array.isArray(nodesVal) ? Object.keys(nodesVal) : [];
  checkWiring(nodes, declared, err);
  const order = topoOrder(nodes, err);

  // status: listening beyond loopback without a token would publish the graph to the network
  const status = (root.status ?? {}) as { enabled?: boolean; listen?: string; token?: string };
  const { host, port } = parseListen(String(status.listen ?? '127.0.0.1:8090'));
  // A listen value the schema refused has its own error; its host and port mean nothing.
  if (status.enabled !== false && typeof status.listen === 'string' && new RegExp(LISTEN_PATTERN).test(status.listen)) {
    if (port > 65535) err(['status', 'listen'], `port ${port} is out of range (1-65535, or 0 for any free port)`);
    if (!isLoopback(host) && !status.token) err(['status', 'listen'], `listening on ${status.listen} (beyond loopback) needs status.token (e.g. token: \${GRAPHRUN_STATUS_TOKEN})`);
  }
  const sorted = sortDiagnostics(diags);
  if (sorted.some((d) => d.severity === 'error')) return { diagnostics: sorted };
  const shutdown = root.shutdown as CompiledGraph['shutdown'];
  return {
    diagnostics: sorted,
    graph: {
      name: String(root.name),
      file: loaded.file,
      dir: loaded.files[0] ? dirOf(loaded.files[0]) : cwd,
      files: loaded.files,
      status: { enabled: status.enabled !== false, host, port, token: String(status.token ?? '') },
      shutdown,
      order,
      nodes,
    },
  };
}

function dirOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i > 0 ? p.slice(0, i) : '/';
}

export function parseListen(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  let host = i >= 0 ? s.slice(0, i) : s;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host || '0.0.0.0', port: Number(s.slice(i + 1)) };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

type ErrFn = (p: PathSeg[], message: string, key?: boolean) => void;

function compileNode(id: string, raw: unknown, registry: Registry, v: Validators, err: ErrFn): CompiledNode | undefined {
  const base: PathSeg[] = ['nodes', id];
  if (!NODE_ID.test(id)) err(base, `node id "${id}" must be lower-case letters, digits, - or _, starting with a letter`, true);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    err(base, `a node must be a mapping with at least "type" (got ${describe(raw)})`);
    return undefined;
  }
  const entry = raw as Record<string, unknown>;
  const common: Record<string, unknown> = {};
  const options: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(entry)) {
    // defineProperty: a key like "__proto__" must stay a key (and be reported), not become a prototype.
    Object.defineProperty((RESERVED_KEYS as readonly string[]).includes(k) ? common : options, k, { value: val, enumerable: true, writable: true, configurable: true });
  }
  if (common.type === undefined) {
    err(base, 'missing required key "type"');
    return undefined;
  }
  // inputs are left to compileInputs, whose messages say what an input should look like.
  const { inputs: rawInputs, ...rest } = common;
  if (!v.common(rest)) reportAjv(v.common.errors ?? [], base, rest, err, 'node');
  if (typeof common.type !== 'string') return undefined;
  const def = registry.get(common.type);
  if (!def) {
    // The full list only when nothing is close: it grows with every node type that lands.
    const hint = didYouMean(common.type, registry.types()) || ` (known: ${listNames(registry.types(), 20)}; see graphrun nodes)`;
    err([...base, 'type'], `unknown node type "${common.type}"${hint}`);
    return undefined;
  }
  const validate = v.forType(def);
  let ok = true;
  if (!validate(options)) {
    ok = false;
    reportAjv(validate.errors ?? [], base, options, err, def.type, Object.keys(def.options.properties ?? {}));
  }
  // Inputs are checked even when options are wrong, so wiring problems show in the same run.
  const inputs = compileInputs(id, def, rawInputs, err) ?? [];
  const restart = rest.restart as RestartPolicy;
  // The graph's `concurrency`, else what the node type asks for with its options, else 1.
  const asked = entry.concurrency === undefined && ok && def.concurrency ? def.concurrency(options as never) : undefined;
  const concurrency = asked !== undefined ? Math.max(1, Math.min(256, Math.floor(asked))) : (rest.concurrency as number);
  const description = String(rest.description ?? '');
  const fingerprint = JSON.stringify({ type: def.type, options, inputs, concurrency, restart });
  return { id, type: def.type, def, options, inputs, concurrency, restart, description, fingerprint };
}

function compileInputs(id: string, def: AnyNodeDefinition, raw: unknown, err: ErrFn): InputWiring[] | undefined {
  const base: PathSeg[] = ['nodes', id, 'inputs'];
  const specs = def.inputs;
  const out: InputWiring[] = [];
  let ok = true;
  if (raw === undefined) raw = {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    err(base, 'inputs must be a mapping of input port → "node.port"');
    return undefined;
  }
  const given = raw as Record<string, unknown>;
  if (isSource(def) && Object.keys(given).length > 0) {
    err(base, `${def.type} is a source and takes no inputs`);
    return undefined;
  }
  for (const [port, val] of Object.entries(given)) {
    const p = [...base, port];
    // Own keys only: "constructor" or "toString" is not a port because every object has one.
    const spec = Object.hasOwn(specs, port) ? specs[port] : undefined;
    if (!spec) {
      err(p, `${def.type} has no input port "${port}"${didYouMean(port, Object.keys(specs))} (inputs: ${Object.keys(specs).join(', ')})`, true);
      ok = false;
      continue;
    }
    let fromVal: unknown = val;
    let policy: QueuePolicy = spec.defaultQueue ?? { mode: 'latest' };
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      const o = val as Record<string, unknown>;
      for (const k of Object.keys(o)) {
        if (k !== 'from' && k !== 'queue') { err([...p, k], `unknown key "${k}" (an input takes "from" and "queue")`, true); ok = false; }
      }
      if (o.from === undefined) { err(p, 'missing "from" (the producer, as node.port)'); ok = false; continue; }
      fromVal = o.from;
      if (o.queue !== undefined) {
        const q = parseQueue(o.queue);
        if (typeof q === 'string') { err([...p, 'queue'], q); ok = false; } else policy = q;
      }
    }
    const list = Array.isArray(fromVal) ? fromVal : [fromVal];
    if (list.length === 0) { err(p, 'needs at least one producer (node.port)'); ok = false; continue; }
    const from: { node: string; port: string }[] = [];
    list.forEach((f, i) => {
      const fp = Array.isArray(fromVal) ? [...p, ...(val && typeof val === 'object' && !Array.isArray(val) ? ['from'] : []), i] : val && typeof val === 'object' && !Array.isArray(val) ? [...p, 'from'] : p;
      if (typeof f !== 'string' || !/^[^.\s]+\.[^.\s]+$/.test(f)) {
        err(fp, `producer must be written node.port, like "cam.frames" (got ${describe(f)})`);
        ok = false;
        return;
      }
      const [node, port2] = f.split('.');
      from.push({ node, port: port2 });
    });
    if (from.length) out.push({ port, from, policy });
  }
  for (const [port, spec] of Object.entries(specs)) {
    if (spec.required !== false && !(port in given)) {
      err(base.slice(0, 2), `missing required input "${port}" (${spec.kind}): add inputs: { ${port}: <node>.<port> }`);
      ok = false;
    }
  }
  void ok;
  return out;
}

export function parseQueue(q: unknown): QueuePolicy | string {
  const sizes = ['drop_oldest', 'drop_newest', 'block'];
  const usage = 'use latest, { drop_oldest: N }, { drop_newest: N } or { block: N }';
  if (q === 'latest') return { mode: 'latest' };
  if (typeof q === 'string' && sizes.includes(q)) return { mode: q as 'block', size: 16 };
  if (typeof q === 'string') return `unknown queue policy "${q}"${didYouMean(q, ['latest', ...sizes])}: ${usage}`;
  if (q && typeof q === 'object' && !Array.isArray(q)) {
    const keys = Object.keys(q);
    if (keys.length !== 1) return `a queue policy names exactly one mode (got ${keys.length ? keys.join(', ') : 'none'}): ${usage}`;
    const [mode] = keys;
    if (!sizes.includes(mode)) return mode === 'latest' ? 'latest takes no size: write queue: latest' : `unknown queue policy "${mode}"${didYouMean(mode, sizes)}: ${usage}`;
    const n = (q as Record<string, unknown>)[mode];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_QUEUE) return `${mode} size must be an integer from 1 to ${MAX_QUEUE} (got ${describe(n)})`;
    return { mode: mode as 'block', size: n };
  }
  return `must be a queue policy (got ${describe(q)}): ${usage}`;
}

export function policyText(p: QueuePolicy): string {
  return p.mode === 'latest' ? 'latest' : `${p.mode}: ${p.size}`;
}

function kindsCompatible(out: PortKind, inp: PortKind): boolean {
  return inp === 'any' || out === 'any' || out === inp;
}

function checkWiring(nodes: Map<string, CompiledNode>, declared: string[], err: ErrFn): void {
  for (const n of nodes.values()) {
    for (const w of n.inputs) {
      const p = ['nodes', n.id, 'inputs', w.port];
      for (const f of w.from) {
        const prod = nodes.get(f.node);
        if (!prod) {
          // A producer that is written but broken has its own error; "unknown node" would mislead.
          if (!declared.includes(f.node)) err(p, `unknown node "${f.node}"${didYouMean(f.node, declared)} (nodes: ${listNames(declared)})`);
          continue;
        }
        const outSpec = Object.hasOwn(prod.def.outputs, f.port) ? prod.def.outputs[f.port] : undefined;
        if (!outSpec) {
          const outs = Object.keys(prod.def.outputs);
          err(p, `node "${f.node}" (${prod.type}) has no output port "${f.port}"${didYouMean(f.port, outs)} (outputs: ${outs.join(', ') || 'none'})`);
          continue;
        }
        const inSpec = n.def.inputs[w.port];
        if (!kindsCompatible(outSpec.kind, inSpec.kind)) {
          err(p, `${f.node}.${f.port} carries ${outSpec.kind} packets but ${n.type} input "${w.port}" expects ${inSpec.kind}`);
        }
        if (w.policy.mode === 'block' && !prod.def.canPause) {
          err(p, `block queue needs a producer that can pause, and ${prod.type} "${f.node}" cannot (a live source): use latest or drop_oldest`);
        }
      }
    }
  }
  // Drop wiring to unknown producers so later passes see a consistent graph.
}

function listNames(names: string[], max = 12): string {
  return names.length > max ? `${names.slice(0, max).join(', ')}, …` : names.join(', ');
}

function topoOrder(nodes: Map<string, CompiledNode>, err: ErrFn): string[] {
  const consumers = new Map<string, string[]>();
  const indeg = new Map<string, number>();
  for (const id of nodes.keys()) { consumers.set(id, []); indeg.set(id, 0); }
  for (const n of nodes.values()) {
    const producers = new Set(n.inputs.flatMap((w) => w.from.map((f) => f.node)).filter((p) => nodes.has(p)));
    for (const p of producers) { consumers.get(p)!.push(n.id); indeg.set(n.id, indeg.get(n.id)! + 1); }
  }
  const order: string[] = [];
  const ready = [...nodes.keys()].filter((id) => indeg.get(id) === 0).sort();
  while (ready.length) {
    const id = ready.shift()!;
    order.push(id);
    for (const c of consumers.get(id)!) {
      indeg.set(c, indeg.get(c)! - 1);
      if (indeg.get(c) === 0) ready.push(c);
    }
  }
  if (order.length < nodes.size) {
    // Report each cycle once, at the input that closes it.
    const left = new Set([...nodes.keys()].filter((id) => !order.includes(id)));
    const seen = new Set<string>();
    for (const start of [...left].sort()) {
      if (seen.has(start)) continue;
      const cycle = findCycle(start, nodes, left);
      // A node downstream of a cycle leads back into it: that cycle was reported already.
      if (!cycle || cycle.every((c) => seen.has(c))) continue;
      cycle.forEach((c) => seen.add(c));
      const last = cycle[cycle.length - 1];
      const first = cycle[0];
      const w = nodes.get(first)!.inputs.find((i) => i.from.some((f) => f.node === last));
      err(['nodes', first, 'inputs', w?.port ?? ''], `cycle: ${[...cycle, first].join(' → ')} (a graph must flow one way)`);
    }
  }
  return order;
}

function findCycle(start: string, nodes: Map<string, CompiledNode>, within: Set<string>): string[] | undefined {
  // DFS over "producer → consumer" edges restricted to nodes left after Kahn's pass.
  const producersOf = (id: string) => nodes.get(id)!.inputs.flatMap((w) => w.from.map((f) => f.node)).filter((p) => within.has(p));
  const stack: string[] = [];
  const onStack = new Set<string>();
  const visit = (id: string): string[] | undefined => {
    stack.push(id); onStack.add(id);
    for (const p of producersOf(id)) {
      if (onStack.has(p)) return stack.slice(stack.indexOf(p)).reverse();
      const r = visit(p);
      if (r) return r;
    }
    stack.pop(); onStack.delete(id);
    return undefined;
  };
  return visit(start);
}

const TYPE_NAMES: Record<string, string> = { integer: 'an integer', number: 'a number', string: 'a string', boolean: 'true or false', object: 'a mapping', array: 'a list', null: 'null' };

/** Turns ajv errors into human, positioned messages (one per path). */
function reportAjv(errors: ErrorObject[], base: PathSeg[], root: unknown, err: ErrFn, what: string, known: string[] = []): void {
  const seen = new Set<string>();
  const anyOfPaths = errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath);
  for (const e of errors) {
    if (e.keyword !== 'anyOf' && anyOfPaths.some((p) => e.instancePath.startsWith(p) && e.schemaPath.includes('anyOf'))) continue;
    const segs = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    const got = getAt(root, segs);
    let p = [...base, ...segs];
    let message: string;
    let key = false;
    switch (e.keyword) {
      case 'additionalProperties': {
        const prop = String(e.params.additionalProperty);
        p = [...p, prop];
        key = true;
        const props = known.length ? known : Object.keys(((e.parentSchema as { properties?: object })?.properties) ?? {});
        message = what === 'graph' || what === 'node' || segs.length > 0
          ? `unknown key "${prop}"${didYouMean(prop, props)}${props.length ? ` (known: ${props.join(', ')})` : ''}`
          : `unknown option "${prop}" for ${what}${didYouMean(prop, props)}${props.length ? ` (options: ${props.join(', ')})` : ''}`;
        break;
      }
      case 'required':
        message = `missing required ${base.length ? 'option' : 'key'} "${String(e.params.missingProperty)}"`;
        break;
      case 'type': {
        const t = String(e.params.type).split(',').map((x) => TYPE_NAMES[x] ?? x).join(' or ');
        // For a fixed value ("version: 1") the value is what to write, not just its type.
        const fixed = (e.parentSchema as { const?: unknown } | undefined)?.const;
        message = `must be ${fixed !== undefined ? JSON.stringify(fixed) : t} (got ${describe(got)})`;
        break;
      }
      case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
        message = `must be ${String(e.params.comparison)} ${String(e.params.limit)} (got ${describe(got)})`;
        break;
      case 'const':
        message = `must be ${JSON.stringify(e.params.allowedValue)} (got ${describe(got)})`;
        break;
      case 'enum':
        message = `must be one of ${(e.params.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')} (got ${describe(got)})`;
        break;
      case 'anyOf': {
        const s = e.parentSchema as { anyOf?: TSchema[] } | undefined;
        const consts = s?.anyOf?.map((x) => (x as { const?: unknown }).const).filter((x) => x !== undefined);
        message = consts && consts.length === s?.anyOf?.length
          ? `must be one of ${consts.map((x) => JSON.stringify(x)).join(', ')} (got ${describe(got)})`
          : `does not match any allowed form (got ${describe(got)})`;
        break;
      }
      case 'pattern': {
        const hint = (Object.hasOwn(PATTERN_HINTS, pathToString(p)) ? PATTERN_HINTS[pathToString(p)] : undefined) ?? (e.parentSchema as { description?: string })?.description ?? `must match ${String(e.params.pattern)}`;
        message = `${describe(got)} is not allowed here: ${hint}`;
        break;
      }
      case 'minLength': case 'maxLength': case 'minItems': case 'maxItems': case 'minProperties': case 'maxProperties':
        message = `${e.message ?? 'is out of bounds'} (got ${describe(got)})`;
        break;
      default:
        message = e.message ?? 'is not valid';
    }
    const k = pathToString(p) + '|' + e.keyword;
    if (seen.has(pathToString(p))) continue;
    seen.add(pathToString(p));
    void k;
    err(p, message, key);
  }
}

function getAt(root: unknown, segs: PathSeg[]): unknown {
  let cur = root;
  for (const s of segs) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[s];
  }
  return cur;
}
