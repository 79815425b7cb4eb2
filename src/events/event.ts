/**
 * The event contract (schemas/event.schema.json) as TypeScript, its validator, and what moves
 * on `event` ports between the cooldown gate, the snapshot node and the sinks.
 *
 * An `EventPacket` carries the event JSON plus what is not JSON: the frame it was raised on
 * (by reference, held by the runtime like any frame in `data.frame`, until a snapshot node
 * has drawn it and drops it) and the JPEG bytes once a snapshot node made them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsImport from 'ajv-formats';
import { packageRoot } from '../assets.js';
import type { Category, Detection, Frame, Keypoint, PoseLabel, RiskLevel, ThreatLevel } from '../contract.js';

export const EVENT_SCHEMA_VERSION = '1.0';

export type EventType = 'person_detected' | 'fall' | 'collapsed' | 'wildlife_intrusion' | 'object_detected';
export type EventReason = 'first_sighting' | 'escalation' | 'after_cooldown';
export type BehaviorHint = 'feeding' | 'moving' | 'running';

export interface SnapshotRef {
  content_type: 'image/jpeg';
  width: number;
  height: number;
  bytes: number;
  crop?: { x: number; y: number; w: number; h: number };
  url?: string;
  key?: string;
}

/** One event, as delivered. Field meanings: schemas/event.schema.json. */
export interface GraphrunEvent {
  schema_version: typeof EVENT_SCHEMA_VERSION;
  event_id: string;
  event_type: EventType;
  category: Category;
  stream_id: string;
  track_id: number;
  timestamp_utc: string;
  frame_index: number;
  frame_size?: { width: number; height: number };
  bbox: { x: number; y: number; w: number; h: number };
  confidence: number;
  label: string;
  risk_level: RiskLevel;
  reason: EventReason;
  zones?: string[];
  inference_latency_ms: number;
  gpu_enabled: boolean;
  model?: string;
  pose_label?: PoseLabel | null;
  pose_confidence?: number | null;
  keypoints?: Keypoint[];
  species?: string;
  species_confidence?: number;
  threat_level?: ThreatLevel;
  behavior_hint?: BehaviorHint;
  since_utc?: string;
  snapshot?: SnapshotRef | null;
}

/** What an `event` port carries. */
export interface EventPacket {
  event: GraphrunEvent;
  /** The frame the event was raised on, until a snapshot node has used it. */
  frame?: Frame;
  /** The object's detection in that frame (for drawing: keypoints, label). */
  detection?: Detection;
  /** Other detections of the frame (drawn lighter by a snapshot node). */
  others?: Detection[];
  /** The snapshot JPEG, once made. */
  snapshot?: { jpeg: Buffer; width: number; height: number };
}

/** Summary of a track when it ends (bytetrack's `ended` port). Times: ms since the epoch. */
export interface TrackSummary {
  stream_id: string;
  track_id: number;
  category: string;
  label: string;
  first_seen: number;
  last_seen: number;
  /** Why it ended: the tracker dropped it, or the input ended / the graph stopped. */
  end_reason?: 'lost' | 'input_ended';
}

export const EVENT_SCHEMA_PATH = path.join(packageRoot, 'schemas', 'event.schema.json');

let validator: ((e: unknown) => boolean) & { errors?: ErrorObject[] | null } | undefined;

/** The compiled validator of schemas/event.schema.json (ajv, JSON Schema 2020-12, formats). */
export function eventValidator(): ((e: unknown) => boolean) & { errors?: ErrorObject[] | null } {
  if (!validator) {
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
    const addFormats = (addFormatsImport as unknown as { default?: typeof addFormatsImport }).default ?? addFormatsImport;
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    validator = ajv.compile(JSON.parse(readFileSync(EVENT_SCHEMA_PATH, 'utf8')));
  }
  return validator;
}

/** Validation errors of an event as short strings (`/path: message`); empty when valid. */
export function validateEvent(e: unknown): string[] {
  const v = eventValidator();
  if (v(e)) return [];
  return (v.errors ?? []).map((x) => `${x.instancePath || '/'}: ${x.message ?? 'invalid'}${x.params && 'allowedValues' in x.params ? ` (${(x.params as { allowedValues: unknown[] }).allowedValues.join(', ')})` : ''}`);
}

const RISK_ORDER: Record<RiskLevel, number> = { info: 0, warn: 1, critical: 2 };
const THREAT_ORDER: Record<ThreatLevel, number> = { none: 0, low: 1, medium: 2, high: 3 };
export const riskRank = (r: RiskLevel): number => RISK_ORDER[r];
export const threatRank = (t: ThreatLevel | undefined): number => (t ? THREAT_ORDER[t] : 0);

/** Wildlife threat → risk: none/low info, medium warn, high critical. */
export function riskOfThreat(t: ThreatLevel | undefined): RiskLevel {
  return t === 'high' ? 'critical' : t === 'medium' ? 'warn' : 'info';
}
