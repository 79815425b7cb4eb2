import { describe, expect, it } from 'vitest';
import { chooseHead, decodeHeatmaps, decodeSimcc } from './decode.js';

describe('pose decoders', () => {
  it('SimCC: argmax per axis divided by the split ratio; score = min of the two maxima; first maximum wins a tie', () => {
    const K = 2, BX = 8, BY = 10;
    const sx = new Float32Array(K * BX), sy = new Float32Array(K * BY);
    sx[3] = 0.9; sy[7] = 0.6; // keypoint 0: x bin 3, y bin 7
    sx[BX + 5] = 0.4; sx[BX + 6] = 0.4; sy[BY + 0] = 0.8; // keypoint 1: tie at 5 and 6 → 5
    expect(decodeSimcc(sx, sy, K, BX, BY, 2)).toEqual([
      { x: 1.5, y: 3.5, score: Math.fround(0.6) },
      { x: 2.5, y: 0, score: Math.fround(0.4) },
    ]);
  });

  it('heatmaps: argmax, a quarter pixel towards the larger neighbour, times the stride', () => {
    const K = 3, h = 4, w = 5; // input 20x16 → stride 4
    const hm = new Float32Array(K * h * w);
    const at = (k: number, x: number, y: number, v: number) => { hm[k * h * w + y * w + x] = v; };
    at(0, 2, 1, 1); at(0, 3, 1, 0.5); at(0, 2, 2, 0.2); // right and down: (2.25, 1.25)
    at(1, 1, 2, 0.7); at(1, 0, 2, 0.3); at(1, 1, 1, 0.6); at(1, 1, 3, 0.1); // left and up: (0.75, 1.75)
    at(2, 0, 3, 0.9); at(2, 1, 3, 0.9); // border column and row: no shift on x (x = 0 is the first max), none on y (last row)
    expect(decodeHeatmaps(hm, K, h, w, 20, 16)).toEqual([
      { x: 9, y: 5, score: 1 },
      { x: 3, y: 7, score: Math.fround(0.7) },
      { x: 0, y: 12, score: Math.fround(0.9) },
    ]);
  });

  it('chooses the decoder from the output shapes', () => {
    expect(chooseHead([{ name: 'simcc_x', dims: [1, 17, 384] }, { name: 'simcc_y', dims: [1, 17, 512] }], 192, 256))
      .toEqual({ kind: 'simcc', x: 'simcc_x', y: 'simcc_y', keypoints: 17, binsX: 384, binsY: 512, splitRatio: 2 });
    // names that say nothing, listed y first: told apart by which bin count fits which axis
    expect(chooseHead([{ name: 'out1', dims: [1, 17, 512] }, { name: 'out0', dims: [1, 17, 384] }], 192, 256))
      .toMatchObject({ kind: 'simcc', x: 'out0', y: 'out1', splitRatio: 2 });
    expect(chooseHead([{ name: 'hybridsequential0_conv7_fwd', dims: [1, 17, 64, 48] }], 192, 256))
      .toEqual({ kind: 'heatmap', name: 'hybridsequential0_conv7_fwd', keypoints: 17, h: 64, w: 48 });
    expect(() => chooseHead([{ name: 'simcc_x', dims: [1, 17, 384] }, { name: 'simcc_y', dims: [1, 17, 500] }], 192, 256)).toThrow(/split ratio/);
    expect(() => chooseHead([{ name: 'boxes', dims: [1, 8400] }], 192, 256)).toThrow(/not recognised.*boxes \[1,8400\]/);
  });
});
