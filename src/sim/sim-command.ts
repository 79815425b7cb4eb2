/**
 * `graphrun sim` (also `npm run sim -- --clip FILE`): a simulated garden camera on this machine,
 * served like the cloud host's mediaMTX, so a graph's rtsp-source can be tried without a Pi.
 */
import { randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { resolveAsset } from '../assets.js';
import { CameraSimError, startCameraSim, type RelayEvent } from './camera-sim.js';

const CLIP_HELP =
  'video file to loop, or sample:vtest (OpenCV\'s street scene: fetched once into the cache, or ' +
  'found in ../shared/media on a development machine, e.g. ../shared/media/vtest_first20s_h264.mp4)';

function parseSize(v: string): { width: number; height: number } {
  const m = /^(\d{2,5})x(\d{2,5})$/.exec(v);
  if (!m) throw new InvalidArgumentError('expected WIDTHxHEIGHT, e.g. 1280x720');
  const width = Number(m[1]), height = Number(m[2]);
  // libx264 with yuv420p needs even dimensions.
  if (width % 2 || height % 2) throw new InvalidArgumentError('width and height must be even');
  return { width, height };
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number');
  return n;
}

function parseFps(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 120) throw new InvalidArgumentError('expected frames per second, 1 to 120');
  return n;
}

interface SimCliOptions {
  clip?: string;
  port: number;
  publishPort: number;
  path: string;
  size: { width: number; height: number };
  fps: number;
  bitrate: string;
  copy?: boolean;
  readUser: string;
  publishUser: string;
}

/** Adds the `sim` subcommand; `setCode` receives its exit code when it ends. */
export function addSimCommand(program: Command, setCode: (code: number) => void): Command {
  return program
    .command('sim')
    .description('simulate the garden camera: a looped clip published to a local mediaMTX stand-in (RTSP/TCP, Basic auth) until Ctrl-C')
    .option('--clip <file|sample:id>', CLIP_HELP)
    .addOption(new Option('--port <port>', 'read port (graphrun connects here)').default(8554).argParser(parsePort))
    .addOption(new Option('--publish-port <port>', 'publish port (the simulated camera publishes here)').default(8555).argParser(parsePort))
    .option('--path <names>', 'path name(s), comma-separated', 'garden')
    .addOption(new Option('--size <WxH>', 'video size sent, like the Pi').default(parseSize('1280x720'), '1280x720').argParser(parseSize))
    .addOption(new Option('--fps <n>', 'frames per second sent (keyframe every second)').default(15).argParser(parseFps))
    .option('--bitrate <rate>', 'H.264 bitrate', '2M')
    .option('--copy', 'send the clip as it is when it already is H.264 baseline (no re-encoding)')
    .option('--read-user <name>', 'reader user', 'graphrun')
    .option('--publish-user <name>', 'publisher user', 'camera')
    .addHelpText('after', '\nPasswords come from SIM_READ_PASS and SIM_PUBLISH_PASS; unset, random ones are made.')
    .action(async (o: SimCliOptions) => {
      setCode(await runSim(o));
    });
}

async function runSim(o: SimCliOptions): Promise<number> {
  if (!o.clip) {
    process.stderr.write(`graphrun sim: --clip is required: ${CLIP_HELP}\n`);
    return 2;
  }
  let clip = o.clip;
  if (clip.startsWith('sample:')) {
    try {
      clip = (await resolveAsset(clip, 'sample', { progress: process.stderr })).path;
    } catch (err) {
      process.stderr.write(`graphrun sim: ${(err as Error).message}\n`);
      return 1;
    }
  }
  const paths = o.path.split(',').map((s) => s.trim()).filter(Boolean);
  const readPassFromEnv = !!process.env.SIM_READ_PASS;
  const readPass = process.env.SIM_READ_PASS || randomBytes(12).toString('hex');
  const publishPass = process.env.SIM_PUBLISH_PASS || randomBytes(12).toString('hex');
  let onRelayExit = () => undefined as void;
  const log = (e: RelayEvent) => {
    if (e.event === 'relay_exited') onRelayExit();
    if (['listening', 'exit', 'stopping', 'relay_exited'].includes(e.event)) return;
    const { t: _t, event, path, ...rest } = e;
    const extra = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
    process.stderr.write(`sim: ${event}${path ? ` ${path}` : ''}${extra ? ` ${extra}` : ''}\n`);
  };
  let sim;
  try {
    sim = await startCameraSim({
      clip,
      paths,
      readPort: o.port,
      publishPort: o.publishPort,
      readUser: o.readUser,
      readPass,
      publishUser: o.publishUser,
      publishPass,
      encode: o.copy ? undefined : { ...o.size, fps: o.fps, bitrate: o.bitrate },
      onEvent: log,
    });
  } catch (err) {
    process.stderr.write(`graphrun sim: ${err instanceof CameraSimError ? err.message : (err as Error).stack}\n`);
    return 1;
  }
  process.stderr.write(`sim: ${sim.video.mode === 'copy' ? 'sending the clip as it is' : sim.video.why}\n`);
  for (const p of paths) {
    const masked = sim.readUrl(p).replace(`:${encodeURIComponent(readPass)}@`, ':***@');
    process.stdout.write(`camera "${p}": ${masked}\n`);
  }
  // The export line is the one place the password appears, and only when we made it up.
  const urlFor = (pass: string) => `rtsp://${encodeURIComponent(o.readUser)}:${pass}@${sim.host}:${sim.readPort}/${paths[0]}`;
  process.stdout.write(readPassFromEnv
    ? `export MEDIA_RPI_RTSP_URL="${urlFor('${SIM_READ_PASS}')}"\n`
    : `export MEDIA_RPI_RTSP_URL='${urlFor(readPass)}'\n`);
  process.stdout.write('Ctrl-C stops the camera.\n');

  return new Promise<number>((resolve) => {
    let stopping = false;
    const finish = async (code: number) => {
      if (stopping) return;
      stopping = true;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await sim.stop();
      resolve(code);
    };
    const onSignal = () => { void finish(0); };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // The relay dying on its own is a failure worth an exit code, not a silent hang.
    onRelayExit = () => {
      if (stopping) return;
      process.stderr.write(`graphrun sim: the relay exited unexpectedly\n`);
      void finish(1);
    };
  });
}
