// The built CLI (dist/, like bin/graphrun.js) with the test-event-burst source added, for
// delivery tests that kill graphrun (SIGKILL) in the middle of a burst.
//   node test/support/sink-child.mjs run graph.yml
import { main } from '../../dist/src/cli.js';
import * as contract from '../../dist/src/contract.js';
import { defaultRegistry } from '../../dist/src/registry.js';
import { eventBurstNode } from './event-burst.mjs';

process.exitCode = await main(process.argv.slice(2), defaultRegistry.with([eventBurstNode(contract)]));
