/**
 * Falls on real clips, end to end: file-source (as fast as the graph goes, every frame once:
 * block edges) → yolo (YOLOX-Nano, persons) → rtmpose (ultralight SimplePose) → posture →
 * a collector. No tracker: posture associates persons itself. Packet time is file time, so
 * the results do not depend on the machine's speed.
 *
 * One thread each for the detector and the pose model: vitest runs two files at once on two
 * cores, and the other may be timing a camera.
 * The detector runs at score 0.1: people lying on the floor score low (0.1–0.25 here), and
 * the pose model gets them too (rtmpose min_box_score 0.1).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { defineNode, Type, type Detection, type Detections, type Packet } from '../src/contract.js';
import type { PostureEvent } from '../nodes/posture/posture.js';
import { startGraph, type TestApp } from './support/app.js';
import { clipDetectNodes, poseNode } from './support/clip-pipeline.js';
import { mediaPath } from './support/media.js';
import { testRegistry } from './support/test-nodes.js';

interface Seen { t: number; persons: Pick<Detection, 'box' | 'score' | 'pose'>[] }
const seen = new Map<string, Seen[]>();
const events = new Map<string, PostureEvent[]>();

/** Keeps what posture says per frame (not the frames: 1280x720 clips would hold 570 MB). */
const collect = defineNode({
  type: 'test-pose-collect',
  summary: 'Keeps person poses and posture events (tests only).',
  options: Type.Object({}),
  inputs: {
    detections: { kind: 'detections', description: 'Detections with poses.', defaultQueue: { mode: 'block', size: 4 } },
    events: { kind: 'event', description: 'Posture events.', defaultQueue: { mode: 'block', size: 16 }, required: false },
  },
  outputs: {},
  canPause: true,
  create(_cfg, ctx) {
    const s: Seen[] = [], e: PostureEvent[] = [];
    seen.set(ctx.id, s);
    events.set(ctx.id, e);
    return {
      process(p: Packet, port: string) {
        if (port === 'events') e.push(p.data as PostureEvent);
        else s.push({ t: p.captureTimeMs, persons: (p.data as Detections).detections.map((d) => ({ box: d.box, score: d.score, pose: d.pose })) });
      },
    };
  },
});

let app: TestApp | undefined;
afterEach(async () => { await app?.app.stop(); app = undefined; });

async function run(clip: string, posture = ''): Promise<{ frames: Seen[]; events: PostureEvent[]; t0: number }> {
  app = await startGraph(`
version: 1
name: falls
status: { enabled: false }
nodes:
${clipDetectNodes(mediaPath(clip), { classes: ['person'] })}${poseNode('detect.detections')}  posture:
    type: posture${posture}
    inputs: { detections: { from: pose.detections, queue: { block: 2 } } }
  out:
    type: test-pose-collect
    inputs: { detections: { from: posture.detections, queue: { block: 4 } }, events: { from: posture.events, queue: { block: 16 } } }
`, { registry: testRegistry.with([collect]) });
  await app.app.runtime.finished;
  const frames = seen.get('out')!;
  return { frames, events: events.get('out')!, t0: frames[0].t };
}

describe('falls on real clips (yolo → rtmpose → posture)', () => {
  it('fall_sit_then_fall_indoor: sits on a chair (no fall), falls later: one fall once on the floor; lying still: collapsed (critical)', async () => {
    const { frames, events: ev, t0 } = await run('fall_sit_then_fall_indoor_320x240.mp4', '\n    immobile_ms: 1500');
    expect(frames).toHaveLength(193);
    // He sits on the chair from about 9.4 s to 12.4 s: posture says so.
    const at = (s: number) => frames.find((f) => f.t - t0 >= s * 1000)!.persons.filter((p) => p.score > 0.5).map((p) => p.pose?.label);
    expect(at(10.5)).toContain('sitting');
    expect(at(6.5)).toContain('standing');
    const kinds = ev.map((e) => [e.event_type, e.risk_level]);
    expect(kinds).toEqual([['fall', 'warn'], ['collapsed', 'critical']]);
    const [fall, collapsed] = ev;
    // He goes down at about 15.3 s and is on the floor from about 15.8 s (hand-checked frames).
    expect((fall.timestamp - t0) / 1000).toBeGreaterThanOrEqual(15.7);
    expect((fall.timestamp - t0) / 1000).toBeLessThanOrEqual(16.6);
    expect(fall.pose_label).toBe('lying');
    expect(fall.track_id).toBe(collapsed.track_id);
    expect(collapsed.timestamp - collapsed.since).toBeGreaterThanOrEqual(1500);
    expect((collapsed.timestamp - t0) / 1000).toBeLessThan(19.3);
  }, 180_000);

  it('fall_two_persons_indoor: two people fall (hand-held camera tilting down after them): two falls, one each', async () => {
    const { events: ev, t0 } = await run('fall_two_persons_indoor_1280x720.mp4');
    const falls = ev.filter((e) => e.event_type === 'fall');
    expect(falls).toHaveLength(2);
    expect(new Set(falls.map((e) => e.track_id)).size).toBe(2);
    // one on the left half, one on the right
    expect(falls.map((e) => e.bbox.x + e.bbox.w / 2 < 640).sort()).toEqual([false, true]);
    // both go down between 1.5 s and 2.5 s
    for (const e of falls) {
      expect((e.timestamp - t0) / 1000).toBeGreaterThan(1.6);
      expect((e.timestamp - t0) / 1000).toBeLessThan(3.0);
    }
  }, 180_000);

  it('vtest (20 s, pedestrians walking, crossing, occluding each other): no fall, nothing collapsed', async () => {
    const { frames, events: ev } = await run('vtest_first20s_h264.mp4');
    expect(frames).toHaveLength(200);
    expect(frames.reduce((n, f) => n + f.persons.length, 0)).toBeGreaterThan(1000);
    expect(ev).toEqual([]);
  }, 300_000);
});
