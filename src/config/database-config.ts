import { resolve } from 'node:path';
import type { DatabaseConfig } from './app-config';

/** The database part of the config alone, for the migration CLI (which needs no model_list). */
export function databaseConfigFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): DatabaseConfig {
  // An empty DATA_DIR is unset, as every other variable: resolve('') would be the cwd.
  const dataDir = resolve(env.DATA_DIR || './.data');
  return env.DATABASE_URL
    ? { kind: 'postgres', url: env.DATABASE_URL, dataDir }
    : { kind: 'embedded', url: null, dataDir };
}
