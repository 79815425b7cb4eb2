/**
 * Logging: pino JSON lines on stdout, human-readable when stdout is a terminal. Every string
 * that goes out is passed through `redactSecrets`, so a camera password or a token never lands
 * in a log, whatever a node passes to its logger.
 */
import pino, { type Logger, type LevelWithSilent } from 'pino';
import { redactDeep, redactSecrets } from './redact.js';

export interface LogOptions {
  level?: LevelWithSilent;
  /** Force pretty or JSON output; default: pretty when stdout is a TTY. */
  pretty?: boolean;
  /** Where to write (tests); default stdout. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const pretty = opts.pretty ?? (process.stdout.isTTY === true && !opts.destination);
  const options: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    hooks: {
      logMethod(args, method) {
        const clean = args.map((a) => (typeof a === 'string' ? redactSecrets(a) : redactDeep(a))) as Parameters<typeof method>;
        return method.apply(this, clean);
      },
    },
    serializers: { err: (e: unknown) => redactDeep(e) },
  };
  if (pretty) {
    // pino-pretty as a stream (not a transport thread): synchronous and simple.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return pino(options, prettyStream());
  }
  return pino(options, (opts.destination as pino.DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: false }));
}

import { createRequire } from 'node:module';
function prettyStream(): pino.DestinationStream {
  const require = createRequire(import.meta.url);
  const pinoPretty = require('pino-pretty') as (o: object) => pino.DestinationStream;
  return pinoPretty({ colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', sync: true });
}
