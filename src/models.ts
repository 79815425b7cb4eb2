/**
 * The model manager: the typed, validated manifest (models/models.yml), resolution of a model
 * named by id or path (through assets.ts: cache → mirrors → download), verification of the
 * copies present, a look inside an ONNX file (inputs and outputs, with clear errors for missing,
 * truncated or unexpected models), and the label and category tables detectors use.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { loadManifest, localCandidates, manifestFile, packageRoot, resolveAsset, sha256File, type Resolved, type ResolveOptions } from './assets.js';
import type { Category, ThreatLevel } from './contract.js';

export { AssetError, assetCacheDir, mirrorDirs } from './assets.js';

export class ModelError extends Error {}

// ---------------------------------------------------------------------------------------------
// Manifest schema

const Sha256 = (description: string) => Type.Union([Type.String({ pattern: '^[0-9a-f]{64}$' }), Type.Null()], { description });
const Vec3 = Type.Array(Type.Number(), { minItems: 3, maxItems: 3 });
const lit = <T extends string>(values: readonly T[], description: string) => Type.Union(values.map((v) => Type.Literal(v)), { description });

export const ModelInputSchema = Type.Object({
  name: Type.String({ description: 'Name of the input tensor.' }),
  width: Type.Integer({ minimum: 1, description: 'Input width in pixels.' }),
  height: Type.Integer({ minimum: 1, description: 'Input height in pixels.' }),
  layout: lit(['nchw', 'nhwc'] as const, 'Tensor layout: nchw (1,3,H,W) or nhwc (1,H,W,3).'),
  colour: lit(['rgb', 'bgr'] as const, 'Channel order the model expects.'),
  normalise: Type.Union([
    lit(['none', 'unit', 'imagenet'] as const, 'none: pixel values 0–255 as they are; unit: divided by 255; imagenet: (v − [123.675, 116.28, 103.53]) / [58.395, 57.12, 57.375] on 0–255, in the channel order above.'),
    Type.Object({ mean: Vec3, std: Vec3 }, { additionalProperties: false, description: '(v − mean) / std on 0–255 values, per channel in the channel order above.' }),
  ]),
  resize: lit(['letterbox', 'stretch', 'crop'] as const, 'letterbox: scaled to fit, aspect kept, padded; stretch: scaled to the size; crop: a top-down crop around one detection (pose models).'),
  align: Type.Optional(lit(['top-left', 'centre'] as const, 'Letterbox: where the picture sits in the padded input.')),
  pad: Type.Optional(Type.Integer({ minimum: 0, maximum: 255, description: 'Letterbox: grey level of the padding.' })),
}, { additionalProperties: false, description: 'What the model takes and how a frame is prepared for it.' });

export const ModelOutputSchema = Type.Object({
  layout: lit(['yolox-grid', 'yolov8-detect', 'yolov8-pose', 'heatmap', 'simcc', 'embedding'] as const,
    'yolox-grid: [1, anchors, 5+classes] raw grid (decode with strides); yolov8-detect/-pose: [1, 4+classes(+3×keypoints), anchors]; heatmap: [1, keypoints, H/4, W/4]; simcc: simcc_x/simcc_y per keypoint; embedding: [1, D].'),
  strides: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { description: 'yolox-grid: the grid strides.' })),
  simcc_split_ratio: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'simcc: bins per input pixel.' })),
  tensors: Type.Optional(Type.Record(Type.String(), Type.Array(Type.Union([Type.Integer(), Type.String()])), { description: 'Output tensor name → shape.' })),
}, { additionalProperties: false, description: 'How to read what the model returns.' });

export const ModelEntrySchema = Type.Object({
  description: Type.String(),
  family: Type.String({ description: 'Model family: yolox, yolov8, simplebaseline, openvino-reid, rtmpose, …' }),
  task: lit(['detect', 'pose', 'pose-topdown', 'reid'] as const, 'detect: boxes; pose: boxes with keypoints; pose-topdown: keypoints of one cropped person; reid: an appearance embedding.'),
  file: Type.String({ pattern: '^[^/\\\\]+$', description: 'File name in the cache and in mirror folders.' }),
  sha256: Sha256('sha256 of the file graphrun was tested with; null when none is pinned (unverified).'),
  bytes: Type.Optional(Type.Integer({ minimum: 1, description: 'Size of the tested file (information).' })),
  urls: Type.Array(Type.String({ pattern: '^https?://' }), { description: 'Official download URLs, tried in order. [] when none is public.' }),
  archive: Type.Optional(Type.Literal('zip', { description: 'The URLs give a zip archive holding the file.' })),
  member: Type.Optional(Type.String({ description: 'The file inside the archive; `*` matches any characters. Default "*.onnx".' })),
  archive_sha256: Type.Optional(Sha256('sha256 of the archive; null when not pinned.')),
  licence: Type.String(),
  verified: Type.Boolean({ description: 'true: sha256 is of a copy graphrun was tested with. false: the file was never seen here.' }),
  note: Type.Optional(Type.String()),
  input: ModelInputSchema,
  output: ModelOutputSchema,
  labels: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description: 'Class names in class-id order: a file under models/ (one per line), or a list.' })),
  categories: Type.Optional(Type.String({ description: 'Category table under models/ (label → human / wildlife with species and threat level / other).' })),
  keypoints: Type.Optional(Type.Literal('coco17', { description: 'Keypoint set (COCO-17 order).' })),
}, { additionalProperties: false });

export const ModelManifestSchema = Type.Object({
  models: Type.Record(Type.String({ pattern: '^[a-z0-9][a-z0-9._-]*$' }), ModelEntrySchema, { description: 'Model id → entry.', additionalProperties: false }),
}, { additionalProperties: false, title: 'graphrun model manifest (models/models.yml)' });

export const CategoryTableSchema = Type.Object({
  description: Type.Optional(Type.String()),
  default: lit(['human', 'wildlife', 'other'] as const, 'Category of labels the table does not list.'),
  labels: Type.Record(Type.String(), Type.Object({
    category: lit(['human', 'wildlife', 'other'] as const, 'human, wildlife or other.'),
    species: Type.Optional(Type.String({ description: 'Wildlife: the species name reported.' })),
    threat_level: Type.Optional(lit(['none', 'low', 'medium', 'high'] as const, 'Wildlife: how much harm it means here.')),
  }, { additionalProperties: false }), { description: 'Model label → category.' }),
}, { additionalProperties: false, title: 'graphrun category table (models/categories/*.yml)' });

/** JSON Schemas for editors: schemas/models.schema.json and schemas/categories.schema.json. */
export function modelsJsonSchema(which: 'manifest' | 'categories'): Record<string, unknown> {
  const s = which === 'manifest' ? ModelManifestSchema : CategoryTableSchema;
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...JSON.parse(JSON.stringify(s)) };
}

export type ModelInput = Static<typeof ModelInputSchema>;
export type ModelOutput = Static<typeof ModelOutputSchema>;
export type ModelEntry = Static<typeof ModelEntrySchema> & { id: string; kind: 'model' };

const ajv = new Ajv({ allErrors: true, strict: false });
const validators = new Map<TSchema, ReturnType<Ajv['compile']>>();
function validate(schema: TSchema, doc: unknown, file: string): void {
  let v = validators.get(schema);
  if (!v) { v = ajv.compile(schema); validators.set(schema, v); }
  if (v(doc)) return;
  const lines: string[] = [];
  const oneOf = new Map<string, string[]>();
  for (const e of v.errors ?? []) {
    const at = e.instancePath.split('/').slice(1).join('.') || '(top)';
    if (e.keyword === 'const') oneOf.set(at, [...(oneOf.get(at) ?? []), JSON.stringify(e.params.allowedValue)]);
    else if (e.keyword !== 'anyOf') lines.push(`${at}: ${e.message}${e.keyword === 'additionalProperties' ? ` "${String(e.params.additionalProperty)}"` : ''}`);
  }
  for (const [at, values] of oneOf) lines.push(`${at}: must be one of ${values.join(', ')}`);
  throw new ModelError(`${file} is not valid: ${[...new Set(lines)].join('; ')}`);
}

/** The model manifest, validated. Throws one ModelError naming every problem. */
export function loadModelManifest(root = packageRoot): Map<string, ModelEntry> {
  const file = manifestFile('model', root);
  if (!existsSync(file)) throw new ModelError(`model manifest not found: ${file}`);
  validate(ModelManifestSchema, parse(readFileSync(file, 'utf8')), file);
  const entries = loadManifest('model', root) as unknown as Map<string, ModelEntry>;
  const problems: string[] = [];
  for (const e of entries.values()) {
    if (e.verified && !e.sha256) problems.push(`models.${e.id}: verified is true but no sha256 is pinned`);
    if (e.member && !e.archive) problems.push(`models.${e.id}: member needs archive`);
  }
  if (problems.length) throw new ModelError(`${file} is not valid: ${problems.join('; ')}`);
  return entries;
}

// ---------------------------------------------------------------------------------------------
// Resolution and verification

export interface ResolvedModel extends Resolved { entry?: ModelEntry }

/**
 * A model named by id (cache → mirrors → download) or by path (absolute, or relative to
 * `opts.baseDir`, the graph's folder). A path whose file is byte for byte a manifest entry's
 * comes back with that entry. Errors are AssetErrors: one message naming the id, each place
 * tried and why it did not do, and the variable to set.
 */
export async function resolveModel(ref: string, opts: ResolveOptions = {}): Promise<ResolvedModel> {
  const manifest = loadModelManifest(opts.manifestRoot);
  const r = await resolveAsset(ref, 'model', { ...opts, manifest }) as ResolvedModel;
  if (r.from === 'path') {
    const named = [...manifest.values()].filter((e) => e.sha256 && e.file === path.basename(r.path));
    if (named.length) {
      const sha = await sha256File(r.path);
      r.entry = named.find((e) => e.sha256 === sha);
      if (r.entry) r.sha256 = sha;
    }
  }
  return r;
}

export interface ModelCheck {
  id: string;
  file: string;
  /** ok: matches the pinned sha256; mismatch: does not (resolution skips it); unpinned: no sha256
   * to check against (entry unverified); absent: no copy in the cache or any mirror. */
  status: 'ok' | 'mismatch' | 'unpinned' | 'absent';
  where: 'cache' | 'mirror' | null;
  path: string | null;
  expected: string | null;
  actual: string | null;
}

/** Every copy of every manifest model in the cache and the mirrors, hashed. */
export async function verifyModels(opts: Pick<ResolveOptions, 'env' | 'manifestRoot'> = {}): Promise<ModelCheck[]> {
  const out: ModelCheck[] = [];
  for (const e of loadModelManifest(opts.manifestRoot).values()) {
    let found = false;
    for (const c of localCandidates(e, opts.env ?? process.env)) {
      if (!existsSync(c.path) || !statSync(c.path).isFile()) continue;
      found = true;
      const actual = await sha256File(c.path);
      const status = !c.sha256 ? 'unpinned' : actual === c.sha256 ? 'ok' : 'mismatch';
      out.push({ id: e.id, file: c.file, status, where: c.where, path: c.path, expected: c.sha256, actual });
    }
    if (!found) out.push({ id: e.id, file: e.file, status: 'absent', where: null, path: null, expected: e.sha256, actual: null });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Inside an ONNX file

export interface TensorInfo { name: string; type: string; shape: (number | string)[] }
export interface OnnxInfo { path: string; inputs: TensorInfo[]; outputs: TensorInfo[] }

type Ort = typeof import('onnxruntime-node');
let ortModule: Promise<Ort> | undefined;
/** onnxruntime-node is loaded on first use only (the CLI's other commands do not need it). */
function ort(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node').then((m) => ((m as { InferenceSession?: unknown }).InferenceSession ? m : (m as unknown as { default: Ort }).default));
  return ortModule;
}

/**
 * Opens the model in onnxruntime and returns its inputs and outputs. Throws a ModelError:
 * "model file not found: PATH", "PATH is a directory…", or "PATH is not a valid ONNX model
 * (truncated or corrupt?): <onnxruntime's first line>".
 */
export async function inspectOnnx(file: string): Promise<OnnxInfo> {
  const abs = path.resolve(file);
  if (!existsSync(abs)) throw new ModelError(`model file not found: ${abs}`);
  if (statSync(abs).isDirectory()) throw new ModelError(`${abs} is a directory, not an ONNX model file`);
  const { InferenceSession } = await ort();
  let session: Awaited<ReturnType<typeof InferenceSession.create>>;
  try {
    session = await InferenceSession.create(abs, { logSeverityLevel: 3 });
  } catch (err) {
    const first = String((err as Error)?.message ?? err).split('\n')[0].trim();
    throw new ModelError(`${abs} is not a valid ONNX model (truncated or corrupt?): ${first}`);
  }
  try {
    const info = (m: (typeof session.inputMetadata)[number]): TensorInfo =>
      m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: [] };
    return { path: abs, inputs: session.inputMetadata.map(info), outputs: session.outputMetadata.map(info) };
  } finally {
    await session.release();
  }
}

const fmtShape = (s: (number | string)[]) => `[${s.join(',')}]`;

/** One line: `images [1,3,416,416] float32 → output [1,3549,85] float32`. */
export function describeModel(info: OnnxInfo): string {
  const side = (ts: TensorInfo[]) => ts.map((t) => `${t.name} ${fmtShape(t.shape)} ${t.type}`).join(', ') || '(none)';
  return `${side(info.inputs)} → ${side(info.outputs)}`;
}

/** What a node needs of one tensor: its rank, and any fixed dimensions (null: any). */
export interface TensorExpectation { rank: number; dims?: (number | null)[]; hint?: string }

/**
 * Checks the model's inputs and outputs against what a node can decode; throws a ModelError
 * saying what was found and what was expected, e.g. "PATH is not a yolox-grid detector:
 * output "logits" is [1,1000] (rank 2), expected rank 3 ([1, anchors, 5 + classes]). The model:
 * data [1,3,224,224] float32 → logits [1,1000] float32". Symbolic dimensions pass any check.
 */
export function expectTensors(info: OnnxInfo, want: { inputs?: TensorExpectation[]; outputs?: TensorExpectation[] }, purpose: string): void {
  const problems: string[] = [];
  for (const side of ['inputs', 'outputs'] as const) {
    const exp = want[side];
    if (!exp) continue;
    const got = info[side];
    const noun = side.slice(0, -1);
    if (got.length < exp.length) { problems.push(`it has ${got.length} ${got.length === 1 ? noun : side}, expected ${exp.length}`); continue; }
    exp.forEach((e, i) => {
      const t = got[i];
      const hint = e.hint ? ` (${e.hint})` : '';
      if (t.shape.length !== e.rank) { problems.push(`${noun} "${t.name}" is ${fmtShape(t.shape)} (rank ${t.shape.length}), expected rank ${e.rank}${hint}`); return; }
      const bad = (e.dims ?? []).findIndex((d, k) => d !== null && typeof t.shape[k] === 'number' && t.shape[k] !== d);
      if (bad >= 0) problems.push(`${noun} "${t.name}" is ${fmtShape(t.shape)}, expected dimension ${bad} to be ${String(e.dims![bad])}${hint}`);
    });
  }
  if (problems.length) throw new ModelError(`${info.path} is not ${purpose}: ${problems.join('; ')}. The model: ${describeModel(info)}`);
}

// ---------------------------------------------------------------------------------------------
// Pre-processing, labels, categories

const IMAGENET = { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] };

/** Per-channel (v − mean) / std on 0–255 values, in the model's channel order. */
export function normalisation(input: ModelInput): { mean: number[]; std: number[] } {
  const n = input.normalise;
  if (typeof n === 'object') return { mean: [...n.mean], std: [...n.std] };
  if (n === 'unit') return { mean: [0, 0, 0], std: [255, 255, 255] };
  if (n === 'imagenet') {
    // The constants are in RGB order.
    return input.colour === 'rgb' ? { mean: [...IMAGENET.mean], std: [...IMAGENET.std] } : { mean: [...IMAGENET.mean].reverse(), std: [...IMAGENET.std].reverse() };
  }
  return { mean: [0, 0, 0], std: [1, 1, 1] };
}

/** Class names in class-id order: the entry's list, or its file under models/. */
export function loadLabels(entry: Pick<ModelEntry, 'id' | 'labels'>, root = packageRoot): string[] {
  if (!entry.labels) throw new ModelError(`model "${entry.id}" has no labels in the manifest`);
  if (Array.isArray(entry.labels)) return entry.labels;
  const file = path.resolve(root, 'models', entry.labels);
  if (!existsSync(file)) throw new ModelError(`labels of model "${entry.id}" not found: ${file}`);
  return readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
}

export interface CategoryInfo { category: Category; species?: string; threatLevel?: ThreatLevel }
export interface CategoryTable {
  file: string;
  description?: string;
  labels: Map<string, CategoryInfo>;
  /** The label's category; labels the table does not list get its default (no species). */
  lookup(label: string): CategoryInfo;
}

/**
 * A category table: `ref` is a file under models/ (`categories/coco.yml`, as the manifest names
 * it) or a path (absolute, or relative to `baseDir`: a user's own table).
 */
export function loadCategoryTable(ref: string, baseDir?: string): CategoryTable {
  const inModels = path.resolve(packageRoot, 'models', ref);
  const file = baseDir ? path.resolve(baseDir, ref) : existsSync(inModels) ? inModels : path.resolve(ref);
  if (!existsSync(file)) throw new ModelError(`category table not found: ${file}`);
  const doc = parse(readFileSync(file, 'utf8')) as Static<typeof CategoryTableSchema>;
  validate(CategoryTableSchema, doc, file);
  const labels = new Map<string, CategoryInfo>(Object.entries(doc.labels).map(([label, v]) => [
    label,
    { category: v.category, ...(v.species !== undefined ? { species: v.species } : {}), ...(v.threat_level !== undefined ? { threatLevel: v.threat_level } : {}) },
  ]));
  const fallback: CategoryInfo = { category: doc.default };
  return { file, description: doc.description, labels, lookup: (label) => labels.get(label) ?? fallback };
}
