/**
 * The delivery loop every outbox sink runs (fastapi-sink, s3-sink, webhook-sink): takes rows
 * the outbox says are ready (heads of their streams, due, dependencies met), sends them with
 * the sink's `send`, and records the outcome — ack (the row leaves the outbox), retry (backoff),
 * or dead letter (a permanent refusal, kept with the response).
 *
 * - Backoff per row: exponential from `initialMs`, doubled per failed attempt, capped at
 *   `maxMs`, with "equal jitter" (half fixed, half random) so a backlog does not retry in
 *   lock-step; a `Retry-After` the destination sent wins when it is longer.
 * - Circuit breaker: after `failures` consecutive retryable failures the loop stops sending
 *   (open) for `openMs` (doubling up to `maxOpenMs` while it stays broken), then asks `probe`
 *   (e.g. GET /health) before it sends again; a probe that succeeds lets one row go
 *   (half-open): delivered, the breaker closes and the backlog goes at once, regardless of the
 *   rows' backoff (the destination is back: waiting out a minute of backoff per row would only
 *   delay the alerts); failed, it opens again for twice as long.
 * - Concurrency: up to `concurrency` sends at once — across streams only, since the outbox
 *   hands out one row per stream at a time (order within a stream is kept).
 */
import type { Logger } from 'pino';
import type { Outbox, OutboxRow } from '../outbox/outbox.js';

export type Outcome =
  | { kind: 'ack'; result?: string }
  | { kind: 'retry'; error: string; retryAfterMs?: number; status?: number }
  | { kind: 'dead'; error: string; status?: number; response?: string };

export interface DeliveryOptions {
  outbox: Outbox;
  dest: string;
  send(row: OutboxRow, signal: AbortSignal): Promise<Outcome>;
  /** Asked before sending again after the breaker opened; true = the destination is back. */
  probe?(signal: AbortSignal): Promise<boolean>;
  concurrency: number;
  backoff: { initialMs: number; maxMs: number };
  breaker: { failures: number; openMs: number; maxOpenMs: number };
  log: Logger;
  /** Every outcome, for metrics. */
  onOutcome?(o: Outcome, row: OutboxRow, ms: number): void;
  now?: () => number;
}

export type BreakerState = 'closed' | 'open' | 'probing' | 'half-open';

export class DeliveryLoop {
  private readonly ctl = new AbortController();
  private running: Promise<void> | undefined;
  private inFlight = 0;
  private consecutive = 0;
  private openFor = 0;
  private openUntil = 0;
  breaker: BreakerState = 'closed';
  /** After a successful probe: send what is pending without waiting out its backoff. */
  private rush = false;
  lastOutcomeAt = 0;
  lastError: string | null = null;
  private wake: (() => void) | undefined;

  constructor(private readonly o: DeliveryOptions) {}

  private now(): number {
    return this.o.now ? this.o.now() : Date.now();
  }

  start(): void {
    this.running ??= this.loop().catch((err: unknown) => {
      if (!this.ctl.signal.aborted) this.o.log.error({ err }, 'delivery loop failed');
    });
  }

  /**
   * Stop sending; sends in flight are aborted (their rows stay in the outbox, pending). Resolves
   * once nothing of this loop touches the outbox any more, so the caller may close it.
   */
  async stop(): Promise<void> {
    this.ctl.abort();
    this.wake?.();
    await this.running;
    await Promise.allSettled([...this.sends]);
  }

  private readonly sends = new Set<Promise<void>>();

  get busy(): number {
    return this.inFlight;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, Math.max(0, ms));
      const signal = this.ctl.signal;
      function done() { clearTimeout(t); signal.removeEventListener('abort', done); resolve(); }
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }

  private async loop(): Promise<void> {
    const { outbox, dest } = this.o;
    const signal = this.ctl.signal;
    while (!signal.aborted) {
      if (this.breaker !== 'closed') {
        const wait = this.openUntil - this.now();
        if (wait > 0) { await this.sleep(wait); continue; }
        this.breaker = 'probing';
        let ok = true;
        if (this.o.probe) {
          try { ok = await this.o.probe(signal); } catch { ok = false; }
        }
        if (signal.aborted) break;
        if (!ok) { this.open('probe failed'); continue; }
        // Half-open: one send decides. A health check can pass while sending still fails (a
        // wrong token: /health needs none), so only a delivered row closes the breaker.
        this.o.log.info({ dest }, 'destination answers its health check: trying one row');
        this.breaker = 'half-open';
        this.consecutive = 0;
        this.rush = true;
      }
      const free = (this.breaker === 'half-open' ? 1 : this.o.concurrency) - this.inFlight;
      // Rushing ignores the retry backoff only: a row still waiting for its snapshot waits on.
      const rows = free > 0 ? outbox.ready(dest, free, this.now(), { ignoreBackoff: this.rush }) : [];
      if (rows.length === 0) {
        if (this.inFlight === 0) this.rush = false;
        const due = outbox.nextDueAt(dest);
        const maxWaitMs = due === undefined ? 60_000 : Math.max(1, due - this.now());
        await Promise.race([outbox.waitForWork(dest, { signal, maxWaitMs }), new Promise<void>((r) => { this.wake = r; })]);
        continue;
      }
      for (const row of rows) {
        const p = this.deliver(row).catch((err: unknown) => this.o.log.error({ err, dest }, 'delivery bookkeeping failed'));
        this.sends.add(p);
        void p.finally(() => this.sends.delete(p));
      }
    }
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const { outbox, dest } = this.o;
    this.inFlight++;
    const t0 = performance.now();
    let outcome: Outcome;
    try {
      outcome = await this.o.send(row, this.ctl.signal);
    } catch (err) {
      outcome = { kind: 'retry', error: (err as Error)?.message ?? String(err) };
    }
    this.inFlight--;
    if (this.ctl.signal.aborted) {
      outbox.release(dest, row.id); // stays pending for the next start
      return;
    }
    this.lastOutcomeAt = this.now();
    this.o.onOutcome?.(outcome, row, performance.now() - t0);
    if (outcome.kind === 'ack') {
      outbox.ack(dest, row.id, outcome.result);
      this.consecutive = 0;
      if (this.breaker === 'half-open') {
        this.breaker = 'closed';
        this.openFor = 0;
        this.o.log.info({ dest }, 'destination back: sending');
      }
    } else if (outcome.kind === 'dead') {
      outbox.deadLetter(dest, row.id, { status: outcome.status, response: outcome.response, error: outcome.error });
      this.lastError = outcome.error;
      this.o.log.warn({ dest, key: row.key, status: outcome.status, error: outcome.error }, 'refused for good: moved to the dead letters');
      this.consecutive = 0;
      if (this.breaker === 'half-open') { this.breaker = 'closed'; this.openFor = 0; } // it answers: it is up
    } else {
      this.rush = false;
      const base = Math.min(this.o.backoff.maxMs, this.o.backoff.initialMs * 2 ** Math.min(20, row.attempts));
      const delay = Math.max(base / 2 + Math.random() * (base / 2), outcome.retryAfterMs ?? 0);
      outbox.retry(dest, row.id, { nextAttemptAt: this.now() + delay, error: outcome.error });
      this.lastError = outcome.error;
      this.consecutive++;
      if (this.breaker === 'half-open' || (this.breaker === 'closed' && this.consecutive >= this.o.breaker.failures)) this.open(outcome.error, outcome.retryAfterMs);
    }
    this.wake?.();
  }

  private open(why: string, atLeastMs = 0): void {
    this.openFor = this.openFor === 0 ? this.o.breaker.openMs : Math.min(this.o.breaker.maxOpenMs, this.openFor * 2);
    const ms = Math.max(this.openFor, atLeastMs);
    this.openUntil = this.now() + ms;
    if (this.breaker === 'closed') this.o.log.warn({ dest: this.o.dest, reason: why, open_ms: ms }, 'destination failing: pausing delivery, probing before sending again');
    this.breaker = 'open';
  }
}
