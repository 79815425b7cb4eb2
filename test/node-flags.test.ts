import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeCommand } from '../src/node-flags.js';

const root = path.resolve(import.meta.dirname, '..');

describe('how graphrun\'s process is started (src/node-flags.ts)', () => {
  it('are in the shebang of bin/graphrun.js and in the npm scripts that start it', () => {
    const shebang = readFileSync(path.join(root, 'bin/graphrun.js'), 'utf8').split('\n')[0];
    expect(shebang).toBe(`#!/usr/bin/env -S ${nodeCommand()}`);
    const scripts = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['start', 'sim']) expect(scripts[name], name).toContain(`${nodeCommand()} bin/graphrun.js`);
  });

  it('the shebang runs: bin/graphrun.js started as a program', () => {
    const out = execFileSync(path.join(root, 'bin/graphrun.js'), ['--help'], { encoding: 'utf8' });
    expect(out).toMatch(/graphrun/);
  });
});
