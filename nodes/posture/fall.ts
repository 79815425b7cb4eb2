/**
 * Per-track fall and immobility logic, on packet time only (tests drive it with fake time).
 *
 * Stable posture: a label becomes the track's posture once it holds for `confirmMs`: at least
 * 70% of the samples of the last `confirmMs` (at least the last two samples) carry it. A
 * flicker of one frame changes nothing.
 *
 * Fall (risk `warn`): from standing to down within `fallWindowMs`, with the body going down.
 * - Down: lying, or any posture but standing with the box at most `floorRatio` of its
 *   standing height (on the floor, curled up or sitting: a fall does not always end flat).
 *   It must hold like a posture (70% of the last `confirmMs`); its onset is its first frame.
 * - Within the window: from the last standing frame (while the posture was standing) to the
 *   onset. Sitting down slowly on a chair is no fall twice over: it takes longer, and a chair
 *   keeps the box at about 0.6–0.75 of the standing height.
 * - Going down: the hips at least `hipDrop` × the standing box height lower than their
 *   highest point while standing in the window; or, lying, a box at most `floorRatio` of the
 *   standing height (a camera that tilts to follow the person shows no drop in image
 *   positions). A box that shrinks because the legs are hidden does not move the hips down.
 * At most one fall per descent; standing up again (as a posture) ends the descent.
 *
 * Collapsed (risk `critical`): lying and not moving for `immobileMs`. Moving = the box centre
 * or size differs by more than `immobileTolerance` × the box's longer side from the reference
 * box (the frame that confirmed lying) on every frame for `confirmMs`; then the moved box is
 * the new reference and the clock restarts. At most one per lying spell, with or without a
 * fall before it.
 *
 * With `requireSkeleton`, a track raises nothing until its skeleton has been seen at least
 * once (a posture from shoulders and hips, not from the box alone): a static false detection
 * — a coat on a chair, a shadow — never shows one, so it cannot lie still and "collapse".
 *
 * A lying spell ends when another posture becomes stable; the next lying spell can raise its
 * own collapsed.
 */
import type { Keypoint, PoseLabel, RiskLevel } from '../../src/contract.js';
import type { Box } from '../rtmpose/crop.js';

export interface FallOptions {
  fallWindowMs: number;
  immobileMs: number;
  immobileTolerance: number;
  confirmMs: number;
  hipDrop: number;
  /** On the floor: a box at most this share of the standing box height. */
  floorRatio: number;
  /** Raise nothing for a track whose skeleton was never seen (a static false detection). */
  requireSkeleton: boolean;
}

export const DEFAULT_FALL: FallOptions = { fallWindowMs: 1500, immobileMs: 30000, immobileTolerance: 0.15, confirmMs: 300, hipDrop: 0.2, floorRatio: 0.45, requireSkeleton: false };

export interface Sample {
  t: number;
  label: PoseLabel;
  confidence: number;
  box: Box;
  hipY: number;
  keypoints?: Keypoint[];
  /** The posture came from a skeleton (shoulders and hips found), not from the box alone. */
  skeleton?: boolean;
}

export interface Escalation {
  type: 'fall' | 'collapsed';
  risk: RiskLevel;
  t: number;
  /** fall: time of the last standing sample; collapsed: since when the person has not moved. */
  sinceMs: number;
  sample: Sample;
}

export const RISK: Record<Escalation['type'], RiskLevel> = { fall: 'warn', collapsed: 'critical' };

export class FallTracker {
  private recent: Sample[] = [];
  stable: PoseLabel | undefined;
  /** Standing samples (while the posture is standing) of the last fallWindowMs. */
  private standing: Sample[] = [];
  private descent: { onset: number; lastStanding: Sample; hRef: number; hipRef: number; fall: boolean; fallSince?: number } | undefined;
  private spell: { collapsed: boolean; ref: Sample; movingSince?: number; collapsedSince?: number } | undefined;
  private skeletonSeen = false;

  constructor(private readonly opt: FallOptions = DEFAULT_FALL) {}

  /** Feed one sample (in time order); returns the escalations it raises. */
  update(s: Sample): Escalation[] {
    const o = this.opt;
    if (s.skeleton) this.skeletonSeen = true;
    this.recent.push(s);
    // The samples of the last confirmMs, and at least the last two.
    while (this.recent.length > 2 && this.recent[0].t < s.t - o.confirmMs) this.recent.shift();
    const win = this.recent.length >= 2 ? this.recent : [];
    const holds = (f: (x: Sample) => boolean) => win.length >= 2 && win.filter(f).length >= 0.7 * win.length;
    if (this.stable !== s.label && holds((x) => x.label === s.label)) this.become(s.label, win);
    if (this.stable === 'standing' && s.label === 'standing') {
      this.standing.push(s);
      while (this.standing[0].t < s.t - o.fallWindowMs) this.standing.shift();
    }
    const out: Escalation[] = [];
    const last = this.standing[this.standing.length - 1];
    if (last && this.stable !== 'standing') {
      const hRef = Math.max(...this.standing.map((x) => x.box.h));
      const down = (x: Sample) => x.label === 'lying' || (x.label !== 'standing' && x.box.h <= o.floorRatio * hRef);
      if (!this.descent && down(s) && holds(down)) {
        const onset = win.find(down)!.t;
        this.descent = { onset, lastStanding: last, hRef, hipRef: Math.min(...this.standing.map((x) => x.hipY)), fall: false };
      }
      const d = this.descent;
      if (d && !d.fall && d.onset - d.lastStanding.t <= o.fallWindowMs && down(s)) {
        const hipsDown = s.hipY - d.hipRef >= o.hipDrop * d.hRef;
        const flat = s.label === 'lying' && s.box.h <= o.floorRatio * d.hRef;
        if (hipsDown || flat) {
          d.fall = true;
          d.fallSince = d.lastStanding.t;
          out.push({ type: 'fall', risk: RISK.fall, t: s.t, sinceMs: d.lastStanding.t, sample: s });
        }
      }
    }
    if (this.stable === 'lying') out.push(...this.whileLying(s));
    return o.requireSkeleton && !this.skeletonSeen ? [] : out;
  }

  private become(label: PoseLabel, win: Sample[]): void {
    const prev = this.stable;
    this.stable = label;
    if (label === 'lying') {
      // Reference for stillness: the frame that confirmed lying (the first lying frames are
      // often mid-fall).
      this.spell = { collapsed: false, ref: win[win.length - 1] };
    } else if (prev === 'lying') {
      this.spell = undefined;
    }
    if (label === 'standing') {
      // Up again: a new descent may follow.
      this.descent = undefined;
      this.standing = win.filter((x) => x.label === 'standing');
    }
  }

  private whileLying(s: Sample): Escalation[] {
    const o = this.opt;
    const sp = this.spell!;
    if (moved(sp.ref.box, s.box) > o.immobileTolerance) {
      // Movement counts once it lasts confirmMs: one odd box (a detection merged with its
      // neighbour, a missed limb) does not restart the clock.
      sp.movingSince ??= s.t;
      if (s.t - sp.movingSince >= o.confirmMs) { sp.ref = s; sp.movingSince = undefined; }
      return [];
    }
    sp.movingSince = undefined;
    if (sp.collapsed || s.t - sp.ref.t < o.immobileMs) return [];
    sp.collapsed = true;
    sp.collapsedSince = sp.ref.t;
    return [{ type: 'collapsed', risk: RISK.collapsed, t: s.t, sinceMs: sp.ref.t, sample: s }];
  }

  /**
   * The alarming state the track is in, if any: collapsed (critical) for the rest of the lying
   * spell, fall (warn) until the person is upright again; `since` as in the escalation.
   */
  get riskState(): { level: RiskLevel; reason: Escalation['type']; since: number } | undefined {
    if (this.opt.requireSkeleton && !this.skeletonSeen) return undefined;
    if (this.spell?.collapsed) return { level: RISK.collapsed, reason: 'collapsed', since: this.spell.collapsedSince! };
    if (this.descent?.fall) return { level: RISK.fall, reason: 'fall', since: this.descent.fallSince! };
    return undefined;
  }

  /** Current risk of the track: critical once collapsed, warn after a fall, else info. */
  get risk(): RiskLevel {
    return this.spell?.collapsed ? 'critical' : this.descent?.fall ? 'warn' : 'info';
  }
}

/** Largest change of box centre or size, relative to the reference box's longer side. */
export function moved(ref: Box, b: Box): number {
  const L = Math.max(ref.w, ref.h, 1e-6);
  return Math.max(
    Math.abs(b.x + b.w / 2 - (ref.x + ref.w / 2)), Math.abs(b.y + b.h / 2 - (ref.y + ref.h / 2)),
    Math.abs(b.w - ref.w), Math.abs(b.h - ref.h),
  ) / L;
}
