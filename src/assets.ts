/**
 * Models and sample media by id, the way users get them: a local cache first, then mirror
 * folders, then a download from the listed URLs (progress on a terminal, sha256 check, atomic
 * rename). One clear error when nothing works, naming the id, what was tried, and the variable
 * to set. Manifests: models/models.yml (typed and validated in models.ts) and models/samples.yml.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { parse } from 'yaml';

export interface AssetFile { file: string; sha256: string | null }
export interface AssetEntry extends AssetFile {
  id: string;
  kind: 'model' | 'sample';
  urls: string[];
  licence?: string;
  description?: string;
  alternates?: AssetFile[];
  /** The URLs give a zip archive; `member` (a pattern, `*` matches any characters) is the file. */
  archive?: 'zip';
  member?: string;
  archive_sha256?: string | null;
  /** Model entries carry their layout and pre-processing: see models.ts. */
  [key: string]: unknown;
}

/** One place looked at while resolving an id, and why it did not do. */
export interface Attempt { where: 'cache' | 'mirror' | 'download'; location: string; problem: string }

export class AssetError extends Error {
  constructor(message: string, readonly tried: Attempt[] = [], readonly upstreamDiffers = false) {
    super(message);
  }
}

/** A download whose bytes are not the file the manifest pins. */
class UpstreamDiffersError extends Error {}

/** The installed package's folder (works from src/ under tsx and from dist/src/). */
export const packageRoot = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(dir: string): string {
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json')) && existsSync(path.join(d, 'models'))) return d;
  }
  return dir;
}

export function manifestFile(kind: 'model' | 'sample', root = packageRoot): string {
  return path.join(root, 'models', kind === 'model' ? 'models.yml' : 'samples.yml');
}

export function loadManifest(kind: 'model' | 'sample', root = packageRoot): Map<string, AssetEntry> {
  const file = manifestFile(kind, root);
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
  /** An already loaded (and validated) manifest, instead of reading it again. */
  manifest?: Map<string, AssetEntry>;
  /** A copy found in a mirror is copied into the cache (what `graphrun models pull` does). */
  copyToCache?: boolean;
}

export interface Resolved {
  path: string;
  from: 'path' | 'cache' | 'mirror' | 'download';
  entry?: AssetEntry;
  /** The mirror file or URL it came from (mirror, download). */
  source?: string;
  /** When it was computed: every id resolution with a pinned sha256, and every download. */
  sha256?: string;
}

/** Root of graphrun's cache: $GRAPHRUN_MODELS_DIR, else $XDG_CACHE_HOME/graphrun (~/.cache/graphrun). */
export function cacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.GRAPHRUN_MODELS_DIR) return path.resolve(env.GRAPHRUN_MODELS_DIR);
  const xdg = env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(xdg, 'graphrun');
}

/**
 * The folder files of this kind are cached in. Models: $GRAPHRUN_MODELS_DIR itself (a folder of
 * model files), else ~/.cache/graphrun/models. Samples: `samples/` under cacheDir().
 */
export function assetCacheDir(kind: 'model' | 'sample', env: Record<string, string | undefined> = process.env): string {
  if (kind === 'model') return env.GRAPHRUN_MODELS_DIR ? path.resolve(env.GRAPHRUN_MODELS_DIR) : path.join(cacheDir(env), 'models');
  return path.join(cacheDir(env), 'samples');
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
  return [...new Set(dirs)];
}

/** Where a copy of the entry may already be, in resolution order (existence not checked). */
export interface LocalCandidate { where: 'cache' | 'mirror'; path: string; file: string; sha256: string | null }

export function localCandidates(entry: AssetEntry, env: Record<string, string | undefined> = process.env): LocalCandidate[] {
  const files: AssetFile[] = [{ file: entry.file, sha256: entry.sha256 }, ...(entry.alternates ?? [])];
  const dirs: [LocalCandidate['where'], string][] = [['cache', assetCacheDir(entry.kind, env)], ...mirrorDirs(entry.kind, env).map((d): [LocalCandidate['where'], string] => ['mirror', d])];
  return dirs.flatMap(([where, dir]) => files.map((f) => ({ where, path: path.join(dir, f.file), file: f.file, sha256: f.sha256 })));
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}

const short = (sha: string) => `${sha.slice(0, 12)}…`;
const tmpName = (dest: string) => `${dest}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
function removeQuietly(file: string): void {
  try { unlinkSync(file); } catch { /* absent */ }
}

/**
 * `ref` is an id from the manifest (`yolox-nano`, `sample:vtest`) or a file path (absolute, or
 * relative to `baseDir`). A path is used as it is (it must exist); an id goes through
 * cache → mirrors → download.
 */
export async function resolveAsset(ref: string, kind: 'model' | 'sample', opts: ResolveOptions = {}): Promise<Resolved> {
  const env = opts.env ?? process.env;
  if (!ref.trim()) throw new AssetError(`no ${kind} given: the reference is empty (is the variable that names it set to an empty value?)`);
  const id = kind === 'sample' && ref.startsWith('sample:') ? ref.slice('sample:'.length) : ref;
  const manifest = opts.manifest ?? loadManifest(kind, opts.manifestRoot);
  const entry = manifest.get(id);
  if (!entry) return resolvePath(ref, kind, [...manifest.keys()], opts.baseDir);

  const tried: Attempt[] = [];
  const cache = assetCacheDir(kind, env);
  for (const c of localCandidates(entry, env)) {
    if (!existsSync(c.path)) { tried.push({ where: c.where, location: c.path, problem: 'absent' }); continue; }
    const got = c.sha256 ? await sha256File(c.path) : undefined;
    if (c.sha256 && got !== c.sha256) {
      tried.push({ where: c.where, location: c.path, problem: `sha256 ${short(got!)}, expected ${short(c.sha256)}: a different file, skipped` });
      continue;
    }
    if (c.where === 'mirror' && opts.copyToCache) {
      const dest = path.join(cache, c.file);
      mkdirSync(cache, { recursive: true });
      const tmp = tmpName(dest);
      try {
        copyFileSync(c.path, tmp);
        renameSync(tmp, dest);
      } finally { removeQuietly(tmp); }
      return { path: dest, from: 'mirror', source: c.path, entry, sha256: got };
    }
    return { path: c.path, from: c.where, entry, sha256: got, ...(c.where === 'mirror' ? { source: c.path } : {}) };
  }

  const fetchImpl = opts.fetchImpl ?? fetch;
  const differs: string[] = [];
  if (entry.urls.length === 0) tried.push({ where: 'download', location: 'no URL', problem: `none is listed for "${id}"${entry.note ? ' (see its note in the manifest)' : ''}` });
  for (const url of entry.urls) {
    const dest = path.join(cache, entry.file);
    try {
      const sha256 = await once(dest, () => download(fetchImpl, url, entry, dest, opts.progress ?? process.stderr));
      return { path: dest, from: 'download', source: url, entry, sha256 };
    } catch (err) {
      const msg = (err as Error).message;
      if (err instanceof UpstreamDiffersError) differs.push(`the file published at ${url} ${msg}, so it was not used`);
      tried.push({ where: 'download', location: url, problem: err instanceof UpstreamDiffersError ? 'differs from the tested file (above)' : msg });
    }
  }
  const mirrorVar = kind === 'model' ? 'GRAPHRUN_MODEL_MIRROR' : 'GRAPHRUN_MEDIA_MIRROR';
  const name = kind === 'sample' ? `sample:${id}` : id;
  throw new AssetError(
    (differs.length ? `${kind} "${name}": ${differs.join('; ')}. ` : '') +
      `${kind} "${name}" (${entry.file}) is not available. Tried: ${tried.map((t) => `${t.where === 'download' ? '' : `${t.where} `}${t.location}: ${t.problem}`).join('; ')}. ` +
      `To fix: set ${mirrorVar} to a folder holding ${entry.file} (several folders: ':'-separated), ` +
      `or put the file in ${cache}${kind === 'model' ? ' (GRAPHRUN_MODELS_DIR sets that folder)' : ''}, ` +
      `or give a file path instead of the id${kind === 'model' ? ' (e.g. model: ${YOLO_MODEL_PATH})' : ''}.`,
    tried,
    differs.length > 0,
  );
}

function resolvePath(ref: string, kind: 'model' | 'sample', ids: string[], baseDir = process.cwd()): Resolved {
  const p = path.resolve(baseDir, ref);
  const known = ids.map((k) => (kind === 'sample' ? `sample:${k}` : k)).join(', ') || 'none';
  if (existsSync(p)) {
    if (statSync(p).isFile()) return { path: p, from: 'path' };
    throw new AssetError(`${kind} path ${p} is a directory, not a file`);
  }
  const relative = path.isAbsolute(ref) ? '' : ` ("${ref}" relative to ${baseDir})`;
  if (/[/\\]/.test(ref) || /\.[A-Za-z0-9]{1,5}$/.test(ref)) {
    throw new AssetError(`${kind} file not found: ${p}${relative}. Give an existing file, or a ${kind} id (${known})`);
  }
  throw new AssetError(`unknown ${kind} id "${ref}" (known: ${known}); nor is there a file ${p}${relative}`);
}

/** Concurrent resolutions of one file in this process share one download. */
const inflight = new Map<string, Promise<string>>();
function once(key: string, fn: () => Promise<string>): Promise<string> {
  let p = inflight.get(key);
  if (!p) {
    p = fn().finally(() => inflight.delete(key));
    inflight.set(key, p);
  }
  return p;
}

/**
 * Fetches `url` into `dest` (through the entry's archive when it has one): written under a
 * temporary name beside it, checked, then renamed; nothing is left behind on failure.
 * Returns the sha256 of the file at `dest`.
 */
async function download(fetchImpl: typeof fetch, url: string, entry: AssetEntry, dest: string, tty: NodeJS.WriteStream): Promise<string> {
  mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = tmpName(dest);
  const fetched = entry.archive ? `${tmp}.${entry.archive}` : tmp;
  try {
    let digest = await fetchTo(fetchImpl, url, fetched, tty);
    if (entry.archive) {
      pinned(digest, entry.archive_sha256 ?? null, 'archive');
      await extractZipMember(fetched, entry.member ?? '*.onnx', tmp);
      digest = await sha256File(tmp);
    }
    pinned(digest, entry.sha256, entry.archive ? `${entry.file} in the archive` : '');
    renameSync(tmp, dest);
    return digest;
  } finally {
    removeQuietly(tmp);
    if (fetched !== tmp) removeQuietly(fetched);
  }
}

function pinned(got: string, want: string | null, what: string): void {
  if (want && got !== want) {
    throw new UpstreamDiffersError(`${what ? `(${what}) ` : ''}differs from the one graphrun was tested with: its sha256 is ${got}, the manifest expects ${want}`);
  }
}

async function fetchTo(fetchImpl: typeof fetch, url: string, file: string, tty: NodeJS.WriteStream): Promise<string> {
  let res: Response;
  try {
    res = await fetchImpl(url, { redirect: 'follow', signal: AbortSignal.timeout(600000) });
  } catch (err) {
    throw new Error(networkError(err));
  }
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  const hash = createHash('sha256');
  let got = 0;
  let lastDraw = 0;
  const show = tty.isTTY === true;
  const label = path.basename(new URL(url).pathname) || url;
  const draw = () => tty.write(`\r${label} ${progressBar(got, total)}   `);
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (c: Buffer) => {
    hash.update(c);
    got += c.length;
    const now = Date.now();
    if (show && now - lastDraw > 100) { lastDraw = now; draw(); }
  });
  try {
    await pipeline(body, createWriteStream(file));
  } catch (err) {
    throw new Error(`connection lost after ${got}${total ? ` of ${total}` : ''} bytes (${networkError(err)})`);
  } finally {
    if (show) { draw(); tty.write('\n'); }
  }
  if (total && got !== total) throw new Error(`incomplete download: ${got} of ${total} bytes`);
  return hash.digest('hex');
}

function progressBar(got: number, total: number): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  if (!total) return `${mb(got)} MB`;
  const f = Math.min(1, got / total);
  const n = Math.round(f * 24);
  return `[${'#'.repeat(n)}${'.'.repeat(24 - n)}] ${(f * 100).toFixed(0).padStart(3)}% ${mb(got)}/${mb(total)} MB`;
}

/** fetch's errors say "fetch failed" and keep the reason in `cause`. */
function networkError(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return 'timed out';
  const cause = e.cause?.message ?? e.cause?.code ?? '';
  return cause ? `${e.message} (${cause})` : e.message;
}

/**
 * Extracts the one member of a zip archive matching `pattern` (`*` matches any characters,
 * `/` included) into `out`. Stored and deflated members; not zip64 or encrypted archives.
 */
export async function extractZipMember(zipFile: string, pattern: string, out: string): Promise<string> {
  const buf = await readFile(zipFile);
  const bad = (why: string) => new Error(`cannot extract "${pattern}" from the zip archive: ${why}`);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw bad('not a zip file (no end-of-central-directory record)');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || p === 0xffffffff) throw bad('zip64 archives are not supported; extract it with unzip');
  const members: { name: string; flags: number; method: number; crc: number; csize: number; usize: number; offset: number }[] = [];
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== 0x02014b50) throw bad('corrupt central directory');
    const n = buf.readUInt16LE(p + 28);
    members.push({
      name: buf.toString('utf8', p + 46, p + 46 + n), flags: buf.readUInt16LE(p + 8), method: buf.readUInt16LE(p + 10),
      crc: buf.readUInt32LE(p + 16), csize: buf.readUInt32LE(p + 20), usize: buf.readUInt32LE(p + 24), offset: buf.readUInt32LE(p + 42),
    });
    p += 46 + n + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  const hits = members.filter((m) => !m.name.endsWith('/') && re.test(m.name));
  if (hits.length !== 1) {
    throw bad(`${hits.length} members match (it holds: ${members.map((m) => m.name).slice(0, 10).join(', ') || 'nothing'})`);
  }
  const m = hits[0];
  if (m.flags & 1) throw bad(`${m.name} is encrypted`);
  if (buf.readUInt32LE(m.offset) !== 0x04034b50) throw bad('corrupt local header');
  const start = m.offset + 30 + buf.readUInt16LE(m.offset + 26) + buf.readUInt16LE(m.offset + 28);
  const raw = buf.subarray(start, start + m.csize);
  if (raw.length !== m.csize) throw bad(`${m.name} is truncated`);
  let data: Buffer;
  if (m.method === 0) data = raw;
  else if (m.method === 8) data = zlib.inflateRawSync(raw);
  else throw bad(`${m.name} uses compression method ${m.method}`);
  if (data.length !== m.usize || (typeof zlib.crc32 === 'function' && zlib.crc32(data) >>> 0 !== m.crc)) throw bad(`${m.name} fails its CRC check`);
  await writeFile(out, data);
  return m.name;
}
