/**
 * The tracker against the reference ByteTrack implementation's own output on MOT17-02 and
 * MOT17-09 (../shared/data/mot17: the same detections, track_thresh 0.6, track_buffer 30,
 * match_thresh 0.8, 30 fps). Ids may be renamed; boxes must coincide (IoU >= 0.99) for at least
 * 99.5% of the reference's boxes. The reference file has one decimal, so a few very small boxes
 * miss 0.99 by rounding alone.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';
import { dataPath } from '../../test/support/media.js';
import { compareMotTracks, parseMotDetections, parseMotTracks, trackMot } from './mot.js';

const REFERENCE = { trackThresh: 0.6, trackBuffer: 30, matchThresh: 0.8, frameRate: 30 };

describe('bytetrack on MOT17 against the reference implementation', () => {
  for (const seq of ['MOT17-02', 'MOT17-09']) {
    it(`reproduces the reference's tracks on ${seq} (>= 99.5% of its boxes, ids renamed one-to-one)`, () => {
      const dets = parseMotDetections(readFileSync(dataPath('mot17', seq, 'det', 'det.txt'), 'utf8'));
      const ref = parseMotTracks(readFileSync(dataPath('mot17', seq, 'reference', 'bytetrack.txt'), 'utf8'));
      const ours = trackMot(dets, REFERENCE);
      const c = compareMotTracks(ref, ours);
      console.log(`${seq}: ${c.matched}/${c.refBoxes} reference boxes matched (${(100 * c.fraction).toFixed(3)}%), ` +
        `${c.perfectFrames}/${c.framesWithRef} frames complete, worst frame ${c.worstFrame} at ${(100 * c.worstFraction).toFixed(1)}%, ` +
        `${c.mappedIds}/${c.refIds} ids mapped (${c.sameIds} to the same number), largest coordinate difference ${c.maxAbsDiff.toFixed(3)} px; ours ${ours.n} boxes`);
      expect(c.fraction).toBeGreaterThanOrEqual(0.995);
      expect(c.mappedIds).toBe(c.refIds);
      expect(ours.n).toBe(ref.n);
    });
  }

  it('graphrun track writes MOT results for every frame and prints track_time_s', async () => {
    const det = dataPath('mot17', 'MOT17-09', 'det', 'det.txt');
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'graphrun-track-')), 'out.txt');
    const stdout: string[] = [];
    const spyOut = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { stdout.push(String(s)); return true; });
    const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let code: number;
    try {
      code = await main(['track', '--det', det, '--fps', '30', '--out', out, '--track-thresh', '0.6', '--track-buffer', '30', '--match-thresh', '0.8']);
    } finally {
      spyOut.mockRestore();
      spyErr.mockRestore();
    }
    expect(code).toBe(0);
    expect(stdout.join('')).toMatch(/^track_time_s=\d+\.\d+\n$/);
    const text = readFileSync(out, 'utf8');
    expect(text.split('\n')[0]).toMatch(/^1,\d+,-?\d+\.\d\d,-?\d+\.\d\d,\d+\.\d\d,\d+\.\d\d,\d\.\d\d,-1,-1,-1$/);
    const c = compareMotTracks(parseMotTracks(readFileSync(dataPath('mot17', 'MOT17-09', 'reference', 'bytetrack.txt'), 'utf8')), parseMotTracks(text));
    expect(c.fraction).toBeGreaterThanOrEqual(0.995);
  });

  it('graphrun track refuses a missing file or a bad option with exit code 2', async () => {
    const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['track', '--det', '/nonexistent/det.txt', '--out', '/tmp/x.txt'])).toBe(2);
      expect(await main(['track', '--det', 'x', '--out', 'y', '--track-thresh', '2'])).toBe(2);
      expect(await main(['track', '--out', 'y'])).toBe(2);
    } finally {
      spyErr.mockRestore();
    }
  });
});
