/**
 * graphrun's command line. Exit codes: 0 ok, 2 invalid graph or usage, 1 runtime failure.
 */
import { writeFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import type { LevelWithSilent } from 'pino';
import { App, InvalidGraphError } from './app.js';
import { loadAndCompile } from './graph/compile.js';
import { formatDiagnostic } from './graph/diagnostics.js';
import { graphJsonSchema } from './graph/json-schema.js';
import { createLogger } from './log.js';
import { defaultRegistry, type Registry } from './registry.js';
import { describeNodes } from './describe.js';
import { addSimCommand } from './sim/sim-command.js';
import { addTrackCommand } from '../nodes/bytetrack/track-command.js';
import { addModelsCommand } from './models-command.js';

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_INVALID = 2;

export async function main(argv: string[], registry: Registry = defaultRegistry): Promise<number> {
  let code = EXIT_OK;
  const program = new Command('graphrun')
    .description('Run video-analytics pipelines declared in YAML graph files.')
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'))
    .showHelpAfterError('(run graphrun --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('run <file>', { isDefault: true })
    .description('run a graph file (the default command: `graphrun graphs/demo.yml`)')
    .option('--watch', 'reload the graph when the file changes (also on SIGHUP)')
    .action(async (file: string, o: { watch?: boolean }) => {
      code = await runCommand(file, { watch: !!o.watch, logLevel: program.opts().logLevel, registry });
    });

  program
    .command('validate <files...>')
    .description('check graph files; print every problem as file:line:col path: message')
    .action((files: string[]) => {
      let bad = false;
      for (const f of files) {
        const r = loadAndCompile(f, registry);
        for (const d of r.diagnostics) process.stdout.write(formatDiagnostic(d) + '\n');
        if (!r.graph) bad = true;
        else process.stderr.write(`${f}: ok (${r.graph.nodes.size} nodes)\n`);
      }
      code = bad ? EXIT_INVALID : EXIT_OK;
    });

  program
    .command('nodes [type]')
    .description('list node types, or show one with its ports and options')
    .action((type?: string) => {
      const r = describeNodes(registry, type);
      (r.ok ? process.stdout : process.stderr).write(r.text);
      code = r.ok ? EXIT_OK : EXIT_INVALID;
    });

  program
    .command('schema')
    .description('print the JSON Schema of graph files (for editors)')
    .option('-o, --out <file>', 'write it to a file instead')
    .action((o: { out?: string }) => {
      const text = JSON.stringify(graphJsonSchema(registry), null, 2) + '\n';
      if (o.out) writeFileSync(o.out, text);
      else process.stdout.write(text);
    });

  addSimCommand(program, (c) => { code = c; });
  addTrackCommand(program, (c) => { code = c; });
  addModelsCommand(program, (c) => { code = c; });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? EXIT_OK : EXIT_INVALID;
    }
    throw err;
  }
  return code;
}

async function runCommand(file: string, o: { watch: boolean; logLevel: LevelWithSilent; registry: Registry }): Promise<number> {
  const log = createLogger({ level: o.logLevel });
  let app: App;
  try {
    app = await App.start(file, { registry: o.registry, log, watch: o.watch });
  } catch (err) {
    if (err instanceof InvalidGraphError) {
      for (const d of err.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
      process.stderr.write(`graphrun: ${file} is not valid; nothing was started\n`);
      return EXIT_INVALID;
    }
    const e = err as NodeJS.ErrnoException;
    const msg = e.code === 'EADDRINUSE' ? `status server: address in use (${e.message.replace(/^listen EADDRINUSE: address already in use /, '')}); set status.listen, or GRAPHRUN_STATUS_LISTEN for the demo` : e.message;
    log.fatal({ err }, msg);
    process.stderr.write(`graphrun: ${msg}\n`);
    return EXIT_RUNTIME;
  }
  if (app.statusUrl) process.stderr.write(`graphrun: status page at ${app.statusUrl}\n`);
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
    log.info({ signal: sig }, 'stopping: sources first, then queues drain (signal again to exit at once)');
    void app.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', () => { log.info('SIGHUP: reloading'); void app.reload(); });
  await app.runtime.finished;
  await app.stop();
  log.flush?.();
  // The graph is stopped: if a node left a timer or socket behind (one that ignored its stop),
  // do not hang on it. Unref'd: a clean exit does not wait for this.
  setTimeout(() => {
    process.stderr.write('graphrun: graph stopped but something still holds the process (a node did not release a timer or socket): exiting\n');
    process.exit(process.exitCode ?? EXIT_OK);
  }, 3000).unref();
  return EXIT_OK;
}
