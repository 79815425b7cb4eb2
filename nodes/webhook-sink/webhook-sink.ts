/**
 * webhook-sink — alerts for people: each event that passes the filters is POSTed as JSON to a
 * URL (any webhook receiver), or as a Slack message (`format: slack`, for Slack incoming
 * webhooks), through the durable outbox with the same retries, breaker and dead letters as
 * fastapi-sink (src/delivery/http.ts has the acknowledgement rules).
 *
 * Filters: `min_risk` (default warn: falls, collapses, wildlife of medium threat or more) and,
 * for wildlife, `min_threat`. Rate limit: at most `max_per_minute` alerts per minute — beyond it
 * warn and info alerts are dropped and counted (a phone buzzing 50 times a minute helps no
 * one: the backend still gets every event); critical ones always go.
 *
 * ```yaml
 * alert:
 *   type: webhook-sink
 *   url: ${SLACK_WEBHOOK_URL}
 *   format: slack
 *   min_risk: warn
 *   inputs: { events: snap.events }
 * ```
 */
import { defineNode, Type, type Packet } from '../../src/contract.js';
import { classify, request } from '../../src/delivery/http.js';
import type { Outcome } from '../../src/delivery/loop.js';
import { deliveryOptions, startDelivery, type SinkDelivery } from '../../src/delivery/sink.js';
import { riskRank, threatRank, type EventPacket, type GraphrunEvent } from '../../src/events/event.js';
import type { OutboxRow } from '../../src/outbox/outbox.js';
import { registerSecret } from '../../src/redact.js';

const TITLES: Record<GraphrunEvent['event_type'], string> = {
  person_detected: 'Person seen', fall: 'Fall', collapsed: 'Person lying still', wildlife_intrusion: 'Wildlife', object_detected: 'Object seen',
};
const ICONS: Record<GraphrunEvent['risk_level'], string> = { info: ':information_source:', warn: ':warning:', critical: ':rotating_light:' };

/** The Slack message for an event (plain mrkdwn text: works with every incoming webhook). */
export function slackMessage(e: GraphrunEvent): { text: string } {
  const what = e.category === 'wildlife' ? `${e.species} (threat ${e.threat_level}, ${e.behavior_hint})` : `${e.label} #${e.track_id}${e.pose_label ? `, ${e.pose_label}` : ''}`;
  const where = `${e.stream_id}${e.zones?.length ? ` / ${e.zones.join(', ')}` : ''}`;
  const link = e.snapshot?.url ? ` <${e.snapshot.url}|snapshot>` : '';
  return { text: `${ICONS[e.risk_level]} *${TITLES[e.event_type]}* — ${what} at ${where}, ${e.timestamp_utc.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} (risk ${e.risk_level})${link}` };
}

export const webhookSink = defineNode({
  type: 'webhook-sink',
  summary: 'Alerts to a webhook (JSON) or Slack, filtered by risk/threat, rate-limited, through the durable outbox.',
  options: Type.Object({
    url: Type.String({ pattern: '^https?://', description: 'Where to POST: ${SLACK_WEBHOOK_URL} or any webhook receiver (the URL is a secret for Slack: keep it in the environment).' }),
    format: Type.Union([Type.Literal('json'), Type.Literal('slack')], { default: 'json', description: 'json: the event as is; slack: a Slack message.' }),
    token: Type.String({ default: '', description: 'json: bearer token for the receiver (${WEBHOOK_TOKEN}); empty: none.' }),
    min_risk: Type.Union([Type.Literal('info'), Type.Literal('warn'), Type.Literal('critical')], { default: 'warn', description: 'Only events at this risk level or above.' }),
    min_threat: Type.Union([Type.Literal('none'), Type.Literal('low'), Type.Literal('medium'), Type.Literal('high')], { default: 'none', description: 'Wildlife: only this threat level or above (besides min_risk).' }),
    max_per_minute: Type.Integer({ minimum: 0, default: 10, description: 'Alerts per minute beyond which warn/info alerts are dropped (counted); critical always go. 0: no limit.' }),
    ...deliveryOptions,
  }),
  inputs: { events: { kind: 'event', description: 'Events (EventPackets).', defaultQueue: { mode: 'drop_oldest', size: 256 } } },
  outputs: {},
  canPause: true,
  create(cfg, ctx) {
    const filtered = ctx.metrics.counter('webhook_filtered_total', 'Events below min_risk/min_threat (not alerts).');
    const limited = ctx.metrics.counter('webhook_rate_limited_total', 'Alerts dropped by max_per_minute.');
    const recent: number[] = [];
    let d: SinkDelivery | undefined;
    // The URL is the credential of a Slack webhook (…/services/T…/B…/<secret>), often of others
    // too: it must not reach a log, the status line or a dead letter. Registered, every redacted
    // text hides it; and since error pages like to quote the path they were asked for, the path
    // is hidden from this sink's own outcome texts too (not globally: "/events" is no secret).
    registerSecret(cfg.url);
    const u = new URL(cfg.url);
    const hide = [cfg.url, `${u.pathname}${u.search}`, u.pathname, u.search].filter((h) => h.length > 1);
    const scrub = (t: string): string => hide.reduce((acc, h) => acc.split(h).join('<webhook url>'), t);

    async function send(row: OutboxRow, signal: AbortSignal): Promise<Outcome> {
      const e = JSON.parse(row.payload as string) as GraphrunEvent;
      const body = cfg.format === 'slack' ? slackMessage(e) : e;
      const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': row.key };
      if (cfg.token && cfg.format === 'json') headers.authorization = `Bearer ${cfg.token}`;
      let o: Outcome;
      try {
        o = classify(await request({ url: cfg.url, method: 'POST', timeoutMs: cfg.timeout_ms, signal, headers, body: JSON.stringify(body) }), 'webhook POST');
      } catch (err) {
        return { kind: 'retry', error: scrub(`webhook POST: ${(err as Error).message}`) };
      }
      if (o.kind === 'retry') return { ...o, error: scrub(o.error) };
      if (o.kind === 'dead') return { ...o, error: scrub(o.error), ...(o.response !== undefined ? { response: scrub(o.response) } : {}) };
      return o;
    }

    return {
      start() {
        d = startDelivery(ctx, cfg, ctx.id, send, undefined, 'alerts sent');
      },
      process(packet: Packet) {
        const e = (packet.data as EventPacket).event;
        if (riskRank(e.risk_level) < riskRank(cfg.min_risk) || (e.category === 'wildlife' && threatRank(e.threat_level) < threatRank(cfg.min_threat))) { filtered.inc(); return; }
        const now = packet.captureTimeMs;
        while (recent.length && recent[0] <= now - 60000) recent.shift();
        if (cfg.max_per_minute > 0 && recent.length >= cfg.max_per_minute && e.risk_level !== 'critical') {
          limited.inc();
          ctx.log.warn({ event_id: e.event_id, event_type: e.event_type }, 'alert rate limit reached: alert dropped (the event itself is not affected)');
          return;
        }
        recent.push(now);
        d!.put({ key: e.event_id, stream: e.stream_id, priority: Math.min(2, riskRank(e.risk_level)) as 0 | 1 | 2, payload: JSON.stringify(e) });
      },
      async stop() {
        await d?.stop();
      },
    };
  },
});
