/**
 * Events on real clips, end to end through the demo pipeline's nodes: file-source (every frame,
 * block edges) → yolo (YOLOX-Nano, score 0.1 for ByteTrack's second association) → bytetrack →
 * rtmpose (gated per track) → posture → cooldown-gate → a collector. Packet time is file time,
 * so the figures do not depend on the machine's speed.
 *
 * Checks the issue's contract points: every event validates against schemas/event.schema.json;
 * the number of events stays bounded (person events ≤ distinct tracks × (1 + clip length /
 * cooldown)); every confirmed track gets exactly one summary, none left open once the source
 * ended and the graph stopped; a fall is one fall event.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { defineNode, Type, type Detections, type Packet } from '../src/contract.js';
import { validateEvent, type EventPacket, type GraphrunEvent } from '../src/events/event.js';
import type { GateTrackSummary } from '../nodes/cooldown-gate/cooldown-gate.js';
import { startGraph, type TestApp } from './support/app.js';
import { clipDetectNodes, poseNode } from './support/clip-pipeline.js';
import { mediaPath } from './support/media.js';
import { testRegistry } from './support/test-nodes.js';

interface Collected { events: GraphrunEvent[]; withFrame: number; summaries: GateTrackSummary[]; trackIds: Set<number>; frames: number; first: number; last: number }
const collected = new Map<string, Collected>();

const collect = defineNode({
  type: 'test-event-collect',
  summary: 'Keeps events, summaries and the track ids seen (tests only).',
  options: Type.Object({}),
  inputs: {
    events: { kind: 'event', description: 'Events.', defaultQueue: { mode: 'block', size: 64 } },
    summaries: { kind: 'summary', description: 'Track summaries.', defaultQueue: { mode: 'block', size: 64 }, required: false },
    detections: { kind: 'detections', description: 'Tracked detections.', defaultQueue: { mode: 'block', size: 4 }, required: false },
  },
  outputs: {},
  canPause: true,
  create(_cfg, ctx) {
    const c: Collected = { events: [], withFrame: 0, summaries: [], trackIds: new Set(), frames: 0, first: NaN, last: NaN };
    collected.set(ctx.id, c);
    return {
      process(p: Packet, port: string) {
        if (port === 'events') {
          const e = p.data as EventPacket;
          c.events.push(e.event);
          if (e.frame && e.frame.pixels.length > 0) c.withFrame++;
        } else if (port === 'summaries') c.summaries.push(p.data as GateTrackSummary);
        else {
          c.frames++;
          if (Number.isNaN(c.first)) c.first = p.captureTimeMs;
          c.last = p.captureTimeMs;
          for (const d of (p.data as Detections).detections) if (d.trackId !== undefined) c.trackIds.add(d.trackId);
        }
      },
    };
  },
});

let app: TestApp | undefined;
afterEach(async () => { await app?.app.stop(); app = undefined; });

async function run(clip: string, extra = { posture: '', gate: '' }): Promise<Collected> {
  app = await startGraph(`
version: 1
name: events
status: { enabled: false }
nodes:
${clipDetectNodes(mediaPath(clip))}  track:
    type: bytetrack
    inputs: { detections: { from: detect.detections, queue: { block: 2 } } }
${poseNode('track.detections')}  posture:
    type: posture${extra.posture}
    inputs: { detections: { from: pose.detections, queue: { block: 2 } } }
  gate:
    type: cooldown-gate${extra.gate}
    inputs:
      detections: { from: posture.detections, queue: { block: 4 } }
      ended: { from: track.ended, queue: { block: 64 } }
  out:
    type: test-event-collect
    inputs:
      events: { from: gate.events, queue: { block: 64 } }
      summaries: { from: gate.summaries, queue: { block: 64 } }
      detections: { from: track.detections, queue: { block: 4 } }
`, { registry: testRegistry.with([collect]) });
  await app.app.runtime.finished;
  await app.app.stop();
  app = undefined;
  return collected.get('out')!;
}

function checkContract(c: Collected): void {
  for (const e of c.events) expect(validateEvent(e), JSON.stringify(e).slice(0, 300)).toEqual([]);
  expect(new Set(c.events.map((e) => e.event_id)).size).toBe(c.events.length);
  expect(c.withFrame).toBe(c.events.length); // each carries its frame for the snapshot node
  // Every confirmed track: exactly one summary, after the source ended and the graph stopped.
  const summarized = c.summaries.map((s) => s.track_id);
  expect(new Set(summarized).size).toBe(summarized.length);
  expect([...c.trackIds].sort((a, b) => a - b)).toEqual([...summarized].sort((a, b) => a - b));
  for (const s of c.summaries) expect(s.last_seen).toBeGreaterThanOrEqual(s.first_seen);
}

describe('events on real clips (yolo → bytetrack → rtmpose → posture → cooldown-gate)', () => {
  it('vtest, 20 s of pedestrians: person events bounded by tracks × (1 + 20 s / cooldown), all valid, no fall; every track summarized', async () => {
    const c = await run('vtest_first20s_h264.mp4');
    expect(c.frames).toBe(200);
    checkContract(c);
    const persons = c.events.filter((e) => e.category === 'human');
    const seconds = (c.last - c.first) / 1000;
    const bound = c.trackIds.size * (1 + seconds / 10);
    console.log(`vtest: ${c.trackIds.size} tracks, ${persons.length} person events (bound ${bound.toFixed(0)}), ${c.summaries.filter((s) => s.end_reason === 'input_ended').length} tracks open at the end, suppressed ${c.summaries.reduce((a, s) => a + s.suppressed, 0)}`);
    expect(c.trackIds.size).toBeGreaterThan(5);
    expect(persons.length).toBeGreaterThan(5);
    expect(persons.length).toBeLessThanOrEqual(bound);
    expect(persons.filter((e) => e.event_type !== 'person_detected')).toEqual([]);
    expect(c.summaries.some((s) => s.end_reason === 'input_ended')).toBe(true); // people still in view at the end
  }, 240_000);

  it('fall_sit_then_fall_indoor: exactly one fall, then collapsed (short immobile_ms), all valid; every track summarized', async () => {
    const c = await run('fall_sit_then_fall_indoor_320x240.mp4', { posture: '\n    immobile_ms: 1500', gate: '' });
    checkContract(c);
    const kinds = c.events.filter((e) => e.event_type !== 'person_detected').map((e) => `${e.event_type}/${e.risk_level}/${e.reason}`);
    console.log(`fall clip: ${c.trackIds.size} tracks, events ${c.events.map((e) => `${e.event_type}#${e.track_id}@${((Date.parse(e.timestamp_utc) - c.first) / 1000).toFixed(1)}s`).join(', ')}`);
    expect(kinds).toEqual(['fall/warn/escalation', 'collapsed/critical/escalation']);
    const fall = c.events.find((e) => e.event_type === 'fall')!;
    expect((Date.parse(fall.timestamp_utc) - c.first) / 1000).toBeGreaterThanOrEqual(15.7);
    expect(fall.pose_label).toBe('lying');
    expect(fall.keypoints!.length).toBe(17);
  }, 240_000);
});
