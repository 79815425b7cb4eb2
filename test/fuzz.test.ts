/**
 * Fuzzing the graph loader and validator: valid graphs are mutated a few thousand times, as text
 * (lines deleted, doubled, swapped, re-indented, cut short, stray YAML characters) and as values
 * (leaves and keys replaced by values of other types, keys removed or added). Every result must
 * be either a valid graph or a list of positioned errors; nothing may throw.
 *
 * Each case is determined by one number. To replay a failure: FUZZ_CASE=<n> npx vitest run test/fuzz.test.ts
 * (FUZZ_SEED and FUZZ_RUNS change the range of cases).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadAndCompile } from '../src/graph/compile.js';
import { displayPath } from '../src/graph/load.js';
import { formatDiagnostic, type Diagnostic } from '../src/graph/diagnostics.js';
import { testRegistry } from './support/test-nodes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const GOOD = path.join(root, 'test/fixtures/good-graphs');

const BASE_SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const ONLY = process.env.FUZZ_CASE === undefined ? undefined : Number(process.env.FUZZ_CASE);

/** mulberry32: small, fast, and the same everywhere. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof prng>;

interface Seed { abs: string; text: string; files: Map<string, string> }

function seeds(): Seed[] {
  const paths = [
    path.join(root, 'graphs/demo.yml'),
    ...readdirSync(GOOD).filter((f) => f.endsWith('.yml')).map((f) => path.join(GOOD, f)),
    ...readdirSync(path.join(GOOD, 'test-nodes')).filter((f) => f.endsWith('.yml')).map((f) => path.join(GOOD, 'test-nodes', f)),
  ];
  // Every good fixture is readable from every case, so a mutated `extends` can reach them.
  const all = new Map(paths.map((p) => [p, readFileSync(p, 'utf8')]));
  return paths.map((abs) => ({ abs, text: all.get(abs)!, files: all }));
}

// --- text-level mutations -------------------------------------------------------------------

const STRAY = [':', '-', '{', '}', '[', ']', "'", '"', '#', '$', '${', '}', ',', '&', '*', '!', '|', '>', '?', '%', '@', '`', '\t', '\n', ' ', '\\', '\0', '\u00a0', '\ufeff'];
const WORDS = ['null', '~', 'true', '0', '-1', '1.5', '1e309', '0x10', '.inf', '.nan', '""', "''", '[]', '{}', '${UNSET}', '${A:-1}', '${', '$$', '&x', '*x', '*nope', '!!str', '!!binary', '? a', '- x', '|', '>-', 'cam', 'sink', 'cam.frames', 'a.b.c', 'frames', 'in', 'out', 'from', 'queue', 'latest', 'block', 'drop_oldest', 'type', 'inputs', 'nodes', 'extends', 'version', 'name', 'status', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'base.yml', 'override.yml', '.', '/', 'debug-sink', 'synthetic-source', 'test-pass', 'test-detector', 'test-live-source', '---', '...'];

function mutateText(text: string, rng: Rng): string {
  const lines = text.split('\n');
  const at = () => rng.int(lines.length);
  switch (rng.int(10)) {
    case 0: lines.splice(at(), 1); break;
    case 1: { const i = at(); lines.splice(i, 0, lines[i]); break; }
    case 2: { const i = at(); const j = at(); [lines[i], lines[j]] = [lines[j], lines[i]]; break; }
    case 3: {
      const i = at();
      const body = lines[i].trimStart();
      const indent = lines[i].length - body.length;
      const n = Math.max(0, indent + rng.pick([-4, -2, -1, 1, 2, 4]));
      lines[i] = (rng.chance(0.1) ? '\t' : ' '.repeat(n)) + body;
      break;
    }
    case 4: case 5: {
      const i = at();
      const k = rng.int(lines[i].length + 1);
      const ins = Array.from({ length: 1 + rng.int(3) }, () => rng.pick(STRAY)).join('');
      lines[i] = lines[i].slice(0, k) + ins + lines[i].slice(k);
      break;
    }
    case 6: return text.slice(0, rng.int(text.length + 1));
    case 7: {
      // Replace one word (a key, a value, a port) with another.
      const i = at();
      const words = [...lines[i].matchAll(/[A-Za-z0-9_.${}:-]+/g)];
      if (words.length) {
        const w = rng.pick(words);
        lines[i] = lines[i].slice(0, w.index) + rng.pick(WORDS) + lines[i].slice(w.index! + w[0].length);
      }
      break;
    }
    case 8: { const i = at(); if (i + 1 < lines.length) lines.splice(i, 2, lines[i] + ' ' + lines[i + 1].trim()); break; }
    default: {
      const i = at();
      const k = rng.int(lines[i].length + 1);
      lines.splice(i, 1, lines[i].slice(0, k), lines[i].slice(k));
    }
  }
  return lines.join('\n');
}

// --- value-level mutations ------------------------------------------------------------------

function randomValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 1 ? 9 : 12)) {
    case 0: return rng.pick([0, 1, -1, 2, 65536, 1e9, -0.5, 3.25, Number.MAX_SAFE_INTEGER, 1e308]);
    case 1: return rng.pick(['', ' ', 'x', 'cam', 'cam.frames', 'sink.in', 'nope.frames', 'a.b.c', 'latest', 'block', 'Cam', '127.0.0.1:8090', '0.0.0.0:80', 'localhost']);
    case 2: return rng.pick(['${UNSET}', '${UNSET:-7}', '${', '$${X}', 'x${Y:-}y', '${1BAD}', '${A:-${B}}']);
    case 3: return null;
    case 4: return rng.chance(0.5);
    case 5: return rng.pick(['synthetic-source', 'debug-sink', 'test-pass', 'test-detector', 'test-live-source', 'test-recorder', 'test-flaky', 'no-such-type']);
    case 6: return rng.pick([{ drop_oldest: 4 }, { block: 0 }, { latest: 1 }, { drop_oldest: 1, block: 2 }, {}]);
    case 7: return rng.pick(['base.yml', 'override.yml', 'missing.yml', '.', '']);
    case 8: return 'x'.repeat(rng.int(200));
    case 9: return [];
    case 10: return Array.from({ length: 1 + rng.int(3) }, () => randomValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = 0, n = rng.int(4); i < n; i++) setOwn(o, randomKey(rng), randomValue(rng, depth + 1));
      return o;
    }
  }
}

function randomKey(rng: Rng): string {
  return rng.pick(['type', 'inputs', 'in', 'out', 'from', 'queue', 'nodes', 'extends', 'version', 'name', 'status', 'listen', 'token', 'fps', 'width', 'count', 'restart', 'concurrency', 'description', 'cam', 'sink', 'Bad Id', '1', '', '__proto__', 'constructor', 'frames']);
}

/** Assignment that creates an own property even for "__proto__". */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number };

function slots(v: unknown, out: Slot[] = []): Slot[] {
  if (Array.isArray(v)) v.forEach((x, i) => { out.push({ parent: v, key: i }); slots(x, out); });
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) { out.push({ parent: v as Record<string, unknown>, key: k }); slots(x, out); }
  }
  return out;
}

function mutateValue(text: string, rng: Rng): string {
  let value: unknown = YAML.parse(text);
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const all = slots(value);
    if (!all.length || rng.chance(0.03)) { value = randomValue(rng); continue; }
    const { parent, key } = rng.pick(all);
    const op = rng.int(5);
    if (Array.isArray(parent)) {
      if (op === 0) parent.splice(key as number, 1);
      else if (op === 1) parent.push(randomValue(rng));
      else parent[key as number] = randomValue(rng);
      continue;
    }
    const k = key as string;
    if (op === 0) delete parent[k];
    else if (op === 1) setOwn(parent, randomKey(rng), randomValue(rng));
    else if (op === 2) { const v = parent[k]; delete parent[k]; setOwn(parent, randomKey(rng), v); }
    else parent[k] = randomValue(rng);
  }
  return YAML.stringify(value);
}

// --- the check ------------------------------------------------------------------------------

interface Case { n: number; seed: Seed; text: string }

function makeCase(n: number, all: Seed[]): Case {
  const rng = prng(n);
  const seed = rng.pick(all);
  let text = seed.text;
  if (rng.chance(0.4)) text = mutateValue(text, rng);
  for (let m = rng.chance(0.4) ? 0 : 1 + rng.int(3); m > 0; m--) text = mutateText(text, rng);
  return { n, seed, text };
}

/** What is wrong with the result of one case (`problem`), and whether the graph was valid. */
function check(c: Case): { problem?: string; valid?: boolean } {
  const problem = (p: string) => ({ problem: p });
  const shown = displayPath(c.seed.abs, root);
  const readFile = (abs: string): string => {
    if (abs === c.seed.abs) return c.text;
    const t = c.seed.files.get(abs);
    if (t !== undefined) return t;
    throw Object.assign(new Error(`ENOENT: no such file, open '${abs}'`), { code: 'ENOENT' });
  };
  let r: ReturnType<typeof loadAndCompile>;
  try {
    r = loadAndCompile(c.seed.abs, testRegistry, { env: {}, cwd: root, readFile });
  } catch (err) {
    return problem(`threw: ${((err as Error).stack ?? String(err)).split('\n').slice(0, 5).join('\n')}`);
  }
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  if (r.graph && errors.length) return problem(`returned a graph and errors:\n${errors.map(formatDiagnostic).join('\n')}`);
  if (!r.graph && !errors.length) return problem(`returned neither a graph nor an error (diagnostics: ${JSON.stringify(r.diagnostics)})`);
  // A mutated `extends` may load another good fixture, whose lines are then the ones reported.
  const lineCount = (d: Diagnostic) => (d.file === shown ? c.text : c.seed.files.get(path.resolve(root, d.file)) ?? '').split('\n').length;
  const allowed = new Set([shown, ...[...c.seed.files.keys()].map((f) => displayPath(f, root))]);
  for (const d of r.diagnostics) {
    const bad =
      !Number.isInteger(d.line) || d.line < 1 || d.line > lineCount(d) ? 'line' :
      !Number.isInteger(d.col) || d.col < 1 ? 'col' :
      typeof d.message !== 'string' || d.message.trim() === '' || d.message.includes('undefined') || d.message.includes('[object Object]') ? 'message' :
      !allowed.has(d.file) ? 'file' :
      typeof d.path !== 'string' ? 'path' : undefined;
    if (bad) return problem(`diagnostic with a bad ${bad}: ${JSON.stringify(d)}`);
  }
  if (r.graph && r.graph.order.length !== r.graph.nodes.size) return problem(`valid graph whose order (${r.graph.order.join(', ')}) misses nodes`);
  if (!errors.every((d) => d.file === shown) && !/extends/.test(c.text)) return problem(`error outside the fuzzed file without extends:\n${errors.map(formatDiagnostic).join('\n')}`);
  return { valid: !!r.graph };
}

describe('fuzzing the loader and validator', () => {
  it(ONLY !== undefined ? `case ${ONLY}` : `${RUNS} mutated graphs are valid or rejected with positioned errors, and nothing throws`, () => {
    const all = seeds();
    const failures: string[] = [];
    let valid = 0;
    let rejected = 0;
    const cases = ONLY !== undefined ? [ONLY] : Array.from({ length: RUNS }, (_, i) => BASE_SEED + i);
    for (const n of cases) {
      const c = makeCase(n, all);
      const { problem, valid: ok } = check(c);
      if (problem) {
        failures.push(`case ${n} (FUZZ_CASE=${n}), from ${displayPath(c.seed.abs, root)}: ${problem}\n--- mutated text ---\n${c.text}\n--- end ---`);
        if (failures.length >= 5) break;
      } else if (ok) valid++;
      else rejected++;
    }
    expect(failures, failures.join('\n\n')).toEqual([]);
    // The mutations must exercise both outcomes, or the test proves little.
    if (ONLY === undefined) {
      expect(rejected).toBeGreaterThan(RUNS / 3);
      expect(valid).toBeGreaterThan(RUNS / 50);
    }
  });
});
