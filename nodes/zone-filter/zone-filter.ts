/**
 * zone-filter — keeps or removes detections by where they stand: polygons drawn over the
 * camera picture (in source pixels or 0–1 fractions of it), each `include` or `exclude`,
 * for all streams or some. An object's position is the bottom centre of its box (x + w/2,
 * y + h) — where it touches the ground, so a tall person standing in a bed counts as in it
 * even when their head is over the lawn. A point on a polygon's edge or vertex is inside.
 *
 * Rules per detection, with the zones that apply to its stream:
 * - in any exclude zone → removed;
 * - else, with include zones: in at least one → kept, `zones` = the names of the include zones
 *   it is in; in none → removed (kept with `zones: []` when `keep_outside`);
 * - else (no include zones for the stream) → kept with `zones: []`.
 *
 * Ports: in `detections` (kind detections; default queue `drop_oldest: 8`: it sits between
 * tracker and event gates, where a dropped frame could be a missed or doubled event); out
 * `detections` (a new packet with the kept detections, each a copy with `zones` set).
 * Polygons are checked at start (at least 3 points, fractions within 0–1, unique names, no
 * self-intersection): a bad one fails the node with an error naming the zone.
 *
 * ```yaml
 * beds:
 *   type: zone-filter
 *   inputs: { detections: track.detections }
 *   zones:
 *     - name: vegetable_bed
 *       polygon: [[0.10, 0.55], [0.45, 0.55], [0.45, 0.95], [0.10, 0.95]]
 *     - name: path
 *       mode: exclude
 *       polygon: [[0.25, 0.55], [0.30, 0.55], [0.30, 0.95], [0.25, 0.95]]
 *       streams: [garden]
 * ```
 */
import { defineNode, Type, type Detection, type Detections, type Packet } from '../../src/contract.js';
import { containsPoint, openRing, polygonProblem, preparePolygon, type Point, type PreparedPolygon } from './polygon.js';

export type ZoneUnits = 'px' | 'fraction';
export type ZoneMode = 'include' | 'exclude';

/** A zone as written in the options, after defaults. */
export interface ZoneSpec {
  name: string;
  /** Points [x, y]. */
  polygon: readonly (readonly number[])[];
  units?: ZoneUnits;
  mode?: ZoneMode;
  streams?: string[];
}

/** A zone checked and ready: points still in the units it was written in. */
export interface CheckedZone {
  name: string;
  points: Point[];
  units: ZoneUnits;
  mode: ZoneMode;
  streams?: ReadonlySet<string>;
}

/** The zones of one stream at one picture size, in source pixels. */
export interface StreamZones {
  include: { name: string; poly: PreparedPolygon }[];
  exclude: { name: string; poly: PreparedPolygon }[];
}

/** Check every zone; throws an Error naming the first bad zone and what is wrong with it. */
export function checkZones(specs: readonly ZoneSpec[]): CheckedZone[] {
  const seen = new Set<string>();
  return specs.map((z, i) => {
    const label = typeof z.name === 'string' && z.name ? `zone "${z.name}"` : `zone ${i + 1}`;
    if (typeof z.name !== 'string' || z.name === '') throw new Error(`zones[${i}]: a zone needs a non-empty name`);
    if (seen.has(z.name)) throw new Error(`${label}: the name is used by another zone (zone names must be unique)`);
    seen.add(z.name);
    const units = z.units ?? 'fraction';
    const raw = z.polygon ?? [];
    const odd = raw.findIndex((p) => !Array.isArray(p) || p.length !== 2);
    if (odd >= 0) throw new Error(`${label}: point ${odd + 1} must be a pair [x, y]`);
    const points = openRing(raw as Point[]);
    const problem = polygonProblem(points);
    if (problem) throw new Error(`${label}: polygon ${problem}`);
    if (units === 'fraction') {
      const bad = points.findIndex(([x, y]) => x < 0 || x > 1 || y < 0 || y > 1);
      if (bad >= 0) throw new Error(`${label}: point ${bad + 1} [${points[bad].join(', ')}] is outside 0–1, but units is fraction (0–1 of the picture; use units: px for pixels)`);
    }
    if (z.streams && z.streams.length === 0) throw new Error(`${label}: streams is empty (leave it out to apply to all streams)`);
    return { name: z.name, points, units, mode: z.mode ?? 'include', streams: z.streams ? new Set(z.streams) : undefined };
  });
}

/** The zones that apply to a stream, scaled to a source picture of width × height. */
export function zonesFor(zones: readonly CheckedZone[], streamId: string, width: number, height: number): StreamZones {
  const out: StreamZones = { include: [], exclude: [] };
  for (const z of zones) {
    if (z.streams && !z.streams.has(streamId)) continue;
    const pts = z.units === 'px' ? z.points : z.points.map(([x, y]) => [x * width, y * height] as const);
    out[z.mode].push({ name: z.name, poly: preparePolygon(pts) });
  }
  return out;
}

/** Where a detection stands: the bottom centre of its box. */
export function anchorOf(d: Detection): [number, number] {
  return [d.box.x + d.box.w / 2, d.box.y + d.box.h];
}

/** Apply the rules to one frame's detections: the kept ones, each a copy with `zones` set. */
export function filterDetections(dets: readonly Detection[], z: StreamZones, keepOutside: boolean): Detection[] {
  const out: Detection[] = [];
  for (const d of dets) {
    const [x, y] = anchorOf(d);
    let excluded = false;
    for (const e of z.exclude) if (containsPoint(e.poly, x, y)) { excluded = true; break; }
    if (excluded) continue;
    const names: string[] = [];
    for (const inc of z.include) if (containsPoint(inc.poly, x, y)) names.push(inc.name);
    if (names.length === 0 && z.include.length > 0 && !keepOutside) continue;
    out.push({ ...d, zones: names });
  }
  return out;
}

/** Stream × picture sizes cached; past this many the cache starts over (sizes rarely change). */
const MAX_CACHED = 256;

const Num = Type.Number();

export const zoneFilter = defineNode({
  type: 'zone-filter',
  summary: 'Keeps or removes detections by polygon zones (bottom centre of the box), per stream; sets their zone names.',
  options: Type.Object({
    zones: Type.Array(Type.Object({
      name: Type.String({ minLength: 1, description: 'Zone name, unique within the node; appears in `zones` of detections and in events.' }),
      polygon: Type.Array(Type.Array(Num, { minItems: 2, maxItems: 2, description: 'A point [x, y].' }), { minItems: 3, description: 'Corners in order, at least 3 (concave is fine, edges must not cross); the first may be repeated at the end.' }),
      units: Type.Optional(Type.Union([Type.Literal('fraction'), Type.Literal('px')], { default: 'fraction', description: 'fraction: 0–1 of the camera picture\'s width and height; px: camera (source) pixels.' })),
      mode: Type.Optional(Type.Union([Type.Literal('include'), Type.Literal('exclude')], { default: 'include', description: 'include: keep what is inside (and name the zone); exclude: remove what is inside.' })),
      streams: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Stream ids this zone applies to; leave out for all streams.' })),
    }, { additionalProperties: false }), { default: [], description: 'The zones. A detection is in a zone when the bottom centre of its box is inside the polygon or on its edge.' }),
    keep_outside: Type.Boolean({ default: false, description: 'Keep detections that are in no include zone (with `zones: []`) instead of removing them. Exclude zones still remove.' }),
  }),
  inputs: { detections: { kind: 'detections', description: 'Detections (boxes in source pixels) and their frame.', defaultQueue: { mode: 'drop_oldest', size: 8 } } },
  outputs: { detections: { kind: 'detections', description: 'The detections that pass, each with `zones`: the include zones it is in.' } },
  canPause: true,
  create(cfg, ctx) {
    const zones = checkZones(cfg.zones);
    const usesFractions = zones.some((z) => z.units === 'fraction');
    const cache = new Map<string, StreamZones>();
    const removedTotal = ctx.metrics.counter('zone_filter_removed_total', 'Detections removed by zone rules.');
    const nInclude = zones.filter((z) => z.mode === 'include').length;
    const loaded = `${zones.length} zones (${nInclude} include, ${zones.length - nInclude} exclude)`;
    let kept = 0, removed = 0;
    ctx.status({ text: `${loaded}; kept 0, removed 0` });

    return {
      process(packet: Packet) {
        const data = packet.data as Detections;
        const f = data.frame;
        const w = f?.source?.width ?? f?.width, h = f?.source?.height ?? f?.height;
        if (usesFractions && !(w > 0 && h > 0)) throw new Error(`packet ${packet.streamId}#${packet.seq} has no frame size: fraction zones need it`);
        // Pixel-only zones do not depend on the size: one entry per stream then.
        const key = usesFractions ? `${packet.streamId}\u0000${w}x${h}` : packet.streamId;
        let z = cache.get(key);
        if (!z) {
          if (cache.size >= MAX_CACHED) cache.clear();
          cache.set(key, (z = zonesFor(zones, packet.streamId, w ?? 0, h ?? 0)));
        }
        const out = filterDetections(data.detections, z, cfg.keep_outside);
        const gone = data.detections.length - out.length;
        kept += out.length;
        if (gone) { removed += gone; removedTotal.inc(gone); }
        ctx.status({ text: `${loaded}; kept ${kept}, removed ${removed}` });
        return ctx.emit('detections', { ...packet, data: { ...data, detections: out } });
      },
      stop() {
        cache.clear();
      },
    };
  },
});
