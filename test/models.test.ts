/**
 * The model manager: manifest, resolution order (cache → mirrors → download), download safety
 * (sha256, atomic rename, nothing left behind), the one clear error, zip archives, paths,
 * inspectOnnx's errors, category tables, and `graphrun models list | pull | verify`.
 * Real files and a real HTTP server on 127.0.0.1; models come from ../shared/models.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { Ajv } from 'ajv';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AssetError, sha256File } from '../src/assets.js';
import {
  describeModel, expectTensors, inspectOnnx, loadCategoryTable, loadLabels, loadModelManifest, ModelError, modelsJsonSchema,
  normalisation, resolveModel, verifyModels, type ModelEntry,
} from '../src/models.js';
import { ensureBuilt } from './support/build.js';
import { modelPath, repoRoot } from './support/media.js';
import { tinyClassifierOnnx } from './support/tiny-onnx.js';

const YOLOX = modelPath('yolox_nano.onnx');
const REID = modelPath('person-reidentification-retail-0288.onnx');
const SHARED_MODELS = path.dirname(YOLOX);
const YOLOX_SHA = 'd39bee73564e338080378b0ad567fbb40e818b55bbfaf971de82a0267ed16b8a';

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(path.join(os.tmpdir(), 'graphrun-models-')); });
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A stored+deflated zip, written by hand like any zip tool would. */
function zipOf(files: { name: string; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [], central: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const comp = zlib.deflateRawSync(f.data), crc = zlib.crc32(f.data) >>> 0, name = Buffer.from(f.name);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(8, 8);
    lh.writeUInt32LE(crc, 14); lh.writeUInt32LE(comp.length, 18); lh.writeUInt32LE(f.data.length, 22); lh.writeUInt16LE(name.length, 26);
    parts.push(lh, name, comp);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt16LE(8, 10);
    ch.writeUInt32LE(crc, 16); ch.writeUInt32LE(comp.length, 20); ch.writeUInt32LE(f.data.length, 24); ch.writeUInt16LE(name.length, 28); ch.writeUInt32LE(offset, 42);
    central.push(ch, name);
    offset += 30 + name.length + comp.length;
  }
  const cd = Buffer.concat(central), end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(files.length, 8); end.writeUInt16LE(files.length, 10); end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cd, end]);
}

// ---------------------------------------------------------------------------------------------
// A local model server: /ok (the tested file), /other (a different model), /cut (closes the
// connection half-way through the body), /zip (an archive like OpenMMLab's), anything else 404.

let server: http.Server;
let base: string;
const hits = new Map<string, number>();
beforeAll(async () => {
  const yolox = readFileSync(YOLOX), reid = readFileSync(REID);
  const zip = zipOf([
    { name: '20230504/rtmpose_onnx/rtmpose-x/deploy.json', data: Buffer.from('{}') },
    { name: '20230504/rtmpose_onnx/rtmpose-x/end2end.onnx', data: yolox },
  ]);
  server = http.createServer((req, res) => {
    const route = (req.url ?? '').split('/')[1];
    hits.set(route, (hits.get(route) ?? 0) + 1);
    const send = (b: Buffer) => { res.writeHead(200, { 'content-length': b.length }); res.end(b); };
    if (route === 'ok') return send(yolox);
    if (route === 'other') return send(reid);
    if (route === 'zip') return send(zip);
    if (route === 'cut') {
      res.writeHead(200, { 'content-length': yolox.length });
      res.write(yolox.subarray(0, yolox.length >> 1), () => setTimeout(() => res.socket?.destroy(), 50));
      return;
    }
    res.writeHead(404).end('no such model');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => hits.clear());

/** A manifest root holding one model "served" (a copy of YOLOX-Nano's entry) with these overrides. */
function manifestWith(overrides: Partial<ModelEntry>): string {
  const root = mkdtempSync(path.join(tmp, 'root-'));
  mkdirSync(path.join(root, 'models'));
  const { id: _id, kind: _kind, ...yolox } = loadModelManifest().get('yolox-nano')!;
  writeFileSync(path.join(root, 'models', 'models.yml'), stringify({ models: { served: { ...yolox, file: 'served.onnx', urls: [], ...overrides } } }));
  return root;
}
const dirIn = (name: string) => mkdtempSync(path.join(tmp, `${name}-`));
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const put = (dir: string, file: string, from = YOLOX) => { copyFileSync(from, path.join(dir, file)); return path.join(dir, file); };
const caught = async (p: Promise<unknown>): Promise<AssetError> => {
  try { await p; } catch (err) { return err as AssetError; }
  throw new Error('expected an error');
};

// ---------------------------------------------------------------------------------------------

describe('models/models.yml', () => {
  const manifest = loadModelManifest();

  it('validates, and pins the shared test copies: sha256 and size from ../shared/models/SHA256SUMS', () => {
    const sums = new Map(readFileSync(path.join(SHARED_MODELS, 'SHA256SUMS'), 'utf8').trim().split('\n').map((l) => l.split(/\s+/).reverse() as [string, string]));
    const pinned = [...manifest.values()].filter((e) => sums.has(e.file));
    expect(pinned.map((e) => e.id).sort()).toEqual(['person-reid-0288', 'ultralight-nano-simplepose', 'yolo11n-pose-int8', 'yolox-nano']);
    for (const e of pinned) {
      expect(e.sha256, e.id).toBe(sums.get(e.file));
      expect(e.verified, e.id).toBe(true);
      expect(e.bytes, e.id).toBe(readFileSync(path.join(SHARED_MODELS, e.file)).length);
    }
  });

  it('describes YOLOX-Nano as issued: official URL, Apache-2.0, BGR 0–255, letterbox top-left pad 114, strides 8/16/32, COCO labels', () => {
    const e = manifest.get('yolox-nano')!;
    expect(e.urls).toEqual(['https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx']);
    expect(e).toMatchObject({ family: 'yolox', licence: 'Apache-2.0', sha256: YOLOX_SHA, categories: 'categories/coco.yml' });
    expect(e.input).toMatchObject({ width: 416, height: 416, colour: 'bgr', normalise: 'none', resize: 'letterbox', align: 'top-left', pad: 114 });
    expect(e.output).toMatchObject({ layout: 'yolox-grid', strides: [8, 16, 32] });
    const labels = loadLabels(e);
    expect(labels).toHaveLength(80);
    expect([labels[0], labels[16], labels[21], labels[79]]).toEqual(['person', 'dog', 'bear', 'toothbrush']);
  });

  it('marks RTMPose-t/s unverified: OpenMMLab zip URLs, no sha256 pinned, a note saying why', () => {
    const unverified = [...manifest.values()].filter((e) => !e.verified).map((e) => e.id);
    expect(unverified).toEqual(['rtmpose-t', 'rtmpose-s']);
    for (const id of unverified) {
      const e = manifest.get(id)!;
      expect(e.urls[0]).toMatch(/^https:\/\/download\.openmmlab\.com\/mmpose\/v1\/projects\/rtmposev1\/onnx_sdk\/rtmpose-[ts]_simcc-body7_pt-body7_420e-256x192-.*\.zip$/);
      expect(e).toMatchObject({ archive: 'zip', sha256: null, archive_sha256: null, input: { width: 192, height: 256 }, output: { layout: 'simcc' } });
      expect(e.note).toMatch(/Unverified.*could not be downloaded/s);
    }
    for (const id of ['yolo11n-pose-int8', 'ultralight-nano-simplepose', 'person-reid-0288']) {
      expect(manifest.get(id)!.urls, id).toEqual([]);
      expect(manifest.get(id)!.note, id).toBeTruthy();
    }
  });

  it('matches the files: each present model\'s input name and size, and output tensors, are what onnxruntime reports', async () => {
    for (const e of manifest.values()) {
      if (!e.verified) continue;
      const info = await inspectOnnx(path.join(SHARED_MODELS, e.file));
      const inp = info.inputs[0];
      expect(inp.name, e.id).toBe(e.input.name);
      expect(inp.shape, e.id).toEqual(e.input.layout === 'nchw' ? [1, 3, e.input.height, e.input.width] : [1, e.input.height, e.input.width, 3]);
      expect(Object.fromEntries(info.outputs.map((o) => [o.name, o.shape])), e.id).toEqual(e.output.tensors);
    }
  });

  it('gives each model its pre-processing constants', () => {
    expect(normalisation(manifest.get('yolox-nano')!.input)).toEqual({ mean: [0, 0, 0], std: [1, 1, 1] });
    expect(normalisation(manifest.get('yolo11n-pose-int8')!.input)).toEqual({ mean: [0, 0, 0], std: [255, 255, 255] });
    expect(normalisation(manifest.get('ultralight-nano-simplepose')!.input)).toEqual({ mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] });
    expect(normalisation({ ...manifest.get('ultralight-nano-simplepose')!.input, colour: 'bgr' }).mean).toEqual([103.53, 116.28, 123.675]);
  });

  it('refuses a broken manifest with one message naming each problem', () => {
    const root = manifestWith({ verified: true, sha256: null, input: { ...loadModelManifest().get('yolox-nano')!.input, colour: 'grb' as 'rgb' } });
    expect(() => loadModelManifest(root)).toThrow(/models\.yml is not valid: models\.served\.input\.colour: must be one of "rgb", "bgr"$/);
    const root2 = manifestWith({ verified: true, sha256: null });
    expect(() => loadModelManifest(root2)).toThrow(/models\.served: verified is true but no sha256 is pinned/);
  });

  it('has JSON Schemas for editors that are up to date and accept the YAML files (regenerate: graphrun models schema manifest|categories -o …)', () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    const files = { manifest: ['models/models.yml'], categories: ['models/categories/coco.yml', 'models/categories/wildlife-11-example.yml'] } as const;
    for (const which of ['manifest', 'categories'] as const) {
      const published = JSON.parse(readFileSync(path.join(repoRoot, 'schemas', which === 'manifest' ? 'models.schema.json' : 'categories.schema.json'), 'utf8'));
      expect(published).toEqual(modelsJsonSchema(which));
      const validate = ajv.compile(published);
      for (const f of files[which]) expect(validate(parse(readFileSync(path.join(repoRoot, f), 'utf8'))), `${f}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });
});

describe('category tables', () => {
  it('COCO: person is human, the ten animal classes are wildlife with species and garden threat levels, the rest other', () => {
    const t = loadCategoryTable('categories/coco.yml');
    expect(t.lookup('person')).toEqual({ category: 'human' });
    expect(t.lookup('bear')).toEqual({ category: 'wildlife', species: 'bear', threatLevel: 'high' });
    expect(t.lookup('dog')).toEqual({ category: 'wildlife', species: 'dog', threatLevel: 'medium' });
    expect(t.lookup('cat')).toMatchObject({ threatLevel: 'low' });
    expect(t.lookup('car')).toEqual({ category: 'other' });
    const wildlife = [...t.labels].filter(([, v]) => v.category === 'wildlife').map(([k]) => k).sort();
    expect(wildlife).toEqual(['bear', 'bird', 'cat', 'cow', 'dog', 'elephant', 'giraffe', 'horse', 'sheep', 'zebra']);
    const coco = loadLabels({ id: 'yolox-nano', labels: 'labels/coco80.txt' });
    for (const label of t.labels.keys()) expect(coco, label).toContain(label);
  });

  it('the 11-species example covers the species of a custom garden model, each with a threat level', () => {
    const t = loadCategoryTable('categories/wildlife-11-example.yml');
    expect([...t.labels.keys()].sort()).toEqual(['badger', 'cat', 'crow', 'deer', 'fox', 'hedgehog', 'pigeon', 'rabbit', 'raccoon', 'squirrel', 'wild_boar']);
    for (const v of t.labels.values()) expect(v).toMatchObject({ category: 'wildlife', species: expect.any(String), threatLevel: expect.stringMatching(/^(none|low|medium|high)$/) });
    expect(t.lookup('wild_boar')).toEqual({ category: 'wildlife', species: 'wild boar', threatLevel: 'high' });
    expect(t.lookup('hedgehog').threatLevel).toBe('none');
  });

  it('a user table with a typo is refused with the path and the field', () => {
    const f = path.join(tmp, 'mine.yml');
    writeFileSync(f, 'default: other\nlabels:\n  deer: { category: wildlife, threat: high }\n');
    expect(() => loadCategoryTable(f)).toThrow(/mine\.yml is not valid: labels\.deer: must NOT have additional properties "threat"/);
  });
});

describe('resolution: cache, then mirrors, then download', () => {
  it('the cache beats a mirror, a mirror beats the download; a download lands in the cache by atomic rename', async () => {
    const root = manifestWith({ urls: [`${base}/ok/served.onnx`] });
    const cache = dirIn('cache'), mirror = dirIn('mirror');
    const env = { GRAPHRUN_MODELS_DIR: cache, GRAPHRUN_MODEL_MIRROR: mirror };
    put(cache, 'served.onnx'); put(mirror, 'served.onnx');
    expect(await resolveModel('served', { env, manifestRoot: root })).toMatchObject({ from: 'cache', path: path.join(cache, 'served.onnx'), sha256: YOLOX_SHA });
    rmSync(path.join(cache, 'served.onnx'));
    expect(await resolveModel('served', { env, manifestRoot: root })).toMatchObject({ from: 'mirror', path: path.join(mirror, 'served.onnx') });
    expect(hits.get('ok')).toBeUndefined();
    rmSync(path.join(mirror, 'served.onnx'));
    const drawn: string[] = [];
    const terminal = { isTTY: true, write: (s: string) => drawn.push(s) > 0 } as unknown as NodeJS.WriteStream;
    const r = await resolveModel('served', { env, manifestRoot: root, progress: terminal });
    expect(drawn.join('')).toContain(`\rserved.onnx [${'#'.repeat(24)}] 100% 3.7/3.7 MB`);
    expect(r).toMatchObject({ from: 'download', path: path.join(cache, 'served.onnx'), source: `${base}/ok/served.onnx`, sha256: YOLOX_SHA });
    expect(await sha256File(r.path)).toBe(YOLOX_SHA);
    expect(readdirSync(cache)).toEqual(['served.onnx']);
    expect(hits.get('ok')).toBe(1);
    expect(await resolveModel('served', { env, manifestRoot: root })).toMatchObject({ from: 'cache' });
    expect(hits.get('ok')).toBe(1);
  });

  it('the real manifest: yolox-nano from GRAPHRUN_MODEL_MIRROR=../shared/models, no download tried', async () => {
    const fetchImpl = (() => { throw new Error('no download expected'); }) as unknown as typeof fetch;
    const r = await resolveModel('yolox-nano', { env: { GRAPHRUN_MODELS_DIR: dirIn('cache'), GRAPHRUN_MODEL_MIRROR: SHARED_MODELS }, fetchImpl });
    expect(r).toMatchObject({ from: 'mirror', path: YOLOX, entry: { id: 'yolox-nano' } });
  });

  it('a mirror copy with the wrong sha256 is skipped for the next mirror, and named in the error when nothing else fits', async () => {
    const root = manifestWith({});
    const bad = dirIn('bad-mirror'), good = dirIn('good-mirror');
    put(bad, 'served.onnx', REID); put(good, 'served.onnx');
    const env = { GRAPHRUN_MODELS_DIR: dirIn('cache'), GRAPHRUN_MODEL_MIRROR: `${bad}:${good}` };
    expect(await resolveModel('served', { env, manifestRoot: root })).toMatchObject({ from: 'mirror', path: path.join(good, 'served.onnx') });
    const err = await caught(resolveModel('served', { env: { ...env, GRAPHRUN_MODEL_MIRROR: bad }, manifestRoot: root }));
    expect(err).toBeInstanceOf(AssetError);
    expect(err.message).toContain(`mirror ${path.join(bad, 'served.onnx')}: sha256 f3966d905e72…, expected d39bee73564e…: a different file, skipped`);
  });

  it('a download whose sha256 differs says plainly that upstream differs from the tested file, and leaves nothing behind', async () => {
    const root = manifestWith({ urls: [`${base}/other/served.onnx`] });
    const cache = dirIn('cache');
    const err = await caught(resolveModel('served', { env: { GRAPHRUN_MODELS_DIR: cache, GRAPHRUN_MODEL_MIRROR: dirIn('empty') }, manifestRoot: root }));
    expect(err.upstreamDiffers).toBe(true);
    expect(err.message).toMatch(new RegExp(`^model "served": the file published at ${base}/other/served.onnx differs from the one graphrun was tested with: its sha256 is f3966d905e72\\w+, the manifest expects ${YOLOX_SHA}, so it was not used\\. `));
    expect(readdirSync(cache)).toEqual([]);
  });

  it('a connection closed mid-body fails that URL, leaves no partial file, and the next URL is tried', async () => {
    const root = manifestWith({ urls: [`${base}/cut/served.onnx`] });
    const cache = dirIn('cache');
    const env = { GRAPHRUN_MODELS_DIR: cache, GRAPHRUN_MODEL_MIRROR: dirIn('empty') };
    const err = await caught(resolveModel('served', { env, manifestRoot: root }));
    expect(err.message).toMatch(new RegExp(`${base}/cut/served\\.onnx: connection lost after \\d+ of 3713911 bytes`));
    expect(readdirSync(cache)).toEqual([]);
    const root2 = manifestWith({ urls: [`${base}/cut/served.onnx`, `${base}/ok/served.onnx`] });
    expect(await resolveModel('served', { env, manifestRoot: root2 })).toMatchObject({ from: 'download', source: `${base}/ok/served.onnx` });
    expect(readdirSync(cache)).toEqual(['served.onnx']);
  });

  it('missing everywhere: one error naming the id, the cache, each mirror, each URL with its reason, and the variables to set', async () => {
    const root = manifestWith({ urls: [`${base}/gone/served.onnx`] });
    const cache = dirIn('cache'), mirror = dirIn('mirror');
    const err = await caught(resolveModel('served', { env: { GRAPHRUN_MODELS_DIR: cache, GRAPHRUN_MODEL_MIRROR: mirror }, manifestRoot: root }));
    expect(err.message).toContain('model "served" (served.onnx) is not available. Tried: ');
    expect(err.message).toContain(`cache ${path.join(cache, 'served.onnx')}: absent`);
    expect(err.message).toContain(`mirror ${path.join(mirror, 'served.onnx')}: absent`);
    expect(err.message).toContain(`${base}/gone/served.onnx: HTTP 404 Not Found`);
    expect(err.message).toContain('set GRAPHRUN_MODEL_MIRROR to a folder holding served.onnx');
    expect(err.message).toContain(`put the file in ${cache} (GRAPHRUN_MODELS_DIR sets that folder)`);
    expect(err.message).toContain('${YOLO_MODEL_PATH}');
    // ../shared/models, when beside the checkout, is a mirror too.
    expect(err.tried.map((t) => t.where).join(' ')).toMatch(/^cache( mirror)+ download$/);
    expect(err.message).not.toContain('\n');
  });

  it('an entry without a URL says none is listed', async () => {
    const root = manifestWith({ urls: [] });
    const err = await caught(resolveModel('served', { env: { GRAPHRUN_MODELS_DIR: dirIn('cache'), GRAPHRUN_MODEL_MIRROR: dirIn('empty') }, manifestRoot: root }));
    expect(err.message).toContain('no URL: none is listed for "served" (see its note in the manifest)');
  });

  it('resolutions at the same time share one download', async () => {
    const root = manifestWith({ urls: [`${base}/ok/served.onnx`] });
    const env = { GRAPHRUN_MODELS_DIR: dirIn('cache'), GRAPHRUN_MODEL_MIRROR: dirIn('empty') };
    const rs = await Promise.all([1, 2, 3].map(() => resolveModel('served', { env, manifestRoot: root })));
    expect(rs.map((r) => r.from)).toEqual(['download', 'download', 'download']);
    expect(hits.get('ok')).toBe(1);
  });

  it('a zip archive (archive: zip, member): the member is extracted into the cache, checked, and the archive removed', async () => {
    const cache = dirIn('cache');
    const env = { GRAPHRUN_MODELS_DIR: cache, GRAPHRUN_MODEL_MIRROR: dirIn('empty') };
    const root = manifestWith({ urls: [`${base}/zip/rtmpose-x.zip`], archive: 'zip', member: '*/end2end.onnx' });
    const r = await resolveModel('served', { env, manifestRoot: root });
    expect(r).toMatchObject({ from: 'download', path: path.join(cache, 'served.onnx'), sha256: YOLOX_SHA });
    expect(readdirSync(cache)).toEqual(['served.onnx']);
    rmSync(r.path);
    const wrong = manifestWith({ urls: [`${base}/zip/rtmpose-x.zip`], archive: 'zip', member: '*.bin' });
    const err = await caught(resolveModel('served', { env, manifestRoot: wrong }));
    expect(err.message).toContain('cannot extract "*.bin" from the zip archive: 0 members match (it holds: 20230504/rtmpose_onnx/rtmpose-x/deploy.json, 20230504/rtmpose_onnx/rtmpose-x/end2end.onnx)');
    expect(readdirSync(cache)).toEqual([]);
  });
});

describe('models named by path', () => {
  it('absolute, or relative to the graph folder; a byte-identical copy of a known model gets its entry', async () => {
    const dir = dirIn('graph');
    put(dir, 'yolox_nano.onnx');
    put(dir, 'mine.onnx', REID);
    expect(await resolveModel('yolox_nano.onnx', { baseDir: dir })).toMatchObject({ from: 'path', path: path.join(dir, 'yolox_nano.onnx'), entry: { id: 'yolox-nano' } });
    const mine = await resolveModel(path.join(dir, 'mine.onnx'), { baseDir: '/' });
    expect(mine).toMatchObject({ from: 'path', path: path.join(dir, 'mine.onnx') });
    expect(mine.entry).toBeUndefined();
  });

  it('a path that does not exist, an unknown id, an empty reference: clear errors', async () => {
    const dir = dirIn('graph');
    await expect(resolveModel('models/missing.onnx', { baseDir: dir })).rejects.toThrow(`model file not found: ${path.join(dir, 'models/missing.onnx')} ("models/missing.onnx" relative to ${dir}). Give an existing file, or a model id (yolox-nano, `);
    await expect(resolveModel('yolox-nanoo', { baseDir: dir })).rejects.toThrow(/^unknown model id "yolox-nanoo" \(known: yolox-nano, yolo11n-pose-int8, .*\); nor is there a file /);
    await expect(resolveModel('', { baseDir: dir })).rejects.toThrow(/^no model given: the reference is empty/);
  });
});

describe('inspectOnnx', () => {
  it('YOLOX-Nano: images [1,3,416,416] → output [1,3549,85]', async () => {
    const info = await inspectOnnx(YOLOX);
    expect(info.inputs).toEqual([{ name: 'images', type: 'float32', shape: [1, 3, 416, 416] }]);
    expect(info.outputs).toEqual([{ name: 'output', type: 'float32', shape: [1, 3549, 85] }]);
    expect(describeModel(info)).toBe('images [1,3,416,416] float32 → output [1,3549,85] float32');
  });

  it('a truncated copy, a path that does not exist, a directory: clear errors', async () => {
    const cut = path.join(tmp, 'truncated.onnx');
    const bytes = readFileSync(YOLOX);
    writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
    await expect(inspectOnnx(cut)).rejects.toThrow(new RegExp(`^${escapeRe(cut)} is not a valid ONNX model \\(truncated or corrupt\\?\\): Load model from ${escapeRe(cut)} failed:Protobuf parsing failed\\.$`));
    const none = path.join(tmp, 'nowhere', 'model.onnx');
    await expect(inspectOnnx(none)).rejects.toThrow(new ModelError(`model file not found: ${none}`));
    await expect(inspectOnnx(tmp)).rejects.toThrow(`${tmp} is a directory, not an ONNX model file`);
  });

  it('expectTensors: an image classifier (rank-2 output) is refused where a detector is expected, saying what it has', async () => {
    const f = path.join(tmp, 'classifier.onnx');
    writeFileSync(f, tinyClassifierOnnx());
    const detector = { inputs: [{ rank: 4, dims: [1, 3, null, null] }], outputs: [{ rank: 3, hint: '[1, anchors, 5 + classes]' }] };
    expect(() => expectTensors({ path: YOLOX, inputs: [], outputs: [] }, detector, 'a YOLOX detector')).toThrow(/it has 0 inputs, expected 1/);
    const info = await inspectOnnx(f);
    expect(() => expectTensors(info, detector, 'a YOLOX detector')).toThrow(new ModelError(
      `${f} is not a YOLOX detector: output "logits" is [1,3] (rank 2), expected rank 3 ([1, anchors, 5 + classes]). The model: images [1,3,224,224] float32 → logits [1,3] float32`));
    const reid = await inspectOnnx(REID);
    expect(() => expectTensors(reid, detector, 'a YOLOX detector')).toThrow(/input "inputs:0" is \[1,256,128,3\], expected dimension 1 to be 3; output "Identity:0" is \[1,256\] \(rank 2\), expected rank 3/);
    const yolox = await inspectOnnx(YOLOX);
    expect(() => expectTensors(yolox, detector, 'a YOLOX detector')).not.toThrow();
  });
});

describe('graphrun models (the built CLI)', () => {
  beforeAll(() => ensureBuilt(), 180000);
  const cli = (args: string[], env: Record<string, string>) => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'graphrun.js'), 'models', ...args], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', ...env } });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('list, pull, verify with GRAPHRUN_MODELS_DIR=<temp> and GRAPHRUN_MODEL_MIRROR=../shared/models', async () => {
    const cache = dirIn('cli-cache');
    const env = { GRAPHRUN_MODELS_DIR: cache, GRAPHRUN_MODEL_MIRROR: SHARED_MODELS };

    let r = cli(['list'], env);
    expect(r.code, r.err).toBe(0);
    const row = (id: string) => r.out.split('\n').find((l) => l.startsWith(`${id} `))!.split(/\s{2,}/);
    expect(row('yolox-nano')).toEqual(['yolox-nano', 'yolox', 'detect', '416x416 bgr', 'Apache-2.0', 'mirror', 'yes']);
    expect(row('rtmpose-t')).toEqual(['rtmpose-t', 'rtmpose', 'pose-topdown', '192x256 rgb', 'Apache-2.0', 'no', 'no (unverified)']);
    expect(r.out).toContain(`cache: ${cache} (GRAPHRUN_MODELS_DIR)`);

    r = cli(['pull', 'yolox-nano', 'person-reid-0288'], env);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(
      `yolox-nano: copied from mirror ${YOLOX} to ${path.join(cache, 'yolox_nano.onnx')}\n` +
      `person-reid-0288: copied from mirror ${REID} to ${path.join(cache, 'person-reidentification-retail-0288.onnx')}\n`);
    expect(await sha256File(path.join(cache, 'yolox_nano.onnx'))).toBe(YOLOX_SHA);
    expect(readdirSync(cache).sort()).toEqual(['person-reidentification-retail-0288.onnx', 'yolox_nano.onnx']);
    r = cli(['pull', 'yolox-nano'], env);
    expect(r.out).toBe(`yolox-nano: already in the cache: ${path.join(cache, 'yolox_nano.onnx')}\n`);
    r = cli(['list'], env);
    expect(row('yolox-nano')[5]).toBe('cache');

    r = cli(['verify'], env);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toContain(`ok        yolox-nano  cache ${path.join(cache, 'yolox_nano.onnx')}\n`);
    expect(r.out).toContain(`ok        yolox-nano  mirror ${YOLOX}\n`);
    expect(r.out).toContain('absent    rtmpose-t  not in the cache or any mirror\n');
    expect(r.err).toMatch(/^verify: \d+ ok, 0 mismatched, 0 unpinned, 2 absent\n$/);

    writeFileSync(path.join(cache, 'yolox_nano.onnx'), readFileSync(YOLOX).subarray(0, 1000));
    r = cli(['verify'], env);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(new RegExp(`mismatch  yolox-nano  cache ${path.join(cache, 'yolox_nano.onnx')}: sha256 [0-9a-f]{64}, the manifest expects ${YOLOX_SHA} \\(resolution skips this copy`));
    expect((await verifyModels({ env })).filter((c) => c.status === 'mismatch').map((c) => c.path)).toEqual([path.join(cache, 'yolox_nano.onnx')]);

    r = cli(['pull', 'yolox-nano', 'no-such-model'], env);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^graphrun models pull: unknown model id "no-such-model" \(known: yolox-nano, /);
  });
});
