/**
 * Frame-to-frame identity for person detections: greedy IoU matching with a maximum gap,
 * following an upstream tracker's ids where they exist (see `hints`). Posture keys its state
 * by it: a general-purpose tracker (ByteTrack) tends to lose exactly the person who falls — the
 * box changes shape faster than its motion model expects and the detector's score drops below
 * its thresholds — and that is the moment this node must not forget them.
 *
 * Per frame: pairs of (live track, detection) are taken best first — by IoU when it reaches
 * `minIou`, then, for what is left, by centre distance when it is within `maxCenterDist` times
 * the track box's diagonal (a person whose box turns from tall to wide while falling keeps its
 * identity although the IoU drops). A box more than `maxAreaRatio` times larger or smaller
 * than the track's is never its continuation (with a missed person, a detection that merges
 * them with a neighbour would otherwise take their track). Each track and each detection is used once; a detection
 * left over starts a new track (ids 1, 2, … per associator). A track unseen for more than
 * `maxGapMs` of packet time is forgotten.
 */
import { boxIou } from '../../src/contract.js';
import type { Box } from '../rtmpose/crop.js';

export interface AssociateOptions {
  minIou: number;
  maxGapMs: number;
  maxCenterDist: number;
  /** Never continue a track with a box this many times larger or smaller (area). */
  maxAreaRatio: number;
}

export const DEFAULT_ASSOCIATE: AssociateOptions = { minIou: 0.3, maxGapMs: 3000, maxCenterDist: 0.5, maxAreaRatio: 2.5 };

interface Track { id: number; box: Box; lastMs: number; hint?: number }

export const iou = boxIou;

export class Associator {
  private tracks: Track[] = [];
  private nextId = 1;

  constructor(private readonly opt: AssociateOptions = DEFAULT_ASSOCIATE) {}

  /**
   * Track ids for `boxes` seen at `tMs`, in the same order. `hints` (optional, per box): an
   * upstream tracker's id; a box whose hint is the one last seen on a live track continues
   * that track before anything else is matched, so a tracker's identity is followed while it
   * holds and this association bridges where it does not (a person lost by the tracker while
   * falling: the box turns wide and the score drops).
   */
  assign(boxes: Box[], tMs: number, hints?: (number | undefined)[]): number[] {
    this.tracks = this.tracks.filter((t) => tMs - t.lastMs <= this.opt.maxGapMs);
    const ids = new Array<number>(boxes.length).fill(0);
    const usedT = new Set<number>();
    const pairs: { t: number; d: number; iou: number; dist: number }[] = [];
    this.tracks.forEach((tr, ti) => {
      const diag = Math.hypot(tr.box.w, tr.box.h) || 1;
      boxes.forEach((b, di) => {
        const dist = Math.hypot(b.x + b.w / 2 - (tr.box.x + tr.box.w / 2), b.y + b.h / 2 - (tr.box.y + tr.box.h / 2)) / diag;
        const ratio = (b.w * b.h) / Math.max(tr.box.w * tr.box.h, 1e-9);
        if (ratio > this.opt.maxAreaRatio || ratio < 1 / this.opt.maxAreaRatio) return;
        pairs.push({ t: ti, d: di, iou: iou(tr.box, b), dist });
      });
    });
    const take = (p: { t: number; d: number }) => {
      if (usedT.has(p.t) || ids[p.d] !== 0) return;
      usedT.add(p.t);
      ids[p.d] = this.tracks[p.t].id;
    };
    if (hints) {
      boxes.forEach((_, di) => {
        const h = hints[di];
        if (h === undefined) return;
        const ti = this.tracks.findIndex((tr) => tr.hint === h);
        if (ti >= 0) take({ t: ti, d: di });
      });
    }
    pairs.filter((p) => p.iou >= this.opt.minIou).sort((a, b) => b.iou - a.iou).forEach(take);
    pairs.filter((p) => p.dist <= this.opt.maxCenterDist).sort((a, b) => a.dist - b.dist).forEach(take);
    boxes.forEach((b, di) => {
      if (ids[di] === 0) {
        ids[di] = this.nextId++;
        this.tracks.push({ id: ids[di], box: b, lastMs: tMs });
      }
    });
    for (const tr of this.tracks) {
      const di = ids.indexOf(tr.id);
      if (di >= 0) { tr.box = boxes[di]; tr.lastMs = tMs; if (hints?.[di] !== undefined) tr.hint = hints[di]; }
    }
    return ids;
  }

  /** The upstream tracker id last seen on track `id`, if any. */
  hintOf(id: number): number | undefined {
    return this.tracks.find((t) => t.id === id)?.hint;
  }

  get size(): number {
    return this.tracks.length;
  }
}
