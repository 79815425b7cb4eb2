/**
 * The tracker's appearance cue as pure logic: embeddings handed to `update` directly (unit
 * vectors standing for two people), boxes built so that IoU alone gets the identities wrong.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dataPath } from '../../test/support/media.js';
import { ByteTracker, type AppearanceOptions, type Track } from './byte-tracker.js';
import { parseMotDetections, trackMot } from './mot.js';

const DIM = 8;
function unit(...v: number[]): Float32Array {
  const e = new Float32Array(DIM);
  v.forEach((x, i) => { e[i] = x; });
  const n = Math.hypot(...e);
  return e.map((x) => x / n);
}
const A = unit(1), B = unit(0, 1);
const APPEARANCE: AppearanceOptions = { iouWeight: 0.5, maxCosine: 0.5, ema: 0.9 };

type Box = [number, number, number, number]; // x1, y1, x2, y2
interface Det { box: Box; score?: number; emb?: Float32Array; who?: string }

function step(t: ByteTracker, dets: Det[], withEmb: boolean): Track[] {
  const tlbr = new Float64Array(dets.flatMap((d) => d.box));
  const scores = new Float64Array(dets.map((d) => d.score ?? 0.9));
  return [...t.update(tlbr, scores, dets.length, 0, withEmb ? dets.map((d) => d.emb) : undefined)];
}

/**
 * Two people walk towards each other (A in front, 40x100; B behind, 36x90 and a little higher),
 * B disappears behind A for three frames where they meet, and both turn back the way they came.
 * The Kalman filter keeps each track moving the way it was going, so IoU alone hands each
 * track the other person once they separate.
 */
function crossingScene(): Det[][] {
  const frames: Det[][] = [];
  const v = 8, turn = 12;
  for (let t = 0; t < 30; t++) {
    const back = Math.max(0, t - turn), fwd = Math.min(t, turn);
    const xa = 84 + v * fwd - v * back, xb = 276 - v * fwd + v * back;
    const f: Det[] = [{ box: [xa, 200, xa + 40, 300], emb: A, who: 'A' }];
    if (t < 10 || t > 12) f.push({ box: [xb, 175, xb + 36, 265], emb: B, who: 'B' });
    frames.push(f);
  }
  return frames;
}

/** Per frame, `who` → track id (for the confirmed tracks reported). */
function runScene(withEmb: boolean): Map<string, number>[] {
  const t = new ByteTracker({ trackThresh: 0.5, appearance: APPEARANCE });
  return crossingScene().map((f) => new Map(step(t, f, withEmb).map((tr) => [f[tr.detIndex].who!, tr.id])));
}

describe('bytetrack appearance cue (tracker)', () => {
  it('keeps two crossing people apart where IoU alone swaps their ids', () => {
    const iouOnly = runScene(false);
    const withApp = runScene(true);
    // Both start as A = 1, B = 2.
    expect(Object.fromEntries(iouOnly[0])).toEqual({ A: 1, B: 2 });
    expect(Object.fromEntries(withApp[0])).toEqual({ A: 1, B: 2 });
    // IoU alone: after the crossing A carries B's id and B carries A's.
    const last = iouOnly.at(-1)!;
    expect(Object.fromEntries(last)).toEqual({ A: 2, B: 1 });
    // With appearance: every frame, each person keeps their own id (B is simply not reported while hidden).
    for (const [f, m] of withApp.entries()) {
      expect(m.get('A'), `frame ${f}`).toBe(1);
      if (f < 10 || f > 13) expect(m.get('B'), `frame ${f}`).toBe(2);
    }
  });

  it('blocks a match whose embeddings are further apart than max_cosine, and blends one that is closer', () => {
    for (const [other, matched] of [[unit(1, 1.2), true], [unit(0.3, 1), false]] as const) { // cosine distance 0.36, 0.71
      const t = new ByteTracker({ trackThresh: 0.5, appearance: APPEARANCE });
      step(t, [{ box: [100, 100, 140, 200], emb: A }], true);
      const out = step(t, [{ box: [102, 100, 142, 200], emb: other }], true);
      if (matched) expect(out.map((x) => x.id)).toEqual([1]);
      else {
        expect(out).toEqual([]); // not matched: the detection starts a new (unconfirmed) track
        expect(t.lost.map((x) => x.id)).toEqual([1]);
      }
      // Without embeddings the same boxes match.
      const plain = new ByteTracker({ trackThresh: 0.5, appearance: APPEARANCE });
      step(plain, [{ box: [100, 100, 140, 200], emb: A }], false);
      expect(step(plain, [{ box: [102, 100, 142, 200], emb: other }], false).map((x) => x.id)).toEqual([1]);
    }
  });

  it('costs a pair λ·IoU cost + (1 − λ)·cosine distance: iou_weight decides between a closer box and a closer look', () => {
    // Detection 0 overlaps the track more (IoU cost 0.18) but looks less alike (distance 0.4);
    // detection 1 overlaps less (IoU cost 0.48) and looks the same (distance 0).
    for (const [iouWeight, want] of [[0.5, 1], [0.8, 0]] as const) {
      const t = new ByteTracker({ trackThresh: 0.5, appearance: { ...APPEARANCE, iouWeight, maxCosine: 2 } });
      step(t, [{ box: [100, 100, 140, 200], emb: A }], true);
      const out = step(t, [{ box: [102, 100, 142, 200], emb: unit(0.6, 0.8) }, { box: [89, 100, 129, 200], emb: A }], true);
      expect(out.map((x) => [x.id, x.detIndex])).toEqual([[1, want]]);
    }
  });

  it('never matches a pair that IoU alone would not, however alike they look', () => {
    const t = new ByteTracker({ trackThresh: 0.5, appearance: APPEARANCE });
    step(t, [{ box: [100, 100, 140, 200], emb: A }], true);
    // The same person's embedding, but boxes barely overlapping (1 − IoU·score > match_thresh) or apart.
    let out = step(t, [{ box: [134, 100, 174, 200], emb: A }], true);
    expect(out).toEqual([]);
    expect(t.lost.map((x) => x.id)).toEqual([1]);
    out = step(t, [{ box: [400, 100, 440, 200], emb: A }], true);
    expect(out.map((x) => x.id)).toEqual([]); // track 1 still lost, the new box is an unconfirmed track
  });

  it('smooths a track\'s embedding (ema) from its high detections only, kept unit length', () => {
    const t = new ByteTracker({ trackThresh: 0.5, appearance: { ...APPEARANCE, maxCosine: 2 } });
    step(t, [{ box: [100, 100, 140, 200], emb: A }], true);
    const [tr] = step(t, [{ box: [101, 100, 141, 200], emb: B }], true);
    const want = unit(0.9, 0.1);
    for (let k = 0; k < DIM; k++) expect(tr.emb![k]).toBeCloseTo(want[k], 6);
    // A low detection (0.3) continues the track in the second association; its embedding is ignored.
    const [same] = step(t, [{ box: [102, 100, 142, 200], score: 0.3, emb: unit(0, 0, 1) }], true);
    expect(same.id).toBe(tr.id);
    for (let k = 0; k < DIM; k++) expect(tr.emb![k]).toBeCloseTo(want[k], 6);
    expect(Math.hypot(...tr.emb!)).toBeCloseTo(1, 6);
    // Lost for a frame, then found again: the detection it is found with counts too.
    step(t, [], true);
    expect(t.lost.map((x) => x.id)).toEqual([tr.id]);
    const [found] = step(t, [{ box: [102, 100, 142, 200], emb: A }], true);
    expect(found.id).toBe(tr.id);
    const again = unit(0.9 * want[0] + 0.1, 0.9 * want[1]);
    for (let k = 0; k < DIM; k++) expect(tr.emb![k]).toBeCloseTo(again[k], 6);
  });

  it('without embeddings, appearance options change nothing (MOT17-09, every box and id)', () => {
    const dets = parseMotDetections(readFileSync(dataPath('mot17', 'MOT17-09', 'det', 'det.txt'), 'utf8'));
    const base = { trackThresh: 0.6, trackBuffer: 30, matchThresh: 0.8, frameRate: 30 };
    const plain = trackMot(dets, base);
    const opts = trackMot(dets, { ...base, appearance: { iouWeight: 0.1, maxCosine: 0.01, ema: 0.5 } });
    expect(opts.n).toBe(plain.n);
    expect(opts.rows.subarray(0, 7 * opts.n)).toEqual(plain.rows.subarray(0, 7 * plain.n));
  });
});
