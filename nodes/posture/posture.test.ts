import { describe, expect, it } from 'vitest';
import type { Detection, Detections, Frame, Packet } from '../../src/contract.js';
import { allocFrameBuffer } from '../../src/frames.js';
import { buildNode, type Harness } from '../../test/support/node-harness.js';
import { blend, poses, skeleton, type Pose } from '../../test/support/skeleton.js';
import type { PostureEvent } from './posture.js';

const frame: Frame = { width: 1, height: 1, format: 'rgb24', stride: 3, pixels: allocFrameBuffer(3) };
const T0 = 1_700_000_000_000;

function person(p: Pose, extra: Partial<Detection> = {}): Detection {
  const s = skeleton(p);
  return { box: s.box, keypoints: s.keypoints, score: 0.9, classId: 0, label: 'person', category: 'human', ...extra };
}

/** Play a script at 10 fps of packet time: `at(t)` gives the detections of the frame at t ms. */
async function play(h: Harness, fromMs: number, toMs: number, at: (t: number) => Detection[], stream = 'cam'): Promise<void> {
  for (let t = fromMs; t < toMs; t += 100) {
    const packet: Packet<Detections> = { streamId: stream, seq: t / 100, captureTimeMs: T0 + t, data: { frame, detections: at(t), inferenceLatencyMs: 1, gpu: false, model: 'm' } };
    await h.instance.process!(packet, 'detections');
  }
}

const events = (h: Harness) => h.emitted.filter((e) => e.port === 'events').map((e) => e.packet as Packet<PostureEvent>);
const P = poses(500, 300);
const Q = poses(500, 800); // a second person further right

/** Pose over time: hold a, then move to b over `ms` starting at `start`. */
const move = (a: Pose, b: Pose, start: number, ms: number) => (t: number) => (t < start ? a : t >= start + ms ? b : blend(a, b, (t - start) / ms));

describe('posture node (synthetic keypoint sequences, packet time)', () => {
  it('labels each person; a fast fall raises one fall (warn), lying still raises collapsed (critical), as event packets', async () => {
    const h = buildNode('{ type: posture, immobile_ms: 5000 }');
    const fall = move(P.standing, P.lying, 2000, 600);
    const dog: Detection = { box: { x: 0, y: 0, w: 10, h: 10 }, score: 0.8, classId: 16, label: 'dog', category: 'wildlife' };
    await play(h, 0, 12000, (t) => [person(fall(t)), dog]);
    const ev = events(h);
    expect(ev.map((e) => [e.data.event_type, e.data.risk_level, e.data.pose_label])).toEqual([['fall', 'warn', 'lying'], ['collapsed', 'critical', 'lying']]);
    const [f, c] = ev;
    expect(f.data.timestamp).toBe(f.captureTimeMs);
    expect(f.data.timestamp - T0).toBeGreaterThanOrEqual(2600); // after reaching the floor
    expect(f.data.timestamp - T0).toBeLessThanOrEqual(3100);
    expect(f.data).toMatchObject({ track_id: 1, stream_id: 'cam' });
    expect(f.data.keypoints).toHaveLength(17);
    expect(f.data.bbox.w).toBeGreaterThan(f.data.bbox.h);
    expect(f.data.pose_confidence).toBeGreaterThan(0.5);
    expect(c.data.timestamp - c.data.since).toBeGreaterThanOrEqual(5000);
    expect(c.data.timestamp - T0).toBeLessThan(2600 + 5000 + 500);
    // every frame passes on, persons with a pose, the dog untouched
    const out = h.emitted.filter((e) => e.port === 'detections').map((e) => e.packet as Packet<Detections>);
    expect(out).toHaveLength(120);
    expect(out[5].data.detections[0].pose).toMatchObject({ label: 'standing' });
    expect(out[100].data.detections[0].pose).toMatchObject({ label: 'lying' });
    expect(out[100].data.detections[1]).toBe(dog);
    expect(out[100].data.frame).toBe(frame);
    expect(h.statuses.at(-1)?.text).toBe('1 tracks, 1 lying; 1 falls, 1 collapsed');
  });

  it('sitting down slowly and then lying down slowly raises no fall; lying still past immobile_ms still collapses', async () => {
    const h = buildNode('{ type: posture, immobile_ms: 5000 }');
    const script = (t: number) => (t < 4000 ? move(P.standing, P.sitting, 2000, 1500)(t) : move(P.sitting, P.lying, 5000, 1500)(t));
    const labels: string[] = [];
    await play(h, 0, 14000, (t) => [person(script(t))]);
    for (const e of h.emitted) if (e.port === 'detections') labels.push((e.packet as Packet<Detections>).data.detections[0].pose!.label);
    expect(labels[10]).toBe('standing');
    expect(labels[40]).toBe('sitting');
    expect(labels[130]).toBe('lying');
    expect(events(h).map((e) => e.data.event_type)).toEqual(['collapsed']);
  });

  it('two persons without track ids: associated frame to frame, only the one who falls raises a fall', async () => {
    const h = buildNode('{ type: posture }');
    const fall = move(Q.standing, Q.lying, 1500, 500);
    await play(h, 0, 5000, (t) => (t % 700 === 300 ? [person(fall(t))] : [person(P.standing), person(fall(t))])); // the first is missed now and then
    const ev = events(h);
    expect(ev.map((e) => [e.data.event_type, e.data.track_id])).toEqual([['fall', 2]]);
  });

  it('keys state by trackId when a tracker set it', async () => {
    const h = buildNode('{ type: posture }');
    const fall = move(P.standing, P.lying, 1000, 400);
    await play(h, 0, 3000, (t) => [person(fall(t), { trackId: 42 }), person(Q.standing, { trackId: 7 })]);
    expect(events(h).map((e) => [e.data.event_type, e.data.track_id])).toEqual([['fall', 42]]);
    const last = h.emitted.filter((e) => e.port === 'detections').at(-1)!.packet as Packet<Detections>;
    expect(last.data.detections.map((d) => d.trackId)).toEqual([42, 7]);
  });

  it('keeps streams apart: the same track id on two cameras is two people', async () => {
    const h = buildNode('{ type: posture }');
    const fall = move(P.standing, P.lying, 1000, 400);
    for (let t = 0; t < 3000; t += 100) {
      await play(h, t, t + 100, () => [person(fall(t), { trackId: 1 })], 'a');
      await play(h, t, t + 100, () => [person(P.standing, { trackId: 1 })], 'b');
    }
    expect(events(h).map((e) => [e.data.event_type, e.data.stream_id])).toEqual([['fall', 'a']]);
  });
});
