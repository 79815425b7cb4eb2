/**
 * Posture from one person's keypoints (COCO-17, source pixels) and box: standing, crouching,
 * sitting or lying, with a confidence in [0, 1].
 *
 * Features (image coordinates, y down; keypoints below `minScore` are ignored, left and right
 * averaged when both are there):
 * - torso angle theta: hips-centre → shoulders-centre against straight up (0° upright, 90° level);
 * - leg drop: how far the ankles are below the hips, in torso lengths (standing ≈ 1.6–2 seen
 *   level, 1.1–1.4 from a camera high on a wall; sitting on a chair ≈ 0.8–1.2; squatting
 *   ≈ 0.2–0.6; lying or sitting on the floor ≈ 0);
 * - thigh angle φ: hip → knee against straight down (0° vertical, 90° level), and thigh
 *   length in torso lengths (a thigh pointing at the camera looks short);
 * - hip and shoulder height within the box (0 top, 1 bottom);
 * - box aspect h/w.
 * Each label gets a score from soft thresholds (linear ramps) over these; the best wins.
 * Without usable shoulders and hips, the box shape alone decides (tall: standing, flat:
 * lying, in between: sitting) with a confidence capped at 0.5.
 * Confidence = best score × (1 − ½·second/best) × keypoint quality (mean score of the
 * keypoints used).
 */
import type { Keypoint, PoseLabel } from '../../src/contract.js';
import type { Box } from '../rtmpose/crop.js';

export interface PostureFeatures {
  aspect: number;
  torsoDeg?: number;
  torsoLen?: number;
  legDrop?: number;
  thighDeg?: number;
  thighLen?: number;
  ankleSpread?: number;
  hipRel?: number;
  shoulderRel?: number;
  quality: number;
}

export interface Posture {
  label: PoseLabel;
  confidence: number;
  scores: Record<PoseLabel, number>;
  features: PostureFeatures;
  /** Hip centre (keypoints) or box centre: the height the fall logic follows. */
  hipY: number;
}

const KP = { ls: 5, rs: 6, lh: 11, rh: 12, lk: 13, rk: 14, la: 15, ra: 16 } as const;

/** 0 below a, 1 above b, linear between. */
export function ramp(v: number, a: number, b: number): number {
  return v <= a ? 0 : v >= b ? 1 : (v - a) / (b - a);
}

function mid(kps: Keypoint[], a: number, b: number, minScore: number): { x: number; y: number; score: number } | undefined {
  const p = kps[a], q = kps[b];
  const okP = p && p.score >= minScore, okQ = q && q.score >= minScore;
  if (okP && okQ) return { x: (p.x + q.x) / 2, y: (p.y + q.y) / 2, score: (p.score + q.score) / 2 };
  if (okP) return p;
  if (okQ) return q;
  return undefined;
}

export function postureFeatures(box: Box, kps: Keypoint[] | undefined, minScore: number): PostureFeatures {
  const f: PostureFeatures = { aspect: box.h / Math.max(box.w, 1e-6), quality: 0 };
  if (!kps || kps.length < 17) return f;
  const S = mid(kps, KP.ls, KP.rs, minScore);
  const H = mid(kps, KP.lh, KP.rh, minScore);
  if (!S || !H) return f;
  const used = [S.score, H.score];
  const tx = S.x - H.x, ty = S.y - H.y;
  const T = Math.hypot(tx, ty);
  if (T < 1e-6) return f;
  f.torsoLen = T;
  f.torsoDeg = (Math.acos(Math.max(-1, Math.min(1, -ty / T))) * 180) / Math.PI;
  f.hipRel = (H.y - box.y) / box.h;
  f.shoulderRel = (S.y - box.y) / box.h;
  const thighs: { deg: number; len: number }[] = [];
  for (const [h, k] of [[KP.lh, KP.lk], [KP.rh, KP.rk]] as const) {
    const hp = kps[h], kp = kps[k];
    if (hp.score < minScore || kp.score < minScore) continue;
    const dx = kp.x - hp.x, dy = kp.y - hp.y;
    const len = Math.hypot(dx, dy);
    if (len < 1e-6) continue;
    thighs.push({ deg: (Math.acos(Math.max(-1, Math.min(1, dy / len))) * 180) / Math.PI, len: len / T });
    used.push((hp.score + kp.score) / 2);
  }
  if (thighs.length) {
    f.thighDeg = thighs.reduce((s, t) => s + t.deg, 0) / thighs.length;
    f.thighLen = thighs.reduce((s, t) => s + t.len, 0) / thighs.length;
  }
  const A = mid(kps, KP.la, KP.ra, minScore);
  if (A) {
    f.legDrop = (A.y - H.y) / T;
    f.ankleSpread = Math.abs(A.x - H.x) / T;
    used.push(A.score);
  }
  f.quality = Math.min(1, used.reduce((s, v) => s + v, 0) / used.length);
  return f;
}

export function scorePostures(f: PostureFeatures): Record<PoseLabel, number> {
  const wide = 1 / f.aspect;
  if (f.torsoDeg === undefined) {
    // Box only.
    return {
      standing: ramp(f.aspect, 1.5, 2.2),
      sitting: Math.min(ramp(f.aspect, 0.9, 1.2), 1 - ramp(f.aspect, 1.6, 2.1)) * 0.8,
      crouching: 0,
      lying: ramp(wide, 1.0, 1.5),
    };
  }
  const theta = f.torsoDeg;
  const upright = 1 - ramp(theta, 25, 50);
  // Thighs level, or pointing at the camera (short) in a box that is not tall.
  const thighFlat = f.thighDeg === undefined ? undefined
    : Math.max(ramp(f.thighDeg, 45, 65), (1 - ramp(f.thighLen ?? 1, 0.25, 0.45)) * (1 - ramp(f.aspect, 1.8, 2.4)));
  // Legs under the body and straight: thighs near vertical with the ankles well below the hips
  // (a camera high on the wall shortens legs: standing people measure 1.1–1.4 torso lengths).
  const legsStraight = f.thighDeg !== undefined ? (1 - ramp(f.thighDeg, 35, 60)) * (f.legDrop !== undefined ? ramp(f.legDrop, 0.7, 1.0) : 1)
    : f.legDrop !== undefined ? ramp(f.legDrop, 0.9, 1.3)
    : ramp(f.aspect, 1.6, 2.3);
  const hipsHigh = 1 - ramp(f.hipRel ?? 0.5, 0.62, 0.78);
  const tallBox = 0.5 + 0.5 * ramp(f.aspect, 1.3, 2.0);
  const standing = legsStraight * (0.4 + 0.6 * upright) * hipsHigh * tallBox;

  const lowBody = f.legDrop !== undefined ? 1 - ramp(f.legDrop, 0.5, 1.0) : 1 - ramp(f.aspect, 1.2, 1.8);
  const lying = Math.max(ramp(theta, 50, 75) * lowBody, ramp(wide, 1.1, 1.6) * ramp(theta, 30, 55));

  const sitUp = 1 - ramp(theta, 30, 55);
  const shinsDown = f.legDrop !== undefined ? Math.min(ramp(f.legDrop, 0.45, 0.7), 1 - ramp(f.legDrop, 1.3, 1.6)) : 1;
  const floorSit = f.legDrop !== undefined && f.ankleSpread !== undefined ? (1 - ramp(f.legDrop, 0.4, 0.6)) * ramp(f.ankleSpread, 0.8, 1.2) : 0;
  const sitting = sitUp * Math.max((thighFlat ?? ramp(f.hipRel ?? 0.5, 0.5, 0.65)) * shinsDown, floorSit);

  const lean = ramp(theta, 20, 40) * (1 - ramp(theta, 65, 80));
  const hipsLow = f.legDrop !== undefined ? 1 - ramp(f.legDrop, 0.8, 1.15) : ramp(f.hipRel ?? 0.5, 0.5, 0.7);
  const squat = f.legDrop !== undefined ? (1 - ramp(f.legDrop, 0.4, 0.7)) * (1 - ramp(f.ankleSpread ?? 0, 0.6, 1.0)) * (1 - ramp(theta, 60, 75)) : 0;
  const crouching = Math.max(lean * hipsLow, squat);
  return { standing, crouching, sitting, lying };
}

export function classifyPosture(box: Box, kps: Keypoint[] | undefined, minScore = 0.3): Posture {
  const features = postureFeatures(box, kps, minScore);
  const scores = scorePostures(features);
  const order: PoseLabel[] = ['standing', 'sitting', 'crouching', 'lying'];
  const ranked = [...order].sort((a, b) => scores[b] - scores[a]);
  const best = scores[ranked[0]], second = scores[ranked[1]];
  const boxOnly = features.torsoDeg === undefined;
  const quality = boxOnly ? 0.5 : features.quality;
  const confidence = best > 0 ? Math.min(1, best * (1 - (0.5 * second) / best) * quality) : 0;
  let hipY = box.y + box.h / 2;
  if (!boxOnly && kps) {
    const H = mid(kps, KP.lh, KP.rh, minScore);
    if (H) hipY = H.y;
  }
  // Nothing fits at all (a box between shapes, no skeleton): call it by the box.
  const label = best > 0 ? ranked[0] : features.aspect >= 1.5 ? 'standing' : features.aspect <= 0.9 ? 'lying' : 'sitting';
  return { label, confidence: +confidence.toFixed(4), scores, features, hipY };
}
