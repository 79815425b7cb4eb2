import { describe, expect, it } from 'vitest';
import { ByteTracker, iou, type Track } from './byte-tracker.js';

type Box = [number, number, number, number, number]; // x, y, w, h, score

function step(t: ByteTracker, boxes: Box[]): Track[] {
  const tlbr = new Float64Array(boxes.length * 4);
  const scores = new Float64Array(boxes.length);
  boxes.forEach(([x, y, w, h, s], k) => { tlbr.set([x, y, x + w, y + h], 4 * k); scores[k] = s; });
  return [...t.update(tlbr, scores, boxes.length)];
}
const ids = (ts: Track[]) => ts.map((t) => t.id);

describe('ByteTracker', () => {
  it('computes IoU with the +1 pixel convention', () => {
    // Two 10x10 boxes (0..9 inclusive) overlapping by 5 columns: 50 / (100 + 100 - 50).
    expect(iou(0, 0, 9, 9, 5, 0, 14, 9)).toBeCloseTo(50 / 150, 15);
    expect(iou(0, 0, 9, 9, 10, 0, 19, 9)).toBe(0); // touching boxes: iw = 0
    expect(iou(0, 0, 9, 9, 9, 0, 18, 9)).toBeCloseTo(10 / 190, 15); // one shared pixel column
  });

  it('confirms tracks at once on the first frame, later ones only when matched on the next frame', () => {
    const t = new ByteTracker({ trackThresh: 0.5 });
    expect(ids(step(t, [[100, 100, 50, 100, 0.9]]))).toEqual([1]);
    // A second object appears: unconfirmed (not reported) on its first frame...
    expect(ids(step(t, [[101, 100, 50, 100, 0.9], [400, 100, 50, 100, 0.9]]))).toEqual([1]);
    // ...and reported once matched again.
    expect(ids(step(t, [[102, 100, 50, 100, 0.9], [401, 100, 50, 100, 0.9]]))).toEqual([1, 2]);
    // An unconfirmed track not matched on its second frame is removed (its id is spent).
    step(t, [[103, 100, 50, 100, 0.9], [402, 100, 50, 100, 0.9], [800, 100, 50, 100, 0.9]]);
    expect(ids(step(t, [[104, 100, 50, 100, 0.9], [403, 100, 50, 100, 0.9]]))).toEqual([1, 2]);
    expect(ids(step(t, [[105, 100, 50, 100, 0.9], [404, 100, 50, 100, 0.9], [800, 100, 50, 100, 0.9]]))).toEqual([1, 2]);
    expect(ids(step(t, [[106, 100, 50, 100, 0.9], [405, 100, 50, 100, 0.9], [801, 100, 50, 100, 0.9]]))).toEqual([1, 2, 4]);
  });

  it('starts tracks only from detections scoring at least track_thresh + 0.1', () => {
    const t = new ByteTracker({ trackThresh: 0.5 });
    expect(step(t, [[0, 0, 50, 100, 0.59], [300, 0, 50, 100, 0.6]]).map((x) => x.id)).toEqual([1]);
    expect(step(t, [[0, 0, 50, 100, 0.59], [300, 0, 50, 100, 0.6]])[0].detIndex).toBe(1);
  });

  it('continues a track through low-score detections (second association) but never starts one from them', () => {
    const t = new ByteTracker({ trackThresh: 0.6 });
    step(t, [[100, 100, 50, 100, 0.9]]);
    for (let f = 1; f <= 5; f++) {
      const out = step(t, [[100 + 2 * f, 100, 50, 100, 0.3], [600, 100, 50, 100, 0.3]]);
      expect(ids(out)).toEqual([1]);
      expect(out[0].detIndex).toBe(0);
      expect(out[0].score).toBe(0.3);
    }
  });

  it('ignores detections scoring exactly track_thresh or at most low_thresh', () => {
    const t = new ByteTracker({ trackThresh: 0.6 });
    step(t, [[100, 100, 50, 100, 0.9]]);
    expect(ids(step(t, [[101, 100, 50, 100, 0.6]]))).toEqual([]); // neither high nor low: the track is lost
    const u = new ByteTracker({ trackThresh: 0.6 });
    step(u, [[100, 100, 50, 100, 0.9]]);
    expect(ids(step(u, [[101, 100, 50, 100, 0.1]]))).toEqual([]);
    expect(ids(step(u, [[101, 100, 50, 100, 0.11]]))).toEqual([]); // a lost track is not matched to low boxes
    expect(ids(step(u, [[102, 100, 50, 100, 0.9]]))).toEqual([1]); // but is refound by a high one
  });

  it('keeps a lost track for track_buffer × frame_rate / 30 frames, then removes it', () => {
    for (const [fps, buffer, kept] of [[30, 30, 30], [10, 30, 10], [15, 7, 3]] as const) {
      const t = new ByteTracker({ trackBuffer: buffer, frameRate: fps });
      expect(t.maxTimeLost).toBe(kept);
      step(t, [[100, 100, 50, 100, 0.9]]);
      let endedAt = -1;
      for (let f = 1; f <= kept + 3; f++) {
        step(t, []);
        if (t.ended.length) { expect(ids(t.ended)).toEqual([1]); endedAt = f; }
      }
      // Removed when frame - last seen > kept; the reference keeps it listed one more update.
      expect(endedAt).toBe(kept + 2);
      // Refound within the buffer: the same id.
      const u = new ByteTracker({ trackBuffer: buffer, frameRate: fps });
      step(u, [[100, 100, 50, 100, 0.9]]);
      for (let f = 1; f <= kept; f++) step(u, []);
      expect(ids(step(u, [[100, 100, 50, 100, 0.9]]))).toEqual([1]);
    }
  });

  it("follows the reference's list bookkeeping: a track removed on one update can still be refound on the next, and is dropped as soon as it is lost again", () => {
    const t = new ByteTracker({ trackBuffer: 2 }); // lost tracks kept 2 updates
    const box: Box = [100, 100, 50, 100, 0.9];
    expect(ids(step(t, [box]))).toEqual([1]);
    step(t, []); step(t, []); // lost on update 2, 1 update old on 3
    step(t, []); // update 4: 3 updates since last seen > 2: marked removed, still in the lost list
    expect(t.ended).toHaveLength(0);
    expect(ids(step(t, [box]))).toEqual([1]); // update 5: refound from the lost list, same id
    step(t, []); // lost again: once removed, it leaves the lists at once
    expect(ids(t.ended)).toEqual([1]);
    expect(t.lost).toHaveLength(0);
  });

  it('keeps a still object tracked: the Kalman box converges on the detections', () => {
    const t = new ByteTracker();
    let out: Track[] = [];
    for (let f = 0; f < 20; f++) out = step(t, [[200, 150, 40, 120, 0.8]]);
    const b = new Float64Array(4);
    out[0].tlwh(b);
    expect([...b].map((x) => Math.round(x * 1000) / 1000)).toEqual([200, 150, 40, 120]);
  });

  it('draws ids from the nextId option (shared between trackers of one stream)', () => {
    let n = 100;
    const nextId = () => ++n;
    const a = new ByteTracker({ nextId }), b = new ByteTracker({ nextId });
    expect(ids(step(a, [[0, 0, 10, 10, 0.9]]))).toEqual([101]);
    expect(ids(step(b, [[0, 0, 10, 10, 0.9]]))).toEqual([102]);
  });
});
