/**
 * Models and sample media by id, the way users get them: a local cache first, then mirror
 * folders, then a download from the listed URLs (progress on a terminal, sha256 check, atomic
 * rename). One clear error when nothing works, naming the id, what was tried, and the variable
 * to set. Manifests: models/models.yml and models/samples.yml.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export interface AssetFile { file: string; sha256: string | null }
export interface AssetEntry extends AssetFile {
  id: string;
  kind: 'model' | 'sample';
  urls: string[];
  licence?: string;
  description?: string;
  alternates?: AssetFile[];
  /** Model entries carry their layout and pre-processing; the model issue reads these. */
  [key: string]: unknown;
}

export class AssetError extends Error {}

/** The installed package's folder (works from src/ under tsx and from dist/src/). */
export const packageRoot = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(dir: string): string {
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json')) && existsSync(path.join(d, 'models'))) return d;
  }
  return dir;
}

export function loadManifest(kind: 'model' | 'sample', root = packageRoot): Map<string, AssetEntry> {
  const file = path.join(root, 'models', kind === 'model' ? 'models.yml' : 'samples.yml');
  const out = new Map<string, AssetEntry>();
  if (!existsSync(file)) return out;
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, Record<string, Omit<AssetEntry, 'id' | 'kind'>>>;
  for (const [id, e] of Object.entries(doc[kind === 'model' ? 'models' : 'samples'] ?? {})) {
    out.set(id, { ...e, id, kind, urls: e.urls ?? [], sha256: e.sha256 ?? null } as AssetEntry);
  }
  return out;
}

export interface ResolveOptions {
  env?: Record<string, string | undefined>;
  /** Where relative paths are resolved (the graph's folder). */
  baseDir?: string;
  /** Progress lines go here when it is a terminal. */
  progress?: NodeJS.WriteStream;
  fetchImpl?: typeof fetch;
  manifestRoot?: string;
}

export interface Resolved { path: string; from: 'path' | 'cache' | 'mirror' | 'download'; entry?: AssetEntry }

export function cacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.GRAPHRUN_MODELS_DIR) return path.resolve(env.GRAPHRUN_MODELS_DIR);
  const xdg = env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(xdg, 'graphrun');
}

/**
 * Mirror folders: the variables, then the team's shared test data beside the checkout
 * (`../shared/models`, `../shared/media`) when it exists, so a development machine without
 * internet runs the demo as a user's machine would after its first download.
 */
export function mirrorDirs(kind: 'model' | 'sample', env: Record<string, string | undefined> = process.env): string[] {
  const vars = kind === 'model' ? [env.GRAPHRUN_MODEL_MIRROR] : [env.GRAPHRUN_MEDIA_MIRROR, env.GRAPHRUN_MODEL_MIRROR];
  const dirs = vars.flatMap((v) => (v ? v.split(':') : [])).filter(Boolean).map((d) => path.resolve(d));
  const shared = path.resolve(packageRoot, '..', 'shared', kind === 'model' ? 'models' : 'media');
  if (existsSync(shared) && !dirs.includes(shared)) dirs.push(shared);
  return dirs;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}

/**
 * `ref` is an id from the manifest (`yolox-nano`, `sample:vtest`) or a file path. A path is used
 * as it is (it must exist); an id goes through cache → mirrors → download.
 */
export async function resolveAsset(ref: string, kind: 'model' | 'sample', opts: ResolveOptions = {}): Promise<Resolved> {
  const env = opts.env ?? process.env;
  const id = kind === 'sample' && ref.startsWith('sample:') ? ref.slice('sample:'.length) : ref;
  const manifest = loadManifest(kind, opts.manifestRoot);
  const entry = manifest.get(id);
  if (!entry) {
    const p = path.resolve(opts.baseDir ?? process.cwd(), ref);
    if (existsSync(p) && statSync(p).isFile()) return { path: p, from: 'path' };
    const known = [...manifest.keys()].map((k) => (kind === 'sample' ? `sample:${k}` : k)).join(', ');
    throw new AssetError(`${kind} "${ref}" is neither a file (${p} does not exist) nor a known ${kind} id (${known || 'none'})`);
  }
  const tried: string[] = [];
  const candidates: AssetFile[] = [{ file: entry.file, sha256: entry.sha256 }, ...(entry.alternates ?? [])];
  const check = async (p: string, want: string | null): Promise<boolean> => {
    if (!existsSync(p)) { tried.push(`${p} (absent)`); return false; }
    if (!want) return true;
    const got = await sha256File(p);
    if (got === want) return true;
    tried.push(`${p} (sha256 ${got.slice(0, 12)}…, expected ${want.slice(0, 12)}…)`);
    return false;
  };
  const cache = path.join(cacheDir(env), kind === 'model' ? 'models' : 'samples');
  for (const c of candidates) if (await check(path.join(cache, c.file), c.sha256)) return { path: path.join(cache, c.file), from: 'cache', entry };
  for (const dir of mirrorDirs(kind, env)) {
    for (const c of candidates) if (await check(path.join(dir, c.file), c.sha256)) return { path: path.join(dir, c.file), from: 'mirror', entry };
  }
  const fetchImpl = opts.fetchImpl ?? fetch;
  for (const url of entry.urls) {
    try {
      const dest = path.join(cache, entry.file);
      await download(fetchImpl, url, dest, entry.sha256, opts.progress ?? process.stderr);
      return { path: dest, from: 'download', entry };
    } catch (err) {
      tried.push(`${url} (${(err as Error).message})`);
    }
  }
  const mirrorVar = kind === 'model' ? 'GRAPHRUN_MODEL_MIRROR' : 'GRAPHRUN_MEDIA_MIRROR';
  throw new AssetError(
    `${kind} "${id}" (${entry.file}) is not available. Tried: ${tried.join('; ') || 'nothing'}. ` +
      `Put the file in ${cache}, point ${mirrorVar} at a folder that has it, or give a file path${kind === 'model' ? ' (e.g. ${YOLO_MODEL_PATH})' : ''}.`,
  );
}

async function download(fetchImpl: typeof fetch, url: string, dest: string, sha: string | null, tty: NodeJS.WriteStream): Promise<void> {
  mkdirSync(path.dirname(dest), { recursive: true });
  const res = await fetchImpl(url, { redirect: 'follow', signal: AbortSignal.timeout(600000) });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  const tmp = `${dest}.part-${process.pid}`;
  const hash = createHash('sha256');
  let got = 0;
  let lastDraw = 0;
  const show = tty.isTTY === true;
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (c: Buffer) => {
    hash.update(c);
    got += c.length;
    const now = Date.now();
    if (show && now - lastDraw > 100) {
      lastDraw = now;
      const pct = total ? ` ${((got / total) * 100).toFixed(0)}%` : '';
      tty.write(`\rdownloading ${path.basename(dest)}: ${(got / 1e6).toFixed(1)} MB${pct}   `);
    }
  });
  try {
    await pipeline(body, createWriteStream(tmp));
    if (show) tty.write('\n');
    const digest = hash.digest('hex');
    if (sha && digest !== sha) {
      throw new Error(`downloaded file's sha256 is ${digest}, but the manifest expects ${sha}: the file published upstream differs from the one graphrun was tested with`);
    }
    renameSync(tmp, dest);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
}
