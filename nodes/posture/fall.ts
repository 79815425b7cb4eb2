/**
 * Per-track fall and immobility logic, on packet time only (tests drive it with fake time).
 *
 * Stable posture: a label becomes the track's posture once it holds for `confirmMs`: at least
 * 70% of the samples of the last `confirmMs` (at least the last two samples) carry it. A
 * flicker of one frame changes nothing.
 *
 * Fall (risk `warn`): the posture becomes lying, and
 * - the last standing sample (while the posture was standing) is at most `fallWindowMs`
 *   before the first lying sample of this lying spell: upright to lying within the window,
 *   whatever passed in between (sitting down slowly and then lying down takes longer);
 * - the hips went down by at least `hipDrop` × the standing box height since that sample.
 * At most one fall per lying spell.
 *
 * Collapsed (risk `critical`): lying and not moving for `immobileMs`. Moving = the box centre
 * or size changed by more than `immobileTolerance` × the box's longer side since the reference
 * box (taken when the lying spell began, and again after each movement: moving restarts the
 * clock). At most one per lying spell, with or without a fall before it.
 *
 * A lying spell ends when another posture becomes stable; then the next lying spell can raise
 * its own events (a fall only if the person stood in between).
 */
import type { Keypoint, PoseLabel, RiskLevel } from '../../src/contract.js';
import type { Box } from '../rtmpose/crop.js';

export interface FallOptions {
  fallWindowMs: number;
  immobileMs: number;
  immobileTolerance: number;
  confirmMs: number;
  hipDrop: number;
}

export const DEFAULT_FALL: FallOptions = { fallWindowMs: 1500, immobileMs: 30000, immobileTolerance: 0.15, confirmMs: 300, hipDrop: 0.2 };

export interface Sample {
  t: number;
  label: PoseLabel;
  confidence: number;
  box: Box;
  hipY: number;
  keypoints?: Keypoint[];
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
  private lastStanding: Sample | undefined;
  private spell: { onset: number; fall: boolean; collapsed: boolean; ref: Sample } | undefined;

  constructor(private readonly opt: FallOptions = DEFAULT_FALL) {}

  /** Feed one sample (in time order); returns the escalations it raises. */
  update(s: Sample): Escalation[] {
    const o = this.opt;
    this.recent.push(s);
    // The samples of the last confirmMs, and at least the last two.
    while (this.recent.length > 2 && this.recent[0].t < s.t - o.confirmMs) this.recent.shift();
    const win = this.recent.length >= 2 ? this.recent : [];
    const count = win.filter((x) => x.label === s.label).length;
    if (win.length >= 2 && count >= 0.7 * win.length && this.stable !== s.label) this.become(s.label, win);
    if (this.stable === 'standing' && s.label === 'standing') this.lastStanding = s;
    return this.stable === 'lying' ? this.whileLying(s) : [];
  }

  private become(label: PoseLabel, win: Sample[]): void {
    const prev = this.stable;
    this.stable = label;
    if (label === 'lying') {
      const first = win.find((x) => x.label === 'lying')!;
      this.spell = { onset: first.t, fall: false, collapsed: false, ref: first };
    } else if (prev === 'lying') {
      this.spell = undefined;
    }
    if (label === 'standing') this.lastStanding = [...win].reverse().find((x) => x.label === 'standing');
  }

  private whileLying(s: Sample): Escalation[] {
    const o = this.opt;
    const sp = this.spell!;
    const out: Escalation[] = [];
    const st = this.lastStanding;
    if (!sp.fall && st && sp.onset - st.t <= o.fallWindowMs && s.hipY - st.hipY >= o.hipDrop * st.box.h) {
      sp.fall = true;
      out.push({ type: 'fall', risk: RISK.fall, t: s.t, sinceMs: st.t, sample: s });
    }
    if (moved(sp.ref.box, s.box) > o.immobileTolerance) sp.ref = s;
    else if (!sp.collapsed && s.t - sp.ref.t >= o.immobileMs) {
      sp.collapsed = true;
      out.push({ type: 'collapsed', risk: RISK.collapsed, t: s.t, sinceMs: sp.ref.t, sample: s });
    }
    return out;
  }

  /** Current risk of the track: critical once collapsed, warn after a fall, else info. */
  get risk(): RiskLevel {
    return this.spell?.collapsed ? 'critical' : this.spell?.fall ? 'warn' : 'info';
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
