import type { DestinationStream } from 'pino';
import pino, { type Level, type Logger } from 'pino';
import type { AppConfig, LogLevel } from '../config/app-config';

/** Nest's level names (what AppConfig holds) as pino's. */
const PINO_LEVEL: Readonly<Record<LogLevel, Level>> = {
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/**
 * Paths that must never reach a log line even if an object holding them is logged one day.
 * The gateway logs chosen fields only (see http-observer.ts); this is the second line.
 */
const REDACTED = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'api_key',
  'apiKey',
  'key',
  'secret',
];

/**
 * The process's logger. JSON lines on stdout, or pino-pretty (coloured only on a terminal)
 * when LOG_FORMAT=pretty or, by default, when stdout is a terminal. The JSON destination
 * writes asynchronously (pino flushes it at exit): a request never waits on stdout.
 * `destination` replaces stdout (the e2e tests read the lines).
 */
export function createRootLogger(
  config: Pick<AppConfig, 'logLevel' | 'logFormat'>,
  destination?: DestinationStream,
): Logger {
  const options = {
    level: PINO_LEVEL[config.logLevel],
    // Level names rather than numbers: what an operator greps for.
    formatters: { level: (label: string) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED, censor: '[redacted]' },
  };
  if (destination) return pino(options, destination);
  const pretty =
    config.logFormat === 'pretty' || (config.logFormat === null && process.stdout.isTTY);
  if (pretty) {
    return pino({
      ...options,
      transport: {
        target: 'pino-pretty',
        options: { colorize: process.stdout.isTTY === true, ignore: 'pid,hostname' },
      },
    });
  }
  return pino(options, pino.destination({ dest: 1, sync: false }));
}
