/** bin/graphrun.js runs the compiled CLI in dist/: tests that spawn it build it first when stale. */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './media.js';

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestMtime(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** Builds dist/ when it is missing or older than src/ and nodes/. */
export function ensureBuilt(): void {
  const cli = path.join(repoRoot, 'dist', 'src', 'cli.js');
  const srcTime = Math.max(newestMtime(path.join(repoRoot, 'src')), newestMtime(path.join(repoRoot, 'nodes')));
  if (existsSync(cli) && statSync(cli).mtimeMs >= srcTime) return;
  const r = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run build failed (bin/graphrun.js needs dist/):\n${r.stdout}${r.stderr}`);
}
