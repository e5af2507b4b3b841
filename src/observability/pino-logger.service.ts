import type { LoggerService } from '@nestjs/common';
import type { Level, Logger } from 'pino';
import { currentRequestStore } from './request-store';

/**
 * Nest's LoggerService over pino, so that every `new Logger(Context)` of the code base writes
 * JSON lines. A line written while a request is served goes through that request's logger and
 * so carries its request id; elsewhere (boot, background jobs) through the root logger.
 */
export class PinoLoggerService implements LoggerService {
  constructor(private readonly root: Logger) {}

  log(message: unknown, ...optional: unknown[]): void {
    this.write('info', message, optional);
  }

  /** Nest calls `error(message, stack?, context?)`. */
  error(message: unknown, ...optional: unknown[]): void {
    this.write('error', message, optional);
  }

  warn(message: unknown, ...optional: unknown[]): void {
    this.write('warn', message, optional);
  }

  debug(message: unknown, ...optional: unknown[]): void {
    this.write('debug', message, optional);
  }

  verbose(message: unknown, ...optional: unknown[]): void {
    this.write('trace', message, optional);
  }

  fatal(message: unknown, ...optional: unknown[]): void {
    this.write('fatal', message, optional);
  }

  private write(level: Level, message: unknown, optional: readonly unknown[]): void {
    const log = currentRequestStore()?.log ?? this.root;
    if (!log.isLevelEnabled(level)) return;
    // Nest appends the context (the Logger's name) as the last argument.
    const last = optional.at(-1);
    const context = typeof last === 'string' ? last : undefined;
    const rest = context === undefined ? optional : optional.slice(0, -1);
    const stack = level === 'error' || level === 'fatal' ? rest.find(isString) : undefined;
    if (message instanceof Error) {
      log[level]({ context, err: message }, message.message);
    } else if (typeof message === 'string') {
      log[level]({ context, stack }, message);
    } else {
      log[level]({ context, stack, value: message });
    }
  }
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}
