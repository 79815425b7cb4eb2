import type { AnyNodeDefinition } from '../../src/contract.js';
import type { GraphrunEvent } from '../../src/events/event.js';
export function idOf(s: string): string;
export function sampleJpeg(): Promise<Buffer>;
export const T0: number;
export function burstEvent(prefix: string, seq: number, stream?: string): GraphrunEvent;
export function eventBurstNode(lib: { defineNode: unknown; Type: unknown }): AnyNodeDefinition;
