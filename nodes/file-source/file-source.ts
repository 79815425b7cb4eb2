/**
 * file-source — a video file (mp4, mkv, avi, …) or a still image, decoded by ffmpeg into raw
 * frames, in the same frame format as rtsp-source.
 *
 * Ports: out `frames` (frame).
 * Pacing: `realtime: true` plays at the file's rate (a stand-in camera); `realtime: false` goes
 * as fast as consumers accept: when a `block` edge is full it stops reading ffmpeg's output, so
 * ffmpeg waits too, and with `block` edges every frame is processed exactly once, in order.
 * Time: capture time is the start time plus the frame's position in the file, so the same file
 * gives the same packet times at any speed (fall and cooldown logic see file time).
 * Drops: only by `max_fps`, which keeps a frame when it starts a new 1/max_fps slot of file time.
 *
 * ```yaml
 * clip:
 *   type: file-source
 *   path: ../media/garden.mp4     # relative to this graph file
 *   realtime: false
 *   loop: false
 * ```
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { defineNode, discardFrame, Type, type Frame, type Packet, type SourceTransform } from '../../src/contract.js';
import { resolveAsset } from '../../src/assets.js';
import { bytesPerPixelOf, classifyExit, ffprobePathFor, findFfmpeg, killChild, RawVideoReader, spawnFfmpeg, StderrReader, videoFilter } from '../../src/media/ffmpeg.js';

const execFileP = promisify(execFile);

interface Probe { width: number; height: number; fps: number; frames: number; image: boolean }

async function probe(ffprobe: string, file: string): Promise<Probe> {
  const { stdout } = await execFileP(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,avg_frame_rate,r_frame_rate,nb_frames,codec_name:format=format_name', '-of', 'json', file], { timeout: 20000 });
  const j = JSON.parse(stdout) as { streams?: { width: number; height: number; avg_frame_rate?: string; r_frame_rate?: string; nb_frames?: string; codec_name?: string }[]; format?: { format_name?: string } };
  const s = j.streams?.[0];
  if (!s) throw new Error(`${file} has no video stream`);
  const rate = (r?: string) => { const [a, b] = (r ?? '0/1').split('/').map(Number); return b ? a / b : 0; };
  const image = /image2|png_pipe|jpeg_pipe|webp_pipe|bmp_pipe/.test(j.format?.format_name ?? '') || ['png', 'mjpeg', 'bmp', 'webp'].includes(s.codec_name ?? '') && !s.nb_frames;
  return { width: s.width, height: s.height, fps: rate(s.avg_frame_rate) || rate(s.r_frame_rate) || 25, frames: Number(s.nb_frames ?? 0), image };
}

export const fileSource = defineNode({
  type: 'file-source',
  summary: 'A video file or still image decoded by ffmpeg; real-time or as fast as consumers accept.',
  options: Type.Object({
    path: Type.String({ minLength: 1, description: 'Video or image file (relative to the graph file), or a sample id such as sample:vtest (fetched on first use).' }),
    stream_id: Type.String({ default: '', description: 'Stream id on every packet; empty means the node id.' }),
    realtime: Type.Boolean({ default: true, description: "Play at the file's rate; false goes as fast as consumers accept (with block edges: every frame, once, in order)." }),
    loop: Type.Boolean({ default: false, description: 'Start again at the end (frame numbers and times keep increasing).' }),
    size: Type.Optional(Type.Array(Type.Integer({ minimum: 16, maximum: 7680 }), { minItems: 2, maxItems: 2, description: 'Scale to [width, height] inside ffmpeg; omit for the file size.' })),
    max_fps: Type.Number({ minimum: 0, maximum: 240, default: 0, description: 'Keep at most this many frames per second of file time; 0 keeps all.' }),
    image_fps: Type.Number({ exclusiveMinimum: 0, maximum: 240, default: 1, description: 'For a still image with loop: frames per second to repeat it at.' }),
    pixel_format: Type.Union([Type.Literal('rgb24'), Type.Literal('bgr24')], { default: 'rgb24', description: 'Pixel order of the frames.' }),
    ffmpeg_path: Type.String({ default: 'ffmpeg', description: 'ffmpeg binary (ffprobe is looked for beside it).' }),
  }),
  inputs: {},
  outputs: { frames: { kind: 'frame', description: 'Decoded frames.' } },
  canPause: true,
  create(cfg, ctx) {
    let file = path.resolve(ctx.graphDir, cfg.path);
    const streamId = cfg.stream_id || ctx.id;
    const bpp = bytesPerPixelOf(cfg.pixel_format);
    let info: Probe;
    let ffmpegPath = cfg.ffmpeg_path;
    const framesMetric = ctx.metrics.counter('file_frames_total', 'Frames decoded from the file.');

    return {
      async start() {
        ffmpegPath = (await findFfmpeg(cfg.ffmpeg_path)).path;
        if (cfg.path.startsWith('sample:')) {
          ctx.status({ text: `getting ${cfg.path}` });
          file = (await resolveAsset(cfg.path, 'sample', { baseDir: ctx.graphDir })).path;
        }
        try { await access(file); } catch { throw new Error(`file not found: ${file}`); }
        try {
          info = await probe(ffprobePathFor(ffmpegPath), file);
        } catch (err) {
          throw new Error(`cannot read ${path.basename(file)} as video: ${(err as Error).message.split('\n').slice(-2).join(' ').trim()}`);
        }
      },
      async run() {
        const size = cfg.size as [number, number] | undefined;
        const width = size?.[0] ?? info.width;
        const height = size?.[1] ?? info.height;
        const transform: SourceTransform | undefined = size && (size[0] !== info.width || size[1] !== info.height)
          ? { width: info.width, height: info.height, scaleX: info.width / width, scaleY: info.height / height, offsetX: 0, offsetY: 0 }
          : undefined;
        const fps = info.image ? cfg.image_fps : info.fps;
        const args = ['-hide_banner', '-nostdin', '-loglevel', 'info', '-nostats'];
        if (cfg.realtime) args.push('-re');
        if (info.image) {
          if (cfg.loop) args.push('-loop', '1', '-framerate', String(cfg.image_fps));
        } else if (cfg.loop) args.push('-stream_loop', '-1');
        args.push('-i', file, '-an', '-sn', '-dn');
        const vf = videoFilter({ size });
        if (vf) args.push('-vf', vf);
        if (info.image && !cfg.loop) args.push('-frames:v', '1');
        const reader = new RawVideoReader((pixels) => onFrame(pixels));
        args.push('-fps_mode', 'passthrough', '-pix_fmt', cfg.pixel_format, ...reader.outputArgs());

        const t0 = ctx.clock.now();
        const child = spawnFfmpeg(ffmpegPath, args);
        const err = new StderrReader();
        child.stderr.on('data', (c: Buffer) => err.push(c));
        let index = 0; // frames decoded
        let seq = 0; // frames emitted
        let lastSlot = -1;
        let lastText = 0;
        const total = info.frames && !cfg.loop ? `/${info.frames}` : '';
        const label = path.basename(file);
        ctx.status({ state: 'running', text: `playing ${label}` });
        const onAbort = () => void killChild(child, 1000);
        ctx.signal.addEventListener('abort', onAbort, { once: true });

        const onFrame = (pixels: Buffer): boolean => {
          const fileTimeMs = (index * 1000) / fps;
          index++;
          framesMetric.inc();
          if (cfg.max_fps > 0) {
            const slot = Math.floor((fileTimeMs / 1000) * cfg.max_fps);
            if (slot <= lastSlot) { discardFrame(pixels); return true; }
            lastSlot = slot;
          }
          const frame: Frame = { width, height, format: cfg.pixel_format, stride: width * bpp, pixels, source: transform };
          const packet: Packet<Frame> = { streamId, seq: seq++, captureTimeMs: cfg.realtime ? ctx.clock.now() : t0 + fileTimeMs, data: frame };
          const wait = ctx.emit('frames', packet);
          const now = ctx.clock.monotonic();
          if (now - lastText > 500) {
            lastText = now;
            ctx.status({ text: `playing ${label} frame ${index}${total} (${fps.toFixed(1)} fps${cfg.realtime ? '' : ', as fast as accepted'})` });
          }
          if (!wait) return true;
          // A full block edge: stop reading; ffmpeg blocks on its socket until we read again.
          void wait.then(() => reader.resume());
          return false;
        };
        reader.connect(width * height * bpp);
        const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
          child.once('close', (code2, signal2) => resolve({ code: code2, signal: signal2 }));
          child.once('error', (e) => { err.tail.push(e.message); resolve({ code: null, signal: null }); });
        });
        ctx.signal.removeEventListener('abort', onAbort);
        if (ctx.signal.aborted) { reader.close(); return; }
        // ffmpeg has exited; the socket may still hold frames (reading paused by a block edge).
        await reader.drained();
        if (reader.partial) ctx.log.warn({ bytes: reader.partial }, 'file ended inside a frame: last partial frame discarded');
        reader.close();
        if (code !== 0) {
          const why = classifyExit(err.tail, code, signal);
          if (index === 0) throw new Error(`ffmpeg could not decode ${label}: ${why}`);
          ctx.log.warn({ frames: index, reason: why, last: err.tail.slice(-3) }, 'file ended with decode errors');
          ctx.status({ state: 'degraded', text: `ended with decode errors after ${index} frames: ${why}` });
          return;
        }
        const errors = err.tail.filter((l) => /error|invalid|corrupt|missing/i.test(l));
        if (errors.length) ctx.log.warn({ frames: index, messages: errors.slice(-3) }, 'decoder reported errors (damaged or truncated file)');
        ctx.status({ text: `ended after ${index} frames${errors.length ? ' (decoder reported errors: damaged or truncated file)' : ''}` });
      },
    };
  },
});
