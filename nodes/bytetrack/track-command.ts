/**
 * `graphrun track --det DET.txt --fps N --out OUT.txt [--track-thresh T --track-buffer B
 * --match-thresh M --low-thresh L]`: the bytetrack node's tracker, offline, on MOT-format
 * detections. One update per frame from 1 to the last frame in the file (frames without
 * detections included); writes MOT results and prints `track_time_s=<seconds in the update loop>`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { formatMotTracks, parseMotDetections, trackMot } from './mot.js';

function num(min: number, max: number, integer = false) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(`expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
    }
    return n;
  };
}

interface TrackCliOptions { det: string; out: string; fps: number; trackThresh: number; trackBuffer: number; matchThresh: number; lowThresh: number }

/** Adds the `track` subcommand; `setCode` receives its exit code. */
export function addTrackCommand(program: Command, setCode: (code: number) => void): Command {
  return program
    .command('track')
    .description('run the bytetrack tracker offline on MOT-format detections (frame,id,x,y,w,h,score,...) and write MOT results')
    .requiredOption('--det <file>', 'detections, MOT format: frame,id,x,y,w,h,score,...')
    .requiredOption('--out <file>', 'results to write: frame,id,x,y,w,h,score,-1,-1,-1')
    .addOption(new Option('--fps <n>', 'frame rate of the sequence (scales the track buffer: buffer × fps / 30)').default(30).argParser(num(1, 1000)))
    .addOption(new Option('--track-thresh <t>', 'high/low split of detection scores; new tracks need t + 0.1').default(0.5).argParser(num(0, 1)))
    .addOption(new Option('--track-buffer <b>', 'frames (at 30 fps) a lost track is kept').default(30).argParser(num(0, 100000, true)))
    .addOption(new Option('--match-thresh <m>', 'cost limit of the first association (1 - IoU × score)').default(0.8).argParser(num(0, 1)))
    .addOption(new Option('--low-thresh <l>', 'detections at or below this score are ignored').default(0.1).argParser(num(0, 1)))
    .action((o: TrackCliOptions) => {
      let text: string;
      try {
        text = readFileSync(o.det, 'utf8');
      } catch (err) {
        process.stderr.write(`graphrun track: cannot read ${o.det}: ${(err as Error).message}\n`);
        setCode(2);
        return;
      }
      let dets;
      try {
        dets = parseMotDetections(text);
      } catch (err) {
        process.stderr.write(`graphrun track: ${o.det}: ${(err as Error).message}\n`);
        setCode(2);
        return;
      }
      const r = trackMot(dets, { trackThresh: o.trackThresh, trackBuffer: o.trackBuffer, matchThresh: o.matchThresh, lowThresh: o.lowThresh, frameRate: o.fps });
      try {
        writeFileSync(o.out, formatMotTracks(r));
      } catch (err) {
        process.stderr.write(`graphrun track: cannot write ${o.out}: ${(err as Error).message}\n`);
        setCode(1);
        return;
      }
      process.stderr.write(`graphrun track: ${r.frames} frames, ${r.n} track boxes, ${(r.frames / r.trackTimeS).toFixed(0)} frames/s\n`);
      process.stdout.write(`track_time_s=${r.trackTimeS.toFixed(6)}\n`);
      setCode(0);
    });
}
