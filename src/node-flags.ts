/**
 * How graphrun's Node process is started: the shebang of bin/graphrun.js, the npm scripts that
 * start it and the bench's child processes all use these (test/node-flags.test.ts keeps them in
 * step). Both cut resident memory on a small host; neither can be set from inside the process
 * once it runs (glibc reads its variable at start; v8.setFlagsFromString leaves the main heap as
 * it is), hence the shebang. `node bin/graphrun.js` directly goes without them.
 *
 * - `MALLOC_ARENA_MAX=2`: glibc gives each thread that allocates its own malloc arena (up to
 *   8 per core), and memory freed in one is not handed back to the others or to the system;
 *   graphrun has a dozen threads (workers, onnxruntime, libuv, V8). Two arenas: on cpu.yml
 *   (`npm run bench -- realtime`) the CLI's highest RSS went from 344 to 320 MB, the bench's
 *   in-process figure from 367 to 322 MB, frame rate and latency unchanged.
 * - `--max-semi-space-size=2` (MB): V8 grows the young generation of a busy main thread to two
 *   16 MB semi-spaces and keeps them; a frame pipeline allocates a few small objects per packet,
 *   which 2 MB semi-spaces collect as well (scavenges more frequent, each shorter): the highest
 *   RSS in the bench's process went from 370–381 to 340–349 MB.
 */
export const NODE_ENV = { MALLOC_ARENA_MAX: '2' } as const;
export const NODE_FLAGS = ['--max-semi-space-size=2'] as const;

/** The start of the shebang line and of the npm scripts: `MALLOC_ARENA_MAX=2 node --max-semi-space-size=2`. */
export function nodeCommand(): string {
  return [...Object.entries(NODE_ENV).map(([k, v]) => `${k}=${v}`), 'node', ...NODE_FLAGS].join(' ');
}
