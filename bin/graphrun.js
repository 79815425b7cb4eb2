#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=2
// graphrun entry point: runs the compiled CLI (npm install builds it through `prepare`).
// The shebang's variable and V8 flag are src/node-flags.ts's (why: there).
import { existsSync } from 'node:fs';
const cli = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('graphrun: not built yet — run `npm install` (or `npm run build`) in the project folder\n');
  process.exit(1);
}
const { main } = await import(cli.href);
const code = await main(process.argv.slice(2));
process.exitCode = code;
