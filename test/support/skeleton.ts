/**
 * Synthetic COCO-17 skeletons (side view) for posture tests: a person of torso length T posed
 * by joint angles, with the box around the keypoints as a detector would draw it.
 */
import type { Keypoint } from '../../src/contract.js';

export interface Pose {
  /** Hip centre, source pixels. */
  hip: [number, number];
  /** Torso from straight up, leaning towards `facing` (0 upright, 90 level). */
  torsoDeg: number;
  /** Thigh from straight down, towards `facing` (0 vertical, 90 level, > 90 knee above hip). */
  thighDeg: number;
  /** Shin from straight down (negative: ankle behind the knee). */
  shinDeg: number;
  /** Torso length in pixels (default 100). */
  T?: number;
  /** +1 faces right, −1 left. */
  facing?: 1 | -1;
  score?: number;
}

const rad = (d: number) => (d * Math.PI) / 180;

export function skeleton(p: Pose): { keypoints: Keypoint[]; box: { x: number; y: number; w: number; h: number } } {
  const T = p.T ?? 100, f = p.facing ?? 1, score = p.score ?? 0.9;
  const [hx, hy] = p.hip;
  const S: [number, number] = [hx + f * T * Math.sin(rad(p.torsoDeg)), hy - T * Math.cos(rad(p.torsoDeg))];
  const up: [number, number] = [(S[0] - hx) / T, (S[1] - hy) / T];
  const head: [number, number] = [S[0] + up[0] * 0.35 * T, S[1] + up[1] * 0.35 * T];
  const K: [number, number] = [hx + f * 0.9 * T * Math.sin(rad(p.thighDeg)), hy + 0.9 * T * Math.cos(rad(p.thighDeg))];
  const A: [number, number] = [K[0] + f * 0.85 * T * Math.sin(rad(p.shinDeg)), K[1] + 0.85 * T * Math.cos(rad(p.shinDeg))];
  // Arms hang along the torso, a little in front.
  const E: [number, number] = [S[0] - up[0] * 0.55 * T + f * 0.1 * T, S[1] - up[1] * 0.55 * T];
  const W: [number, number] = [E[0] - up[0] * 0.45 * T + f * 0.15 * T, E[1] - up[1] * 0.45 * T];
  const side = (pt: [number, number], d: number): Keypoint => ({ x: pt[0] + d, y: pt[1], score });
  const o = 0.04 * T;
  const keypoints: Keypoint[] = [
    side(head, f * 0.08 * T), side(head, f * 0.05 * T - o / 2), side(head, f * 0.05 * T + o / 2), side(head, -o), side(head, o),
    side(S, -o), side(S, o), side(E, -o), side(E, o), side(W, -o), side(W, o),
    side(p.hip, -o), side(p.hip, o), side(K, -o), side(K, o), side(A, -o), side(A, o),
  ];
  // The box holds the body, not just the joints: the top of the head beyond the face points,
  // and the body's thickness around the joints.
  const top: [number, number] = [head[0] + up[0] * 0.3 * T, head[1] + up[1] * 0.3 * T];
  const xs = [...keypoints.map((k) => k.x), top[0]], ys = [...keypoints.map((k) => k.y), top[1]];
  const pad = 0.25 * T;
  const x0 = Math.min(...xs) - pad, x1 = Math.max(...xs) + pad;
  const y0 = Math.min(...ys) - pad, y1 = Math.max(...ys) + pad;
  return { keypoints, box: { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } };
}

/** Linear blend of two poses (0 → a, 1 → b). */
export function blend(a: Pose, b: Pose, u: number): Pose {
  const m = (x: number, y: number) => x + (y - x) * u;
  return { ...a, hip: [m(a.hip[0], b.hip[0]), m(a.hip[1], b.hip[1])], torsoDeg: m(a.torsoDeg, b.torsoDeg), thighDeg: m(a.thighDeg, b.thighDeg), shinDeg: m(a.shinDeg, b.shinDeg) };
}

/** Named poses for a person whose feet are on the floor at y = floor when standing. */
export function poses(floor = 500, x = 300, T = 100): Record<'standing' | 'sitting' | 'crouching' | 'lying' | 'bentOver' | 'floorSit', Pose> {
  return {
    standing: { hip: [x, floor - 1.75 * T], torsoDeg: 0, thighDeg: 0, shinDeg: 0, T },
    sitting: { hip: [x, floor - 0.85 * T], torsoDeg: 5, thighDeg: 90, shinDeg: 0, T },
    crouching: { hip: [x, floor - 0.6 * T], torsoDeg: 40, thighDeg: 100, shinDeg: -30, T },
    lying: { hip: [x, floor - 0.25 * T], torsoDeg: 85, thighDeg: 70, shinDeg: 110, T },
    bentOver: { hip: [x, floor - 1.75 * T], torsoDeg: 85, thighDeg: 0, shinDeg: 0, T },
    floorSit: { hip: [x, floor - 0.1 * T], torsoDeg: 10, thighDeg: 85, shinDeg: 95, T },
  };
}
