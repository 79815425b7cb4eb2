/**
 * debug-sink — counts packets and optionally logs them; the end of a graph while the real
 * sinks do not exist, and a probe to hang anywhere.
 *
 * Ports: in `in` (any kind; default queue `drop_oldest: 64`).
 * Drops: never itself; its input edge drops by its queue policy.
 * Logs: one line every `log_every` packets (0: none) with stream, seq, age and a summary.
 *
 * ```yaml
 * sink:
 *   type: debug-sink
 *   inputs: { in: cam.frames }
 *   log_every: 100
 * ```
 */
import { defineNode, Type } from '../../src/contract.js';

export const debugSink = defineNode({
  type: 'debug-sink',
  summary: 'Counts packets per stream and logs every Nth one.',
  options: Type.Object({
    log_every: Type.Integer({ minimum: 0, default: 0, description: 'Log one packet in this many (0: never).' }),
  }),
  inputs: { in: { kind: 'any', description: 'Anything.', defaultQueue: { mode: 'drop_oldest', size: 64 } } },
  outputs: {},
  canPause: true,
  create(cfg, ctx) {
    const perStream = new Map<string, number>();
    let total = 0;
    let lastText = -Infinity;
    return {
      process(packet) {
        total++;
        perStream.set(packet.streamId, (perStream.get(packet.streamId) ?? 0) + 1);
        if (cfg.log_every > 0 && total % cfg.log_every === 0) {
          ctx.log.info({ stream_id: packet.streamId, seq: packet.seq, age_ms: ctx.clock.now() - packet.captureTimeMs, data: summarize(packet.data) }, 'packet');
        }
        const t = ctx.clock.monotonic();
        if (t - lastText > 500) {
          lastText = t;
          ctx.status({ text: `${total} packets from ${perStream.size} stream${perStream.size === 1 ? '' : 's'}` });
        }
      },
    };
  },
});

function summarize(data: unknown): unknown {
  if (data && typeof data === 'object' && 'pixels' in data && 'width' in data) {
    const f = data as unknown as { width: number; height: number; format: string };
    return `${f.format} ${f.width}x${f.height}`;
  }
  if (Array.isArray(data)) return `array(${data.length})`;
  return typeof data === 'object' ? Object.keys(data as object).slice(0, 8) : data;
}
