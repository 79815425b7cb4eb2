/**
 * What the outbox sinks share: their outbox/retry/breaker options, opening the outbox, running
 * the delivery loop, and reporting backlog, oldest pending age and the last error on the status
 * page and in metrics.
 */
import path from 'node:path';
import { Type, type NodeContext } from '../contract.js';
import { openOutbox, type Outbox, type OutboxItem, type OutboxRow, type PutResult } from '../outbox/outbox.js';
import { DeliveryLoop, type Outcome } from './loop.js';

export const deliveryOptions = {
  outbox: Type.Object({
    path: Type.String({ minLength: 1, default: 'var/outbox.db', description: 'SQLite file of the outbox, relative to the working directory; sinks naming the same file share it.' }),
    max_rows: Type.Integer({ minimum: 10, default: 100000, description: 'Most rows the file holds (all its sinks); when full, info events go first (src/outbox/README.md).' }),
    max_bytes: Type.Integer({ minimum: 1048576, default: 536870912, description: 'Most bytes (payloads and snapshots) the file holds.' }),
    synchronous: Type.Union([Type.Literal('normal'), Type.Literal('full')], { default: 'normal', description: 'normal: survives a crash of the process (SIGKILL); full: a power loss too, at a lower write rate.' }),
  }, { default: {}, description: 'The durable outbox: an event is written here before the sink accepts it and removed once the destination acknowledged it.' }),
  retry: Type.Object({
    initial_ms: Type.Integer({ minimum: 10, default: 500, description: 'First retry delay; doubles per failed attempt (with jitter).' }),
    max_ms: Type.Integer({ minimum: 100, default: 60000, description: 'Longest retry delay.' }),
  }, { default: {}, description: 'Retries with exponential backoff and jitter; Retry-After wins when longer.' }),
  breaker: Type.Object({
    failures: Type.Integer({ minimum: 1, default: 5, description: 'Consecutive failures that pause delivery.' }),
    open_ms: Type.Integer({ minimum: 10, default: 2000, description: 'First pause; doubles while the destination stays down.' }),
    max_open_ms: Type.Integer({ minimum: 10, default: 30000, description: 'Longest pause between probes.' }),
  }, { default: {}, description: 'Circuit breaker: after repeated failures, stop sending and probe the destination before resuming.' }),
  timeout_ms: Type.Integer({ minimum: 100, maximum: 600000, default: 10000, description: 'Longest wait for one answer.' }),
  concurrency: Type.Integer({ minimum: 1, maximum: 64, default: 4, description: 'Requests at once (across streams: one stream\'s events go one at a time, in order).' }),
};

export interface DeliveryConfig {
  outbox: { path: string; max_rows: number; max_bytes: number; synchronous: 'normal' | 'full' };
  retry: { initial_ms: number; max_ms: number };
  breaker: { failures: number; open_ms: number; max_open_ms: number };
  timeout_ms: number;
  concurrency: number;
}

export interface SinkDelivery {
  readonly outbox: Outbox;
  readonly loop: DeliveryLoop;
  put(item: OutboxItem): PutResult;
  stop(): Promise<void>;
}

/** Open the outbox, start delivering `dest`, keep the status line and metrics current. */
export function startDelivery(ctx: NodeContext, cfg: DeliveryConfig, dest: string, send: (row: OutboxRow, signal: AbortSignal) => Promise<Outcome>, probe?: (signal: AbortSignal) => Promise<boolean>, what = 'sent'): SinkDelivery {
  const file = path.resolve(cfg.outbox.path);
  const outbox = openOutbox(file, { maxRows: cfg.outbox.max_rows, maxBytes: cfg.outbox.max_bytes, synchronous: cfg.outbox.synchronous });
  const m = {
    delivered: ctx.metrics.counter('sink_delivered_total', 'Rows the destination acknowledged.'),
    retries: ctx.metrics.counter('sink_retries_total', 'Failed attempts that will be retried.'),
    dead: ctx.metrics.counter('sink_dead_letters_total', 'Rows refused for good (moved to the dead letters).'),
    dropped: ctx.metrics.counter('sink_dropped_total', 'Rows the outbox dropped or refused because it was full.'),
    backlog: ctx.metrics.gauge('sink_backlog', 'Rows waiting for delivery.'),
    oldest: ctx.metrics.gauge('sink_oldest_pending_seconds', 'Age of the oldest row waiting for delivery.'),
    breaker: ctx.metrics.gauge('sink_breaker_open', '1 while delivery is paused by the circuit breaker.'),
    latency: ctx.metrics.histogram('sink_send_seconds', 'Time of one delivery attempt.', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
  };
  const loop = new DeliveryLoop({
    outbox, dest, send, probe, concurrency: cfg.concurrency, log: ctx.log,
    backoff: { initialMs: cfg.retry.initial_ms, maxMs: cfg.retry.max_ms },
    breaker: { failures: cfg.breaker.failures, openMs: cfg.breaker.open_ms, maxOpenMs: cfg.breaker.max_open_ms },
    onOutcome(o, _row, ms) {
      m.latency.observe(ms / 1000);
      if (o.kind === 'ack') m.delivered.inc();
      else if (o.kind === 'dead') m.dead.inc();
      else m.retries.inc();
    },
  });
  loop.start();
  let lastDropped = -1;
  const report = () => {
    const s = outbox.stats(dest);
    // dropped.* counts every drop, evicted or refused (s.refused is a subset: not added again).
    const dropped = s.dropped.info + s.dropped.warn + s.dropped.critical;
    if (lastDropped >= 0 && dropped > lastDropped) m.dropped.inc(dropped - lastDropped);
    lastDropped = dropped;
    m.backlog.set(s.backlog);
    m.oldest.set(s.oldestPendingAgeMs / 1000);
    m.breaker.set(loop.breaker === 'closed' ? 0 : 1);
    const parts = [`${s.delivered} ${what}`, `backlog ${s.backlog}${s.backlog ? ` (oldest ${(s.oldestPendingAgeMs / 1000).toFixed(1)} s)` : ''}`];
    if (s.deadLetters) parts.push(`${s.deadLetters} dead letters`);
    if (dropped) parts.push(`${dropped} dropped (outbox full)`);
    if (loop.breaker !== 'closed') parts.push(`paused: ${loop.breaker}`);
    if (s.lastError && (s.backlog > 0 || loop.breaker !== 'closed')) parts.push(`last error: ${s.lastError}`);
    const degraded = loop.breaker !== 'closed' || s.oldestPendingAgeMs > 30000;
    ctx.status({ state: degraded ? 'degraded' : 'running', text: parts.join(', ') });
  };
  report();
  const timer = setInterval(report, 1000);
  timer.unref();
  // A full outbox refuses every new row until the destination is back: log the first refusal,
  // then at most one line a minute with the count (the status line and metrics have the totals).
  let refusedUnlogged = 0;
  let refusalLoggedAt = -Infinity;
  return {
    outbox,
    loop,
    put(item) {
      const r = outbox.put(dest, item);
      if (!r.ok && r.reason !== 'duplicate') {
        refusedUnlogged++;
        const now = Date.now();
        if (now - refusalLoggedAt >= 60_000) {
          ctx.log.warn({ key: item.key, reason: r.reason, refused: refusedUnlogged }, refusedUnlogged === 1 ? 'outbox refused the row' : `outbox refused ${refusedUnlogged} rows in the last minute`);
          refusalLoggedAt = now;
          refusedUnlogged = 0;
        }
      }
      return r;
    },
    async stop() {
      clearInterval(timer);
      await loop.stop();
      report();
      outbox.close();
    },
  };
}
