/** Events and JPEG bytes for the local-store tests (store, node, events page). */
import { randomBytes, randomUUID } from 'node:crypto';
import type { GraphrunEvent } from '../../src/events/event.js';

export const T0 = Date.UTC(2026, 6, 1, 12, 0, 0);

/** A schema-valid person_detected event; fields overridable. */
export function makeEvent(o: Partial<GraphrunEvent> = {}): GraphrunEvent {
  return {
    schema_version: '1.0', event_id: randomUUID(), event_type: 'person_detected', category: 'human', stream_id: 'garden',
    track_id: 7, timestamp_utc: new Date(T0).toISOString(), frame_index: 12, frame_size: { width: 1280, height: 720 },
    bbox: { x: 100, y: 200, w: 80, h: 240 }, confidence: 0.81, label: 'person', risk_level: 'info', reason: 'first_sighting',
    zones: ['lawn'], inference_latency_ms: 12.5, gpu_enabled: false, model: 'yolox-nano', pose_label: null, pose_confidence: null,
    keypoints: [], snapshot: null, ...o,
  };
}

/** Bytes that start and end like a JPEG (the store never decodes them). */
export function fakeJpeg(bytes: number): Buffer {
  const b = randomBytes(bytes);
  b[0] = 0xff; b[1] = 0xd8; b[bytes - 2] = 0xff; b[bytes - 1] = 0xd9;
  return b;
}
