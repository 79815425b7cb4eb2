#!/usr/bin/env node
// graphrun's benchmarks (`npm run bench -- --help`): runs the compiled bench/index.ts from dist/.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const bench = new URL('../dist/bench/index.js', import.meta.url);
if (!existsSync(bench)) {
  process.stderr.write('bench: not built yet — run `npm run build` in the project folder\n');
  process.exit(1);
}
// A stale build measures old code: say so (the parent only; its children are the same build).
if (!process.argv.includes('--child')) {
  const built = statSync(bench).mtimeMs;
  const newest = (dir) => {
    let t = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) { if (e.name !== 'results' && e.name !== 'node_modules') t = Math.max(t, newest(p)); }
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) t = Math.max(t, statSync(p).mtimeMs);
    }
    return t;
  };
  const root = fileURLToPath(new URL('..', import.meta.url));
  const changed = ['src', 'nodes', 'bench'].some((d) => existsSync(root + d) && newest(root + d) > built);
  if (changed) process.stderr.write('bench: warning: sources changed since the last build — run `npm run build` first, or this measures the old code\n');
}
const { main } = await import(bench.href);
process.exitCode = await main(process.argv.slice(2));
