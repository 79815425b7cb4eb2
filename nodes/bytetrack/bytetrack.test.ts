import { describe, expect, it } from 'vitest';
import type { Category, Detection, Detections, Frame, Packet } from '../../src/contract.js';
import { buildNode } from '../../test/support/node-harness.js';

const frame: Frame = { width: 640, height: 480, format: 'rgb24', pixels: Buffer.alloc(0), stride: 640 * 3 };

function det(x: number, y: number, score = 0.9, label = 'person', category: Category = 'human', classId = 0): Detection {
  return { box: { x, y, w: 40, h: 100 }, score, classId, label, category };
}

function packet(streamId: string, seq: number, detections: Detection[], fps = 10): Packet<Detections> {
  return { streamId, seq, captureTimeMs: 1_700_000_000_000 + (seq * 1000) / fps, data: { frame, detections, inferenceLatencyMs: 5, gpu: false, model: 'test' } };
}

function run(h: ReturnType<typeof buildNode>, p: Packet<Detections>): Detection[] {
  const before = h.emitted.length;
  void h.instance.process!(p, 'detections');
  const out = h.emitted.slice(before).filter((e) => e.port === 'detections');
  expect(out).toHaveLength(1);
  return (out[0].packet.data as Detections).detections;
}
const ended = (h: ReturnType<typeof buildNode>) => h.emitted.filter((e) => e.port === 'ended').map((e) => e.packet.data);

describe('bytetrack node', () => {
  it('sets trackId on the detections of confirmed tracks and passes the others on unchanged', () => {
    const h = buildNode('type: bytetrack');
    const first = run(h, packet('cam', 0, [det(100, 100), det(300, 100, 0.3)]));
    expect(first.map((d) => d.trackId)).toEqual([1, undefined]);
    const second = run(h, packet('cam', 1, [det(102, 100), det(302, 100, 0.3), det(500, 100)]));
    expect(second.map((d) => d.trackId)).toEqual([1, undefined, undefined]); // the new one is unconfirmed
    const third = run(h, packet('cam', 2, [det(104, 100), det(304, 100, 0.3), det(502, 100)]));
    expect(third.map((d) => d.trackId)).toEqual([1, undefined, 2]);
    // The same packet fields and frame; detections are new objects only where they changed.
    const p = packet('cam', 3, [det(106, 100)]);
    void h.instance.process!(p, 'detections');
    const out = h.emitted.at(-1)!.packet as Packet<Detections>;
    expect(out.seq).toBe(3);
    expect(out.data.frame).toBe(frame);
    expect(p.data.detections[0].trackId).toBeUndefined(); // the input is read-only
  });

  it('keeps one tracker state per stream', () => {
    const h = buildNode('type: bytetrack');
    expect(run(h, packet('a', 0, [det(100, 100)]))[0].trackId).toBe(1);
    expect(run(h, packet('b', 0, [det(400, 100)]))[0].trackId).toBe(1); // ids are per stream
    for (let s = 1; s < 5; s++) {
      expect(run(h, packet('a', s, [det(100 + s, 100)]))[0].trackId).toBe(1);
      expect(run(h, packet('b', s, [det(400 - s, 100)]))[0].trackId).toBe(1);
    }
  });

  it('never continues a track across categories: a person does not become a dog', () => {
    const h = buildNode('type: bytetrack');
    run(h, packet('cam', 0, [det(100, 100)]));
    expect(run(h, packet('cam', 1, [det(100, 100)]))[0].trackId).toBe(1);
    const dog = () => det(100, 100, 0.9, 'dog', 'wildlife', 16);
    expect(run(h, packet('cam', 2, [dog()]))[0].trackId).toBeUndefined(); // a new, unconfirmed track
    expect(run(h, packet('cam', 3, [dog()]))[0].trackId).toBe(2);
  });

  it('with split_by: class, a car does not continue as a truck either; with category it does', () => {
    const car = det(100, 100, 0.9, 'car', 'other', 2), truck = det(100, 100, 0.9, 'truck', 'other', 7);
    const byClass = buildNode('{ type: bytetrack, split_by: class }');
    run(byClass, packet('cam', 0, [car]));
    expect(run(byClass, packet('cam', 1, [truck]))[0].trackId).toBeUndefined();
    const byCategory = buildNode('type: bytetrack');
    run(byCategory, packet('cam', 0, [car]));
    expect(run(byCategory, packet('cam', 1, [truck]))[0].trackId).toBe(1);
  });

  it('reports a confirmed track on `ended` when it is dropped, with first and last seen times', () => {
    const h = buildNode('{ type: bytetrack, track_buffer: 30, frame_rate: 10 }'); // kept 10 frames
    for (let s = 0; s < 5; s++) run(h, packet('cam', s, [det(100 + s, 100)]));
    let s = 5;
    while (ended(h).length === 0 && s < 40) run(h, packet('cam', s++, []));
    expect(s - 5).toBe(12); // lost for more than 10 frames, then dropped on the next update
    expect(ended(h)).toEqual([{ stream_id: 'cam', track_id: 1, category: 'human', label: 'person', first_seen: 1_700_000_000_000, last_seen: 1_700_000_000_400, end_reason: 'lost' }]);
  });

  it('flush (input over, graph stopping) ends every open track once, with end_reason input_ended', async () => {
    const h = buildNode('type: bytetrack');
    for (let s = 0; s < 3; s++) run(h, packet('cam', s, [det(100, 100), det(400, 100)]));
    for (let s = 0; s < 3; s++) run(h, packet('cam2', s, [det(200, 200)]));
    expect(ended(h)).toEqual([]);
    await h.instance.flush!();
    const all = ended(h) as { stream_id: string; track_id: number; end_reason: string }[];
    expect(all.map((e) => `${e.stream_id}#${e.track_id}:${e.end_reason}`).sort()).toEqual(['cam#1:input_ended', 'cam#2:input_ended', 'cam2#1:input_ended']);
    await h.instance.flush!();
    expect(ended(h)).toHaveLength(3);
  });

  it('measures the frame rate from packet times when frame_rate is 0 (the default)', () => {
    // At 5 frames/s a 30-frame buffer (at 30 fps) keeps a lost track 5 frames.
    const h = buildNode('type: bytetrack');
    for (let s = 0; s < 5; s++) run(h, packet('cam', s, [det(100, 100)], 5));
    let s = 5;
    while (ended(h).length === 0 && s < 60) run(h, packet('cam', s++, [], 5));
    expect(s - 5).toBe(7);
  });

  it('validates its options', () => {
    expect(() => buildNode('{ type: bytetrack, track_thresh: 1.5 }')).toThrow(/track_thresh/);
    expect(() => buildNode('{ type: bytetrack, split_by: species }')).toThrow(/split_by/);
  });
});
