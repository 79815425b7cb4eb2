/**
 * The node contract: everything a node type may import from the runtime.
 *
 * A node type is a `NodeDefinition`: its options as a JSON Schema (TypeBox builds it, and the
 * config type the node receives is derived from that same schema), its ports and the kind of
 * packet each carries, and `create(config, ctx)`, which returns a `NodeInstance`.
 *
 * Invariants the runtime keeps for every node, so no node has to:
 * - packets in/out, drops per edge and reason, errors, restarts, queue depth, in-flight work and
 *   processing time are counted by the runtime;
 * - a node is never given more than `concurrency` packets at once (the graph's `concurrency`,
 *   else the definition's `concurrency(config)`, else 1);
 * - a throw (or a rejected promise) from `process`/`run`/`start` is counted, shown, and the node
 *   is restarted with backoff; the rest of the graph keeps running;
 * - `stop` is called once per instance, with a deadline.
 */
import type { Static, TObject, TProperties } from '@sinclair/typebox';
import type { Logger } from 'pino';

export { Type } from '@sinclair/typebox';
export { retainFrame, discardFrame, FramePool } from './frames.js';
export type { Static } from '@sinclair/typebox';
export type { Logger } from 'pino';

/** The kinds of packet a port may carry; `any` accepts every kind. */
export type PortKind = 'frame' | 'detections' | 'tracks' | 'poses' | 'event' | 'summary' | 'any';

/**
 * Everything that moves along an edge. The same object is handed to every consumer of a port:
 * a node must treat packets it receives (and their `data`) as read-only and build a new packet
 * for what it emits (spreading the old one keeps stream id, seq and capture time).
 */
export interface Packet<T = unknown> {
  /** Camera or stream this packet belongs to. */
  streamId: string;
  /** Sequence number set by the source, per stream, increasing by one per packet it emits. */
  seq: number;
  /** Capture time, ms since the Unix epoch: the clock every time-based decision uses. */
  captureTimeMs: number;
  data: T;
}

export type PixelFormat = 'rgb24' | 'bgr24' | 'gray8';

/** Raw pixels plus geometry. `pixels` is never copied between nodes. */
export interface Frame {
  width: number;
  height: number;
  format: PixelFormat;
  /** Row-major pixels, `stride * height` bytes. Backed by a SharedArrayBuffer, so worker
   * threads read it without a copy. Pooled memory (see FramePool) is recycled once the runtime
   * knows nothing holds the frame: to keep a frame past `process`, call `retainFrame(frame)`. */
  pixels: Buffer;
  /** Bytes per row. */
  stride: number;
  /**
   * How these pixels map back to the camera's own: source = frame × scale + offset. Set by
   * whatever scaled the picture (ffmpeg at the source, the resize node), so detections can be
   * reported in source pixels. Absent means the frame is the source.
   */
  source?: SourceTransform;
}

export interface SourceTransform {
  width: number;
  height: number;
  scaleX: number;
  scaleY: number;
  offsetX: number;
  offsetY: number;
}

export interface PortSpec {
  kind: PortKind;
  description: string;
  /** Input ports only: the queue policy used when the graph names none. Default `latest`. */
  defaultQueue?: QueuePolicy;
  /** Input ports only: must the graph connect it? Default true. */
  required?: boolean;
}

export type QueuePolicy =
  | { mode: 'latest' }
  | { mode: 'drop_oldest'; size: number }
  | { mode: 'drop_newest'; size: number }
  | { mode: 'block'; size: number };

export type NodeState = 'starting' | 'running' | 'degraded' | 'error' | 'stopped';

/** Time source. Logic takes time from packets or from here, never from `Date.now()`. */
export interface Clock {
  /** Wall-clock ms since the Unix epoch. */
  now(): number;
  /** Monotonic ms, for measuring durations. */
  monotonic(): number;
  /** Resolves after `ms`, or rejects with an AbortError when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface NodeMetrics {
  /** A counter `graphrun_<name>` with `node_id`/`node_type` labels already set. */
  counter(name: string, help: string): { inc(n?: number): void };
  gauge(name: string, help: string): { set(v: number): void };
  histogram(name: string, help: string, buckets?: number[]): { observe(v: number): void };
}

export interface NodeContext {
  readonly id: string;
  readonly type: string;
  /** pino child logger with `node_id` and `node_type` bound; secrets in strings are redacted. */
  readonly log: Logger;
  readonly clock: Clock;
  /** Aborted when this instance is being stopped: loops and waits should end on it. */
  readonly signal: AbortSignal;
  /** Directory of the graph file, to resolve relative paths in options. */
  readonly graphDir: string;
  readonly metrics: NodeMetrics;
  /** Report state and a one-line human text for the status page. */
  status(update: { state?: NodeState; text?: string }): void;
  /**
   * Send a packet on an output port to every connected consumer. Returns a promise only when a
   * `block` edge downstream is full: await it (a source that awaits pauses; that is what
   * `block` means). Never drops on `block` edges; other policies drop by their rule and count it.
   */
  emit(port: string, packet: Packet): void | Promise<void>;
  /** Number of consumers connected to an output port (a node may skip work nobody reads). */
  connected(port: string): number;
}

export interface NodeInstance {
  /** Acquire processes, sockets, model sessions. Rejecting fails the start (retried with backoff). */
  start?(): void | Promise<void>;
  /** Per-packet work for non-source nodes. */
  process?(packet: Packet, port: string): void | Promise<void>;
  /**
   * Sources only: produce packets until `ctx.signal` aborts or the input is exhausted.
   * Resolving means "this source has ended" (a file that is done); rejecting is an error.
   * A source must wait on I/O or a timer regularly: packets move on microtasks, so a loop that
   * only awaits `emit` would hold the event loop (status server, timers, signals) for as long
   * as it runs.
   */
  run?(): Promise<void>;
  /**
   * Called once when the input is over for good — every source has ended and every queue is
   * empty, or the graph is stopping — after the nodes upstream have flushed, while the nodes
   * downstream still run: emit what is still held (open tracks' summaries, a partial batch).
   */
  flush?(): void | Promise<void>;
  /** Release everything. Called once; must finish within the runtime's stop deadline. */
  stop?(): void | Promise<void>;
}

export interface NodeDefinition<P extends TProperties = TProperties> {
  /** kebab-case; equals the folder name under nodes/. */
  type: string;
  /** One line for `graphrun nodes` and the docs. */
  summary: string;
  /** Options schema: every property needs a description and, unless required, a default. */
  options: TObject<P>;
  inputs: Record<string, PortSpec>;
  outputs: Record<string, PortSpec>;
  /**
   * Can this node pause when a downstream `block` edge is full? True for nodes that await
   * `emit` and for sources that can wait (files, synthetic); false for live cameras, which
   * cannot stop the world. The validator refuses `block` edges from nodes that cannot.
   */
  canPause: boolean;
  /**
   * Packets the node works on at once when the graph does not set `concurrency` (default 1):
   * a node with worker threads says how many frames keep its workers busy (yolo: each worker
   * one at work and the next one waiting, so it never idles between frames).
   */
  concurrency?(config: Static<TObject<P>>): number;
  create(config: Static<TObject<P>>, ctx: NodeContext): NodeInstance;
}

/** Helper that keeps the option types attached to `create`. */
export function defineNode<P extends TProperties>(def: NodeDefinition<P>): NodeDefinition<P> {
  return def;
}

/** A definition with its option types erased, as stored in the registry. */
export type AnyNodeDefinition = NodeDefinition<any>;

export function isSource(def: AnyNodeDefinition): boolean {
  return Object.keys(def.inputs).length === 0;
}

/**
 * The options schema as validators and docs see it: an option with a default is not required
 * (TypeBox marks every property required; the default fills it in before the node sees it).
 */
export function optionsJsonSchema(def: AnyNodeDefinition): Record<string, unknown> {
  const s = JSON.parse(JSON.stringify(def.options)) as { properties?: Record<string, { default?: unknown }>; required?: string[] };
  const required = (s.required ?? []).filter((k) => s.properties?.[k]?.default === undefined);
  return { ...s, required, additionalProperties: false };
}

/** Intersection over union of two boxes (x, y, w, h); 0 when both are empty. */
export function boxIou(a: { x: number; y: number; w: number; h: number }, b: { x: number; y: number; w: number; h: number }): number {
  const x0 = Math.max(a.x, b.x), y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.w, b.x + b.w), y1 = Math.min(a.y + a.h, b.y + b.h);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

/** One keypoint in source pixels; COCO-17 order for people. */
export interface Keypoint { x: number; y: number; score: number }

export type Category = 'human' | 'wildlife' | 'other';
export type ThreatLevel = 'none' | 'low' | 'medium' | 'high';
export type PoseLabel = 'standing' | 'crouching' | 'sitting' | 'lying';
export type RiskLevel = 'info' | 'warn' | 'critical';

/** One object found in a frame. Boxes and keypoints are in source (camera) pixels. */
export interface Detection {
  box: { x: number; y: number; w: number; h: number };
  score: number;
  classId: number;
  label: string;
  category: Category;
  /** Wildlife: species name and threat level from the model's label table. */
  species?: string;
  threatLevel?: ThreatLevel;
  /** From a pose-capable detector or a pose node. */
  keypoints?: Keypoint[];
  /** Set by a tracker. */
  trackId?: number;
  /** Set by a posture node. */
  pose?: { label: PoseLabel; confidence: number };
  /**
   * Set by a posture node while a track is in an alarming state: `fall` (warn) from the frame
   * the fall is recognised until the person is upright again, `collapsed` (critical) while they
   * lie still past `immobile_ms`. `since`: packet time the state began.
   */
  risk?: { level: RiskLevel; reason: 'fall' | 'collapsed'; since: number };
  /** Set by a zone-filter node: names of the zones the object is in (bottom centre of its box). */
  zones?: string[];
}

/**
 * What a detector emits on a `detections` port, and what pose, posture and tracking nodes pass
 * on (adding to the detections). `frame` is the frame they were found in, by reference: nodes
 * downstream (pose, snapshots) need its pixels; the runtime counts this packet as holding it.
 */
export interface Detections {
  frame: Frame;
  detections: Detection[];
  /** Inference time of the model that produced them (pre-processing + run + decode). */
  inferenceLatencyMs: number;
  /** Whether a GPU execution provider ran the model. */
  gpu: boolean;
  /** Model id or file. */
  model: string;
}
