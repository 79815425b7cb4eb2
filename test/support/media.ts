/** Test media and models live outside the repository, in ../shared (or GRAPHRUN_SHARED_DIR). */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedDir = process.env.GRAPHRUN_SHARED_DIR ?? path.resolve(repoRoot, '../shared');

function need(p: string, what: string): string {
  if (!existsSync(p)) throw new Error(`test ${what} missing: ${p} (tests read media and models from ../shared, or set GRAPHRUN_SHARED_DIR)`);
  return p;
}
export const mediaPath = (name: string) => need(path.join(sharedDir, 'media', name), 'media');
export const modelPath = (name: string) => need(path.join(sharedDir, 'models', name), 'model');
export const dataPath = (...parts: string[]) => need(path.join(sharedDir, 'data', ...parts), 'data');
