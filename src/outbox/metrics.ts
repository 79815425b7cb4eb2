/**
 * What a sink built on the outbox shows: Prometheus series through its node metrics, and a
 * one-line status text. A sink calls `update(ob.stats(dest))` about once a second (stats come
 * from memory) and `ctx.status({ text: outboxStatusText(stats) })`.
 *
 * Series (labels node_id / node_type come from the node context):
 *   graphrun_outbox_backlog, graphrun_outbox_backlog_bytes, graphrun_outbox_oldest_pending_age_seconds,
 *   graphrun_outbox_in_flight, graphrun_outbox_delivered_total, graphrun_outbox_dead_letters_total,
 *   graphrun_outbox_dropped_{info,warn,critical}_total, graphrun_outbox_duplicates_total
 */
import type { NodeMetrics } from '../contract.js';
import type { OutboxStats } from './outbox.js';

type Counter = { inc(n?: number): void };
type Gauge = { set(v: number): void };

export class OutboxMetrics {
  private readonly g: Record<'backlog' | 'bytes' | 'age' | 'inFlight', Gauge>;
  private readonly c: Record<'delivered' | 'dead' | 'info' | 'warn' | 'critical' | 'duplicates', Counter>;
  /** Totals already added to the counters (stats are cumulative; counters only go up). */
  private readonly seen = { delivered: 0, dead: 0, info: 0, warn: 0, critical: 0, duplicates: 0 };

  constructor(metrics: NodeMetrics) {
    this.g = {
      backlog: metrics.gauge('outbox_backlog', 'Rows waiting in the outbox for this sink (in flight included).'),
      bytes: metrics.gauge('outbox_backlog_bytes', 'Bytes (payload + blob) waiting in the outbox for this sink.'),
      age: metrics.gauge('outbox_oldest_pending_age_seconds', 'Age of the oldest row waiting in the outbox for this sink.'),
      inFlight: metrics.gauge('outbox_in_flight', 'Outbox rows this sink is sending now.'),
    };
    this.c = {
      delivered: metrics.counter('outbox_delivered_total', 'Outbox rows the destination acknowledged.'),
      dead: metrics.counter('outbox_dead_letters_total', 'Outbox rows moved to the dead-letter table (failed for good).'),
      info: metrics.counter('outbox_dropped_info_total', 'Info rows dropped because the outbox was full (evicted or refused).'),
      warn: metrics.counter('outbox_dropped_warn_total', 'Warn rows dropped because the outbox was full (evicted or refused).'),
      critical: metrics.counter('outbox_dropped_critical_total', 'Critical rows refused because the outbox was full of critical rows.'),
      duplicates: metrics.counter('outbox_duplicates_total', 'Puts ignored because the key was pending or delivered already.'),
    };
  }

  update(s: OutboxStats): void {
    this.g.backlog.set(s.backlog);
    this.g.bytes.set(s.backlogBytes);
    this.g.age.set(s.oldestPendingAgeMs / 1000);
    this.g.inFlight.set(s.inFlight);
    this.add('delivered', s.delivered);
    this.add('dead', s.deadLetters);
    this.add('info', s.dropped.info);
    this.add('warn', s.dropped.warn);
    this.add('critical', s.dropped.critical);
    this.add('duplicates', s.duplicates);
  }

  private add(k: keyof OutboxMetrics['seen'], total: number): void {
    if (total > this.seen[k]) this.c[k].inc(total - this.seen[k]);
    this.seen[k] = total;
  }
}

function ago(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** e.g. "outbox: 12 pending (34.0 KiB), oldest 5.2 s; dropped 3 info; last error 10 s ago: HTTP 503". */
export function outboxStatusText(s: OutboxStats, nowMs = Date.now()): string {
  const parts = [s.backlog === 0 ? 'outbox: empty' : `outbox: ${s.backlog} pending (${size(s.backlogBytes)}), oldest ${ago(s.oldestPendingAgeMs)}`];
  const dropped = (['info', 'warn', 'critical'] as const).filter((p) => s.dropped[p] > 0).map((p) => `${s.dropped[p]} ${p}`);
  if (dropped.length) parts.push(`dropped ${dropped.join(', ')}`);
  if (s.deadLetters) parts.push(`${s.deadLetters} dead letters`);
  if (s.lastError && s.lastErrorAt !== null) parts.push(`last error ${ago(Math.max(0, nowMs - s.lastErrorAt))} ago: ${s.lastError}`);
  return parts.join('; ');
}
