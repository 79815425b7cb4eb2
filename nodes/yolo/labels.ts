/**
 * Class labels and what each means — a category (`human`, `wildlife`, `other`) and, for
 * wildlife, the species and threat level.
 *
 * Labels file (the `labels:` option): `.txt`/`.names`, one label per line in class order
 * (blank lines and `#` comments skipped); or `.yml`/`.yaml`/`.json` holding a list, a map
 * id → name, or either under `names:` / `labels:` (the Ultralytics dataset file works as it
 * is). Without it: the model manifest's labels, else COCO (models/labels/coco80.txt) for 80
 * classes, `person` for a one-class pose model, `class0…` otherwise.
 *
 * Category tables are the model manager's (src/models.ts `loadCategoryTable`, format of
 * models/categories/*.yml). Without one, `person` is `human` and everything else `other`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { Category, ThreatLevel } from '../../src/contract.js';
import { loadLabels as loadManifestLabels, type CategoryTable } from '../../src/models.js';

export interface ClassMeaning { category: Category; species?: string; threatLevel?: ThreatLevel }

/** The COCO-80 labels (models/labels/coco80.txt), in the order COCO models emit them. */
export function cocoLabels(): string[] {
  return loadManifestLabels({ id: 'coco80', labels: 'labels/coco80.txt' });
}

/** The category table for COCO labels when the model's entry names none. */
export const COCO_TABLE = 'categories/coco.yml';

export class TableError extends Error {
  override name = 'TableError';
}

function readStructured(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  return file.endsWith('.json') ? JSON.parse(text) : parse(text);
}

export function loadLabels(file: string): string[] {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (err) { throw new TableError(`labels file ${file}: ${(err as Error).message}`); }
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.yml' && ext !== '.yaml' && ext !== '.json') {
    return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  }
  let v: unknown;
  try { v = readStructured(file); } catch (err) { throw new TableError(`labels file ${file}: ${(err as Error).message}`); }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (o.names !== undefined) v = o.names;
    else if (o.labels !== undefined) v = o.labels;
  }
  if (Array.isArray(v)) return v.map(String);
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    const out: string[] = [];
    for (const [k, name] of entries) {
      const i = Number(k);
      if (!Number.isInteger(i) || i < 0) throw new TableError(`labels file ${file}: key "${k}" is not a class id (0, 1, …)`);
      out[i] = String(name);
    }
    for (let i = 0; i < out.length; i++) if (out[i] === undefined) throw new TableError(`labels file ${file}: class id ${i} has no label`);
    return out;
  }
  throw new TableError(`labels file ${file}: expected a list of labels or a map id → label`);
}

/** The meaning of each class id, in order. */
export function classMeanings(labels: readonly string[], table: Pick<CategoryTable, 'lookup'> | undefined): ClassMeaning[] {
  return labels.map((l) => (table ? { ...table.lookup(l) } : { category: l === 'person' ? 'human' : 'other' }));
}

/** Labels for a model with `numClasses` classes when none were given. */
export function defaultLabels(numClasses: number, layout: string): string[] {
  if (numClasses === 80 || (layout === 'end2end' && numClasses === 0)) return cocoLabels();
  if (layout === 'yolov8-pose' && numClasses === 1) return ['person'];
  return Array.from({ length: numClasses }, (_, i) => `class${i}`);
}

/**
 * A class named in options (`classes:`, `class_thresholds:`): its label or its id. Throws a
 * TableError naming the option, with a suggestion, when it is neither.
 */
export function classIdOf(name: string | number, labels: readonly string[], option: string): number {
  if (typeof name === 'number') {
    if (Number.isInteger(name) && name >= 0 && name < Math.max(labels.length, 1)) return name;
    throw new TableError(`${option}: class id ${name} is out of range (the model has ${labels.length} classes)`);
  }
  const i = labels.indexOf(name);
  if (i >= 0) return i;
  if (/^\d+$/.test(name) && Number(name) < labels.length) return Number(name);
  const near = labels.filter((l) => l.toLowerCase().startsWith(name.toLowerCase().slice(0, 3))).slice(0, 3);
  throw new TableError(`${option}: unknown class "${name}"${near.length ? ` (did you mean ${near.map((n) => `"${n}"`).join(', ')}?)` : ''}; the model's labels: ${labels.slice(0, 12).join(', ')}${labels.length > 12 ? ', …' : ''}`);
}
