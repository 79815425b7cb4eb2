import { describe, expect, it } from 'vitest';
import type { Detection, Detections, Packet } from '../../src/contract.js';
import { validateEvent, type EventPacket } from '../../src/events/event.js';
import { buildNode } from '../../test/support/node-harness.js';
import type { GateTrackSummary } from './cooldown-gate.js';

const T0 = Date.UTC(2026, 6, 1, 12, 0, 0);
const frame = { width: 640, height: 360, format: 'rgb24' as const, stride: 1920, pixels: Buffer.alloc(16), source: { width: 1280, height: 720, scaleX: 2, scaleY: 2, offsetX: 0, offsetY: 0 } };
const person = (trackId: number | undefined, x: number, o: Partial<Detection> = {}): Detection => ({ box: { x, y: 200, w: 80, h: 240 }, score: 0.8, classId: 0, label: 'person', category: 'human', trackId, ...o });
const fox = (trackId: number, x: number, o: Partial<Detection> = {}): Detection => ({ box: { x, y: 400, w: 100, h: 60 }, score: 0.7, classId: 16, label: 'dog', category: 'wildlife', species: 'fox', threatLevel: 'medium', trackId, ...o });
const packet = (seq: number, dets: Detection[], stream = 'garden', fps = 10): Packet<Detections> => ({
  streamId: stream, seq, captureTimeMs: T0 + (seq * 1000) / fps, data: { frame, detections: dets, inferenceLatencyMs: 12.3456, gpu: false, model: 'yolox-nano' },
});

async function feed(h: ReturnType<typeof buildNode>, p: Packet, port = 'detections') { await h.instance.process!(p, port); }
const events = (h: ReturnType<typeof buildNode>) => h.emitted.filter((e) => e.port === 'events').map((e) => e.packet.data as EventPacket);

describe('cooldown-gate node', () => {
  it('assembles schema-valid events with the frame for snapshots: first sighting, then a fall and a collapse at once, nothing in between', async () => {
    const h = buildNode('{ type: cooldown-gate, cooldown_ms: 10000 }');
    for (let s = 0; s < 20; s++) await feed(h, packet(s, [person(3, 100 + s, { pose: { label: 'standing', confidence: 0.9 }, keypoints: Array.from({ length: 17 }, (_, k) => ({ x: 120 + k, y: 220 + 10 * k, score: 0.9 })) })]));
    await feed(h, packet(20, [person(3, 120, { score: 0.18, pose: { label: 'lying', confidence: 0.8 }, risk: { level: 'warn', reason: 'fall', since: T0 + 1900 } })]));
    for (let s = 21; s < 40; s++) await feed(h, packet(s, [person(3, 120, { score: 0.2, pose: { label: 'lying', confidence: 0.8 }, risk: { level: 'warn', reason: 'fall', since: T0 + 1900 } })]));
    await feed(h, packet(40, [person(3, 120, { score: 0.2, pose: { label: 'lying', confidence: 0.8 }, risk: { level: 'critical', reason: 'collapsed', since: T0 + 2100 } })]));
    const ev = events(h);
    expect(ev.map((e) => [e.event.event_type, e.event.risk_level, e.event.reason])).toEqual([
      ['person_detected', 'info', 'first_sighting'], ['fall', 'warn', 'escalation'], ['collapsed', 'critical', 'escalation'],
    ]);
    for (const e of ev) expect(validateEvent(e.event)).toEqual([]);
    const [first, fall] = ev;
    expect(first.frame).toBe(frame);
    expect(first.event).toMatchObject({ stream_id: 'garden', track_id: 3, frame_index: 0, timestamp_utc: '2026-07-01T12:00:00.000Z', frame_size: { width: 1280, height: 720 }, bbox: { x: 100, y: 200, w: 80, h: 240 }, confidence: 0.8, inference_latency_ms: 12.346, gpu_enabled: false, pose_label: 'standing' });
    expect(first.event.keypoints).toHaveLength(17);
    expect(fall.event).toMatchObject({ frame_index: 20, since_utc: new Date(T0 + 1900).toISOString(), pose_label: 'lying', confidence: 0.18 });
    expect(new Set(ev.map((e) => e.event.event_id)).size).toBe(3);
  });

  it('wildlife: species, threat, behaviour from speed (body lengths per second); untracked and other categories ignored', async () => {
    const h = buildNode('{ type: cooldown-gate, cooldown_ms: 0, extend_on_sighting: false }');
    // Still for 2 s → feeding; then 4 box heights (60 px) per second → running.
    for (let s = 0; s < 20; s++) await feed(h, packet(s, [fox(9, 300), person(undefined, 10), { ...person(4, 600), category: 'other', label: 'car' }]));
    for (let s = 20; s < 40; s++) await feed(h, packet(s, [fox(9, 300 + (s - 19) * 24)]));
    const ev = events(h).map((e) => e.event);
    expect(ev.every((e) => e.category === 'wildlife')).toBe(true);
    expect(ev[0]).toMatchObject({ event_type: 'wildlife_intrusion', species: 'fox', threat_level: 'medium', risk_level: 'warn', label: 'dog', species_confidence: 0.7 });
    expect(ev.slice(1, 20).map((e) => e.behavior_hint)).toEqual(Array(19).fill('feeding'));
    expect(ev[ev.length - 1].behavior_hint).toBe('running');
    for (const e of ev) expect(validateEvent(e)).toEqual([]);
    expect(h.statuses.at(-1)?.text).toMatch(/detections without a track skipped/);
  });

  it('per stream: the same track id on two cameras is two incidents', async () => {
    const h = buildNode('type: cooldown-gate');
    await feed(h, packet(0, [person(1, 100)], 'a'));
    await feed(h, packet(0, [person(1, 100)], 'b'));
    await feed(h, packet(1, [person(1, 100)], 'a'));
    expect(events(h).map((e) => e.event.stream_id)).toEqual(['a', 'b']);
  });

  it('summaries: each ended track with the events it raised and the sightings suppressed', async () => {
    const h = buildNode('type: cooldown-gate');
    for (let s = 0; s < 5; s++) await feed(h, packet(s, [person(2, 100)]));
    await feed(h, packet(5, [person(2, 100, { risk: { level: 'warn', reason: 'fall', since: T0 } })]));
    const ended = { stream_id: 'garden', track_id: 2, category: 'human', label: 'person', first_seen: T0, last_seen: T0 + 500, end_reason: 'lost' };
    await feed(h, { streamId: 'garden', seq: 0, captureTimeMs: T0 + 3000, data: ended }, 'ended');
    await feed(h, { streamId: 'garden', seq: 1, captureTimeMs: T0 + 3000, data: { ...ended, track_id: 99 } }, 'ended');
    const sums = h.emitted.filter((e) => e.port === 'summaries').map((e) => e.packet.data as GateTrackSummary);
    expect(sums).toEqual([
      { ...ended, duration_ms: 500, events: 2, suppressed: 4, max_level: 'warn' },
      { ...ended, track_id: 99, duration_ms: 500, events: 0, suppressed: 0, max_level: null },
    ]);
  });

  it('an event that fails the schema is never emitted: counted and logged', async () => {
    const h = buildNode('type: cooldown-gate');
    await feed(h, packet(0, [person(1, 100, { label: '' })])); // label must not be empty
    expect(events(h)).toEqual([]);
    expect(h.logs.join('\n')).toMatch(/failed schema validation/);
    expect(h.statuses.at(-1)?.text).toMatch(/1 INVALID/);
  });
});
