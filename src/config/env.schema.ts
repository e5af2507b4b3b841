import type { LogFormat, LogLevel } from './app-config';

/** Nest's levels, most severe first: a level enables itself and every level before it. */
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'log', 'debug', 'verbose'];

/** LOG_LEVEL values: Nest's names, and the names most other loggers use for the same levels. */
const LOG_LEVEL_NAMES: Readonly<Record<string, LogLevel>> = {
  fatal: 'error',
  error: 'error',
  warn: 'warn',
  info: 'log',
  log: 'log',
  debug: 'debug',
  verbose: 'verbose',
  trace: 'verbose',
};

/**
 * KEEP_ALIVE_TIMEOUT_MS's default: above the idle timeout load balancers keep their backend
 * connections for (AWS ALB: 60 s), so that the balancer is always the side that closes.
 */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Every environment variable the service reads. Nothing outside config/ reads process.env. */
export interface EnvironmentVariables {
  readonly NODE_ENV: string | null;
  readonly PORT: number;
  readonly DATABASE_URL: string | null;
  readonly REDIS_URL: string | null;
  readonly CONFIG_PATH: string | null;
  readonly ID_SIGNING_SECRET: string | null;
  readonly LOG_LEVEL: LogLevel;
  /** null: pretty on a terminal, JSON lines otherwise. */
  readonly LOG_FORMAT: LogFormat | null;
  readonly UPSTREAM_TIMEOUT_MS: number;
  readonly CACHE_TTL_MS: number;
  readonly SWEEP_INTERVAL_MS: number;
  readonly REFRESH_INTERVAL_MS: number;
  readonly SWEEP_STALE_AFTER_MS: number;
  readonly DRAIN_TIMEOUT_MS: number;
  readonly DEPLOYMENT_COOLDOWN_MS: number;
  readonly KEEP_ALIVE_TIMEOUT_MS: number;
  readonly REQUEST_TIMEOUT_MS: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the environment, reporting at most one problem per variable (the first rule it breaks,
 * as a sentence about what is accepted) and using the default in its place so that the other
 * checks still run. An empty variable counts as unset, as `PORT=` in a compose file means.
 */
export function parseEnvironment(env: Env, problems: string[]): EnvironmentVariables {
  const read = (name: string): string | null => {
    const value = env[name];
    return value === undefined || value === '' ? null : value;
  };
  const int = (name: string, fallback: number, min: number, max?: number): number => {
    const value = read(name);
    if (value === null) return fallback;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (Number.isSafeInteger(n) && n >= min && (max === undefined || n <= max)) return n;
    const range = max === undefined ? `of at least ${min}` : `between ${min} and ${max}`;
    problems.push(`env ${name}: must be an integer ${range} (got "${value}")`);
    return fallback;
  };
  // URLs and secrets are never echoed: they carry credentials. A wrong value is still returned,
  // so that checks on whether it is set do not report the same variable a second time.
  const matching = (name: string, pattern: RegExp, rule: string): string | null => {
    const value = read(name);
    if (value !== null && !pattern.test(value)) problems.push(`env ${name}: ${rule}`);
    return value;
  };

  const logLevel = (): LogLevel => {
    const name = read('LOG_LEVEL');
    if (name === null) return 'log';
    if (Object.hasOwn(LOG_LEVEL_NAMES, name)) return LOG_LEVEL_NAMES[name];
    const accepted = Object.keys(LOG_LEVEL_NAMES).join(', ');
    problems.push(`env LOG_LEVEL: must be one of ${accepted} (got "${name}")`);
    return 'log';
  };

  const logFormat = (): LogFormat | null => {
    const name = read('LOG_FORMAT');
    if (name === null || name === 'json' || name === 'pretty') return name;
    problems.push(`env LOG_FORMAT: must be json or pretty (got "${name}")`);
    return null;
  };

  return {
    NODE_ENV: read('NODE_ENV'),
    PORT: int('PORT', 4000, 0, 65535),
    DATABASE_URL: matching('DATABASE_URL', /^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
    REDIS_URL: matching('REDIS_URL', /^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
    CONFIG_PATH: read('CONFIG_PATH'),
    ID_SIGNING_SECRET: matching('ID_SIGNING_SECRET', /^.{32,}$/s, 'must be at least 32 characters'),
    LOG_LEVEL: logLevel(),
    LOG_FORMAT: logFormat(),
    UPSTREAM_TIMEOUT_MS: int('UPSTREAM_TIMEOUT_MS', 600_000, 100),
    CACHE_TTL_MS: int('CACHE_TTL_MS', 300_000, 0),
    SWEEP_INTERVAL_MS: int('SWEEP_INTERVAL_MS', 60_000, 1000),
    REFRESH_INTERVAL_MS: int('REFRESH_INTERVAL_MS', 30_000, 1000),
    SWEEP_STALE_AFTER_MS: int('SWEEP_STALE_AFTER_MS', 120_000, 1000),
    DRAIN_TIMEOUT_MS: int('DRAIN_TIMEOUT_MS', 30_000, 0),
    DEPLOYMENT_COOLDOWN_MS: int('DEPLOYMENT_COOLDOWN_MS', 30_000, 0),
    KEEP_ALIVE_TIMEOUT_MS: int('KEEP_ALIVE_TIMEOUT_MS', DEFAULT_KEEP_ALIVE_TIMEOUT_MS, 1000),
    REQUEST_TIMEOUT_MS: int('REQUEST_TIMEOUT_MS', 3_600_000, 0),
  };
}
