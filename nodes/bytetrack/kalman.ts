/**
 * ByteTrack's Kalman filter (the DeepSORT constant-velocity model) over the box state
 * (cx, cy, a, h, vcx, vcy, va, vh): a = w / h, noise relative to the height h with the
 * reference weights 1/20 (position) and 1/160 (velocity), fixed 1e-2 / 1e-5 for the aspect and
 * 1e-1 measurement noise on the aspect.
 *
 * The model never couples different coordinates: the motion matrix only ties each coordinate to
 * its own velocity, the measurement picks the four positions, and every noise matrix is
 * diagonal. Starting from the diagonal initial covariance, the 8x8 covariance therefore stays
 * made of four independent 2x2 blocks, one per coordinate, and the innovation covariance stays
 * diagonal (its Cholesky factor is a square root per coordinate). So each coordinate is filtered
 * on its own, with exactly the arithmetic of the full matrix products minus the additions of
 * zeros; the blocks are stored unsymmetrised (pp, pv, vp, vv) so that the update's
 * `P - K (S K^T)` is evaluated term for term as the reference evaluates it.
 *
 * State layout of one track, one Float64Array(24):
 *   [0..7]   mean: cx, cy, a, h, vcx, vcy, va, vh
 *   [8..23]  covariance: coordinate i at 8 + 4i: pp, pv, vp, vv
 */

export const STATE_SIZE = 24;
const COV = 8;

const STD_POS = 1 / 20;
const STD_VEL = 1 / 160;
/** Aspect-ratio noise: process (position, velocity) and measurement variances. */
const Q_A_POS = 1e-2 * 1e-2;
const Q_A_VEL = 1e-5 * 1e-5;
const R_A = 1e-1 * 1e-1;

/** Initial mean and covariance from a measurement (cx, cy, a, h). */
export function kfInitiate(s: Float64Array, cx: number, cy: number, a: number, h: number): void {
  s[0] = cx; s[1] = cy; s[2] = a; s[3] = h;
  s[4] = 0; s[5] = 0; s[6] = 0; s[7] = 0;
  const p = 2 * STD_POS * h;
  const v = 10 * STD_VEL * h;
  const pp = p * p, vv = v * v;
  // cx, cy, h: position std 2/20·h, velocity std 10/160·h; aspect: 1e-2 and 1e-5.
  setBlock(s, 0, pp, vv);
  setBlock(s, 1, pp, vv);
  setBlock(s, 2, Q_A_POS, Q_A_VEL);
  setBlock(s, 3, pp, vv);
}

function setBlock(s: Float64Array, i: number, pp: number, vv: number): void {
  const o = COV + 4 * i;
  s[o] = pp; s[o + 1] = 0; s[o + 2] = 0; s[o + 3] = vv;
}

/**
 * One step of the motion model: x' = F x, P' = F P F^T + Q, with Q from the height before the
 * step (as the reference: its noise is computed from the mean it is about to advance).
 * Per coordinate: (F P) row i = P[i,:] + P[4+i,:], then (F P) F^T column i = col i + col 4+i.
 * Hand-unrolled: this runs for every track on every frame.
 */
export function kfPredict(s: Float64Array): void {
  const h = s[3];
  const qp = STD_POS * h, qv = STD_VEL * h;
  const qpp = qp * qp, qvv = qv * qv;
  let pp: number, pv: number, vp: number, vv: number;
  // cx
  pp = s[8]; pv = s[9]; vp = s[10]; vv = s[11];
  s[0] = s[0] + s[4];
  s[8] = (pp + vp) + (pv + vv) + qpp;
  s[9] = pv + vv;
  s[10] = vp + vv;
  s[11] = vv + qvv;
  // cy
  pp = s[12]; pv = s[13]; vp = s[14]; vv = s[15];
  s[1] = s[1] + s[5];
  s[12] = (pp + vp) + (pv + vv) + qpp;
  s[13] = pv + vv;
  s[14] = vp + vv;
  s[15] = vv + qvv;
  // a
  pp = s[16]; pv = s[17]; vp = s[18]; vv = s[19];
  s[2] = s[2] + s[6];
  s[16] = (pp + vp) + (pv + vv) + Q_A_POS;
  s[17] = pv + vv;
  s[18] = vp + vv;
  s[19] = vv + Q_A_VEL;
  // h
  pp = s[20]; pv = s[21]; vp = s[22]; vv = s[23];
  s[3] = s[3] + s[7];
  s[20] = (pp + vp) + (pv + vv) + qpp;
  s[21] = pv + vv;
  s[22] = vp + vv;
  s[23] = vv + qvv;
}

/**
 * Measurement update with (cx, cy, a, h): innovation covariance S = H P H^T + R (diagonal, R
 * from the predicted height, 1e-1 for the aspect), gain K = P H^T S^-1, mean += K (z - H x),
 * P -= K (S K^T) term for term. Hand-unrolled per coordinate.
 */
export function kfUpdate(s: Float64Array, cx: number, cy: number, a: number, h: number): void {
  const r = STD_POS * s[3];
  const rr = r * r;
  let pp: number, pv: number, vp: number, vv: number, S: number, kp: number, kv: number, innov: number, skp: number, skv: number;
  // cx
  pp = s[8]; pv = s[9]; vp = s[10]; vv = s[11];
  S = pp + rr; kp = pp / S; kv = vp / S; innov = cx - s[0];
  s[0] = s[0] + innov * kp;
  s[4] = s[4] + innov * kv;
  skp = S * kp; skv = S * kv;
  s[8] = pp - kp * skp;
  s[9] = pv - kp * skv;
  s[10] = vp - kv * skp;
  s[11] = vv - kv * skv;
  // cy
  pp = s[12]; pv = s[13]; vp = s[14]; vv = s[15];
  S = pp + rr; kp = pp / S; kv = vp / S; innov = cy - s[1];
  s[1] = s[1] + innov * kp;
  s[5] = s[5] + innov * kv;
  skp = S * kp; skv = S * kv;
  s[12] = pp - kp * skp;
  s[13] = pv - kp * skv;
  s[14] = vp - kv * skp;
  s[15] = vv - kv * skv;
  // a
  pp = s[16]; pv = s[17]; vp = s[18]; vv = s[19];
  S = pp + R_A; kp = pp / S; kv = vp / S; innov = a - s[2];
  s[2] = s[2] + innov * kp;
  s[6] = s[6] + innov * kv;
  skp = S * kp; skv = S * kv;
  s[16] = pp - kp * skp;
  s[17] = pv - kp * skv;
  s[18] = vp - kv * skp;
  s[19] = vv - kv * skv;
  // h
  pp = s[20]; pv = s[21]; vp = s[22]; vv = s[23];
  S = pp + rr; kp = pp / S; kv = vp / S; innov = h - s[3];
  s[3] = s[3] + innov * kp;
  s[7] = s[7] + innov * kv;
  skp = S * kp; skv = S * kv;
  s[20] = pp - kp * skp;
  s[21] = pv - kp * skv;
  s[22] = vp - kv * skp;
  s[23] = vv - kv * skv;
}

/** The full 8x8 covariance (row-major), for tests and debugging. */
export function kfCovariance(s: Float64Array): Float64Array {
  const m = new Float64Array(64);
  for (let i = 0; i < 4; i++) {
    const o = COV + 4 * i;
    m[i * 8 + i] = s[o];
    m[i * 8 + 4 + i] = s[o + 1];
    m[(4 + i) * 8 + i] = s[o + 2];
    m[(4 + i) * 8 + 4 + i] = s[o + 3];
  }
  return m;
}
