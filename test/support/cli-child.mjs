// The built CLI (dist/, like bin/graphrun.js) with one extra node type, `test-slow-stop`, whose
// stop takes `stop_ms`: for tests of signals during a slow graceful stop.
//   node test/support/cli-child.mjs run graph.yml
import { main } from '../../dist/src/cli.js';
import { defineNode, Type } from '../../dist/src/contract.js';
import { defaultRegistry } from '../../dist/src/registry.js';

const slowStop = defineNode({
  type: 'test-slow-stop',
  summary: 'Takes every packet; its stop takes stop_ms.',
  options: Type.Object({ stop_ms: Type.Integer({ minimum: 0, default: 3000, description: 'How long stop() takes.' }) }),
  inputs: { in: { kind: 'any', description: 'Anything.', defaultQueue: { mode: 'latest' } } },
  outputs: {},
  canPause: true,
  create(cfg) {
    return {
      process() {},
      stop: () => new Promise((r) => setTimeout(r, cfg.stop_ms)),
    };
  },
});

process.exitCode = await main(process.argv.slice(2), defaultRegistry.with([slowStop]));
