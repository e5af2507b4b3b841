import type { SimulatorOptions } from './types';

/** Flag → environment variable; flags win over the environment. */
const SETTINGS = {
  dialect: 'SIM_DIALECT',
  host: 'SIM_HOST',
  port: 'SIM_PORT',
  'api-key': 'SIM_API_KEY',
  'api-version': 'SIM_API_VERSION',
  bandwidth: 'SIM_BANDWIDTH',
  'discard-content': 'SIM_DISCARD_CONTENT',
  'count-only': 'SIM_COUNT_ONLY',
  'status-step-ms': 'SIM_STATUS_STEP_MS',
  name: 'SIM_NAME',
} as const;

type Setting = keyof typeof SETTINGS;

const BOOLEAN_SETTINGS: ReadonlySet<Setting> = new Set<Setting>(['discard-content', 'count-only']);

function isSetting(name: string): name is Setting {
  return Object.prototype.hasOwnProperty.call(SETTINGS, name);
}

/**
 * Reads simulator options from `--flag value` / `--flag=value` arguments and SIM_* variables,
 * e.g. `--dialect azure --port 4101 --api-key k --bandwidth 200000000 --discard-content`.
 * Throws with a readable message on anything it does not understand.
 */
export function parseSimulatorArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): SimulatorOptions {
  const values = new Map<Setting, string>();
  for (const [setting, variable] of Object.entries(SETTINGS) as [Setting, string][]) {
    const value = env[variable];
    if (value !== undefined && value !== '') values.set(setting, value);
  }
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}'`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq >= 0 ? eq : undefined);
    if (!isSetting(name)) throw new Error(`unknown option '--${name}'`);
    if (eq >= 0) {
      values.set(name, arg.slice(eq + 1));
    } else if (BOOLEAN_SETTINGS.has(name)) {
      values.set(name, 'true');
    } else {
      const next = argv.at(i + 1);
      if (next === undefined || next.startsWith('--')) throw new Error(`--${name} needs a value`);
      values.set(name, next);
      i += 1;
    }
  }

  const dialect = values.get('dialect') ?? 'openai';
  if (dialect !== 'openai' && dialect !== 'azure') {
    throw new Error(`--dialect must be 'openai' or 'azure', got '${dialect}'`);
  }
  const options: SimulatorOptions = { dialect };
  const host = values.get('host');
  if (host !== undefined) options.host = host;
  const port = values.get('port');
  if (port !== undefined) options.port = integer('port', port, 0, 65535);
  const apiKey = values.get('api-key');
  if (apiKey !== undefined) options.apiKey = apiKey;
  const apiVersion = values.get('api-version');
  if (apiVersion !== undefined) options.apiVersion = apiVersion;
  const bandwidth = values.get('bandwidth');
  if (bandwidth !== undefined) {
    options.bandwidthBytesPerSec = integer('bandwidth', bandwidth, 1, Number.MAX_SAFE_INTEGER);
  }
  const discard = values.get('discard-content');
  if (discard !== undefined) options.discardContent = flag('discard-content', discard);
  const countOnly = values.get('count-only');
  if (countOnly !== undefined) options.countOnly = flag('count-only', countOnly);
  if (options.countOnly === true && options.discardContent !== true) {
    throw new Error('--count-only needs --discard-content (a stored file is always hashed)');
  }
  const step = values.get('status-step-ms');
  if (step !== undefined) {
    options.statusStepMs = integer('status-step-ms', step, 0, Number.MAX_SAFE_INTEGER);
  }
  const name = values.get('name');
  if (name !== undefined) options.name = name;
  return options;
}

function integer(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(
      `--${name} must be an integer between ${String(min)} and ${String(max)}, got '${text}'`,
    );
  }
  return value;
}

function flag(name: string, text: string): boolean {
  const normalized = text.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(normalized)) return true;
  if (['0', 'false', 'no', 'off'].includes(normalized)) return false;
  throw new Error(`--${name} must be true or false, got '${text}'`);
}
