/**
 * rtsp-source — a live camera over RTSP (from mediaMTX, or the camera itself), decoded by ffmpeg
 * into raw frames, reconnecting by itself through drops, stalls and outages.
 *
 * Ports: out `frames` (frame: rgb24 or bgr24, `size` if given, else the camera's size).
 * Drops: never itself. A live camera cannot pause, so `block` edges from it are refused by the
 * validator; its consumers choose `latest` or `drop_oldest`.
 * Faults: any ffmpeg exit is a loss (it exits 0 when a stream drops), no frame for
 * `stall_timeout_ms` is a stall; both lead to a reconnect with exponential backoff and full
 * jitter, reset after `reconnect.reset_after_ms` of healthy streaming. The status says what is
 * happening: `connecting`, `streaming 14.8 fps`, `reconnecting (attempt 3): 401 unauthorized`,
 * `stalled 6 s`. The URL's password never appears in logs, status or metrics.
 * Frame rate and size are reduced inside ffmpeg (cheapest): `max_fps` drops frames, never
 * duplicates them (`-fps_mode passthrough`), so a stall is a gap, not a burst.
 *
 * ```yaml
 * cam:
 *   type: rtsp-source
 *   url: ${MEDIA_RPI_RTSP_URL}
 *   max_fps: 10
 *   size: [896, 504]
 *   health_url: http://127.0.0.1:9997/v3/paths/get/garden
 * ```
 */
import { defineNode, Type, type Frame, type Packet, type SourceTransform } from '../../src/contract.js';
import { bytesPerPixelOf, classifyExit, findFfmpeg, killChild, RawVideoReader, spawnFfmpeg, StderrReader, videoFilter } from '../../src/media/ffmpeg.js';
import { redactSecrets, registerSecret } from '../../src/redact.js';

export const rtspSource = defineNode({
  type: 'rtsp-source',
  summary: 'A live RTSP camera decoded by ffmpeg, with reconnects, stall detection and a health check.',
  options: Type.Object({
    url: Type.String({ pattern: '^rtsps?://', description: 'rtsp:// URL with credentials if needed; write ${MEDIA_RPI_RTSP_URL}, never a literal password.' }),
    stream_id: Type.String({ default: '', description: 'Stream id on every packet; empty means the node id.' }),
    size: Type.Optional(Type.Array(Type.Integer({ minimum: 16, maximum: 7680 }), { minItems: 2, maxItems: 2, description: 'Scale to [width, height] inside ffmpeg; omit for the camera size.' })),
    max_fps: Type.Number({ minimum: 0, maximum: 240, default: 0, description: 'Drop frames inside ffmpeg to at most this rate; 0 keeps the camera rate.' }),
    pixel_format: Type.Union([Type.Literal('rgb24'), Type.Literal('bgr24')], { default: 'rgb24', description: 'Pixel order of the frames (YOLOX wants bgr24, most others rgb24).' }),
    transport: Type.Union([Type.Literal('tcp'), Type.Literal('udp')], { default: 'tcp', description: 'RTSP transport; tcp survives lossy Wi-Fi and NAT.' }),
    connect_timeout_ms: Type.Integer({ minimum: 500, default: 5000, description: 'Socket timeout for connecting and reading (ffmpeg -timeout).' }),
    stall_timeout_ms: Type.Integer({ minimum: 500, default: 5000, description: 'No frame for this long: kill ffmpeg and reconnect.' }),
    reconnect: Type.Object({
      initial_ms: Type.Integer({ minimum: 0, default: 500, description: 'First backoff ceiling.' }),
      max_ms: Type.Integer({ minimum: 0, default: 10000, description: 'Backoff cap.' }),
      reset_after_ms: Type.Integer({ minimum: 0, default: 30000, description: 'Healthy streaming for this long resets the backoff.' }),
    }, { default: {}, additionalProperties: false, description: 'Reconnect backoff: a random delay in [0, min(max, initial × 2^attempt)] (full jitter).' }),
    health_url: Type.String({ default: '', description: "mediaMTX API URL for this path (http://127.0.0.1:9997/v3/paths/get/garden): tells 'camera not publishing' from 'mediaMTX unreachable'." }),
    ffmpeg_path: Type.String({ default: 'ffmpeg', description: 'ffmpeg binary.' }),
  }),
  inputs: {},
  outputs: { frames: { kind: 'frame', description: 'Decoded frames with stream id, sequence number and capture time.' } },
  canPause: false,
  create(cfg, ctx) {
    try { registerSecret(decodeURIComponent(new URL(cfg.url).password)); } catch { /* validated by schema; a bad URL fails in ffmpeg */ }
    const streamId = cfg.stream_id || ctx.id;
    const shownUrl = redactSecrets(cfg.url);
    const m = {
      frames: ctx.metrics.counter('rtsp_frames_total', 'Frames decoded from the camera.'),
      reconnects: ctx.metrics.counter('rtsp_reconnects_total', 'Reconnect attempts after a loss or a stall.'),
      stalls: ctx.metrics.counter('rtsp_stalls_total', 'Times no frame came for stall_timeout_ms.'),
      fps: ctx.metrics.gauge('rtsp_decode_fps', 'Frames per second decoded over the last second.'),
      age: ctx.metrics.gauge('rtsp_last_frame_age_seconds', 'Seconds since the last frame.'),
    };
    let seq = 0;
    let lastFrameAt = -Infinity;
    let ffmpegPath = cfg.ffmpeg_path;

    /** One ffmpeg session; resolves when it has ended, with why and how long it streamed. */
    const session = (): Promise<{ reason: string; streamedMs: number; frames: number }> =>
      new Promise((resolve) => {
        const args = [
          '-hide_banner', '-nostdin', '-loglevel', 'info', '-nostats',
          '-rtsp_transport', cfg.transport, '-timeout', String(cfg.connect_timeout_ms * 1000),
          // Live: start decoding at once instead of buffering a second or two of probing, which
          // would arrive as a burst of stale frames on every (re)connect.
          '-fflags', 'nobuffer', '-flags', 'low_delay', '-probesize', '65536', '-analyzeduration', '200000',
          '-i', cfg.url, '-an', '-sn', '-dn',
        ];
        const vf = videoFilter({ maxFps: cfg.max_fps, size: cfg.size as [number, number] | undefined });
        if (vf) args.push('-vf', vf);
        const reader = new RawVideoReader((pixels) => onFrame(pixels));
        args.push('-fps_mode', 'passthrough', '-pix_fmt', cfg.pixel_format, ...reader.outputArgs());
        const child = spawnFfmpeg(ffmpegPath, args);
        const err = new StderrReader();
        const started = ctx.clock.monotonic();
        let firstFrameAt = 0;
        let frames = 0;
        let stallReason = '';
        let transform: SourceTransform | undefined;
        const size = cfg.size as [number, number] | undefined;
        let width = size?.[0] ?? 0;
        let height = size?.[1] ?? 0;
        const bpp = bytesPerPixelOf(cfg.pixel_format);
        let windowStart = started;
        let windowFrames = 0;

        const onFrame = (pixels: Buffer) => {
          const now = ctx.clock.monotonic();
          if (frames === 0) {
            firstFrameAt = now;
            ctx.status({ state: 'running', text: 'streaming' });
            ctx.log.info({ url: shownUrl, width, height }, 'streaming');
          }
          frames++;
          windowFrames++;
          lastFrameAt = now;
          m.frames.inc();
          const frame: Frame = { width, height, format: cfg.pixel_format, stride: width * bpp, pixels, source: transform };
          const packet: Packet<Frame> = { streamId, seq: seq++, captureTimeMs: ctx.clock.now(), data: frame };
          void ctx.emit('frames', packet);
        };
        // ffmpeg describes the camera's stream before it opens its output: that gives the
        // frame size (unless `size` fixed it) and the transform back to camera pixels.
        err.onInput = () => {
          const inp = err.input!;
          if (!size) { width = inp.width; height = inp.height; }
          if (inp.width !== width || inp.height !== height) {
            transform = { width: inp.width, height: inp.height, scaleX: inp.width / width, scaleY: inp.height / height, offsetX: 0, offsetY: 0 };
          }
          reader.connect(width * height * bpp);
        };
        child.stderr.on('data', (c: Buffer) => err.push(c));

        const watchdog = setInterval(() => {
          const now = ctx.clock.monotonic();
          if (now - windowStart >= 1000) {
            const fps = (windowFrames * 1000) / (now - windowStart);
            m.fps.set(fps);
            if (frames > 0 && now - lastFrameAt < 2000) ctx.status({ state: 'running', text: `streaming ${fps.toFixed(1)} fps` });
            windowStart = now;
            windowFrames = 0;
          }
          m.age.set(Number.isFinite(lastFrameAt) ? (now - lastFrameAt) / 1000 : 0);
          const silentSince = frames > 0 ? lastFrameAt : started;
          const silent = now - silentSince;
          const limit = frames > 0 ? cfg.stall_timeout_ms : cfg.stall_timeout_ms + cfg.connect_timeout_ms;
          if (frames > 0 && silent >= 2000) ctx.status({ state: 'degraded', text: `stalled ${Math.floor(silent / 1000)} s` });
          if (silent >= limit && !stallReason) {
            stallReason = frames > 0 ? `stalled ${Math.round(silent / 1000)} s` : `no frame within ${Math.round(silent / 1000)} s of connecting`;
            m.stalls.inc();
            ctx.log.warn({ silent_ms: Math.round(silent) }, 'stall: restarting ffmpeg');
            void killChild(child, 1000);
          }
        }, 250);
        const onAbort = () => void killChild(child, 1000);
        ctx.signal.addEventListener('abort', onAbort, { once: true });

        let done = false;
        const finish = (code: number | null, signal: string | null) => {
          if (done) return;
          done = true;
          clearInterval(watchdog);
          ctx.signal.removeEventListener('abort', onAbort);
          if (reader.partial) ctx.log.debug({ bytes: reader.partial }, 'incomplete last frame discarded');
          reader.close();
          const reason = stallReason || classifyExit(err.tail, code, signal);
          resolve({ reason, streamedMs: frames > 0 ? lastFrameAt - firstFrameAt : 0, frames });
        };
        child.once('close', finish);
        child.once('error', (e) => { err.tail.push(e.message); finish(null, null); });
      });

    /** Ask mediaMTX whether the path has a publisher, to say which side is down. */
    const health = async (): Promise<string> => {
      if (!cfg.health_url) return '';
      try {
        const res = await fetch(cfg.health_url, { signal: AbortSignal.timeout(2000) });
        if (res.status === 404) return ' (camera not publishing to mediaMTX: path not found)';
        if (!res.ok) return ` (mediaMTX API answered ${res.status})`;
        const body = (await res.json()) as { ready?: boolean; sourceReady?: boolean };
        const ready = body.ready ?? body.sourceReady;
        return ready === false ? ' (camera not publishing to mediaMTX)' : ready ? ' (mediaMTX has the camera)' : '';
      } catch {
        return ' (cannot reach mediaMTX)';
      }
    };

    return {
      async start() {
        ffmpegPath = (await findFfmpeg(cfg.ffmpeg_path)).path;
      },
      async run() {
        let attempt = 0;
        while (!ctx.signal.aborted) {
          ctx.status({ state: attempt === 0 ? 'starting' : 'degraded', text: attempt === 0 ? 'connecting' : `connecting (attempt ${attempt + 1})` });
          const s = await session();
          if (ctx.signal.aborted) break;
          if (s.streamedMs >= cfg.reconnect.reset_after_ms) attempt = 0;
          attempt++;
          m.reconnects.inc();
          const ceiling = Math.min(cfg.reconnect.max_ms, cfg.reconnect.initial_ms * 2 ** (attempt - 1));
          const delay = Math.random() * ceiling;
          const why = s.reason + (await health());
          ctx.status({ state: 'degraded', text: `reconnecting (attempt ${attempt}): ${why}` });
          ctx.log.warn({ attempt, delay_ms: Math.round(delay), reason: why, frames: s.frames }, 'camera lost: reconnecting');
          try { await ctx.clock.sleep(delay, ctx.signal); } catch { break; }
        }
        ctx.status({ text: 'stopped' });
      },
    };
  },
});
