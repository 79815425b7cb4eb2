/**
 * `graphrun validate` on broken graphs: each file in test/fixtures/bad-graphs/ has exactly one
 * deliberate problem and says on its first line, `# expect: <line>`, the diagnostic it must
 * print (file:line:col path: message, as run from the repository root). Files in
 * bad-graphs/test-nodes/ need the test node types, so they go through the in-process API with
 * the test registry instead of the CLI. Valid graphs, `extends` and `${VAR}` are checked too.
 *
 * Starting the CLI costs about half a second of CPU (most of it loading modules), too much to
 * pay fifty times on a two-core machine. So one child process runs the CLI's `main` (what
 * bin/graphrun.js calls) once per fixture, each with its own exit code and stdout, and real
 * `node bin/graphrun.js validate` processes check the same files end to end: all bad ones in one
 * run, one bad one alone, and all valid ones.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadAndCompile } from '../src/graph/compile.js';
import { formatDiagnostic } from '../src/graph/diagnostics.js';
import { defaultRegistry } from '../src/registry.js';
import { testRegistry } from './support/test-nodes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const BAD = 'test/fixtures/bad-graphs';
const GOOD = 'test/fixtures/good-graphs';
const CLI = path.join(root, 'dist/src/cli.js');

const ymlIn = (dir: string) => readdirSync(path.join(root, dir)).filter((f) => f.endsWith('.yml')).sort().map((f) => `${dir}/${f}`);
const badFixtures = ymlIn(BAD);
const badTestNodeFixtures = ymlIn(`${BAD}/test-nodes`);
const goodGraphs = [...ymlIn('graphs'), ...ymlIn(GOOD)];

function expectedLine(file: string): string {
  const first = readFileSync(path.join(root, file), 'utf8').split('\n')[0];
  const m = /^# expect: (.+)$/.exec(first);
  if (!m) throw new Error(`${file}: the first line must be "# expect: <the diagnostic line>"`);
  return m[1];
}

// Variables the fixtures use must be unset in the child, whatever this shell has.
const usedVars = new Set([...badFixtures, ...goodGraphs].flatMap((f) => [...readFileSync(path.join(root, f), 'utf8').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1])));
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !usedVars.has(k)));
// What a deployment sets for the shipped graphs (graphs/cpu.yml reads the camera URL).
const deployEnv = { ...childEnv, MEDIA_RPI_RTSP_URL: 'rtsp://graphrun:secret@127.0.0.1:8554/garden', FASTAPI_ENDPOINT: 'http://127.0.0.1:8000', FASTAPI_TOKEN: 'secret-token', S3_BUCKET: 'garden-snapshots' };

interface Run { code: number; stdout: string; stderr: string }

function node(args: string[], env: NodeJS.ProcessEnv = childEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: root, env, timeout: 60000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `node bin/graphrun.js validate FILE...`, from the repository root. */
const validate = (files: string[], env?: NodeJS.ProcessEnv) => node(['bin/graphrun.js', 'validate', ...files], env);

/** In one child process, `graphrun validate FILE` for each file: its exit code and stdout. */
const EACH = `
const { main } = await import(${JSON.stringify(new URL('../dist/src/cli.js', import.meta.url).href)});
const write = process.stdout.write.bind(process.stdout);
const out = {};
for (const file of JSON.parse(process.argv[1])) {
  let stdout = '';
  process.stdout.write = (chunk) => { stdout += chunk; return true; };
  try { out[file] = { code: await main(['validate', file]), stdout, stderr: '' }; }
  catch (err) { out[file] = { code: -1, stdout, stderr: String(err?.stack ?? err) }; }
  finally { process.stdout.write = write; }
}
write(JSON.stringify(out));
`;

async function validateEach(files: string[], env?: NodeJS.ProcessEnv): Promise<Map<string, Run>> {
  const r = await node(['--input-type=module', '-e', EACH, JSON.stringify(files)], env);
  if (r.code !== 0) throw new Error(`running graphrun validate per file failed (${r.code}):\n${r.stderr}`);
  return new Map(Object.entries(JSON.parse(r.stdout) as Record<string, Run>));
}

const lines = (s: string) => s.split('\n').filter((l) => l !== '');

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${path.relative(root, CLI)} is missing: run \`npm run build\` first (\`npm test\` does it)`);
});

describe('graphrun validate on broken graphs', () => {
  let runs: Map<string, Run>;
  beforeAll(async () => {
    runs = await validateEach(badFixtures);
  });

  it('has at least 25 fixtures, each with an expected line naming itself or the file it extends', () => {
    expect(badFixtures.length).toBeGreaterThanOrEqual(25);
    for (const f of [...badFixtures, ...badTestNodeFixtures]) {
      expect(expectedLine(f), f).toMatch(new RegExp(`^${BAD}/[^ ]+\\.yml:\\d+:\\d+ `));
    }
  });

  it.each(badFixtures)('%s', (file) => {
    const r = runs.get(file)!;
    expect(r.code, `exit code of graphrun validate ${file}\n${r.stdout}${r.stderr}`).toBe(2);
    // The whole output, not a substring: one deliberate problem gives one line, and an echo of
    // it (a second, vaguer error for the same mistake) is a regression too.
    expect(lines(r.stdout), `stdout of graphrun validate ${file}`).toEqual([expectedLine(file)]);
  });

  it('node bin/graphrun.js validate: every fixture in one run, each line printed, exit 2', async () => {
    const r = await validate(badFixtures);
    expect(r.code, r.stderr).toBe(2);
    const got = lines(r.stdout);
    for (const f of badFixtures) expect(got, f).toContain(expectedLine(f));
    expect(got.length).toBe(badFixtures.length);
  });

  it('node bin/graphrun.js validate: one fixture alone prints its line and exits 2', async () => {
    const file = badFixtures.find((f) => f.includes('unknown-node-type'))!;
    const r = await validate([file]);
    expect(r.code).toBe(2);
    expect(lines(r.stdout)).toEqual([expectedLine(file)]);
  });
});

describe('broken graphs that need test node types (in-process, test registry)', () => {
  it.each(badTestNodeFixtures)('%s', (file) => {
    const r = loadAndCompile(file, testRegistry, { cwd: root, env: {} });
    expect(r.graph).toBeUndefined();
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([expectedLine(file)]);
  });

  it('covers cycles, kind mismatches and block edges from a source that cannot pause', () => {
    const all = badTestNodeFixtures.map(expectedLine).join('\n');
    expect(all).toMatch(/cycle: \w+ → \w+ → \w+ \(/);
    expect(all).toMatch(/cycle: \w+ → \w+ → \w+ → \w+ \(/);
    expect(all).toMatch(/carries detections packets but test-detector input "frames" expects frame/);
    expect(all).toMatch(/block queue needs a producer that can pause/);
  });
});

describe('graphrun validate on valid graphs', () => {
  it('exits 0 and prints nothing on stdout, file by file', async () => {
    const runs = await validateEach(goodGraphs, deployEnv);
    expect([...runs.keys()]).toEqual(goodGraphs);
    for (const [file, r] of runs) {
      expect(r.stdout, `stdout of graphrun validate ${file}`).toBe('');
      expect(r.code, `graphrun validate ${file}: ${r.stderr}`).toBe(0);
    }
  });

  it('node bin/graphrun.js validate: all valid graphs in one run exit 0, stdout empty', async () => {
    const r = await validate(goodGraphs, deployEnv);
    expect(r.stdout).toBe('');
    expect(r.code, r.stderr).toBe(0);
    for (const f of goodGraphs) expect(r.stderr).toContain(`${f}: ok (`);
  });

  it('accepts the good test-node graphs in-process', () => {
    for (const file of ymlIn(`${GOOD}/test-nodes`)) {
      const r = loadAndCompile(file, testRegistry, { cwd: root, env: {} });
      expect(r.diagnostics.map(formatDiagnostic), file).toEqual([]);
      expect(r.graph, file).toBeDefined();
    }
  });
});

describe('extends', () => {
  it('merges the base: one option overridden, a node removed with null, the rest inherited', () => {
    const r = loadAndCompile(`${GOOD}/override.yml`, defaultRegistry, { cwd: root, env: {} });
    expect(r.diagnostics).toEqual([]);
    const g = r.graph!;
    expect(g.name).toBe('lobby-night');
    expect([...g.nodes.keys()].sort()).toEqual(['cam', 'sink']);
    expect(g.nodes.get('cam')!.options).toMatchObject({ fps: 5, width: 640, height: 360, format: 'gray8' });
    expect(g.nodes.get('sink')!.inputs).toEqual([{ port: 'in', from: [{ node: 'cam', port: 'frames' }], policy: { mode: 'drop_oldest', size: 64 } }]);
    expect(g.status.port).toBe(0);
    expect(g.shutdown.drain_timeout_ms).toBe(2000);
    expect(g.files).toEqual([path.join(root, GOOD, 'override.yml'), path.join(root, GOOD, 'base.yml')]);
  });

  it('positions a problem in the file that wrote it', () => {
    // The child changes fps to a bad value: the error is in the child, the rest of cam in the base.
    const child = 'extends: base.yml\nnodes:\n  cam:\n    fps: -1\n';
    const abs = path.join(root, GOOD, 'child.yml');
    const r = loadAndCompile(abs, defaultRegistry, { cwd: root, env: {}, readFile: (p) => (p === abs ? child : readFileSync(p, 'utf8')) });
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([`${GOOD}/child.yml:4:10 nodes.cam.fps: must be > 0 (got -1)`]);
  });
});

describe('concurrency', () => {
  const compiled = (detect: string) => {
    const abs = path.join(root, GOOD, 'concurrency.yml');
    const yaml = `version: 1\nname: c\nnodes:\n  cam: { type: synthetic-source }\n  detect:\n    type: yolo\n${detect}    inputs: { frames: cam.frames }\n`;
    const r = loadAndCompile(abs, defaultRegistry, { cwd: root, env: {}, readFile: (p) => (p === abs ? yaml : readFileSync(p, 'utf8')) });
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    return { detect: r.graph!.nodes.get('detect')!.concurrency, cam: r.graph!.nodes.get('cam')!.concurrency };
  };

  it('unset: what the node type asks for (yolo: workers × max(2, max_batch)), else 1', () => {
    expect(compiled('    max_batch: 1\n')).toEqual({ detect: 2, cam: 1 });
    expect(compiled('')).toEqual({ detect: 4, cam: 1 }); // max_batch 4 by default
    expect(compiled('    workers: 3\n    max_batch: 8\n').detect).toBe(24);
  });

  it('set in the graph: as written, whatever the node type would ask', () => {
    expect(compiled('    concurrency: 1\n    workers: 2\n').detect).toBe(1);
  });
});

describe('${VAR} interpolation', () => {
  const file = `${GOOD}/variables.yml`;
  const cam = (env: Record<string, string>) => {
    const r = loadAndCompile(file, defaultRegistry, { cwd: root, env });
    expect(r.diagnostics).toEqual([]);
    return { graph: r.graph!, cam: r.graph!.nodes.get('cam')!.options };
  };

  it('gives numbers and booleans for unquoted defaults, strings for quoted ones', () => {
    const { graph, cam: o } = cam({});
    expect(o.fps).toBe(12.5);
    expect(o.width).toBe(320);
    expect(o.realtime).toBe(true);
    expect(o.stream_id).toBe('42');
    expect(graph.nodes.get('cam')!.description).toBe('costs $0, camera 320x240');
    expect(graph.name).toBe('variables');
    expect(graph.status.token).toBe('');
  });

  it('takes set variables, typed the same way, and treats an empty one as unset', () => {
    const { graph, cam: o } = cam({ CAM_FPS: '30', CAM_STREAM: '7', CAM_WIDTH: '', GRAPH_NAME: 'lobby' });
    expect(o.fps).toBe(30);
    expect(o.stream_id).toBe('7');
    expect(o.width).toBe(320);
    expect(graph.name).toBe('lobby');
  });

  it('points an unset variable at the scalar that uses it, once', () => {
    const text = [
      'version: 1',
      'name: lobby',
      'nodes:',
      '  cam:',
      '    type: synthetic-source',
      '    fps: ${LOBBY_FPS}',
      '    stream_id: "site-${SITE}"',
    ].join('\n');
    const abs = path.join(root, 'graphs/unset.yml');
    const r = loadAndCompile(abs, defaultRegistry, { cwd: root, env: {}, readFile: () => text });
    expect(r.graph).toBeUndefined();
    expect(r.diagnostics.map((d) => [d.line, d.col, d.path, d.message])).toEqual([
      [6, 10, 'nodes.cam.fps', 'environment variable LOBBY_FPS is not set (set it, or write ${LOBBY_FPS:-default})'],
      [7, 16, 'nodes.cam.stream_id', 'environment variable SITE is not set (set it, or write ${SITE:-default})'],
    ]);
    expect(r.diagnostics.every((d) => d.file === 'graphs/unset.yml')).toBe(true);
  });
});

describe('the shipped graphs', () => {
  it('refuse to start without the camera URL and the delivery settings, naming each variable and where it is used', async () => {
    const r = await validate(['graphs/cpu.yml', 'graphs/gpu.yml']);
    expect(r.code).toBe(2);
    const out = lines(r.stdout);
    const vars: Record<string, string> = { MEDIA_RPI_RTSP_URL: 'nodes.cam.url', S3_BUCKET: 'nodes.s3.bucket', FASTAPI_ENDPOINT: 'nodes.backend.endpoint', FASTAPI_TOKEN: 'nodes.backend.token' };
    expect(out).toHaveLength(2 * Object.keys(vars).length); // each file, each variable
    for (const [v, where] of Object.entries(vars)) {
      const re = new RegExp(`^graphs/cpu\\.yml:\\d+:\\d+ ${where.replace(/\./g, '\\.')}: environment variable ${v} is not set`);
      expect(out.filter((l) => re.test(l)), v).toHaveLength(2);
    }
  });
});
