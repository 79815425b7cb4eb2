/**
 * The cooldown decision, free of the node plumbing: which sightings of which tracks become
 * events. Pure logic on packet time (ms), so tests drive it with any clock.
 *
 * Keyed by (stream, category, track id). Per key:
 * - the first sighting at or above `minScore` (or at any score when it already carries a risk
 *   above info: people on the floor score low) → `first_sighting`;
 * - a sighting whose level is above the level of the key's last event → `escalation`, at once,
 *   whatever the window (level: the person's risk — info, warn, critical — or the animal's
 *   threat — none, low, medium, high). When the level drops (the person stood up) the key's
 *   level follows it down silently, so a second fall later is an escalation again;
 * - otherwise, inside the window → suppressed (counted); after it → `after_cooldown`.
 * The window: `cooldownMs` from the last event, and, with `extendOnSighting` (default), from
 * the last sighting too — one event per continuous presence, however long, rather than one
 * every `cooldownMs` while someone weeds the garden for an hour.
 * Track ids churn (occlusion, a detector miss longer than the tracker's buffer): a key seen
 * for the first time whose box overlaps (IoU ≥ `returningIou`) the last box of a key of the
 * same stream and category that is not in this frame and was seen within the window takes
 * over that key's state — the same incident, no new event.
 * Keys unseen for longer than the window are forgotten (a sighting after that is a new
 * incident anyway), so memory follows the number of objects in view, not the history; a hard
 * cap `maxKeys` forgets the least recently seen beyond it.
 */
import { boxIou, type Category } from '../../src/contract.js';
import type { EventReason } from '../../src/events/event.js';

export interface GateOptions {
  cooldownMs: number;
  extendOnSighting: boolean;
  minScore: number;
  returningIou: number;
  maxKeys: number;
}

export const DEFAULT_GATE: GateOptions = { cooldownMs: 10000, extendOnSighting: true, minScore: 0.3, returningIou: 0.3, maxKeys: 100000 };

export interface Box { x: number; y: number; w: number; h: number }

export interface Sighting {
  trackId: number;
  category: Category;
  score: number;
  /** 0 info / none … higher is more urgent (risk rank, or threat rank for wildlife). */
  level: number;
  box: Box;
}

export interface KeyState {
  trackId: number;
  category: Category;
  firstSeen: number;
  lastSeen: number;
  /** Packet time of the last event; NaN before the first. */
  lastEvent: number;
  /** Level of the last event, lowered when the object's level drops. */
  level: number;
  lastBox: Box;
  events: number;
  suppressed: number;
  /** Track ids this incident went through (returning merges). */
  formerIds: number[];
  /** Highest level any event of this key had. */
  maxLevel: number;
}

export type Decision = { emit: true; reason: EventReason; state: KeyState } | { emit: false; state: KeyState; merged?: boolean };

export const iou = boxIou;

/** One stream's keys. Map order = least recently seen first (a sighting moves its key last). */
export class StreamGate {
  readonly keys = new Map<string, KeyState>();
  suppressed = 0;
  merges = 0;
  forgotten = 0;
  private lastSweep = -Infinity;

  constructor(private readonly o: GateOptions) {}

  /**
   * Decide for the sightings of one frame at time `t`. `onForget` hears each key as it is
   * forgotten (expired or over the cap).
   */
  frame(t: number, sightings: Sighting[], onForget?: (k: KeyState) => void): Decision[] {
    this.sweep(t, onForget);
    const present = new Set<string>();
    for (const s of sightings) present.add(keyOf(s.category, s.trackId));
    const out: Decision[] = [];
    for (const s of sightings) out.push(this.decide(t, s, present));
    while (this.keys.size > this.o.maxKeys) {
      const [k, st] = this.keys.entries().next().value as [string, KeyState];
      this.keys.delete(k);
      this.forgotten++;
      onForget?.(st);
    }
    return out;
  }

  private decide(t: number, s: Sighting, present: Set<string>): Decision {
    const o = this.o;
    const key = keyOf(s.category, s.trackId);
    let st = this.keys.get(key);
    let merged = false;
    if (st) this.keys.delete(key); // re-inserted below: most recently seen last
    else {
      st = this.adoptReturning(t, s, present);
      if (st) merged = true;
      else st = { trackId: s.trackId, category: s.category, firstSeen: t, lastSeen: t, lastEvent: NaN, level: -1, lastBox: s.box, events: 0, suppressed: 0, formerIds: [], maxLevel: -1 };
    }
    this.keys.set(key, st);
    const windowEnd = Math.max(st.lastEvent, o.extendOnSighting ? st.lastSeen : -Infinity) + o.cooldownMs;
    st.lastSeen = t;
    st.lastBox = s.box;
    let reason: EventReason | undefined;
    if (Number.isNaN(st.lastEvent)) {
      if (s.score >= o.minScore || s.level > 0) reason = 'first_sighting';
    } else if (s.level > st.level) reason = 'escalation';
    else if (t > windowEnd && s.score >= o.minScore) reason = 'after_cooldown';
    if (!reason) {
      if (s.level < st.level) st.level = s.level;
      if (!Number.isNaN(st.lastEvent)) { st.suppressed++; this.suppressed++; }
      return { emit: false, state: st, merged };
    }
    st.lastEvent = t;
    st.level = s.level;
    st.maxLevel = Math.max(st.maxLevel, s.level);
    st.events++;
    return { emit: true, reason, state: st };
  }

  /** A new track id where a recently lost one of the same category was: the same incident. */
  private adoptReturning(t: number, s: Sighting, present: Set<string>): KeyState | undefined {
    if (this.o.returningIou > 1) return undefined;
    let best: [string, KeyState] | undefined;
    let bestIou = this.o.returningIou;
    for (const [k, st] of this.keys) {
      if (st.category !== s.category || present.has(k) || st.lastSeen >= t || t - st.lastSeen > this.o.cooldownMs) continue;
      const v = iou(st.lastBox, s.box);
      if (v >= bestIou) { bestIou = v; best = [k, st]; }
    }
    if (!best) return undefined;
    this.keys.delete(best[0]);
    const st = best[1];
    st.formerIds.push(st.trackId);
    st.trackId = s.trackId;
    this.merges++;
    return st;
  }

  /** Forget keys unseen for longer than the window (at most once per 250 ms of packet time). */
  private sweep(t: number, onForget?: (k: KeyState) => void): void {
    if (t - this.lastSweep < 250) return;
    this.lastSweep = t;
    for (const [k, st] of this.keys) {
      if (t - st.lastSeen <= this.o.cooldownMs) break; // the rest were seen later
      this.keys.delete(k);
      this.forgotten++;
      onForget?.(st);
    }
  }

  /** Forget everything (input over): each key to `onForget`. */
  drain(onForget?: (k: KeyState) => void): void {
    for (const st of this.keys.values()) onForget?.(st);
    this.keys.clear();
  }
}

function keyOf(category: Category, trackId: number): string {
  return `${category}#${trackId}`;
}
