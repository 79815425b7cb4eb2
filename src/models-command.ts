/**
 * `graphrun models list | pull [ID...] | verify | schema`: the models graphrun knows by id,
 * where their copies are, fetching them into the cache, and checking them.
 */
import { writeFileSync } from 'node:fs';
import { Argument, Command } from 'commander';
import { AssetError, assetCacheDir, mirrorDirs } from './assets.js';
import { loadModelManifest, ModelError, modelsJsonSchema, resolveModel, verifyModels, type ModelCheck, type ModelEntry } from './models.js';

const EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2;

/** Adds the `models` command group; `setCode` receives each command's exit code. */
export function addModelsCommand(program: Command, setCode: (code: number) => void): Command {
  const models = program
    .command('models')
    .description('models known by id (models/models.yml): list, pull into the cache, verify checksums');
  const run = async (fn: () => Promise<number>) => {
    try {
      setCode(await fn());
    } catch (err) {
      if (!(err instanceof ModelError || err instanceof AssetError)) throw err;
      process.stderr.write(`graphrun models: ${err.message}\n`);
      setCode(EXIT_USAGE);
    }
  };

  models
    .command('list')
    .description('each model: family, input, licence, whether a good copy is in the cache or a mirror, verified or not')
    .action(() => run(list));
  models
    .command('pull [ids...]')
    .description('get models into the cache (all when no id is given): from a mirror folder or the official URLs; prints where each came from')
    .action((ids: string[]) => run(() => pull(ids)));
  models
    .command('verify')
    .description('sha256 of every copy present in the cache and the mirrors against the manifest; exit 1 on a mismatch')
    .action(() => run(verify));
  models
    .command('schema')
    .description('print the JSON Schema of the model manifest or of category tables (for editors)')
    .addArgument(new Argument('<which>').choices(['manifest', 'categories']))
    .option('-o, --out <file>', 'write it to a file instead')
    .action((which: 'manifest' | 'categories', o: { out?: string }) => {
      const text = JSON.stringify(modelsJsonSchema(which), null, 2) + '\n';
      if (o.out) writeFileSync(o.out, text);
      else process.stdout.write(text);
      setCode(EXIT_OK);
    });
  return models;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n') + '\n';
}

function present(checks: ModelCheck[]): string {
  const good = checks.find((c) => c.status === 'ok' || c.status === 'unpinned');
  if (good) return good.status === 'ok' ? good.where! : `${good.where} (unpinned)`;
  return checks.some((c) => c.status === 'mismatch') ? 'no (sha256 differs)' : 'no';
}

async function list(): Promise<number> {
  const manifest = loadModelManifest();
  const checks = await verifyModels();
  const rows = [['ID', 'FAMILY', 'TASK', 'INPUT (WxH)', 'LICENCE', 'PRESENT', 'VERIFIED']];
  for (const e of manifest.values()) {
    rows.push([
      e.id, e.family, e.task, `${e.input.width}x${e.input.height} ${e.input.colour}`,
      e.licence.replace(/ \(.*$/, ''), present(checks.filter((c) => c.id === e.id)),
      e.verified ? 'yes' : 'no (unverified)',
    ]);
  }
  process.stdout.write(table(rows));
  process.stdout.write(`\ncache: ${assetCacheDir('model')} (GRAPHRUN_MODELS_DIR)\nmirrors: ${mirrorDirs('model').join(':') || 'none'} (GRAPHRUN_MODEL_MIRROR)\nlicences, notes, sources: models/models.yml and models/README.md\n`);
  return EXIT_OK;
}

function describeSource(id: string, r: Awaited<ReturnType<typeof resolveModel>>, entry: ModelEntry): string {
  const pin = r.sha256 && !entry.sha256 ? ` (sha256 ${r.sha256}: not pinned in the manifest, unverified)` : '';
  switch (r.from) {
    case 'cache': return `${id}: already in the cache: ${r.path}${pin}`;
    case 'mirror': return `${id}: copied from mirror ${r.source} to ${r.path}${pin}`;
    case 'download': return `${id}: downloaded from ${r.source} to ${r.path}${pin}`;
    default: return `${id}: ${r.path}`;
  }
}

async function pull(ids: string[]): Promise<number> {
  const manifest = loadModelManifest();
  const unknown = ids.filter((id) => !manifest.has(id));
  if (unknown.length) {
    process.stderr.write(`graphrun models pull: unknown model id${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')} (known: ${[...manifest.keys()].join(', ')})\n`);
    return EXIT_USAGE;
  }
  let failed = 0;
  for (const id of ids.length ? ids : [...manifest.keys()]) {
    try {
      const r = await resolveModel(id, { copyToCache: true, progress: process.stderr });
      process.stdout.write(describeSource(id, r, manifest.get(id)!) + '\n');
    } catch (err) {
      if (!(err instanceof AssetError)) throw err;
      failed++;
      process.stderr.write(`${id}: ${err.message}\n`);
    }
  }
  return failed ? EXIT_FAILED : EXIT_OK;
}

async function verify(): Promise<number> {
  const checks = await verifyModels();
  const count = (s: ModelCheck['status']) => checks.filter((c) => c.status === s).length;
  for (const c of checks) {
    const where = c.path ? `${c.where} ${c.path}` : 'not in the cache or any mirror';
    const why = c.status === 'mismatch' ? `: sha256 ${c.actual}, the manifest expects ${c.expected} (resolution skips this copy; delete or replace it)`
      : c.status === 'unpinned' ? `: sha256 ${c.actual} (no sha256 pinned in the manifest: unverified)` : '';
    process.stdout.write(`${c.status.padEnd(8)}  ${c.id}  ${where}${why}\n`);
  }
  process.stderr.write(`verify: ${count('ok')} ok, ${count('mismatch')} mismatched, ${count('unpinned')} unpinned, ${count('absent')} absent\n`);
  return count('mismatch') ? EXIT_FAILED : EXIT_OK;
}
