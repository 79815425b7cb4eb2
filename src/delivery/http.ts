/**
 * HTTP for the delivery sinks: one request with a timeout, and the acknowledgement rules that
 * turn its result into an outcome for the delivery loop.
 *
 * - 2xx: delivered. 409 (the receiver already has this idempotency key): delivered.
 * - 429, 503 with `Retry-After` (seconds or an HTTP date): retried no sooner than that.
 * - 400, 413, 415, 422 and the other 4xx not listed below: refused for good → dead letter, with
 *   the response (truncated).
 * - 401, 403, 404, 405, 407, 408, 425: retried. These say "wrong token", "wrong URL", "proxy" —
 *   a configuration problem of the sender, not a bad event: dead-lettering every alert until
 *   someone fixes the token would lose them from the normal path, so they wait (the breaker
 *   opens, the status page shows the error) instead.
 * - 5xx (an HTML error page included), timeouts, resets, refused connections, DNS: retried.
 */
import type { Outcome } from './loop.js';

const RETRY_4XX = new Set([401, 403, 404, 405, 407, 408, 425, 429]);
const MAX_RESPONSE = 2000;

export interface HttpRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array | FormData;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface HttpResult {
  status: number;
  body: string;
  headers: Headers;
}

/** One request; rejects on network errors and timeouts with a message that names them. */
export async function request(r: HttpRequest): Promise<HttpResult> {
  const timeout = AbortSignal.timeout(r.timeoutMs);
  const signal = r.signal ? AbortSignal.any([r.signal, timeout]) : timeout;
  try {
    const res = await fetch(r.url, { method: r.method ?? 'GET', headers: r.headers, body: r.body as BodyInit | undefined, signal, redirect: 'follow' });
    const body = await res.text();
    return { status: res.status, body: body.length > MAX_RESPONSE ? `${body.slice(0, MAX_RESPONSE)}…` : body, headers: res.headers };
  } catch (err) {
    if (timeout.aborted) throw new Error(`no answer within ${r.timeoutMs} ms`);
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const cause = e.cause?.code ?? e.cause?.message;
    throw new Error(cause ? `${e.message} (${cause})` : e.message);
  }
}

/** Retry-After in ms (seconds or an HTTP date), or undefined. */
export function retryAfterMs(h: Headers, now = Date.now()): number | undefined {
  const v = h.get('retry-after');
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.min(3600_000, parseFloat(v) * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.min(3600_000, Math.max(0, t - now));
}

/** The outcome of an HTTP answer under the acknowledgement rules above. */
export function classify(res: HttpResult, what: string): Outcome {
  const s = res.status;
  if ((s >= 200 && s < 300) || s === 409) return { kind: 'ack' };
  const brief = res.body.replace(/\s+/g, ' ').trim().slice(0, 200);
  const error = `${what}: HTTP ${s}${brief ? ` ${brief}` : ''}`;
  if (s >= 400 && s < 500 && !RETRY_4XX.has(s)) return { kind: 'dead', status: s, response: res.body, error };
  return { kind: 'retry', status: s, error, retryAfterMs: s === 429 || s === 503 ? retryAfterMs(res.headers) : undefined };
}
