/**
 * Where the time goes, from a V8 .cpuprofile (`--cpu-prof`): self time per function and per
 * file, with compiled dist/ locations mapped back to the TypeScript source through the
 * source maps `tsc` writes next to them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const maps = new Map<string, SourceMap | null>();

function sourceMapFor(file: string): SourceMap | null {
  if (!maps.has(file)) {
    let m: SourceMap | null = null;
    try {
      if (existsSync(`${file}.map`)) m = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
    } catch { m = null; }
    maps.set(file, m);
  }
  return maps.get(file)!;
}

/** `src/runtime/runtime.ts:118` for a frame in dist/, the URL's tail otherwise. */
export function locate(cf: CallFrame, root: string): string {
  if (!cf.url) return '';
  let file = cf.url;
  if (file.startsWith('file://')) file = fileURLToPath(file);
  if (file.startsWith('node:')) return `${file}:${cf.lineNumber + 1}`;
  const m = path.isAbsolute(file) ? sourceMapFor(file) : null;
  if (m) {
    const e = m.findEntry(cf.lineNumber, cf.columnNumber) as { originalSource?: string; originalLine?: number };
    if (e && e.originalSource) {
      let src = e.originalSource;
      if (src.startsWith('file://')) src = fileURLToPath(src);
      src = path.resolve(path.dirname(file), src);
      return `${path.relative(root, src)}:${(e.originalLine ?? 0) + 1}`;
    }
  }
  const rel = path.relative(root, file);
  return `${rel.startsWith('..') ? file : rel}:${cf.lineNumber + 1}`;
}

export function summarizeProfile(file: string, root: string, top = 25): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = p.endTime - p.startTime;
  const fnSelf = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  for (const [id, us] of self) {
    const cf = byId.get(id)!.callFrame;
    const where = locate(cf, root);
    const name = `${cf.functionName || '(anonymous)'}${where ? `  ${where}` : ''}`;
    fnSelf.set(name, (fnSelf.get(name) ?? 0) + us);
    const f = where ? where.replace(/:\d+$/, '') : cf.functionName;
    fileSelf.set(f, (fileSelf.get(f) ?? 0) + us);
  }
  const rows = (m: Map<string, number>, n: number) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => `| ${(us / 1000).toFixed(0)} | ${((100 * us) / total).toFixed(1)}% | ${k.replace(/\|/g, '\\|')} |`);
  return [
    `### CPU profile: ${path.basename(file)} (${(total / 1e6).toFixed(1)} s sampled; whole process, set-up included)`,
    '',
    '| self ms | share | function  location |',
    '|---:|---:|---|',
    ...rows(fnSelf, top),
    '',
    '| self ms | share | file |',
    '|---:|---:|---|',
    ...rows(fileSelf, 12),
  ].join('\n');
}
