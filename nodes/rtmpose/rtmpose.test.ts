import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Detection, Detections, Frame, Keypoint, Packet } from '../../src/contract.js';
import { allocFrameBuffer } from '../../src/frames.js';
import { makeConstModel } from '../../test/support/const-model.js';
import { mediaPath, modelPath } from '../../test/support/media.js';
import { buildNode, type Harness } from '../../test/support/node-harness.js';

const K = 17;
const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.instance.stop?.();
});

async function startNode(yaml: string): Promise<Harness> {
  const h = buildNode(yaml);
  harnesses.push(h);
  await h.instance.start!();
  return h;
}

function grey(width: number, height: number): Frame {
  return { width, height, format: 'rgb24', stride: width * 3, pixels: allocFrameBuffer(width * height * 3).fill(90) };
}

function person(x: number, y: number, w: number, h: number, extra: Partial<Detection> = {}): Detection {
  return { box: { x, y, w, h }, score: 0.9, classId: 0, label: 'person', category: 'human', ...extra };
}

function packet(frame: Frame, detections: Detection[], seq = 1): Packet<Detections> {
  return { streamId: 'cam', seq, captureTimeMs: 1000 + seq * 100, data: { frame, detections, inferenceLatencyMs: 5, gpu: false, model: 'test' } };
}

function loadImage(file: string): Frame {
  const [width, height] = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', file]).toString().trim().split(',').map(Number);
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 64 << 20 });
  const pixels = allocFrameBuffer(raw.length);
  raw.copy(pixels);
  return { width, height, format: 'rgb24', stride: width * 3, pixels };
}

/** SimCC outputs with keypoint k peaking at x bin 20 + 19k (value 0.5 + k/100) and y bin 30 + 25k (value 0.9). */
function simccModel(): string {
  const sx = new Float32Array(K * 384).fill(0.01), sy = new Float32Array(K * 512).fill(0.02);
  for (let k = 0; k < K; k++) {
    sx[k * 384 + 20 + 19 * k] = 0.5 + k / 100;
    sy[k * 512 + 30 + 25 * k] = 0.9;
  }
  return makeConstModel('simcc.onnx', { name: 'input', shape: [1, 3, 256, 192] }, [
    { name: 'simcc_x', shape: [1, K, 384], data: sx },
    { name: 'simcc_y', shape: [1, K, 512], data: sy },
  ]);
}

describe('rtmpose node', () => {
  it('SimCC model: exact keypoints in source pixels for each person, through worker threads; others untouched', async () => {
    const model = simccModel();
    const h = await startNode(`{ type: rtmpose, model: ${model}, workers: 2, every_n_frames: 1 }`);
    // Box 153.6x204.8 × 1.25 = 192x256: the crop is 1:1, its top-left at box centre − (96, 128).
    const a = person(100, 50, 153.6, 204.8);
    // Box 307.2x409.6 → crop 384x512: 2 source pixels per crop pixel.
    const b = person(400, 10, 307.2, 409.6, { trackId: 7 });
    const dog: Detection = { box: { x: 0, y: 0, w: 50, h: 50 }, score: 0.9, classId: 16, label: 'dog', category: 'wildlife' };
    const faint = person(600, 300, 50, 100, { score: 0.1 });
    await h.instance.process!(packet(grey(800, 600), [a, dog, b, faint]), 'detections');
    const out = h.emitted[0].packet as Packet<Detections>;
    expect(h.emitted[0].port).toBe('detections');
    const [pa, pdog, pb, pfaint] = out.data.detections;
    const expectA: Keypoint[] = [], expectB: Keypoint[] = [];
    for (let k = 0; k < K; k++) {
      const cx = (20 + 19 * k) / 2, cy = (30 + 25 * k) / 2, score = Math.fround(Math.min(0.5 + k / 100, 0.9));
      expectA.push({ x: 176.8 - 96 + cx, y: 152.4 - 128 + cy, score });
      expectB.push({ x: 553.6 - 192 + 2 * cx, y: 214.8 - 256 + 2 * cy, score });
    }
    expect(pa.keypoints!.map((p) => ({ x: +p.x.toFixed(9), y: +p.y.toFixed(9), score: p.score }))).toEqual(expectA.map((p) => ({ ...p, x: +p.x.toFixed(9), y: +p.y.toFixed(9) })));
    expect(pb.keypoints!.map((p) => ({ x: +p.x.toFixed(9), y: +p.y.toFixed(9), score: p.score }))).toEqual(expectB.map((p) => ({ ...p, x: +p.x.toFixed(9), y: +p.y.toFixed(9) })));
    expect(pdog).toBe(dog);
    expect(pfaint).toBe(faint);
    expect(out.data.frame).toBe((h.emitted[0].packet as Packet<Detections>).data.frame);
    expect(out.seq).toBe(1);
  });

  it('maps through a scaled frame (boxes in source pixels, frame at half size) and decodes heatmaps exactly', async () => {
    // heatmaps 64x48: keypoint k peaks at (x 5 + 2k, y 3 + 3k); right neighbour higher → +¼ on x
    const hm = new Float32Array(K * 64 * 48);
    for (let k = 0; k < K; k++) {
      const x = 5 + 2 * k, y = 3 + 3 * k;
      hm[k * 3072 + y * 48 + x] = 0.8;
      hm[k * 3072 + y * 48 + x + 1] = 0.3;
    }
    const model = makeConstModel('heatmap.onnx', { name: 'data', shape: [1, 3, 256, 192] }, [{ name: 'heatmap', shape: [1, K, 64, 48], data: hm }]);
    const h = await startNode(`{ type: rtmpose, model: ${model} }`);
    const frame = grey(640, 360);
    frame.source = { width: 1280, height: 720, scaleX: 2, scaleY: 2, offsetX: 0, offsetY: 0 };
    const p = person(400, 100, 307.2, 409.6); // source pixels; crop 384x512 source pixels
    await h.instance.process!(packet(frame, [p]), 'detections');
    const kps = (h.emitted[0].packet as Packet<Detections>).data.detections[0].keypoints!;
    for (let k = 0; k < K; k++) {
      const cropX = (5 + 2 * k + 0.25) * 4, cropY = (3 + 3 * k) * 4;
      expect(kps[k].x).toBeCloseTo(553.6 - 192 + 2 * cropX, 9);
      expect(kps[k].y).toBeCloseTo(304.8 - 256 + 2 * cropY, 9);
      expect(kps[k].score).toBe(Math.fround(0.8));
    }
    expect(h.statuses.at(-1)?.text).toMatch(/^heatmap on cpu .* ms\/crop; 1\/1 posed this frame/);
  });

  it('gates: a track seen again with the same box reuses its keypoints until every_n_frames', async () => {
    // (also: providers in order of preference; one that does not load is skipped)
    const h = await startNode(`{ type: rtmpose, model: ${simccModel()}, every_n_frames: 3, providers: [cuda, cpu] }`);
    const f = grey(800, 600);
    for (let i = 1; i <= 4; i++) await h.instance.process!(packet(f, [person(100 + i, 50, 153.6, 204.8)], i), 'detections');
    const posed = h.statuses.map((s) => s.text?.match(/(\d)\/1 posed/)?.[1]);
    expect(posed.filter(Boolean)).toEqual(['1', '0', '0', '1']);
    expect(h.statuses.at(-1)?.text).toMatch(/^simcc on (cuda|cpu) /);
    const k1 = (h.emitted[1].packet as Packet<Detections>).data.detections[0].keypoints!;
    const k0 = (h.emitted[0].packet as Packet<Detections>).data.detections[0].keypoints!;
    expect(k1[3].x - k0[3].x).toBeCloseTo(1, 9); // moved with the box, not re-run
  });

  it('refuses a model it cannot read, naming the file', async () => {
    const h = buildNode('{ type: rtmpose, model: /nonexistent/pose.onnx }');
    harnesses.push(h);
    await expect(h.instance.start!()).rejects.toThrow(/cannot load pose model \/nonexistent\/pose\.onnx/);
  });

  it('takes a model id from models.yml, and refuses a model that is not top-down pose', async () => {
    process.env.GRAPHRUN_MODEL_MIRROR = path.dirname(modelPath('ultralight_nano_simplepose_256x192.onnx'));
    const h = await startNode('{ type: rtmpose, model: ultralight-nano-simplepose }');
    expect(h.statuses.at(-1)?.text).toBe('ultralight-nano-simplepose ready');
    const d = buildNode('{ type: rtmpose, model: yolox-nano }');
    harnesses.push(d);
    await expect(d.instance.start!()).rejects.toThrow('model "yolox-nano" is a detect model; rtmpose needs a top-down pose model (task pose-topdown)');
  });

  it('skier (COCO 785) with ultralight_nano_simplepose (heatmaps): keypoints near hand-measured positions', async () => {
    const h = await startNode(`{ type: rtmpose, model: ${modelPath('ultralight_nano_simplepose_256x192.onnx')} }`);
    const frame = loadImage(mediaPath('coco_000000000785_skier.jpg'));
    expect([frame.width, frame.height]).toEqual([640, 425]);
    // Hand-measured on 4–8× crops with a 10 px grid: the person from hat top to boot soles and
    // from the right glove to the left boot's toe.
    const box = { x: 280, y: 43, w: 220, h: 350 };
    await h.instance.process!(packet(frame, [person(box.x, box.y, box.w, box.h)]), 'detections');
    const kps = (h.emitted[0].packet as Packet<Detections>).data.detections[0].keypoints!;
    expect(kps).toHaveLength(17);
    // COCO order; left/right are the skier's own (she faces the camera: her left is image right).
    // Hand-measured joint centres (not the model's output): face points on the sunglasses and
    // nose tip, ears at the sides of the head under the hat, joints inside the puffy clothing.
    const hand: [string, number, number][] = [
      ['nose', 367, 81], ['left_eye', 376, 75], ['right_eye', 361, 75.5], ['left_ear', 388, 78], ['right_ear', 355, 79],
      ['left_shoulder', 415, 113], ['right_shoulder', 358, 128], ['left_elbow', 450, 150], ['right_elbow', 330, 165],
      ['left_wrist', 441, 167], ['right_wrist', 305, 179], ['left_hip', 440, 213], ['right_hip', 397, 219],
      ['left_knee', 433, 288], ['right_knee', 373, 272], ['left_ankle', 470, 364], ['right_ankle', 402, 342],
    ];
    const errors = hand.map(([name, x, y], i) => ({ name, d: Math.hypot(kps[i].x - x, kps[i].y - y), score: kps[i].score }));
    // The right elbow sits in a bent puffy sleeve: measured at the sleeve's crease (330, 165);
    // this small model puts it ~16 px further up the upper arm. Everything else within 15 px.
    for (const e of errors) expect({ [e.name]: e.d <= (e.name === 'right_elbow' ? 20 : 15) }).toEqual({ [e.name]: true });
    expect(errors.filter((e) => e.d <= 15).length).toBeGreaterThanOrEqual(16);
    const mean = errors.reduce((s, e) => s + e.d, 0) / errors.length;
    expect(mean).toBeLessThan(10);
    for (const e of errors) expect(e.score).toBeGreaterThan(0.5);
  });
});
