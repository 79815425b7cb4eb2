/**
 * V8 flags graphrun runs with: the shebang of bin/graphrun.js, the npm scripts that start it and
 * the bench's child processes all use these (test/node-flags.test.ts keeps them in step).
 *
 * `--max-semi-space-size=2` (MB): V8 grows the young generation of a busy main thread to two
 * 16 MB semi-spaces (32 MB) and keeps it; a frame pipeline allocates a few small objects per
 * packet, which 2 MB semi-spaces collect just as well (scavenges get more frequent, each
 * shorter). On cpu.yml (`npm run bench -- realtime`) it took the highest resident memory from
 * 370–381 MB to 340–349 MB with the same frame rate, latency and CPU. The flag cannot be set
 * from inside the process once V8 has started (v8.setFlagsFromString leaves the main heap as
 * it is), hence the shebang. Running `node bin/graphrun.js` directly goes without it.
 */
export const NODE_FLAGS = ['--max-semi-space-size=2'] as const;
