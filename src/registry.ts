/**
 * The explicit list of node types. The runtime knows a node type only through this list:
 * adding a node means adding its folder under nodes/ and one line here.
 */
import type { AnyNodeDefinition } from './contract.js';
import { syntheticSource } from '../nodes/synthetic-source/synthetic-source.js';
import { debugSink } from '../nodes/debug-sink/debug-sink.js';
import { rtspSource } from '../nodes/rtsp-source/rtsp-source.js';
import { fileSource } from '../nodes/file-source/file-source.js';
import { resize } from '../nodes/resize/resize.js';
import { bytetrack } from '../nodes/bytetrack/bytetrack.js';
import { cooldownGate } from '../nodes/cooldown-gate/cooldown-gate.js';
import { yolo } from '../nodes/yolo/yolo.js';
import { rtmpose } from '../nodes/rtmpose/rtmpose.js';
import { posture } from '../nodes/posture/posture.js';
import { snapshot } from '../nodes/snapshot/snapshot.js';
import { zoneFilter } from '../nodes/zone-filter/zone-filter.js';
import { fastapiSink } from '../nodes/fastapi-sink/fastapi-sink.js';
import { s3Sink } from '../nodes/s3-sink/s3-sink.js';
import { webhookSink } from '../nodes/webhook-sink/webhook-sink.js';
import { localStore } from '../nodes/local-store/local-store.js';

export const builtinNodes: AnyNodeDefinition[] = [syntheticSource, debugSink, rtspSource, fileSource, resize, rtmpose, posture, yolo, bytetrack, zoneFilter, cooldownGate, snapshot, localStore, fastapiSink, s3Sink, webhookSink];

export class Registry {
  private readonly byType = new Map<string, AnyNodeDefinition>();
  constructor(defs: AnyNodeDefinition[] = builtinNodes) {
    for (const d of defs) {
      if (this.byType.has(d.type)) throw new Error(`node type "${d.type}" registered twice`);
      this.byType.set(d.type, d);
    }
  }
  get(type: string): AnyNodeDefinition | undefined {
    return this.byType.get(type);
  }
  types(): string[] {
    return [...this.byType.keys()].sort();
  }
  all(): AnyNodeDefinition[] {
    return this.types().map((t) => this.byType.get(t)!);
  }
  /** A registry with extra types (tests, plugins). */
  with(defs: AnyNodeDefinition[]): Registry {
    return new Registry([...this.byType.values(), ...defs]);
  }
}

export const defaultRegistry = new Registry();
