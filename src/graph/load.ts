/**
 * Reading graph files: YAML with positions, `${VAR}` / `${VAR:-default}` interpolation from the
 * environment, and `extends:` with a deep merge (`null` removes a key). Nothing here throws on
 * bad input: every problem becomes a positioned Diagnostic, and `locate` maps any path of the
 * merged value back to the file, line and column that wrote it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node as YamlNode, Scalar } from 'yaml';
import { registerEnvSecret } from '../redact.js';
import { pathToString, type Diagnostic, type PathSeg } from './diagnostics.js';

export interface Position { file: string; line: number; col: number }

export interface LoadedGraph {
  /** Display path of the top file. */
  file: string;
  /** Absolute paths of the file and everything it extends (for --watch). */
  files: string[];
  /** Merged, interpolated plain value; undefined when the file could not be parsed at all. */
  value: unknown;
  diagnostics: Diagnostic[];
  /** Where a path of `value` was written. `key: true` points at the key rather than the value. */
  locate(path: readonly PathSeg[], opts?: { key?: boolean }): Position;
}

interface Layer { file: string; doc: Document.Parsed; lc: LineCounter }

export interface LoadOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** File contents to use instead of reading from disk (tests, fuzzing). */
  readFile?: (abs: string) => string;
}

export function displayPath(abs: string, cwd: string): string {
  const rel = path.relative(cwd, abs);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : abs;
}

export function loadGraphFile(file: string, opts: LoadOptions = {}): LoadedGraph {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const read = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const diagnostics: Diagnostic[] = [];
  const layers: Layer[] = [];
  const files: string[] = [];

  const load = (abs: string, from: { layer: Layer; path: PathSeg[] } | null): unknown => {
    const shown = displayPath(abs, cwd);
    const here = (p: PathSeg[]) => (from ? posIn(from.layer, p, false) : { file: shown, line: 1, col: 1 });
    if (files.includes(abs)) {
      const chain = [...files.slice(files.indexOf(abs)), abs].map((f) => path.basename(f)).join(' → ');
      diagnostics.push({ severity: 'error', ...here(from?.path ?? []), path: 'extends', message: `extends cycle: ${chain}` });
      return undefined;
    }
    let text: string;
    try {
      text = read(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
      if (from) diagnostics.push({ severity: 'error', ...here(from.path), path: 'extends', message: `cannot read "${shown}": ${why}` });
      else diagnostics.push({ severity: 'error', file: shown, line: 1, col: 1, path: '', message: `cannot read graph file: ${why}` });
      return undefined;
    }
    files.push(abs);
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: true });
    const layer: Layer = { file: shown, doc, lc };
    layers.push(layer);
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = lc.linePos(e.pos[0]);
        const p = pathAtOffset(doc, e.pos[0]);
        let message = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        if (e.code === 'DUPLICATE_KEY') {
          const key = text.slice(e.pos[0], e.pos[1]).trim() || '?';
          message = p.length === 1 && p[0] === 'nodes' ? `duplicate node id "${key}"` : `duplicate key "${key}"`;
        } else message = `YAML syntax error: ${message}`;
        diagnostics.push({ severity: 'error', file: shown, line: pos.line, col: pos.col, path: pathToString(p), message });
      }
      return undefined;
    }
    for (const w of doc.warnings) {
      const pos = lc.linePos(w.pos[0]);
      diagnostics.push({ severity: 'warning', file: shown, line: pos.line, col: pos.col, path: pathToString(pathAtOffset(doc, w.pos[0])), message: w.message.split('\n')[0] });
    }
    interpolate(layer, env, diagnostics);
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (value === null || value === undefined) {
      diagnostics.push({ severity: 'error', file: shown, line: 1, col: 1, path: '', message: 'graph file is empty' });
      return undefined;
    }
    if (!isPlainObject(value)) {
      diagnostics.push({ severity: 'error', file: shown, line: 1, col: 1, path: '', message: 'a graph file must be a mapping (version, name, nodes, …)' });
      return undefined;
    }
    const ext = value.extends;
    if (ext === undefined) return value;
    delete value.extends;
    if (typeof ext !== 'string' || ext.trim() === '') {
      diagnostics.push({ severity: 'error', ...posIn(layer, ['extends'], false), path: 'extends', message: 'must be the path of another graph file' });
      return value;
    }
    const baseAbs = path.resolve(path.dirname(abs), ext);
    const base = load(baseAbs, { layer, path: ['extends'] });
    if (base === undefined) return value;
    return mergeGraphs(base, value);
  };

  const top = path.resolve(cwd, file);
  const value = load(top, null);
  const shownTop = displayPath(top, cwd);

  function posIn(layer: Layer, p: readonly PathSeg[], key: boolean): Position {
    const hit = findInDoc(layer.doc, p);
    const node = key || !hit.value ? hit.key ?? hit.value : hit.value;
    const offset = node?.range?.[0] ?? 0;
    const lp = layer.lc.linePos(offset);
    return { file: layer.file, line: lp.line, col: lp.col };
  }

  const locate = (p: readonly PathSeg[], o: { key?: boolean } = {}): Position => {
    let best: Layer | undefined;
    let bestDepth = -1;
    for (const layer of layers) {
      const d = findInDoc(layer.doc, p).depth;
      if (d > bestDepth) { bestDepth = d; best = layer; }
    }
    if (!best) return { file: shownTop, line: 1, col: 1 };
    return posIn(best, p, !!o.key);
  };

  return { file: shownTop, files, value, diagnostics, locate };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge for `extends`: maps merge, anything else is replaced, `null` removes the key. */
export function mergeGraphs(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = k in base ? mergeGraphs(base[k], v) : v;
  }
  return out;
}

function findInDoc(doc: Document.Parsed, p: readonly PathSeg[]): { depth: number; key?: YamlNode; value?: YamlNode } {
  let node = doc.contents as YamlNode | null;
  let key: YamlNode | undefined;
  let depth = 0;
  for (const seg of p) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(seg));
      if (!pair) break;
      key = pair.key as YamlNode;
      node = (pair.value as YamlNode | null) ?? null;
    } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      key = undefined;
      node = node.items[seg] as YamlNode;
    } else break;
    depth++;
  }
  return { depth, key, value: depth === p.length ? node ?? undefined : key ? undefined : node ?? undefined };
}

function pathAtOffset(doc: Document.Parsed, offset: number): PathSeg[] {
  const out: PathSeg[] = [];
  let node = doc.contents as YamlNode | null;
  const inside = (n: YamlNode | null | undefined) => !!n?.range && offset >= n.range[0] && offset <= n.range[2];
  for (let guard = 0; guard < 64 && node; guard++) {
    if (isMap(node)) {
      const pair = node.items.find((it) => inside(it.key as YamlNode) || inside(it.value as YamlNode));
      if (!pair || !isScalar(pair.key)) break;
      out.push(String(pair.key.value));
      if (inside(pair.key as YamlNode)) break;
      node = pair.value as YamlNode;
    } else if (isSeq(node)) {
      const i = node.items.findIndex((it) => inside(it as YamlNode));
      if (i < 0) break;
      out.push(i);
      node = node.items[i] as YamlNode;
    } else break;
  }
  return out;
}

const VAR = /\$\$|\$\{([^}]*)\}|\$\{/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `${NAME}` (must be set), `${NAME:-default}` (default when unset or empty), `$$` for a literal
 * `$`. An unquoted scalar that is exactly one `${…}` is re-read as a YAML scalar, so
 * `max_fps: ${FPS:-10}` is a number; quote it to keep a string.
 */
function interpolate(layer: Layer, env: Record<string, string | undefined>, out: Diagnostic[]): void {
  visit(layer.doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const src = node.value;
      const where = () => {
        const lp = layer.lc.linePos(node.range?.[0] ?? 0);
        return { file: layer.file, line: lp.line, col: lp.col, path: pathToString(pathAtOffset(layer.doc, node.range?.[0] ?? 0)) };
      };
      let whole = false;
      const result = src.replace(VAR, (m: string, inner: string | undefined, offset: number) => {
        if (m === '$$') return '$';
        if (inner === undefined) {
          out.push({ severity: 'error', ...where(), message: 'unterminated "${": write ${NAME} or ${NAME:-default} ($$ for a literal $)' });
          return m;
        }
        if (m.length === src.length && offset === 0) whole = true;
        const sep = inner.indexOf(':-');
        const name = sep >= 0 ? inner.slice(0, sep) : inner;
        if (!NAME.test(name)) {
          out.push({ severity: 'error', ...where(), message: `bad variable name "${name}" in "${m}"` });
          return m;
        }
        const val = env[name];
        registerEnvSecret(name, val);
        if (sep >= 0) return val === undefined || val === '' ? inner.slice(sep + 2) : val;
        if (val === undefined) {
          out.push({ severity: 'error', ...where(), message: `environment variable ${name} is not set (set it, or write \${${name}:-default})` });
          return '';
        }
        return val;
      });
      if (whole && node.type === Scalar.PLAIN) {
        const reread = parseDocument(result).contents;
        node.value = isScalar(reread) && (typeof reread.value === 'number' || typeof reread.value === 'boolean') ? reread.value : result;
      } else node.value = result;
    },
  });
}
