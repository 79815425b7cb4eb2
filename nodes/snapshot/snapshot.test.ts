import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import type { App } from '../../src/app.js';
import { defineNode, discardFrame, FramePool, Type, type Detection, type Frame, type Packet } from '../../src/contract.js';
import { validateEvent, type EventPacket, type GraphrunEvent } from '../../src/events/event.js';
import { allocFrameBuffer } from '../../src/frames.js';
import { startGraph, waitFor } from '../../test/support/app.js';
import { mediaPath } from '../../test/support/media.js';
import { buildNode, type Harness } from '../../test/support/node-harness.js';
import { poses, skeleton } from '../../test/support/skeleton.js';
import { recorded, testRegistry } from '../../test/support/test-nodes.js';
import { imageFrame } from '../../test/support/yolo-models.js';
import { OTHER_RGB, RISK_COLOURS, SKELETON_RGB } from './draw.js';
import { objectLabel, overlayOf } from './snapshot.js';

const T0 = 1_700_000_000_000;
const BOX = { x: 400, y: 200, w: 300, h: 250 };
type RGB = [number, number, number];

function makeEvent(o: Partial<GraphrunEvent> = {}): GraphrunEvent {
  return {
    schema_version: '1.0', event_id: randomUUID(), event_type: 'object_detected', category: 'other', stream_id: 'cam', track_id: 7,
    timestamp_utc: new Date(T0).toISOString(), frame_index: 42, bbox: BOX, confidence: 0.9, label: 'car', risk_level: 'warn',
    reason: 'first_sighting', inference_latency_ms: 12, gpu_enabled: false, ...o,
  };
}

function solid(width: number, height: number, format: Frame['format'], value: number[], extra: Partial<Frame> = {}): Frame {
  const ch = format === 'gray8' ? 1 : 3;
  const stride = extra.stride ?? width * ch;
  const pixels = allocFrameBuffer(stride * height).fill(255); // stride padding: white junk
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < ch; c++) pixels[y * stride + x * ch + c] = value[c];
  return { width, height, format, stride, pixels, ...extra };
}

const packet = (data: EventPacket, seq = 42): Packet<EventPacket> => ({ streamId: 'cam', seq, captureTimeMs: T0, data });

async function snap(h: Harness, data: EventPacket): Promise<Packet<EventPacket> | undefined> {
  const before = h.emitted.length;
  await h.instance.process!(packet(data), 'events');
  expect(h.emitted.length - before).toBeLessThanOrEqual(1);
  const e = h.emitted.at(-1);
  return h.emitted.length > before ? (e!.packet as Packet<EventPacket>) : undefined;
}

interface Picture { width: number; height: number; at(x: number, y: number): RGB }
async function decode(jpeg: Buffer): Promise<Picture> {
  expect([jpeg[0], jpeg[1], jpeg[2]]).toEqual([0xff, 0xd8, 0xff]); // JPEG SOI + marker
  const img = await loadImage(jpeg);
  const c = createCanvas(img.width, img.height);
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, img.width, img.height).data;
  return {
    width: img.width, height: img.height,
    at(x, y) { const i = (Math.round(y) * img.width + Math.round(x)) * 4; return [d[i], d[i + 1], d[i + 2]]; },
  };
}

/** Largest channel difference. */
const diff = (a: RGB, b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
const TOL = 45; // JPEG (4:2:0 chroma, quality 80) on a few-pixel line

/** Risk colour on the middle of each edge of a box given in picture pixels; background at its centre. */
function expectBoxAt(p: Picture, b: typeof BOX, rgb: RGB, bg: number[]): void {
  const edges: [number, number][] = [[b.x, b.y + b.h / 2], [b.x + b.w, b.y + b.h / 2], [b.x + b.w / 2 + b.w / 4, b.y], [b.x + b.w / 2, b.y + b.h]];
  for (const [x, y] of edges) expect(diff(p.at(x, y), rgb), `edge pixel (${x}, ${y}) = ${p.at(x, y)}`).toBeLessThanOrEqual(TOL);
  expect(diff(p.at(b.x + b.w / 2, b.y + b.h / 2), bg)).toBeLessThanOrEqual(6);
}

describe('snapshot node', () => {
  it('1280x720 frame: a JPEG of that size with the warn box where the object is, the rest untouched; the frame left behind', async () => {
    const h = buildNode('{ type: snapshot }');
    await h.instance.start?.();
    const frame = solid(1280, 720, 'rgb24', [128, 128, 128]);
    const detection: Detection = { box: BOX, score: 0.9, classId: 2, label: 'car', category: 'other', trackId: 7 };
    const out = (await snap(h, { event: makeEvent(), frame, detection }))!;
    expect(out).toMatchObject({ streamId: 'cam', seq: 42, captureTimeMs: T0 });
    expect('frame' in out.data).toBe(false);
    expect(out.data.detection).toBe(detection);
    const { jpeg, width, height } = out.data.snapshot!;
    expect([width, height]).toEqual([1280, 720]);
    expect(out.data.event.snapshot).toEqual({ content_type: 'image/jpeg', width: 1280, height: 720, bytes: jpeg.length });
    expect(validateEvent(out.data.event)).toEqual([]);
    const p = await decode(jpeg);
    expect([p.width, p.height]).toEqual([1280, 720]);
    expectBoxAt(p, BOX, RISK_COLOURS.warn.rgb, [128, 128, 128]);
    // Far from the box, and just outside its stroke: the grey background.
    for (const [x, y] of [[50, 50], [1200, 650], [100, 600], [BOX.x - 10, BOX.y + 100], [BOX.x + BOX.w + 10, BOX.y + 100], [BOX.x + 100, BOX.y + BOX.h + 10]]) {
      expect(diff(p.at(x, y), [128, 128, 128]), `background at (${x}, ${y})`).toBeLessThanOrEqual(8);
    }
    // The label sits on a filled background of the risk colour just above the box's corner.
    expect(diff(p.at(BOX.x, BOX.y - 6), RISK_COLOURS.warn.rgb)).toBeLessThanOrEqual(TOL);
    expect(h.statuses.at(-1)?.text).toMatch(/^1 snapshots \(last 1280x720, \d+ kB, [\d.]+ ms\); 0 without frame, 0 failed, 0 invalid events$/);
  });

  it('colour follows risk_level: info green, critical red', async () => {
    const h = buildNode('{ type: snapshot }');
    for (const risk of ['info', 'critical'] as const) {
      const out = (await snap(h, { event: makeEvent({ risk_level: risk }), frame: solid(1280, 720, 'rgb24', [128, 128, 128]) }))!;
      expectBoxAt(await decode(out.data.snapshot!.jpeg), BOX, RISK_COLOURS[risk].rgb, [128, 128, 128]);
    }
  });

  it('boxes are in source pixels: a 640x360 frame of a 1280x720 camera gets the box at half the coordinates (and through an offset)', async () => {
    const h = buildNode('{ type: snapshot }');
    const source = { width: 1280, height: 720, scaleX: 2, scaleY: 2, offsetX: 0, offsetY: 0 };
    const out = (await snap(h, { event: makeEvent(), frame: solid(640, 360, 'rgb24', [128, 128, 128], { source }) }))!;
    expect(out.data.event.snapshot).toMatchObject({ width: 640, height: 360 });
    const p = await decode(out.data.snapshot!.jpeg);
    expect([p.width, p.height]).toEqual([640, 360]); // never scaled up to the maximum
    expectBoxAt(p, { x: 200, y: 100, w: 150, h: 125 }, RISK_COLOURS.warn.rgb, [128, 128, 128]);
    // Nothing where the unmapped box would be.
    expect(diff(p.at(400, 300), [128, 128, 128])).toBeLessThanOrEqual(6);
    expect(diff(p.at(550, 330), [128, 128, 128])).toBeLessThanOrEqual(6);
    // Letterbox-style offset: frame = (source - offset) / scale.
    const shifted = (await snap(h, { event: makeEvent(), frame: solid(640, 360, 'rgb24', [128, 128, 128], { source: { ...source, offsetX: 100, offsetY: 40 } }) }))!;
    expectBoxAt(await decode(shifted.data.snapshot!.jpeg), { x: 150, y: 80, w: 150, h: 125 }, RISK_COLOURS.warn.rgb, [128, 128, 128]);
  });

  it('scales down to max_width x max_height keeping the aspect: 1920x1080 to 1280x720, 1280x720 to 320x180', async () => {
    const h = buildNode('{ type: snapshot }');
    const big = (await snap(h, { event: makeEvent({ bbox: { x: 600, y: 300, w: 450, h: 375 } }), frame: solid(1920, 1080, 'rgb24', [128, 128, 128]) }))!;
    const p = await decode(big.data.snapshot!.jpeg);
    expect([p.width, p.height]).toEqual([1280, 720]);
    expectBoxAt(p, BOX, RISK_COLOURS.warn.rgb, [128, 128, 128]);
    const small = buildNode('{ type: snapshot, max_width: 320, max_height: 240 }');
    const s = (await snap(small, { event: makeEvent(), frame: solid(1280, 720, 'rgb24', [128, 128, 128]) }))!;
    const q = await decode(s.data.snapshot!.jpeg);
    expect([q.width, q.height]).toEqual([320, 180]);
    expect(s.data.event.snapshot).toMatchObject({ width: 320, height: 180 });
    expectBoxAt(q, { x: 100, y: 50, w: 75, h: 62.5 }, RISK_COLOURS.warn.rgb, [128, 128, 128]);
  });

  it('crop: object — the padded box, clipped to the frame, its region reported in source pixels', async () => {
    const h = buildNode('{ type: snapshot, crop: object }');
    // A truck outside the crop: neither its box nor its label (which would be pushed into view) is drawn.
    const truck: Detection = { box: { x: 1000, y: 100, w: 200, h: 100 }, score: 0.8, classId: 7, label: 'truck', category: 'other', trackId: 9 };
    const out = (await snap(h, { event: makeEvent(), frame: solid(1280, 720, 'rgb24', [128, 128, 128]), others: [truck] }))!;
    expect(out.data.event.snapshot).toMatchObject({ width: 600, height: 500, crop: { x: 250, y: 75, w: 600, h: 500 } });
    expect(validateEvent(out.data.event)).toEqual([]);
    const p = await decode(out.data.snapshot!.jpeg);
    expect([p.width, p.height]).toEqual([600, 500]);
    expectBoxAt(p, { x: 150, y: 125, w: 300, h: 250 }, RISK_COLOURS.warn.rgb, [128, 128, 128]);
    for (const [x, y] of [[597, 3], [590, 12], [560, 12], [597, 30]]) expect(diff(p.at(x, y), [128, 128, 128]), `(${x}, ${y})`).toBeLessThanOrEqual(8);
    // A half-size frame: the same crop in source pixels, the picture in frame pixels.
    const source = { width: 1280, height: 720, scaleX: 2, scaleY: 2, offsetX: 0, offsetY: 0 };
    const half = (await snap(h, { event: makeEvent(), frame: solid(640, 360, 'rgb24', [128, 128, 128], { source }) }))!;
    expect(half.data.event.snapshot).toMatchObject({ width: 300, height: 251, crop: { x: 250, y: 74, w: 600, h: 502 } });
    // At the corner: clipped to the frame, and no padding option.
    const c = buildNode('{ type: snapshot, crop: object, crop_padding: 0.2 }');
    const corner = (await snap(c, { event: makeEvent({ bbox: { x: 1100, y: 600, w: 150, h: 100 } }), frame: solid(1280, 720, 'rgb24', [128, 128, 128]) }))!;
    expect(corner.data.event.snapshot).toMatchObject({ width: 210, height: 140, crop: { x: 1070, y: 580, w: 210, h: 140 } });
    expectBoxAt(await decode(corner.data.snapshot!.jpeg), { x: 30, y: 20, w: 150, h: 100 }, RISK_COLOURS.warn.rgb, [128, 128, 128]);
  });

  it('bgr24 and gray8 frames, and rows with stride padding, keep their colours', async () => {
    const h = buildNode('{ type: snapshot }');
    const bgr = (await snap(h, { event: makeEvent({ risk_level: 'info' }), frame: solid(640, 360, 'bgr24', [200, 60, 20]) }))!;
    const pb = await decode(bgr.data.snapshot!.jpeg);
    expect(diff(pb.at(50, 50), [20, 60, 200])).toBeLessThanOrEqual(6); // blue stays blue
    expect(diff(pb.at(BOX.x, 300), RISK_COLOURS.info.rgb)).toBeLessThanOrEqual(TOL + 10); // green line on blue
    const gray = (await snap(h, { event: makeEvent(), frame: solid(640, 360, 'gray8', [60], { stride: 672 }) }))!;
    const pg = await decode(gray.data.snapshot!.jpeg);
    for (const x of [0, 17, 320, 639]) expect(diff(pg.at(x, 20), [60, 60, 60]), `x=${x}`).toBeLessThanOrEqual(6);
    const padded = (await snap(h, { event: makeEvent(), frame: solid(640, 360, 'rgb24', [90, 120, 30], { stride: 640 * 3 + 13 }) }))!;
    const pp = await decode(padded.data.snapshot!.jpeg);
    for (const [x, y] of [[0, 0], [639, 10], [100, 359], [321, 180]]) expect(diff(pp.at(x, y), [90, 120, 30]), `(${x}, ${y})`).toBeLessThanOrEqual(8);
  });

  it('a real photo (dog.jpg): red box around the dog, the rest of the picture as it was; quality sets the size', async () => {
    const frame = imageFrame(mediaPath('dog.jpg')); // 768x576
    // The dog, measured by hand (nodes/yolo tests): x 134–309, y 222–537.
    const dogBox = { x: 134, y: 222, w: 175, h: 315 };
    const event = makeEvent({ event_type: 'wildlife_intrusion', category: 'wildlife', label: 'dog', species: 'dog', species_confidence: 0.8, threat_level: 'high', behavior_hint: 'feeding', risk_level: 'critical', bbox: dogBox, track_id: 3 });
    const h = buildNode('{ type: snapshot }');
    const out = (await snap(h, { event, frame }))!;
    const p = await decode(out.data.snapshot!.jpeg);
    expect([p.width, p.height]).toEqual([768, 576]);
    for (const [x, y] of [[134, 380], [309, 380], [221, 537]]) expect(diff(p.at(x, y), RISK_COLOURS.critical.rgb), `(${x}, ${y}) = ${p.at(x, y)}`).toBeLessThanOrEqual(TOL + 15);
    // Away from the drawing, the picture matches the frame (mean over patches).
    let sum = 0, n = 0;
    for (const [x0, y0] of [[500, 300], [650, 450], [20, 20], [400, 520]]) {
      for (let y = y0; y < y0 + 20; y++) for (let x = x0; x < x0 + 20; x++) {
        const i = y * frame.stride + x * 3;
        sum += Math.abs(p.at(x, y)[0] - frame.pixels[i]) + Math.abs(p.at(x, y)[1] - frame.pixels[i + 1]) + Math.abs(p.at(x, y)[2] - frame.pixels[i + 2]);
        n += 3;
      }
    }
    expect(sum / n).toBeLessThan(6);
    const lo = (await snap(buildNode('{ type: snapshot, quality: 20 }'), { event, frame }))!;
    const hi = (await snap(buildNode('{ type: snapshot, quality: 95 }'), { event, frame }))!;
    expect(lo.data.snapshot!.jpeg.length).toBeLessThan(out.data.snapshot!.jpeg.length * 0.7);
    expect(hi.data.snapshot!.jpeg.length).toBeGreaterThan(out.data.snapshot!.jpeg.length * 1.3);
    expect(hi.data.event.snapshot!.bytes).toBe(hi.data.snapshot!.jpeg.length);
  });

  it('keypoints: COCO-17 skeleton drawn between keypoints scoring at least 0.3; other detections thin and grey', async () => {
    const s = skeleton(poses(640, 640, 150).standing);
    s.keypoints[15] = { ...s.keypoints[15], score: 0.1 }; // left ankle: the left shin is not drawn
    s.keypoints[16] = { ...s.keypoints[16], score: 0.29 };
    const event = makeEvent({ event_type: 'fall', category: 'human', label: 'person', risk_level: 'warn', since_utc: new Date(T0 - 800).toISOString(), pose_label: 'lying', pose_confidence: 0.8, keypoints: s.keypoints, bbox: s.box, track_id: 12 });
    const detection: Detection = { box: s.box, keypoints: s.keypoints, score: 0.9, classId: 0, label: 'person', category: 'human', trackId: 12 };
    const dog: Detection = { box: { x: 100, y: 100, w: 200, h: 150 }, score: 0.7, classId: 16, label: 'dog', category: 'wildlife', trackId: 3 };
    const bg = [30, 30, 30];
    const data: EventPacket = { event, frame: solid(1280, 720, 'rgb24', bg), detection, others: [detection, dog] };
    expect(overlayOf(data).others).toEqual([{ box: dog.box, label: 'dog #3' }]); // the object itself is not an "other"
    const h = buildNode('{ type: snapshot }');
    const p = await decode((await snap(h, data))!.data.snapshot!.jpeg);
    const mid = (a: number, b: number): [number, number] => [(s.keypoints[a].x + s.keypoints[b].x) / 2, (s.keypoints[a].y + s.keypoints[b].y) / 2];
    for (const [a, b] of [[5, 11], [11, 13], [12, 14], [7, 9]]) expect(diff(p.at(...mid(a, b)), SKELETON_RGB), `limb ${a}-${b}`).toBeLessThanOrEqual(TOL + 15);
    for (const [a, b] of [[13, 15], [14, 16]]) expect(diff(p.at(...mid(a, b)), bg), `limb ${a}-${b} (low score)`).toBeLessThanOrEqual(8);
    // A keypoint: a white dot.
    expect(Math.min(...p.at(s.keypoints[0].x, s.keypoints[0].y))).toBeGreaterThan(200);
    // The object's box, and the dog's grey box.
    for (const x of [s.box.x, s.box.x + s.box.w]) expect(diff(p.at(x, s.box.y + s.box.h / 2), RISK_COLOURS.warn.rgb)).toBeLessThanOrEqual(TOL + 15);
    expect(diff(p.at(100, 200), OTHER_RGB)).toBeLessThanOrEqual(70); // a 2 px line on a dark background
    expect(diff(p.at(200, 200), bg)).toBeLessThanOrEqual(8);

    // Nothing drawn when all drawing is off.
    const bare = buildNode('{ type: snapshot, draw: { boxes: false, labels: false, keypoints: false } }');
    const q = await decode((await snap(bare, data))!.data.snapshot!.jpeg);
    for (const [x, y] of [mid(5, 11), [s.box.x, s.box.y + s.box.h / 2], [100, 200], [s.box.x + 5, s.box.y - 8]] as [number, number][]) {
      expect(diff(q.at(x, y), bg), `(${x}, ${y})`).toBeLessThanOrEqual(8);
    }
  });

  it('labels: class, track id and what makes the event', () => {
    expect(objectLabel(makeEvent({ event_type: 'fall', category: 'human', label: 'person', track_id: 12, pose_label: 'lying' }))).toBe('person #12 · fall');
    expect(objectLabel(makeEvent({ event_type: 'person_detected', category: 'human', label: 'person', track_id: 2, pose_label: 'standing' }))).toBe('person #2 · standing');
    expect(objectLabel(makeEvent({ event_type: 'person_detected', category: 'human', label: 'person', track_id: 2, pose_label: null }))).toBe('person #2');
    expect(objectLabel(makeEvent({ event_type: 'wildlife_intrusion', category: 'wildlife', label: 'dog', species: 'fox', threat_level: 'high', track_id: 3 }))).toBe('fox #3 · high');
    expect(objectLabel(makeEvent({ event_type: 'wildlife_intrusion', category: 'wildlife', label: 'bird', species: 'bird', threat_level: 'none', track_id: 4 }))).toBe('bird #4');
    expect(objectLabel(makeEvent({ track_id: 7 }))).toBe('car #7');
  });

  it('an event without a frame passes on with snapshot null, counted; an undrawable frame too, logged', async () => {
    const h = buildNode('{ type: snapshot }');
    const event = makeEvent();
    const out = (await snap(h, { event }))!;
    expect(out.data.event).toEqual({ ...event, snapshot: null });
    expect(out.data.snapshot).toBeUndefined();
    expect(validateEvent(out.data.event)).toEqual([]);
    expect(h.statuses.at(-1)?.text).toBe('0 snapshots; 1 without frame, 0 failed, 0 invalid events');
    const broken = { ...solid(64, 64, 'rgb24', [1, 2, 3]), pixels: allocFrameBuffer(100) };
    const failed = (await snap(h, { event, frame: broken }))!;
    expect(failed.data.event.snapshot).toBeNull();
    expect('frame' in failed.data).toBe(false);
    expect(h.logs.some((l) => l.includes('snapshot failed') && l.includes('hold 100 bytes'))).toBe(true);
    expect(h.statuses.at(-1)?.text).toBe('0 snapshots; 1 without frame, 1 failed, 0 invalid events');
  });

  it('an invalid event is not emitted: counted and logged with its errors', async () => {
    const h = buildNode('{ type: snapshot }');
    const bad = { ...makeEvent(), confidence: 1.5 } as GraphrunEvent;
    expect(await snap(h, { event: bad, frame: solid(64, 64, 'rgb24', [0, 0, 0]) })).toBeUndefined();
    const { bbox: _gone, ...noBox } = makeEvent();
    expect(await snap(h, { event: noBox as GraphrunEvent })).toBeUndefined();
    expect(h.emitted).toHaveLength(0);
    const errs = h.logs.filter((l) => l.includes('invalid event'));
    expect(errs).toHaveLength(2);
    expect(errs[0]).toContain('/confidence');
    expect(errs[0]).toContain(bad.event_id);
    expect(errs[1]).toContain("must have required property 'bbox'");
    expect(h.statuses.at(-1)?.text).toBe('0 snapshots; 0 without frame, 0 failed, 2 invalid events');
  });

  it('the JPEG encoding leaves the event loop free (timers run while snapshots of 1280x720 are made)', async () => {
    const h = buildNode('{ type: snapshot }');
    const frame = imageFrame(mediaPath('fall_two_persons_indoor_1280x720.mp4'), { atSeconds: 2 });
    // A 1 ms timer: with the encoding in libuv's pool it fires while a snapshot is being made;
    // were the encoding synchronous, no timer could run inside one.
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 1);
    const runs: { ms: number; ticks: number }[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const t = performance.now(), before = ticks;
        const out = await snap(h, { event: makeEvent(), frame });
        runs.push({ ms: performance.now() - t, ticks: ticks - before });
        expect(out!.data.snapshot!.width).toBe(1280);
      }
    } finally { clearInterval(timer); }
    const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
    console.log(`snapshot 1280x720: ${ms.map((x) => x.toFixed(1)).join(', ')} ms; timer ticks during each: ${runs.map((r) => r.ticks).join(', ')}`);
    expect(runs.filter((r) => r.ticks > 0).length).toBeGreaterThanOrEqual(6);
  });
});

/** A source of event packets with frames from a FramePool, as a cooldown gate would pass them on. */
const pools = new Map<string, FramePool>();
const eventSource = defineNode({
  type: 'test-event-source',
  summary: 'Emits event packets holding pooled frames (tests only).',
  options: Type.Object({ count: Type.Integer({ default: 20, description: 'Events.' }) }),
  inputs: {},
  outputs: { events: { kind: 'event', description: 'Events.' } },
  canPause: false, // like a gate fed by a live camera: no block edges from it
  create(cfg, ctx) {
    const pool = new FramePool(320 * 180 * 3);
    pools.set(ctx.id, pool);
    return {
      async run() {
        for (let seq = 0; seq < cfg.count && !ctx.signal.aborted; seq++) {
          const pixels = pool.take().fill(100);
          const frame: Frame = { width: 320, height: 180, format: 'rgb24', stride: 960, pixels, source: { width: 1280, height: 720, scaleX: 4, scaleY: 4, offsetX: 0, offsetY: 0 } };
          const event = seq === 5 ? { ...makeEvent({ frame_index: seq }), risk_level: 'urgent' } as unknown as GraphrunEvent : makeEvent({ frame_index: seq });
          const data: EventPacket = seq === 7 ? { event } : { event, frame };
          if (seq === 7) discardFrame(pixels);
          ctx.emit('events', { streamId: 'cam', seq, captureTimeMs: T0 + seq * 100, data });
          await new Promise((r) => setTimeout(r, 5));
        }
      },
    };
  },
});

let app: App | undefined;
afterEach(async () => { await app?.stop(); app = undefined; });

describe('snapshot in a graph', () => {
  it('events in, events with JPEGs out; frames go back to the pool; the invalid event counted in /metrics', async () => {
    ({ app } = await startGraph(`
version: 1
name: snap
nodes:
  gate: { type: test-event-source, count: 20 }
  snap: { type: snapshot, max_width: 640, max_height: 360, inputs: { events: gate.events } }
  rec: { type: test-recorder, inputs: { in: snap.events } }
`, { registry: testRegistry.with([eventSource]) }));
    await waitFor(() => (recorded.get('rec')?.length ?? 0) >= 19, 15000, '19 events at the recorder');
    const got = recorded.get('rec')! as Packet<EventPacket>[];
    expect(got.map((p) => p.seq)).toEqual([0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    for (const p of got) {
      expect(validateEvent(p.data.event)).toEqual([]);
      expect(p.data.frame).toBeUndefined();
    }
    const noFrame = got.find((p) => p.seq === 7)!;
    expect(noFrame.data.event.snapshot).toBeNull();
    const first = got[0];
    // 320x180 frame of a 1280x720 camera, max 640x360: never scaled up.
    expect(first.data.event.snapshot).toMatchObject({ width: 320, height: 180 });
    const p = await decode(first.data.snapshot!.jpeg);
    expectBoxAt(p, { x: 100, y: 50, w: 75, h: 62.5 }, RISK_COLOURS.warn.rgb, [100, 100, 100]);
    // Every frame is back in the pool: the output packets do not hold them.
    const pool = pools.get('gate')!;
    await waitFor(() => pool.idle === pool.allocated, 2000, 'frames back in the pool');
    expect(pool.allocated).toBeLessThan(20);
    const metrics = await (await fetch(new URL('/metrics', app!.statusUrl))).text();
    expect(metrics).toMatch(/graphrun_snapshot_invalid_events_total\{node_id="snap",node_type="snapshot"\} 1\b/);
    expect(metrics).toMatch(/graphrun_snapshot_without_frame_total\{node_id="snap",node_type="snapshot"\} 1\b/);
    expect(metrics).toMatch(/graphrun_snapshot_made_total\{node_id="snap",node_type="snapshot"\} 18\b/);
  });
});
