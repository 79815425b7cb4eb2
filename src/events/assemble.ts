/**
 * Event assembly: one detection of one frame → a GraphrunEvent (schemas/event.schema.json).
 * The cooldown gate decides when; this decides what the event says.
 */
import { randomUUID } from 'node:crypto';
import type { Detection, Detections, Packet } from '../contract.js';
import { EVENT_SCHEMA_VERSION, riskOfThreat, type BehaviorHint, type EventReason, type EventType, type GraphrunEvent } from './event.js';

const r1 = (v: number): number => Math.round(v * 10) / 10;
const r3 = (v: number): number => Math.round(v * 1000) / 1000;
const unit = (v: number): number => r3(Math.min(1, Math.max(0, v)));

export interface AssembleExtras {
  reason: EventReason;
  /** Wildlife: from the track's speed. */
  behaviorHint?: BehaviorHint;
}

export function assembleEvent(packet: Packet, data: Detections, d: Detection, x: AssembleExtras): GraphrunEvent {
  const f = data.frame;
  const e: GraphrunEvent = {
    schema_version: EVENT_SCHEMA_VERSION,
    event_id: randomUUID(),
    event_type: 'object_detected',
    category: d.category,
    stream_id: packet.streamId,
    track_id: d.trackId ?? 0,
    timestamp_utc: new Date(packet.captureTimeMs).toISOString(),
    frame_index: packet.seq,
    frame_size: { width: f.source?.width ?? f.width, height: f.source?.height ?? f.height },
    bbox: { x: r1(d.box.x), y: r1(d.box.y), w: r1(Math.max(0, d.box.w)), h: r1(Math.max(0, d.box.h)) },
    confidence: unit(d.score),
    label: d.label,
    risk_level: 'info',
    reason: x.reason,
    inference_latency_ms: r3(Math.max(0, data.inferenceLatencyMs)),
    gpu_enabled: data.gpu,
    model: data.model,
    snapshot: null,
  };
  if (d.zones) e.zones = [...new Set(d.zones)];
  if (d.category === 'human') {
    let type: EventType = 'person_detected';
    if (d.risk) {
      type = d.risk.reason;
      e.risk_level = d.risk.level;
      e.since_utc = new Date(d.risk.since).toISOString();
    }
    e.event_type = type;
    e.pose_label = d.pose?.label ?? null;
    e.pose_confidence = d.pose ? unit(d.pose.confidence) : null;
    e.keypoints = (d.keypoints ?? []).map((k) => ({ x: r1(k.x), y: r1(k.y), score: unit(k.score) }));
  } else if (d.category === 'wildlife') {
    e.event_type = 'wildlife_intrusion';
    e.species = d.species ?? d.label;
    e.species_confidence = unit(d.score);
    e.threat_level = d.threatLevel ?? 'low';
    e.risk_level = riskOfThreat(e.threat_level);
    e.behavior_hint = x.behaviorHint ?? 'moving';
  }
  return e;
}
