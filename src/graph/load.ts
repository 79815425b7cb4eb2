/**
 * Reading graph files: YAML with positions, `${VAR}` / `${VAR:-default}` interpolation from the
 * environment, and `extends:` with a deep merge (`null` removes a key). Nothing here throws on
 * bad input: every problem becomes a positioned Diagnostic, and `locate` maps any path of the
 * merged value back to the file, line and column that wrote it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isAlias, isCollection, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node as YamlNode, type YAMLError, Scalar } from 'yaml';
import { registerEnvSecret } from '../redact.js';
import { describeValue, pathToString, type Diagnostic, type PathSeg } from './diagnostics.js';

export interface Position { file: string; line: number; col: number }

export interface LoadedGraph {
  /** Display path of the top file. */
  file: string;
  /** Absolute paths of the file and everything it extends (for --watch). */
  files: string[];
  /** Merged, interpolated plain value; undefined when it could not be built (a file that does
   * not parse, or an `extends` that cannot be followed). */
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
    // resolveKnownTags off: !!binary, !!set, !!timestamp… would make values no graph can hold.
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: true, resolveKnownTags: false });
    const layer: Layer = { file: shown, doc, lc };
    layers.push(layer);
    if (doc.errors.length > 0) {
      // After a syntax error the parser resynchronises by guessing, and what it reports next is
      // mostly echoes of the first mistake (sound lines called badly indented): report up to and
      // including the first one. Duplicate keys before it are real and independent.
      const sorted = [...doc.errors].sort((a, b) => a.pos[0] - b.pos[0]);
      const first = sorted.findIndex((e) => e.code !== 'DUPLICATE_KEY');
      const seen = new Set<string>();
      for (const e of first < 0 ? sorted : sorted.slice(0, first + 1)) {
        const d = yamlErrorDiagnostic(layer, text, e);
        const at = `${d.line}:${d.col}`;
        if (seen.has(at)) continue;
        seen.add(at);
        diagnostics.push(d);
      }
      return undefined;
    }
    for (const w of doc.warnings) {
      const pos = lc.linePos(w.pos[0]);
      diagnostics.push({ severity: 'warning', file: shown, line: pos.line, col: pos.col, path: pathToString(pathAtOffset(doc, w.pos[0], text)), message: w.message.split('\n')[0] });
    }
    // Valid YAML that toJS cannot turn into a graph: an alias to an anchor that does not exist
    // (toJS throws) and a mapping or list used as a key (toJS stringifies it, with a process warning).
    let unusable = false;
    const refuse = (node: YamlNode | null | undefined, message: string) => {
      unusable = true;
      const offset = node?.range?.[0] ?? 0;
      const lp = lc.linePos(offset);
      diagnostics.push({ severity: 'error', file: shown, line: lp.line, col: lp.col, path: pathToString(pathAtOffset(doc, offset, text)), message: `YAML syntax error: ${message}` });
    };
    visit(doc, {
      Alias(_key, node) {
        if (!node.resolve(doc)) refuse(node, `unknown anchor "*${node.source}" (define &${node.source} before using it)`);
      },
      Pair(_key, pair) {
        const k = pair.key as YamlNode | null;
        if (isCollection(k) || (isAlias(k) && isCollection(k.resolve(doc)))) refuse(k, 'a key must be a name, not a mapping or a list');
      },
    });
    if (unusable) return undefined;
    interpolate(layer, env, diagnostics);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    } catch (err) {
      // Aliases that expand too much (a "billion laughs" file) are refused here.
      diagnostics.push({ severity: 'error', file: shown, line: 1, col: 1, path: '', message: `YAML error: ${(err as Error).message}` });
      return undefined;
    }
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
    // Without its base the graph is incomplete, and checking it alone would only report echoes
    // of the one real problem (no version, a node without a type): stop at the extends error.
    if (typeof ext !== 'string' || ext.trim() === '') {
      diagnostics.push({ severity: 'error', ...posIn(layer, ['extends'], false), path: 'extends', message: `must be the path of another graph file (got ${describeValue(ext)})` });
      return undefined;
    }
    const baseAbs = path.resolve(path.dirname(abs), ext);
    const base = load(baseAbs, { layer, path: ['extends'] });
    if (base === undefined) return undefined;
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
    // Own keys only, and defined rather than assigned: "__proto__" or "constructor" stays a key.
    else Object.defineProperty(out, k, { value: Object.hasOwn(base, k) ? mergeGraphs(base[k], v) : v, enumerable: true, writable: true, configurable: true });
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

/** The path of the node at `offset`. With `text`, stops before a key written over several lines:
 * such a key is a parse accident (a missing colon, a line indented too far), not a name to show. */
function pathAtOffset(doc: Document.Parsed, offset: number, text?: string): PathSeg[] {
  const out: PathSeg[] = [];
  let node = doc.contents as YamlNode | null;
  const inside = (n: YamlNode | null | undefined) => !!n?.range && offset >= n.range[0] && offset <= n.range[2];
  for (let guard = 0; guard < 64 && node; guard++) {
    if (isMap(node)) {
      const pair = node.items.find((it) => inside(it.key as YamlNode) || inside(it.value as YamlNode));
      if (!pair || !isScalar(pair.key)) break;
      const kr = pair.key.range;
      if (text !== undefined && kr && text.slice(kr[0], kr[1]).includes('\n')) break;
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

/**
 * A parser error as a user should read it: where the parser gives up is often far from the
 * mistake (an unclosed quote is noticed at the end of the file), so point at what to fix.
 */
function yamlErrorDiagnostic(layer: Layer, text: string, e: YAMLError): Diagnostic {
  const { doc } = layer;
  let offset = e.pos[0];
  let message = `YAML syntax error: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`;
  switch (e.code) {
    case 'DUPLICATE_KEY': {
      const p = pathAtOffset(doc, offset, text);
      const key = p.length ? String(p[p.length - 1]) : text.slice(e.pos[0], e.pos[1]).trim() || '?';
      const parent = findInDoc(doc, p.slice(0, -1)).value;
      const first = isMap(parent) ? parent.items.find((it) => isScalar(it.key) && String(it.key.value) === key) : undefined;
      const firstAt = first && isScalar(first.key) && first.key.range && first.key.range[0] !== offset ? ` (first on line ${layer.lc.linePos(first.key.range[0]).line})` : '';
      message = p.length === 2 && p[0] === 'nodes' ? `duplicate node id "${key}"${firstAt}: node ids must be unique` : `duplicate key "${key}"${firstAt}`;
      break;
    }
    case 'MISSING_CHAR':
    case 'BAD_INDENT': {
      // An unclosed quote, { or [ swallows the rest of the file: point at where it opens.
      const opener = innermost(doc, offset, (n) => (isScalar(n) && (n.type === Scalar.QUOTE_DOUBLE || n.type === Scalar.QUOTE_SINGLE)) || (isCollection(n) && !!n.flow));
      if (opener && (e.code === 'MISSING_CHAR' ? /quote/.test(e.message) : /^Flow (map|sequence)/.test(e.message))) {
        offset = opener.range![0];
        const what = isScalar(opener) ? (opener.type === Scalar.QUOTE_SINGLE ? `'` : '"') : isMap(opener) ? '}' : ']';
        const thing = isScalar(opener) ? 'the string' : isMap(opener) ? 'the { mapping' : 'the [ list';
        message = `YAML syntax error: missing closing ${what} for ${thing} that starts here${isScalar(opener) ? '' : ' (or a line inside it is not indented enough)'}`;
      } else if (e.code === 'BAD_INDENT' && /same column/.test(e.message)) {
        // Reported at the start of the line; the key that is out of line is more telling.
        // The line belongs to no mapping, so no path is given: any would be a guess.
        while (text[offset] === ' ') offset++;
        const lp = layer.lc.linePos(offset);
        return { severity: 'error', file: layer.file, line: lp.line, col: lp.col, path: '', message: 'YAML syntax error: bad indentation: keys of one mapping must start at the same column' };
      }
      break;
    }
    case 'MULTILINE_IMPLICIT_KEY':
    case 'BLOCK_AS_IMPLICIT_KEY': {
      const eol = text.indexOf('\n', offset);
      const rest = text.slice(offset, eol < 0 ? undefined : eol);
      const flow = innermost(doc, offset, (n) => isCollection(n) && !!n.flow);
      if (/:( |$)/.test(rest)) {
        // The text before the second ": " became a key: the path ends at the value it spoiled.
        const lp = layer.lc.linePos(offset);
        let p = pathAtOffset(doc, offset, text);
        if (findInDoc(doc, p).key?.range?.[0] === offset) p = p.slice(0, -1);
        return { severity: 'error', file: layer.file, line: lp.line, col: lp.col, path: pathToString(p), message: 'YAML syntax error: a second ": " on one line: quote a value that contains ": ", or put a nested mapping on its own lines' };
      }
      message = `YAML syntax error: a key must fit on one line: is a "${flow ? ',' : ':'}" missing at the end of this line${flow ? '' : ', or is the next line indented too far'}?`;
      break;
    }
    case 'TAB_AS_INDENT':
      message = 'YAML syntax error: tabs are not allowed as indentation (indent with spaces)';
      break;
    default:
      // Inside { … }, YAML reads the "{" of an unquoted ${VAR} as the start of a mapping.
      if (text.slice(Math.max(0, offset - 1), offset + 1).includes('{') && text.slice(Math.max(0, offset - 2), offset + 1).includes('$')) {
        message = 'YAML syntax error: inside { … } a value with ${VAR} must be quoted, like url: "${CAM_URL}" (or write the mapping on its own lines)';
      }
  }
  const lp = layer.lc.linePos(offset);
  return { severity: 'error', file: layer.file, line: lp.line, col: lp.col, path: pathToString(pathAtOffset(doc, offset, text)), message };
}

/** The innermost node of a kind that started before `offset` and is still open at it. */
function innermost(doc: Document.Parsed, offset: number, kind: (n: YamlNode) => boolean): YamlNode | undefined {
  let found: YamlNode | undefined;
  visit(doc, {
    Node(_key, node) {
      const r = node.range;
      if (kind(node) && r && r[0] < offset && offset <= r[2] && (!found || r[0] > found.range![0])) found = node;
    },
  });
  return found;
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
