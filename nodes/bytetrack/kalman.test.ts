import { describe, expect, it } from 'vitest';
import { STATE_SIZE, kfCovariance, kfInitiate, kfPredict, kfUpdate } from './kalman.js';

// A plain dense 8x8 Kalman filter written from the model's definition (motion matrix F,
// measurement matrix H, noises relative to the height), to check the block-wise one against.
type M = number[][];
const zeros = (r: number, c: number): M => Array.from({ length: r }, () => new Array(c).fill(0));
const mul = (a: M, b: M): M => a.map((row) => b[0].map((_, j) => row.reduce((s, x, k) => s + x * b[k][j], 0)));
const tr = (a: M): M => a[0].map((_, j) => a.map((row) => row[j]));
const add = (a: M, b: M): M => a.map((row, i) => row.map((x, j) => x + b[i][j]));
const sub = (a: M, b: M): M => a.map((row, i) => row.map((x, j) => x - b[i][j]));
const diag = (v: number[]): M => v.map((x, i) => v.map((_, j) => (i === j ? x : 0)));
function inv(a: M): M {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...diag(new Array(n).fill(1))[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    const d = m[c][c];
    for (let k = 0; k < 2 * n; k++) m[c][k] /= d;
    for (let r = 0; r < n; r++) if (r !== c) { const f = m[r][c]; for (let k = 0; k < 2 * n; k++) m[r][k] -= f * m[c][k]; }
  }
  return m.map((row) => row.slice(n));
}
const F: M = diag(new Array(8).fill(1)); for (let i = 0; i < 4; i++) F[i][4 + i] = 1;
const H: M = zeros(4, 8); for (let i = 0; i < 4; i++) H[i][i] = 1;

class DenseKF {
  mean: M = zeros(8, 1);
  P: M = zeros(8, 8);
  initiate(z: number[]) {
    const h = z[3];
    this.mean = [...z, 0, 0, 0, 0].map((x) => [x]);
    const std = [2 / 20 * h, 2 / 20 * h, 1e-2, 2 / 20 * h, 10 / 160 * h, 10 / 160 * h, 1e-5, 10 / 160 * h];
    this.P = diag(std.map((s) => s * s));
  }
  predict() {
    const h = this.mean[3][0];
    const std = [h / 20, h / 20, 1e-2, h / 20, h / 160, h / 160, 1e-5, h / 160];
    this.mean = mul(F, this.mean);
    this.P = add(mul(mul(F, this.P), tr(F)), diag(std.map((s) => s * s)));
  }
  update(z: number[]) {
    const h = this.mean[3][0];
    const R = diag([h / 20, h / 20, 1e-1, h / 20].map((s) => s * s));
    const S = add(mul(mul(H, this.P), tr(H)), R);
    const K = mul(mul(this.P, tr(H)), inv(S));
    const y = sub(z.map((x) => [x]), mul(H, this.mean));
    this.mean = add(this.mean, mul(K, y));
    this.P = sub(this.P, mul(mul(K, S), tr(K)));
  }
}

function expectClose(got: ArrayLike<number>, want: number[], what: string) {
  for (let i = 0; i < want.length; i++) {
    const tol = 1e-9 * Math.max(1, Math.abs(want[i]));
    expect(Math.abs(got[i] - want[i]), `${what}[${i}]: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol);
  }
}

describe('Kalman filter (cx, cy, a, h)', () => {
  it('initiates from a measurement with std 2/20·h (position) and 10/160·h (velocity), 1e-2 / 1e-5 for the aspect', () => {
    const s = new Float64Array(STATE_SIZE);
    kfInitiate(s, 50, 60, 0.5, 100);
    expect([...s.subarray(0, 8)]).toEqual([50, 60, 0.5, 100, 0, 0, 0, 0]);
    const P = kfCovariance(s);
    const d = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => P[i * 9]);
    expectClose(d, [100, 100, 1e-4, 100, 39.0625, 39.0625, 1e-10, 39.0625], 'diag');
  });

  it('predicts: x += v; P = F P Fᵀ + Q with std h/20 and h/160 from the height before the step', () => {
    const s = new Float64Array(STATE_SIZE);
    kfInitiate(s, 50, 60, 0.5, 100);
    kfPredict(s);
    const P = kfCovariance(s);
    // 100 + 39.0625 + (100/20)^2; cross term 39.0625; velocity 39.0625 + (100/160)^2.
    expectClose([P[0], P[4], P[4 * 8], P[4 * 8 + 4]], [164.0625, 39.0625, 39.0625, 39.453125], 'cx block');
    expectClose([P[2 * 9], P[2 * 8 + 6], P[6 * 9]], [1e-4 + 1e-10 + 1e-4, 1e-10, 2e-10], 'aspect block');
  });

  it('updates: gain P Hᵀ S⁻¹ with measurement std h/20 (1e-1 for the aspect)', () => {
    const s = new Float64Array(STATE_SIZE);
    kfInitiate(s, 50, 60, 0.5, 100);
    kfPredict(s);
    kfUpdate(s, 54, 60, 0.5, 100);
    // S = 164.0625 + 25; K = 164.0625 / 189.0625; cx = 50 + 4·K; vcx = 4 · 39.0625 / 189.0625.
    expectClose([s[0], s[4]], [50 + (4 * 164.0625) / 189.0625, (4 * 39.0625) / 189.0625], 'cx, vcx');
  });

  it('matches a dense 8x8 filter over a long random sequence of predicts and updates', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let run = 0; run < 20; run++) {
      const z0 = [100 + 500 * rnd(), 100 + 300 * rnd(), 0.3 + 0.4 * rnd(), 50 + 200 * rnd()];
      const s = new Float64Array(STATE_SIZE);
      const d = new DenseKF();
      kfInitiate(s, z0[0], z0[1], z0[2], z0[3]);
      d.initiate(z0);
      for (let step = 0; step < 60; step++) {
        if (rnd() < 0.2) { s[7] = 0; d.mean[7][0] = 0; } // a lost track's height velocity is zeroed before predicting
        kfPredict(s); d.predict();
        if (rnd() < 0.8) {
          const z = [s[0] + 10 * (rnd() - 0.5), s[1] + 10 * (rnd() - 0.5), s[2] + 0.05 * (rnd() - 0.5), s[3] + 8 * (rnd() - 0.5)];
          kfUpdate(s, z[0], z[1], z[2], z[3]); d.update(z);
        }
        expectClose(s.subarray(0, 8), d.mean.map((r) => r[0]), `mean run ${run} step ${step}`);
        expectClose(kfCovariance(s), d.P.flat(), `cov run ${run} step ${step}`);
      }
    }
  });
});
