/**
 * The yolo node's model: `model:` is an id from models/models.yml or a file path (relative to
 * the graph's folder), resolved by the model manager (src/models.ts: cache → mirrors →
 * download; a path to a file that is byte for byte a manifest model gets that entry). The
 * entry's `output.layout`, `input` (colour, normalisation, letterbox alignment, pad), `labels`
 * and `categories` become hints: options the graph sets win over them, they win over the
 * layout's defaults.
 */
import { loadLabels, normalisation, resolveModel, type ModelEntry } from '../../src/models.js';
import { ModelError, type Layout } from './layout.js';
import type { PreprocessHints } from './preprocess.js';

export interface ModelSource {
  /** Absolute file path. */
  path: string;
  /** The id, or the file name for a path: what packets name as `model`. */
  name: string;
  layout?: Layout;
  preprocess?: PreprocessHints;
  labels?: string[];
  /** Category table, as the manifest names it (`categories/coco.yml`, under models/). */
  categories?: string;
}

const LAYOUTS: Partial<Record<ModelEntry['output']['layout'], Layout>> = { 'yolox-grid': 'yolox', 'yolov8-detect': 'yolov8', 'yolov8-pose': 'yolov8-pose' };

/** What a manifest entry says about layout, pre-processing, labels and categories. */
export function hintsOf(e: ModelEntry): Omit<ModelSource, 'path' | 'name'> {
  const layout = LAYOUTS[e.output.layout];
  if (!layout) throw new ModelError(`model "${e.id}" is a ${e.task} model (output ${e.output.layout}), not a YOLO detector: the yolo node cannot decode it`);
  if (e.input.layout !== 'nchw') throw new ModelError(`model "${e.id}" takes ${e.input.layout} input; the yolo node feeds NCHW`);
  const { mean, std } = normalisation(e.input);
  const preprocess: PreprocessHints = { color: e.input.colour, scale: 1, mean, std };
  if (e.input.align) preprocess.align = e.input.align === 'centre' ? 'center' : 'top-left';
  if (e.input.pad !== undefined) preprocess.pad = e.input.pad;
  return {
    layout,
    preprocess,
    ...(e.labels ? { labels: loadLabels(e) } : {}),
    ...(e.categories ? { categories: e.categories } : {}),
  };
}

export async function resolveYoloModel(ref: string, baseDir: string): Promise<ModelSource> {
  const r = await resolveModel(ref, { baseDir });
  const name = r.from === 'path' ? (r.entry?.id ?? r.path.split('/').pop()!) : ref;
  return { path: r.path, name, ...(r.entry ? hintsOf(r.entry) : {}) };
}
