/**
 * Node types used only by tests and benchmarks: a pass-through, a slow node, a node that fails
 * on every Nth packet, and a recorder that keeps what it receives. They go through the same
 * contract and schema validation as real nodes (the registry is extended with them).
 */
import { defineNode, Type, type Packet } from '../../src/contract.js';
import { builtinNodes, Registry } from '../../src/registry.js';

export const passthrough = defineNode({
  type: 'test-pass',
  summary: 'Emits every packet unchanged (same object).',
  options: Type.Object({
    delay_ms: Type.Number({ minimum: 0, default: 0, description: 'Wait this long per packet (timer, not busy).' }),
    busy_ms: Type.Number({ minimum: 0, default: 0, description: 'Burn CPU this long per packet.' }),
  }),
  inputs: { in: { kind: 'any', description: 'Anything.', defaultQueue: { mode: 'latest' } } },
  outputs: { out: { kind: 'any', description: 'The same packets.' } },
  canPause: true,
  create(cfg, ctx) {
    return {
      process(p: Packet) {
        if (cfg.busy_ms > 0) {
          const end = performance.now() + cfg.busy_ms;
          while (performance.now() < end);
        }
        if (cfg.delay_ms > 0) return ctx.clock.sleep(cfg.delay_ms).then(() => ctx.emit('out', p));
        return ctx.emit('out', p);
      },
    };
  },
});

export const flaky = defineNode({
  type: 'test-flaky',
  summary: 'Throws on every Nth packet it sees (counting across restarts).',
  options: Type.Object({
    fail_every: Type.Integer({ minimum: 1, default: 10, description: 'Throw on packets N, 2N, 3N, …' }),
  }),
  inputs: { in: { kind: 'any', description: 'Anything.', defaultQueue: { mode: 'drop_oldest', size: 8 } } },
  outputs: { out: { kind: 'any', description: 'The packets that did not fail.' } },
  canPause: true,
  create(cfg, ctx) {
    return {
      process(p: Packet) {
        flakyCount.n++;
        if (flakyCount.n % cfg.fail_every === 0) throw new Error(`planned failure on packet ${flakyCount.n}`);
        return ctx.emit('out', p);
      },
    };
  },
});
/** Shared across instances so restarts keep the rhythm. */
export const flakyCount = { n: 0 };

/** Recorders keep received packets in memory, by node id, for assertions. */
export const recorded = new Map<string, Packet[]>();
export const recorder = defineNode({
  type: 'test-recorder',
  summary: 'Keeps every packet it receives (tests only).',
  options: Type.Object({
    keep: Type.Boolean({ default: true, description: 'Keep packets (false: count only).' }),
  }),
  inputs: { in: { kind: 'any', description: 'Anything.', defaultQueue: { mode: 'drop_oldest', size: 64 } } },
  outputs: {},
  canPause: true,
  create(cfg, ctx) {
    const list: Packet[] = [];
    recorded.set(ctx.id, list);
    return {
      process(p: Packet) {
        if (cfg.keep) list.push(p);
      },
    };
  },
});

export const testRegistry = new Registry([...builtinNodes, passthrough, flaky, recorder]);
