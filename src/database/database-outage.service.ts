import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ServiceUnavailableError } from '../common/errors/api-error';

const PROBE_INTERVAL_MS = 1_000;
const RETRY_AFTER_SECONDS = 2;

// SQLSTATE classes and codes that mean "the server is not there for us right now", as opposed
// to a query the server refused: 08 connection exception, 57P01-57P03 shutdown / cannot connect
// now, 53300 too many connections.
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[1-3]|53300)$/;
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);
// node-postgres reports a dropped or unobtainable connection with these messages and no code.
const UNAVAILABLE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is not established|Cannot use a pool after calling end/i;

/**
 * Turns "the database is down" into what callers and operators should see: a 503 with
 * Retry-After for each refused request, and one warning when an outage begins and one line when
 * it ends — not a stack trace per request. While an outage lasts, a probe checks every second.
 */
@Injectable()
export class DatabaseOutageService implements OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  private outageSince: number | null = null;
  private refused = 0;
  private probe: NodeJS.Timeout | null = null;

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The 503 to answer when `error` says the database is unreachable; null for any other error. */
  unavailable(error: unknown): ServiceUnavailableError | null {
    if (!isDatabaseUnavailable(error)) return null;
    this.refused++;
    if (this.outageSince === null) {
      this.outageSince = Date.now();
      this.logger.warn(`database unavailable (${describe(error)}); answering 503 until it is back`);
      this.probe = setInterval(() => void this.check(), PROBE_INTERVAL_MS);
      this.probe.unref();
    }
    return new ServiceUnavailableError(
      'The gateway cannot reach its database right now; retry shortly.',
      { code: 'database_unavailable', retryAfterSeconds: RETRY_AFTER_SECONDS },
    );
  }

  get inOutage(): boolean {
    return this.outageSince !== null;
  }

  onApplicationShutdown(): void {
    if (this.probe) clearInterval(this.probe);
  }

  private async check(): Promise<void> {
    try {
      await this.dataSource.query('SELECT 1');
    } catch {
      return;
    }
    if (this.outageSince === null) return;
    this.logger.log(
      `database is back after ${Date.now() - this.outageSince} ms (${this.refused} request(s) answered 503)`,
    );
    this.outageSince = null;
    this.refused = 0;
    if (this.probe) clearInterval(this.probe);
    this.probe = null;
  }
}

/** True when an error (or what it wraps) says the database could not be reached or went away. */
export function isDatabaseUnavailable(error: unknown): boolean {
  // An upstream's connection failure is the adapters' to report, never a database outage.
  if (error instanceof Error && error.name === 'ProviderError') return false;
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))
    ) {
      return true;
    }
    if (e instanceof AggregateError && e.errors.some(isDatabaseUnavailable)) return true;
    if (UNAVAILABLE_MESSAGE.test(e.message)) return true;
    e = (e as { driverError?: unknown }).driverError ?? e.cause;
  }
  return false;
}

function describe(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown };
  return typeof e.code === 'string' ? e.code : String(e.message ?? error);
}
