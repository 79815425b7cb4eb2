/**
 * Which persons get a fresh pose this frame (pose costs a model run per person).
 *
 * Per track, a pose runs when any enabled trigger fires:
 * - `onNewTrack`: the track has no pose yet;
 * - `everyNFrames` N > 0: N frames of that track since its last pose (1 = every frame);
 * - `onBoxChange` r > 0: since the box of its last pose, the box's long side changed by more
 *   than r (relative), or the box turned from upright to wide or back — a person falling,
 *   sitting down, bending, lying down or getting up. The short side is left out on purpose:
 *   a walking person's width swings with every stride (vtest: 15–30% between poses), which
 *   says nothing about posture and, counted, doubled the pose work of a street scene.
 * At most `maxPersons` run per frame: new tracks first, then changed boxes (largest change
 * first), then the most overdue, larger boxes breaking ties. Persons that do not run reuse
 * their last keypoints, carried along with the box (same position relative to the box); a
 * person never posed gets none.
 */
import type { Keypoint } from '../../src/contract.js';
import type { Box } from './crop.js';

export interface GatingOptions {
  everyNFrames: number;
  onNewTrack: boolean;
  onBoxChange: number;
  maxPersons: number;
  /** Forget a track not seen for this long (packet time). */
  ttlMs: number;
}

interface Memo { poseBox?: Box; keypoints?: Keypoint[]; framesSince: number; lastMs: number }

export type Decision = { run: true; reason: 'new' | 'changed' | 'due' } | { run: false; keypoints?: Keypoint[] };

/**
 * How much a box changed shape for posture: the relative change of its long side, or Infinity
 * when it turned from upright (h ≥ w) to wide or back.
 */
export function boxChange(a: Box, b: Box): number {
  const upA = a.h >= a.w, upB = b.h >= b.w;
  if (upA !== upB) return Infinity;
  return upA ? Math.abs(b.h / a.h - 1) : Math.abs(b.w / a.w - 1);
}

/** Keypoints placed relative to box `from`, moved and scaled to box `to`. */
export function carryKeypoints(kps: Keypoint[], from: Box, to: Box): Keypoint[] {
  const sx = to.w / from.w, sy = to.h / from.h;
  return kps.map((k) => ({ x: to.x + (k.x - from.x) * sx, y: to.y + (k.y - from.y) * sy, score: k.score }));
}

export class PoseGate {
  private memos = new Map<string, Memo>();

  constructor(private readonly opt: GatingOptions) {}

  /** One decision per person (key = stream + track), for one frame at `tMs`. */
  plan(persons: { key: string; box: Box }[], tMs: number): Decision[] {
    for (const [k, m] of this.memos) if (tMs - m.lastMs > this.opt.ttlMs) this.memos.delete(k);
    const o = this.opt;
    const cands: { i: number; rank: number; score: number }[] = [];
    const decisions: Decision[] = persons.map((p, i) => {
      const m = this.memos.get(p.key);
      const frames = (m?.framesSince ?? 0) + 1;
      let reason: 'new' | 'changed' | 'due' | undefined;
      let change = 0;
      if (!m?.keypoints) {
        if (o.onNewTrack || (o.everyNFrames > 0 && frames >= o.everyNFrames)) reason = 'new';
      } else {
        change = boxChange(m.poseBox!, p.box);
        if (o.onBoxChange > 0 && change > o.onBoxChange) reason = 'changed';
        else if (o.everyNFrames > 0 && frames >= o.everyNFrames) reason = 'due';
      }
      if (reason) {
        const rank = reason === 'new' ? 0 : reason === 'changed' ? 1 : 2;
        cands.push({ i, rank, score: reason === 'changed' ? Math.min(change, 1e6) : reason === 'due' ? frames + p.box.w * p.box.h * 1e-9 : p.box.w * p.box.h });
        return { run: true, reason };
      }
      return { run: false };
    });
    cands.sort((a, b) => a.rank - b.rank || b.score - a.score);
    for (const c of cands.slice(o.maxPersons)) decisions[c.i] = { run: false };
    // Bookkeeping for those that do not run now; `done` records the ones that do.
    persons.forEach((p, i) => {
      const d = decisions[i];
      const m = this.memos.get(p.key) ?? { framesSince: 0, lastMs: tMs };
      m.lastMs = tMs;
      if (!d.run) {
        m.framesSince++;
        if (m.keypoints && m.poseBox) decisions[i] = { run: false, keypoints: carryKeypoints(m.keypoints, m.poseBox, p.box) };
      }
      this.memos.set(p.key, m);
    });
    return decisions;
  }

  /** The pose that ran for `key` on `box`. */
  done(key: string, box: Box, keypoints: Keypoint[]): void {
    const m = this.memos.get(key);
    if (!m) return;
    m.poseBox = box;
    m.keypoints = keypoints;
    m.framesSince = 0;
  }

  /** A pose that was planned but failed: count the frame as without a pose. */
  failed(key: string): void {
    const m = this.memos.get(key);
    if (m) m.framesSince++;
  }

  get tracks(): number {
    return this.memos.size;
  }
}
