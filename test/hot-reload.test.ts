/**
 * Hot reload: a watched graph file is edited while it runs. Only the changed node restarts,
 * sources keep their sequence, an invalid edit keeps the running graph and shows positioned
 * diagnostics (also on the status page), and fixing the file clears them. `app.reload()` (what
 * SIGHUP calls) does the same without a watcher.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Packet } from '../src/contract.js';
import { startGraph, type TestApp } from './support/app.js';
import { launchChromium, openStatusPage } from './support/browser.js';
import { pollFor } from './support/net.js';
import { recorded } from './support/test-nodes.js';

const graph = (o: { delay?: number; passExtra?: string; recKeep?: boolean; extraNode?: string; branch2?: boolean } = {}) => `version: 1
name: reload-test
nodes:
  cam:
    type: synthetic-source
    width: 16
    height: 16
    fps: 50
  pass:
    type: test-pass
    delay_ms: ${o.delay ?? 0}${o.passExtra ? `\n    ${o.passExtra}` : ''}
    inputs: { in: { from: cam.frames, queue: { drop_oldest: 16 } } }
  rec:
    type: test-recorder
    keep: ${o.recKeep ?? true}
    inputs: { in: pass.out }
${o.branch2 === false ? '' : `  cam2:
    type: synthetic-source
    width: 8
    height: 8
    fps: 20
  rec2:
    type: test-recorder
    inputs: { in: cam2.frames }
`}${o.extraNode ?? ''}`;

const ALL = ['cam', 'pass', 'rec', 'cam2', 'rec2'];

function runnersOf(t: TestApp): Map<string, unknown> {
  return new Map(ALL.filter((id) => t.app.runtime.runners.has(id)).map((id) => [id, t.app.runtime.runners.get(id)]));
}
function seqs(list: Packet[]): number[] {
  return list.map((p) => p.seq);
}
function expectIncreasing(xs: number[], what: string): void {
  for (let i = 1; i < xs.length; i++) {
    if (!(xs[i] > xs[i - 1])) throw new Error(`${what}: seq ${xs[i]} after ${xs[i - 1]} at index ${i}`);
  }
}

describe('watched graph file', () => {
  let t: TestApp;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    [t, browser] = await Promise.all([startGraph(graph(), { watch: true, statusIntervalMs: 100 }), launchChromium()]);
    page = await openStatusPage(browser, t.app.statusUrl);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.app.stop();
  });

  it('restarts only the edited node; the source keeps its sequence', async () => {
    const rec = recorded.get('rec')!;
    const rec2 = recorded.get('rec2')!;
    await pollFor(() => (rec.length >= 10 && rec2.length >= 3 ? true : undefined), 5000, 'packets at both recorders');
    const before = runnersOf(t);
    const passInBefore = t.app.runtime.snapshot().nodes.find((n) => n.id === 'pass')!.packetsIn;
    const reloads0 = t.app.runtime.snapshot().graph.reloads;
    expect(reloads0).toBe(0);

    writeFileSync(t.file, graph({ delay: 1 }));
    await pollFor(() => (t.app.runtime.snapshot().graph.reloads === reloads0 + 1 ? true : undefined), 5000, 'the reload after editing the file');
    const atReload = rec.length;
    const after = runnersOf(t);

    expect(after.get('pass'), 'the edited node has a new runner').not.toBe(before.get('pass'));
    expect(t.app.runtime.graph.nodes.get('pass')!.options.delay_ms).toBe(1);
    for (const id of ['cam', 'rec', 'cam2', 'rec2']) expect(after.get(id), `runner of ${id} after the reload`).toBe(before.get(id));
    // The recorders were not re-created either (a new instance would have a new list).
    expect(recorded.get('rec')).toBe(rec);
    expect(recorded.get('rec2')).toBe(rec2);
    // Counters of a restarted node survive.
    expect(t.app.runtime.snapshot().nodes.find((n) => n.id === 'pass')!.packetsIn).toBeGreaterThanOrEqual(passInBefore);
    expect(t.app.runtime.diagnostics).toEqual([]);

    // Packets keep coming through the new instance, numbered on from where the source was.
    await pollFor(() => (rec.length >= atReload + 10 ? true : undefined), 5000, 'packets through the restarted node');
    const s = seqs(rec);
    expectIncreasing(s, 'rec');
    const lastBefore = s[atReload - 1];
    const firstAfter = s[atReload];
    expect(firstAfter).toBeGreaterThan(lastBefore);
    expect(firstAfter - lastBefore, 'gap in seq across the reload').toBeLessThan(50);
    expectIncreasing(seqs(rec2), 'rec2');
    expect(t.app.runtime.snapshot().nodes.find((n) => n.id === 'pass')!.restarts).toBe(0); // a reload is not a failure
    await pollFor(async () => ((await page.locator('#reloads').textContent()) === '1' ? true : undefined), 5000, 'the page to show 1 reload');
  });

  it('keeps running on an invalid edit, shows positioned diagnostics, and clears them when fixed', async () => {
    const rec = recorded.get('rec')!;
    const before = runnersOf(t);
    const reloads0 = t.app.runtime.reloads;
    const text = graph({ delay: 1, passExtra: 'bogus_opt: 3' });
    writeFileSync(t.file, text);
    const diags = await pollFor(() => (t.app.runtime.diagnostics.length > 0 ? t.app.runtime.diagnostics : undefined), 5000, 'diagnostics after an invalid edit');
    const d = diags.find((x) => x.path === 'nodes.pass.bogus_opt');
    expect(d, JSON.stringify(diags)).toBeDefined();
    expect(d!.severity).toBe('error');
    expect(d!.message).toMatch(/unknown option "bogus_opt" for test-pass/);
    const line = text.split('\n').findIndex((l) => l.includes('bogus_opt')) + 1;
    expect(d!.line).toBe(line);
    expect(d!.col).toBe(5);
    expect(d!.file.endsWith('graph.yml')).toBe(true);
    // Nothing restarted, nothing counted as a reload, packets keep flowing.
    expect(t.app.runtime.reloads).toBe(reloads0);
    expect(runnersOf(t)).toEqual(before);
    for (const [id, r] of runnersOf(t)) expect(r, id).toBe(before.get(id));
    const n = rec.length;
    await pollFor(() => (rec.length >= n + 10 ? true : undefined), 5000, 'packets while the file is invalid');
    expect(t.app.runtime.snapshot().diagnostics).toEqual(diags);

    // The page shows the diagnostics panel with the positioned message.
    const items = page.locator('#diagnostics li[data-field="diagnostic"]');
    await items.first().waitFor({ state: 'visible', timeout: 5000 });
    expect(await page.locator('#diagnostics').isVisible()).toBe(true);
    const shown = await items.allTextContents();
    expect(shown.some((s) => s.includes(`:${line}:5 nodes.pass.bogus_opt: unknown option "bogus_opt" for test-pass`)), shown.join('\n')).toBe(true);
    expect(await page.locator('#diag-title').textContent()).toMatch(/rejected \(1 error\)/);

    // Fix it (a real change, so the fixed graph is applied): the diagnostics clear everywhere.
    writeFileSync(t.file, graph({ delay: 2 }));
    await pollFor(() => (t.app.runtime.diagnostics.length === 0 && t.app.runtime.reloads === reloads0 + 1 ? true : undefined), 5000, 'diagnostics to clear after the fix');
    expect(t.app.runtime.graph.nodes.get('pass')!.options.delay_ms).toBe(2);
    await page.locator('#diagnostics').waitFor({ state: 'hidden', timeout: 5000 });
    expect(await items.count()).toBe(0);
    const m = rec.length;
    await pollFor(() => (rec.length >= m + 5 ? true : undefined), 5000, 'packets after the fix');
    expectIncreasing(seqs(rec), 'rec');
  });

  it('reloads after an editor-style replace (write to a temp file, rename over)', async () => {
    const { renameSync } = await import('node:fs');
    const reloads0 = t.app.runtime.reloads;
    const tmp = `${t.file}.tmp~`;
    writeFileSync(tmp, graph({ delay: 0 }));
    renameSync(tmp, t.file);
    await pollFor(() => (t.app.runtime.reloads === reloads0 + 1 ? true : undefined), 5000, 'the reload after a rename');
    expect(t.app.runtime.graph.nodes.get('pass')!.options.delay_ms).toBe(0);
  });
});

describe('app.reload() (SIGHUP)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startGraph(graph(), { statusIntervalMs: 100 });
  });
  afterAll(async () => {
    await t?.app.stop();
  });

  it('applies a changed file on demand: changed, added and removed nodes', async () => {
    const rec = recorded.get('rec')!;
    await pollFor(() => (rec.length >= 5 ? true : undefined), 5000, 'packets at rec');
    const before = runnersOf(t);

    // Unchanged file: nothing restarts.
    const same = await t.app.reload();
    expect(same).toEqual({ ok: true, changed: [], added: [], removed: [] });
    for (const [id, r] of runnersOf(t)) expect(r, id).toBe(before.get(id));
    expect(t.app.runtime.reloads).toBe(1);

    // Without --watch an edit does nothing until reload() is called.
    writeFileSync(t.file, graph({ delay: 0, recKeep: false, branch2: false, extraNode: `  extra:
    type: test-recorder
    inputs: { in: cam.frames }
` }));
    // Absence can only be waited for: well past the watcher's 150 ms debounce.
    await new Promise((res) => setTimeout(res, 400));
    expect(t.app.runtime.reloads).toBe(1);
    expect(t.app.runtime.graph.nodes.has('extra')).toBe(false);
    const r = await t.app.reload();
    expect(r.ok).toBe(true);
    expect(r.changed).toEqual(['rec']);
    expect(r.added).toEqual(['extra']);
    expect([...(r.removed ?? [])].sort()).toEqual(['cam2', 'rec2']);
    expect(t.app.runtime.reloads).toBe(2);
    const after = t.app.runtime.runners;
    expect(after.get('cam')).toBe(before.get('cam'));
    expect(after.get('pass')).toBe(before.get('pass'));
    expect(after.get('rec')).not.toBe(before.get('rec'));
    expect(after.has('cam2') || after.has('rec2')).toBe(false);
    const snap = t.app.runtime.snapshot();
    expect(snap.nodes.map((n) => n.id).sort()).toEqual(['cam', 'extra', 'pass', 'rec']);
    expect(snap.edges.map((e) => e.id).sort()).toEqual(['cam.frames->extra.in', 'cam.frames->pass.in', 'pass.out->rec.in']);
    const extra = await pollFor(() => { const l = recorded.get('extra'); return l && l.length >= 3 ? l : undefined; }, 5000, 'packets at the added node');
    expectIncreasing(seqs(extra), 'extra');
    // /metrics forgets removed nodes.
    const metrics = await (await fetch(new URL('/metrics', t.app.statusUrl))).text();
    expect(metrics).toMatch(/graphrun_node_packets_in_total\{node_id="extra"/);
    expect(metrics).not.toMatch(/node_id="(cam2|rec2)"/);
  });

  it('rejects an invalid file, keeps the graph, and serializes concurrent reloads', async () => {
    const before = new Map(t.app.runtime.runners);
    writeFileSync(t.file, graph({ delay: -1, branch2: false }));
    const [a, b] = await Promise.all([t.app.reload(), t.app.reload()]);
    for (const r of [a, b]) {
      expect(r.ok).toBe(false);
      expect(r.diagnostics?.map((d) => d.path)).toContain('nodes.pass.delay_ms');
    }
    const d = t.app.runtime.diagnostics.find((x) => x.path === 'nodes.pass.delay_ms')!;
    expect(d.message).toMatch(/must be >= 0/);
    expect(d.line).toBe(graph({ delay: -1, branch2: false }).split('\n').findIndex((l) => l.includes('delay_ms')) + 1);
    expect(new Map(t.app.runtime.runners)).toEqual(before);
    for (const [id, r] of t.app.runtime.runners) expect(r, id).toBe(before.get(id));
    const status = (await (await fetch(new URL('/status.json', t.app.statusUrl))).json()) as { diagnostics: unknown[] };
    expect(status.diagnostics.length).toBeGreaterThan(0);

    writeFileSync(t.file, graph({ delay: 0, branch2: false }));
    const ok = await t.app.reload();
    expect(ok.ok).toBe(true);
    expect(t.app.runtime.diagnostics).toEqual([]);
  });
});
