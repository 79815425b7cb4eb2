import { afterEach, describe, expect, it } from 'vitest';
import { defineNode, Type, type Detection, type Detections, type Frame, type Packet } from '../../src/contract.js';
import { allocFrameBuffer } from '../../src/frames.js';
import type { App } from '../../src/app.js';
import { startGraph, waitFor } from '../../test/support/app.js';
import { buildNode, type Harness } from '../../test/support/node-harness.js';
import { recorded, testRegistry } from '../../test/support/test-nodes.js';
import { checkZones } from './zone-filter.js';

const frame = (width: number, height: number, source?: Frame['source']): Frame => ({ width, height, format: 'rgb24', stride: width * 3, pixels: allocFrameBuffer(3), source });
const FHD = frame(1920, 1080);

/** A person whose box has its bottom centre at (x, y). */
function at(x: number, y: number, label = 'person'): Detection {
  return { box: { x: x - 20, y: y - 100, w: 40, h: 100 }, score: 0.9, classId: 0, label, category: 'human' };
}

async function run(h: Harness, dets: Detection[], opts: { stream?: string; f?: Frame } = {}): Promise<{ input: Packet<Detections>; out: Packet<Detections> }> {
  const input: Packet<Detections> = { streamId: opts.stream ?? 'cam', seq: h.emitted.length, captureTimeMs: 1_700_000_000_000, data: { frame: opts.f ?? FHD, detections: dets, inferenceLatencyMs: 3, gpu: false, model: 'm' } };
  const before = h.emitted.length;
  await h.instance.process!(input, 'detections');
  expect(h.emitted.length).toBe(before + 1);
  const e = h.emitted.at(-1)!;
  expect(e.port).toBe('detections');
  return { input, out: e.packet as Packet<Detections> };
}

const labels = (p: Packet<Detections>) => p.data.detections.map((d) => d.label);

describe('zone-filter node', () => {
  it('include zone (fractions): keeps what stands in it with its name, removes the rest; the box top does not matter', async () => {
    const h = buildNode(`
type: zone-filter
zones:
  - name: bed
    polygon: [[0.25, 0.5], [0.75, 0.5], [0.75, 1], [0.25, 1]]
`);
    const inBed = at(960, 800, 'in');
    const tallInBed = { ...at(960, 600, 'tall'), box: { x: 940, y: 10, w: 40, h: 590 } }; // head far above the bed
    const onEdge = at(480, 700, 'edge'); // bottom centre exactly on x = 0.25 × 1920
    const onCorner = at(1440, 540, 'corner'); // exactly on the corner (0.75, 0.5)
    const lawn = at(200, 800, 'lawn');
    const above = at(960, 500, 'above'); // box mostly in the bed, bottom centre above it
    const { input, out } = await run(h, [inBed, tallInBed, onEdge, onCorner, lawn, above]);
    expect(labels(out)).toEqual(['in', 'tall', 'edge', 'corner']);
    for (const d of out.data.detections) expect(d.zones).toEqual(['bed']);
    // A new packet and new detections; the input is untouched.
    expect(out).not.toBe(input);
    expect(out.data).not.toBe(input.data);
    expect(input.data.detections).toHaveLength(6);
    expect(inBed.zones).toBeUndefined();
    expect(out.data.detections[0]).toMatchObject({ box: inBed.box, score: 0.9, label: 'in' });
    expect(out.data.frame).toBe(FHD);
    expect(out).toMatchObject({ streamId: 'cam', seq: input.seq, captureTimeMs: input.captureTimeMs });
    expect(out.data).toMatchObject({ inferenceLatencyMs: 3, gpu: false, model: 'm' });
    expect(h.statuses.at(-1)?.text).toBe('1 zones (1 include, 0 exclude); kept 4, removed 2');
  });

  it('exclude zone inside an include zone: removes what stands in the hole; keep_outside keeps the rest with zones []', async () => {
    const zones = `
zones:
  - { name: bed, polygon: [[100, 100], [900, 100], [900, 900], [100, 900]], units: px }
  - { name: path, mode: exclude, polygon: [[450, 100], [550, 100], [550, 900], [450, 900]], units: px }
`;
    const dets = [at(200, 500, 'bed'), at(500, 500, 'path'), at(450, 500, 'path-edge'), at(1000, 500, 'outside')];
    const h = buildNode(`type: zone-filter${zones}`);
    const { out } = await run(h, dets);
    expect(out.data.detections.map((d) => [d.label, d.zones])).toEqual([['bed', ['bed']]]);
    const k = buildNode(`type: zone-filter\nkeep_outside: true${zones}`);
    const { out: out2 } = await run(k, dets);
    expect(out2.data.detections.map((d) => [d.label, d.zones])).toEqual([['bed', ['bed']], ['outside', []]]);
  });

  it('overlapping include zones: all their names; exclude only: everything else passes with zones []', async () => {
    const h = buildNode(`
type: zone-filter
zones:
  - { name: left, polygon: [[0, 0], [0.6, 0], [0.6, 1], [0, 1]] }
  - { name: right, polygon: [[0.4, 0], [1, 0], [1, 1], [0.4, 1]] }
`);
    const { out } = await run(h, [at(100, 500, 'a'), at(960, 500, 'b'), at(1800, 500, 'c')]);
    expect(out.data.detections.map((d) => d.zones)).toEqual([['left'], ['left', 'right'], ['right']]);
    const x = buildNode(`
type: zone-filter
zones: [{ name: road, mode: exclude, polygon: [[0, 0], [1, 0], [1, 0.2], [0, 0.2]] }]
`);
    const r = await run(x, [at(500, 100, 'car'), at(500, 900, 'fox')]);
    expect(r.out.data.detections.map((d) => [d.label, d.zones])).toEqual([['fox', []]]);
  });

  it('fractions scale to the camera picture (frame.source), not to the frame the detector saw; px zones are camera pixels', async () => {
    // The detector saw 640x360; the camera is 1920x1080 and boxes are in camera pixels.
    const small = frame(640, 360, { width: 1920, height: 1080, scaleX: 3, scaleY: 3, offsetX: 0, offsetY: 0 });
    const frac = buildNode('{ type: zone-filter, zones: [{ name: right_half, polygon: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]] }] }');
    const px = buildNode('{ type: zone-filter, zones: [{ name: right_half, units: px, polygon: [[960, 0], [1920, 0], [1920, 1080], [960, 1080]] }] }');
    const dets = [at(500, 300, 'left-in-frame-px'), at(1500, 900, 'right')];
    // 500 would be right of the middle of a 640-wide frame, but it is left of the camera's middle.
    expect(labels((await run(frac, dets, { f: small })).out)).toEqual(['right']);
    expect(labels((await run(px, dets, { f: small })).out)).toEqual(['right']);
    // Without a source transform the frame is the camera: the same fractions cover other pixels.
    expect(labels((await run(frac, [at(400, 300, 'a'), at(200, 300, 'b')], { f: frame(640, 360) })).out)).toEqual(['a']);
    // px zones do not depend on the picture size.
    expect(labels((await run(px, [at(1000, 300, 'a')], { f: frame(640, 360) })).out)).toEqual(['a']);
  });

  it('per-stream zones: a zone with streams applies only there; zones without apply to all', async () => {
    const h = buildNode(`
type: zone-filter
zones:
  - { name: beds, streams: [garden], polygon: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]] }
  - { name: drive, streams: [front, side], polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]] }
  - { name: bins, mode: exclude, polygon: [[0.9, 0.9], [1, 0.9], [1, 1], [0.9, 1]] }
`);
    const dets = [at(100, 100, 'top-left'), at(1500, 900, 'bottom-right'), at(1800, 1050, 'bins')];
    expect((await run(h, dets, { stream: 'garden' })).out.data.detections.map((d) => [d.label, d.zones])).toEqual([['bottom-right', ['beds']]]);
    expect((await run(h, dets, { stream: 'front' })).out.data.detections.map((d) => [d.label, d.zones])).toEqual([['top-left', ['drive']]]);
    expect((await run(h, dets, { stream: 'side' })).out.data.detections.map((d) => [d.label, d.zones])).toEqual([['top-left', ['drive']]]);
    // No include zone for this stream: all pass but the excluded.
    expect((await run(h, dets, { stream: 'back' })).out.data.detections.map((d) => [d.label, d.zones])).toEqual([['top-left', []], ['bottom-right', []]]);
  });

  it('concave bed (an L): the inner corner is not in it', async () => {
    const h = buildNode('{ type: zone-filter, zones: [{ name: l_bed, units: px, polygon: [[0, 0], [200, 0], [200, 100], [100, 100], [100, 200], [0, 200]] }] }');
    const { out } = await run(h, [at(50, 150, 'leg'), at(150, 50, 'arm'), at(150, 150, 'corner-gap'), at(100, 150, 'inner-edge')]);
    expect(labels(out)).toEqual(['leg', 'arm', 'inner-edge']);
  });

  it('counts removed and kept detections in the status', async () => {
    const h = buildNode('{ type: zone-filter, zones: [{ name: bed, polygon: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]] }] }');
    await run(h, [at(10, 100), at(10, 900), at(20, 100)]);
    await run(h, [at(10, 100)]);
    await run(h, []);
    expect(h.statuses.at(-1)?.text).toBe('1 zones (1 include, 0 exclude); kept 1, removed 3');
  });

  it('refuses bad zones with an error naming the zone and the problem', () => {
    const bad = (zones: string) => () => buildNode(`{ type: zone-filter, zones: ${zones} }`);
    // Caught by the options schema already (as `graphrun validate` reports it), with the path.
    expect(bad('[{ name: bed, polygon: [[0, 0], [1, 1]] }]')).toThrow(/zones\[0\]\.polygon: must NOT have fewer than 3 items/);
    expect(bad('[{ name: bed, polygon: [[0, 0], [1, 1], [1]] }]')).toThrow(/zones\[0\]\.polygon\[2\]: must NOT have fewer than 2 items/);
    expect(bad('[{ name: bed, polygon: [[0, 0], [1, 1], [0, 1]], units: cm }]')).toThrow(/zones\[0\]\.units: must be one of "fraction", "px"/);
    expect(bad('[{ name: bed, polygon: [[0, 0], [1, 1], [0, 1]], colour: red }]')).toThrow(/zones\[0\]\.colour: unknown key "colour"/);
    // Checked when the node is created (the graph starts and this node fails with the message).
    expect(bad('[{ name: bed, polygon: [[0, 0], [1.2, 0], [1, 1]] }]')).toThrow('zone "bed": point 2 [1.2, 0] is outside 0–1, but units is fraction');
    expect(bad('[{ name: bed, polygon: [[0, 0], [1200, 0], [1, 1]], units: px }]')).not.toThrow();
    expect(bad('[{ name: bed, polygon: [[0, 0], [1, 0], [0, 1]] }, { name: bed, polygon: [[0, 0], [1, 0], [0, 1]] }]')).toThrow('zone "bed": the name is used by another zone');
    expect(bad('[{ name: bowtie, polygon: [[0, 0], [1, 0], [0, 1], [1, 1]] }]')).toThrow(/zone "bowtie": polygon is self-intersecting: edge 2 \(points 2–3\) crosses or touches edge 4 \(points 4–1\)/);
    expect(bad('[{ name: line, polygon: [[0, 0], [0.5, 0.5], [1, 1]] }]')).toThrow('zone "line": polygon has no area');
    expect(bad('[{ name: closed, polygon: [[0, 0], [1, 0], [0, 1], [0, 0]] }]')).not.toThrow(); // a repeated first point closes the ring
  });

  it('checkZones (what create runs) names the zone for problems the schema cannot see in code that skips it', () => {
    expect(() => checkZones([{ name: 'bed', polygon: [[0, 0], [1, 1]] }])).toThrow('zone "bed": polygon needs at least 3 points (got 2)');
    expect(() => checkZones([{ name: 'bed', polygon: [[0, 0], [1, 1], [0, 1, 2]] }])).toThrow('zone "bed": point 3 must be a pair [x, y]');
    expect(() => checkZones([{ name: 'bed', polygon: [[0, 0], [1, 0], [0, 1]], streams: [] }])).toThrow('zone "bed": streams is empty');
    expect(() => checkZones([{ name: '', polygon: [[0, 0], [1, 0], [0, 1]] }])).toThrow('zones[0]: a zone needs a non-empty name');
    expect(checkZones([{ name: 'bed', polygon: [[0, 0], [1, 0], [0, 1], [0, 0]] }])[0]).toMatchObject({ name: 'bed', units: 'fraction', mode: 'include', points: [[0, 0], [1, 0], [0, 1]] });
  });
});

/** Emits one Detections packet per entry of `frames` (x positions of people's feet), then ends. */
const detSource = defineNode({
  type: 'test-zone-detections',
  summary: 'Detections at given positions (tests only).',
  options: Type.Object({
    feet: Type.Array(Type.Array(Type.Number()), { default: [], description: 'Per packet, the x of each person (y is 900).' }),
    stream_id: Type.String({ default: 'garden', description: 'Stream id.' }),
  }),
  inputs: {},
  outputs: { detections: { kind: 'detections', description: 'Detections.' } },
  canPause: true,
  create(cfg, ctx) {
    const f = frame(640, 360, { width: 1920, height: 1080, scaleX: 3, scaleY: 3, offsetX: 0, offsetY: 0 });
    return {
      async run() {
        for (let seq = 0; seq < cfg.feet.length; seq++) {
          const data: Detections = { frame: f, detections: cfg.feet[seq].map((x) => at(x, 900, `p${x}`)), inferenceLatencyMs: 1, gpu: false, model: 'test' };
          await ctx.emit('detections', { streamId: cfg.stream_id, seq, captureTimeMs: 1_700_000_000_000 + seq * 100, data });
          await new Promise((r) => setTimeout(r, 1));
        }
      },
    };
  },
});

describe('zone-filter in a graph', () => {
  let app: App | undefined;
  afterEach(async () => { await app?.stop(); app = undefined; });
  const registry = testRegistry.with([detSource]);

  it('between a detection source and a sink: every packet arrives, filtered and with zone names', async () => {
    ({ app } = await startGraph(`
version: 1
name: zones
status: { enabled: false }
nodes:
  det:
    type: test-zone-detections
    feet: [[100, 1000, 1500], [1000], [], [1700, 300]]
  beds:
    type: zone-filter
    inputs: { detections: det.detections }
    zones:
      - { name: herbs, polygon: [[0.4, 0.6], [0.6, 0.6], [0.6, 1], [0.4, 1]], streams: [garden] }
      - { name: roses, polygon: [[0.7, 0.6], [0.95, 0.6], [0.95, 1], [0.7, 1]] }
  sink: { type: test-recorder, inputs: { in: beds.detections } }
`, { registry }));
    await waitFor(() => (recorded.get('sink')?.length ?? 0) >= 4, 10000, 'four packets at the sink');
    const got = recorded.get('sink')!.map((p) => (p as Packet<Detections>).data.detections.map((d) => [d.label, d.zones]));
    expect(got).toEqual([[['p1000', ['herbs']], ['p1500', ['roses']]], [['p1000', ['herbs']]], [], [['p1700', ['roses']]]]);
    const runner = app!.runtime.runners.get('beds')!;
    expect(runner.state).toBe('running');
    expect(runner.text).toBe('2 zones (2 include, 0 exclude); kept 4, removed 2');
    expect(app!.runtime.edgeList().find((e) => e.id === 'det.detections->beds.detections')).toMatchObject({ capacity: 8, dropped: 0 });
    const removed = await app!.runtime.metrics.registry.getSingleMetric('graphrun_zone_filter_removed_total')!.get();
    expect(removed.values).toEqual([{ value: 2, labels: { node_id: 'beds', node_type: 'zone-filter' } }]);
  });

  it('a bad zone fails the node at start with the message', async () => {
    ({ app } = await startGraph(`
version: 1
name: zones
status: { enabled: false }
shutdown: { drain_timeout_ms: 200 } # the failed node never takes the queued packet
nodes:
  det: { type: test-zone-detections, feet: [[1000]] }
  beds:
    type: zone-filter
    inputs: { detections: det.detections }
    zones: [{ name: tomatoes, polygon: [[0, 0], [1, 1], [1, 0], [0, 1]] }]
  sink: { type: test-recorder, inputs: { in: beds.detections } }
`, { registry }));
    const runner = app!.runtime.runners.get('beds')!;
    await waitFor(() => runner.state === 'error', 5000, 'the node to fail');
    expect(runner.text).toMatch(/^error in start: zone "tomatoes": polygon is self-intersecting/);
  });
});
